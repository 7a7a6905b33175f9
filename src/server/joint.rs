//! One task for a client connection and its upstream connections, polled part by part.
//!
//! The two parts wake each other on every request: the client side hands a request to an
//! upstream connection (waking the upstream side), and the upstream side hands back the
//! response (waking the client side). Joined plainly, each such wake schedules the whole task
//! again, and the part with nothing to do is polled too: four polls of both parts per request.
//! Here each part has a waker of its own, a wake raised while the task runs is taken up in the
//! same run, and only the parts that were woken are polled: two task runs per request, each
//! part polled once per event. A part that wakes itself while it is polled is asking to yield
//! (hyper does so after a run of work on one connection, for fairness): the run then ends, and
//! the task goes back in the scheduler's queue behind the others, as it would have alone.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The task is being run (wakes are taken up before it returns).
const RUNNING: u8 = 1;
/// The client side was woken.
const CLIENT: u8 = 2;
/// The upstream side was woken.
const UPSTREAM: u8 = 4;
/// A part woke itself while polled: it yields, and the run ends after this round.
const YIELD: u8 = 8;

/// Rounds in one run at most, a bound on the work of one run whatever wakes what; a request
/// takes two (its response, one).
const MAX_ROUNDS: usize = 8;

/// What the two wakers share with the task.
struct Shared {
    state: AtomicU8,
    task: AtomicWaker,
    /// The part being polled (`CLIENT` or `UPSTREAM`), or 0.
    polling: AtomicU8,
}

/// The waker of one part.
struct PartWaker {
    part: u8,
    shared: Arc<Shared>,
}

impl Wake for PartWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Only the task's thread sets `polling`: a wake from elsewhere that reads it at the wrong
        // moment is taken for a yield, which costs one more run, nothing else.
        let yields = self.shared.polling.load(Ordering::Relaxed) == self.part;
        let bits = if yields { self.part | YIELD } else { self.part };
        let before = self.shared.state.fetch_or(bits, Ordering::AcqRel);
        // While the task runs, it sees the bit before it returns; otherwise it must be run.
        if before & RUNNING == 0 {
            self.shared.task.wake();
        }
    }
}

