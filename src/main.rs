//! The `portcullis` command: `portcullis --config FILE` (or `portcullis run --config FILE`) runs
//! the gateway; `portcullis check --config FILE` validates a configuration against its issuer;
//! `portcullis demo` and `portcullis dev-issuer` run everything locally, without AWS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use portcullis::config::{self, Settings};
use portcullis::oidc::Issuer;

/// Exit status for a configuration that does not load (BSD sysexits EX_USAGE).
const EXIT_CONFIG: u8 = 64;
/// Exit status when the issuer cannot be used (EX_UNAVAILABLE).
const EXIT_ISSUER: u8 = 69;

#[derive(Parser)]
#[command(
    version,
    about = "Identity-aware reverse proxy for OpenID Connect and Amazon Cognito"
)]
struct Cli {
    /// Configuration file (TOML); `PORTCULLIS_*` environment variables override its keys.
    #[arg(long, short, env = "PORTCULLIS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run,
    /// Validate the configuration, fetch the issuer's discovery document and JWKS, and exit.
    Check,
    /// Run a demo on loopback: a Cognito-like development issuer, a small app, and the gateway.
    Demo {
        /// Where the gateway listens (loopback only).
        #[arg(long, default_value = "127.0.0.1:4180")]
        listen: SocketAddr,
    },
    /// Exit 0 when the gateway at URL answers its liveness check (for container health checks,
    /// where no shell or curl is at hand).
    Healthcheck {
        /// The liveness URL.
        #[arg(long, default_value = "http://127.0.0.1:4180/healthz")]
        url: String,
    },
    /// Run the Cognito-like development issuer on its own (NOT FOR PRODUCTION).
    DevIssuer {
        /// TOML file of `[[users]]` (username, password, email, groups, attributes).
        #[arg(long)]
        users: PathBuf,
        /// Where to listen (loopback only).
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
        /// The app client's id.
        #[arg(long, default_value = "portcullis-dev")]
        client_id: String,
        /// The app client's secret; without one the client is public (PKCE only).
        #[arg(long, env = "PORTCULLIS_DEV_CLIENT_SECRET")]
        client_secret: Option<String>,
        /// Lifetime of ID and access tokens.
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        token_ttl: Duration,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        command @ (Command::Run | Command::Check) => run_or_check(command, cli.config),
        command => {
            init_logging(false, "info");
            match runtime() {
                Ok(runtime) => runtime.block_on(local(command)),
                Err(code) => code,
            }
        }
    }
}

/// The commands that need no configuration file.
async fn local(command: Command) -> ExitCode {
    match command {
        Command::Demo { listen } => demo(listen).await,
        Command::Healthcheck { url } => healthcheck(&url).await,
        Command::DevIssuer {
            users,
            listen,
            client_id,
            client_secret,
            token_ttl,
        } => dev_issuer(users, listen, client_id, client_secret, token_ttl).await,
        Command::Run | Command::Check => ExitCode::FAILURE,
    }
}

/// The main thread's runtime: it accepts connections and does the background work (discovery,
/// key refreshes, the session store's upkeep). Requests are served on the gateway's own worker
/// threads (`server.worker_threads`), each with a runtime of its own.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::FAILURE
        })
}

fn run_or_check(command: Command, config: Option<PathBuf>) -> ExitCode {
    let Some(path) = config else {
        eprintln!("error: --config FILE is required");
        return ExitCode::from(EXIT_CONFIG);
    };
    let settings = match config::load(&path) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(settings.log.json, &settings.log.level);
    if !settings.ignored_env.is_empty() {
        // Names only: their values are someone else's.
        tracing::warn!(
            variables = settings.ignored_env.join(", "),
            "Kubernetes service-link environment variables were ignored"
        );
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match command {
        Command::Check => runtime.block_on(check(settings)),
        _ => runtime.block_on(run(settings, path)),
    }
}

async fn healthcheck(url: &str) -> ExitCode {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(c) => c,
        Err(_) => return ExitCode::FAILURE,
    };
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("unhealthy: HTTP {}", r.status().as_u16());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(listen: SocketAddr) -> ExitCode {
    let announce = |text: String| println!("{text}");
    match portcullis::demo::run(listen, announce, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

async fn dev_issuer(
    users: PathBuf,
    listen: SocketAddr,
    client_id: String,
    client_secret: Option<String>,
    token_ttl: Duration,
) -> ExitCode {
    use portcullis::dev;
    if !portcullis::demo::is_loopback(&listen) {
        eprintln!(
            "error: the development issuer listens on loopback only; it is not for production"
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let users = match dev::load_users(&users) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("portcullis development issuer: NOT FOR PRODUCTION");
    println!("  issuer:    http://{addr}/{}", dev::DEV_POOL_ID);
    println!(
        "  client_id: {client_id} ({})",
        if client_secret.is_some() {
            "confidential"
        } else {
            "public"
        }
    );
    println!(
        "  users:     {}",
        users
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let config = dev::DevIssuerConfig {
        client_id,
        client_secret,
        users,
        token_ttl,
        hint: None,
    };
    match dev::serve_issuer(listener, config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings, path: PathBuf) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(settings.server.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", settings.server.listen);
            return ExitCode::FAILURE;
        }
    };
    for warning in portcullis::route::lint(&settings.routes, &portcullis::server::OWNED_PATHS) {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        listen = %settings.server.listen,
        public_url = %settings.server.public_origin,
        issuer = %settings.oidc.issuer,
        "portcullis starting"
    );
    let reloads = reload_on_hangup(path);
    match portcullis::serve_with_reload(listener, settings, shutdown_signal(), reloads).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn check(settings: Settings) -> ExitCode {
    for route in &settings.routes {
        println!("{}", portcullis::route::describe(route));
    }
    for warning in portcullis::route::lint(&settings.routes, &portcullis::server::OWNED_PATHS) {
        println!("warning: {warning}");
    }
    let issuer = match Issuer::new(settings.oidc.clone()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match issuer.discover().await {
        Ok(provider) => {
            println!("config: ok");
            println!(
                "issuer: {} ({} signing keys)",
                settings.oidc.issuer,
                provider.keys.len()
            );
            println!(
                "redirect URI to register: {}",
                settings.server.redirect_uri()
            );
            println!(
                "sign-out URL to register: {}{}",
                settings.server.public_origin,
                portcullis::server::SIGNED_OUT_PATH
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("issuer: {e}");
            ExitCode::from(EXIT_ISSUER)
        }
    }
}

/// A new configuration for every SIGHUP that loads; one that does not is refused with a log
/// line, and the running one stays.
fn reload_on_hangup(path: PathBuf) -> tokio::sync::mpsc::Receiver<Settings> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    // Registered before the gateway serves, so an early SIGHUP cannot end the process.
    #[cfg(unix)]
    if let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    {
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match config::load(&path) {
                    Ok(settings) => {
                        if tx.send(settings).await.is_err() {
                            return;
                        }
                    }
                    Err(errors) => {
                        for line in errors.0 {
                            tracing::error!("configuration not reloaded: {line}");
                        }
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop((tx, path));
    rx
}

/// Logs to standard error, as text or JSON lines; `RUST_LOG` overrides `level`.
fn init_logging(json: bool, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
