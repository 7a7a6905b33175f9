#!/usr/bin/env python3
"""Idle-connection memory: what each open, idle keep-alive connection costs a server.

One command (from the repository root):  python3 bench/idle.py  [--connections 10000]

For each target it starts the server on loopback, opens N client connections, sends one
`GET /healthz` on each and reads the answer, then leaves them all open and idle, and reads the
server's resident memory (VmRSS, all of its processes) before and after. Targets:
  nginx       nginx answering `ok` from a `return 200` location (one worker per CPU),
  portcullis  the gateway's `/healthz` (release build; its issuer need not be reachable).
It prints the RSS before and after, and the bytes per connection. Installs nginx when missing.
"""

import argparse
import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import time

from run import BIN, ROOT, free_port, wait_port  # the load benchmark's helpers, beside this file
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def open_idle(port, n):
    """N connections, one request answered on each, then left open."""
    sel = selectors.DefaultSelector()
    socks = []
    pending = {}
    batch = 500
    for start in range(0, n, batch):
        for _ in range(min(batch, n - start)):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(REQUEST)
            s.setblocking(False)
            socks.append(s)
            pending[s.fileno()] = b""
            sel.register(s, selectors.EVENT_READ)
        while pending:
            for key, _ in sel.select(timeout=10):
                s = key.fileobj
                data = s.recv(4096)
                if not data:
                    sys.exit("a connection closed before it answered")
                got = pending[s.fileno()] + data
                if b"\r\n\r\n" in got and got.endswith(b"ok"):
                    del pending[s.fileno()]
                    sel.unregister(s)
                else:
                    pending[s.fileno()] = got
    return socks


def measure(name, start, n):
    proc, port, pids = start()
    try:
        wait_port(port)
        # Warm up: one connection's worth of lazily allocated state.
        for s in open_idle(port, 10):
            s.close()
        time.sleep(0.5)
        before = rss_kib(pids())
        socks = open_idle(port, n)
        time.sleep(1)
        after = rss_kib(pids())
        per = (after - before) * 1024 / n
        print(f"{name:12} before {before / 1024:7.1f} MB  after {after / 1024:7.1f} MB  "
              f"{per / 1024:6.2f} KB per idle connection")
        for s in socks:
            s.close()
        return before, after
    finally:
        proc.terminate()
        proc.wait()


def nginx(tmp):
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 65536; }}
http {{
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port};
    location = /healthz {{ return 200 "ok"; }}
  }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"],
                            stderr=subprocess.DEVNULL)
    return proc, port, lambda: [proc.pid] + children(proc.pid)


def portcullis(tmp):
    port = free_port()
    conf = os.path.join(tmp, "portcullis.toml")
    with open(conf, "w") as f:
        f.write(f"""
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
idle_timeout = "300s"
max_connections = 20000
[upstream]
url = "http://127.0.0.1:9"
[oidc]
issuer = "http://127.0.0.1:9/pool"
client_id = "bench"
[session]
secret = "{os.urandom(24).hex()}"
[log]
level = "error"
access = false
""")
    proc = subprocess.Popen([BIN, "--config", conf], stderr=subprocess.DEVNULL)
    return proc, port, lambda: [proc.pid]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--only", choices=["nginx", "portcullis"])
    args = parser.parse_args()
    need = args.connections + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(need * 2, hard)), hard))
    if args.only != "portcullis" and not os.path.exists("/usr/sbin/nginx"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=True)
    if args.only != "nginx":
        subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, start in [("nginx", nginx), ("portcullis", portcullis)]:
            if args.only in (None, name):
                measure(name, lambda: start(tmp), args.connections)


if __name__ == "__main__":
    main()