/// Runs `client` (a client connection) and `upstream` (the driver of its upstream connections)
/// until both are done.
pub(super) async fn run(client: impl Future<Output = ()>, upstream: impl Future<Output = ()>) {
    let shared = Arc::new(Shared {
        state: AtomicU8::new(CLIENT | UPSTREAM),
        task: AtomicWaker::new(),
        polling: AtomicU8::new(0),
    });
    let waker = |part| {
        Waker::from(Arc::new(PartWaker {
            part,
            shared: shared.clone(),
        }))
    };
    let (client_waker, upstream_waker) = (waker(CLIENT), waker(UPSTREAM));
    // Each part is dropped as soon as it is done: the client connection holds the upstream
    // connections' handle, and the upstream side ends only once that is gone.
    let (mut client, mut upstream) = (pin!(Some(client)), pin!(Some(upstream)));
    std::future::poll_fn(|cx| {
        shared.task.register(cx.waker());
        for _ in 0..MAX_ROUNDS {
            let woken = shared.state.swap(RUNNING, Ordering::AcqRel);
            // Upstream first: a response it reads is then delivered in the same round.
            if woken & UPSTREAM != 0 {
                poll_part(upstream.as_mut(), UPSTREAM, &upstream_waker, &shared);
            }
            if woken & CLIENT != 0 {
                poll_part(client.as_mut(), CLIENT, &client_waker, &shared);
            }
            if client.is_none() && upstream.is_none() {
                return Poll::Ready(());
            }
            let idle =
                shared
                    .state
                    .compare_exchange(RUNNING, 0, Ordering::AcqRel, Ordering::Acquire);
            match idle {
                Ok(_) => return Poll::Pending,
                Err(state) if state & YIELD != 0 => break,
                Err(_) => {}
            }
        }
        // A part yields, or the rounds are used up: keep the bits, end this run, be run again.
        shared.state.fetch_and(!(RUNNING | YIELD), Ordering::AcqRel);
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// Polls `part` (named `which`) with its waker, if it is not done yet; drops it once it is.
fn poll_part<F: Future<Output = ()>>(
    mut part: Pin<&mut Option<F>>,
    which: u8,
    waker: &Waker,
    shared: &Shared,
) {
    shared.polling.store(which, Ordering::Relaxed);
    let ready = part
        .as_mut()
        .as_pin_mut()
        .is_some_and(|f| f.poll(&mut Context::from_waker(waker)).is_ready());
    shared.polling.store(0, Ordering::Relaxed);
    if ready {
        part.set(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the task's runs.
    struct Counted<F> {
        runs: Arc<AtomicUsize>,
        inner: F,
    }

    impl<F: Future + Unpin> Future for Counted<F> {
        type Output = F::Output;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.runs.fetch_add(1, Ordering::Relaxed);
            std::pin::Pin::new(&mut self.inner).poll(cx)
        }
    }

    #[tokio::test]
    async fn each_side_is_woken_by_the_other_within_one_run() {
        // A request goes to the upstream side and a response comes back, three times, over
        // channels (as between a client connection and its upstream connection).
        let (to_upstream, mut requests) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let (to_client, mut responses) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let client = async move {
            for n in 0..3 {
                to_upstream.send(n).unwrap();
                assert_eq!(responses.recv().await, Some(n * 10));
            }
        };
        let upstream = async move {
            while let Some(n) = requests.recv().await {
                to_client.send(n * 10).unwrap();
            }
        };
        let runs = Arc::new(AtomicUsize::new(0));
        let joint = Counted {
            runs: runs.clone(),
            inner: Box::pin(run(client, upstream)),
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), joint)
            .await
            .unwrap();
        // Everything happens in the first run: no wake schedules the task again.
        assert_eq!(runs.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_part_that_yields_ends_the_run() {
        // Wakes itself and is pending three times, as hyper's connection does to yield.
        let mut yields = 3;
        let client = std::future::poll_fn(move |cx| {
            if yields == 0 {
                return Poll::Ready(());
            }
            yields -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        });
        let runs = Arc::new(AtomicUsize::new(0));
        let joint = Counted {
            runs: runs.clone(),
            inner: Box::pin(run(client, std::future::ready(()))),
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), joint)
            .await
            .unwrap();
        assert_eq!(runs.load(Ordering::Relaxed), 4);
    }

    #[tokio::test]
    async fn a_finished_part_is_dropped_so_the_other_can_finish() {
        // As with a client connection and its upstream side: the upstream side runs until every
        // handle the client side holds is gone, and a finished connection future (unlike an
        // async block) still holds what it held.
        struct DoneButHolding(#[allow(dead_code)] tokio::sync::mpsc::UnboundedSender<()>);
        impl Future for DoneButHolding {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
                Poll::Ready(())
            }
        }
        let (handle, mut closed) = tokio::sync::mpsc::unbounded_channel::<()>();
        let client = DoneButHolding(handle);
        let upstream = async move { while closed.recv().await.is_some() {} };
        tokio::time::timeout(std::time::Duration::from_secs(5), run(client, upstream))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn wakes_from_other_threads_are_not_lost() {
        let (send, mut receive) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let sender = std::thread::spawn(move || {
            for n in 0..10_000 {
                send.send(n).unwrap();
            }
        });
        let client = async move {
            let mut expected = 0;
            while let Some(n) = receive.recv().await {
                assert_eq!(n, expected);
                expected += 1;
            }
            assert_eq!(expected, 10_000);
        };
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            run(client, std::future::ready(())),
        )
        .await
        .unwrap();
        sender.join().unwrap();
    }
}
