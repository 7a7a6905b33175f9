#!/usr/bin/env python3
"""Load benchmark: portcullis against nginx and the direct path, interleaved.

One command (from the repository root):  python3 bench/run.py  [--seconds 10] [--rounds 5]

On loopback, with the same small static upstream (nginx returning 2 bytes), it measures
  A  the upstream directly,
  B  nginx as a plain reverse proxy (upstream keepalive, no authentication),
  B' nginx again, sent C's request (with the session cookie, which it passes on): how much of
     the difference is the cookie's 3.3 KB rather than the gateway's work,
  P  portcullis on a public route, sent B's request (no cookie, nobody signed in): portcullis
     as a plain proxy, without authentication,
  C  portcullis with a signed-in session cookie (a realistic Cognito session: 12 groups,
     custom:roles, a refresh token of Cognito's 1.8 KB; one cookie of 3.3 KB),
  D  portcullis with a Cognito-style bearer access token,
  R  C's request to a second gateway with 50 routes (a third on hosts of their own, a third
     under wildcard hosts, a third by path prefix; each with C's rules), the request taking one
     of the host routes: what a gateway in front of many apps pays for choosing among them,
  S  C's request to a gateway with signed assertions on ([assertion] enabled): what signing the
     identity for the app costs a signed-in request (one signature per session and lifetime,
     then a cache lookup),
  C0, P0 (with --baseline BIN) C's and P's requests to a gateway run from BIN, another build
     (an earlier commit's), with the same configuration as C and P: regressions, side by side,
in rounds A B B' P C D R ... so that machine noise falls on all alike, and prints
requests/s, p50 and p99 latency (median over rounds), the CPU time per request of the process
under test (user and system, from /proc: the upstream for A, the proxying nginx's workers for B
and B', the gateway for P, C, D, R, S, C0 and P0), the ratios C/B, D/B, D/C, C/B', P/B, C/P,
R/C and S/C (and C/C0, P/P0), the p99
differences C - B, C - B' and P - B, and the gateway's idle and peak RSS. Installs wrk and
nginx (Debian packages) when missing; builds portcullis in release.
"""

import argparse
import base64
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import http.client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "portcullis")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def ensure_tools():
    missing = [p for p, b in (("wrk", "wrk"), ("nginx-light", "nginx")) if not shutil.which(b) and not os.path.exists("/usr/sbin/" + b)]
    if missing:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "portcullis"], cwd=ROOT, check=True,
                   env={**os.environ, "CARGO_PROFILE_RELEASE_DEBUG": os.environ.get("CARGO_PROFILE_RELEASE_DEBUG", "false")})


def nginx(dirname, body):
    conf = os.path.join(dirname, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes auto;
pid {dirname}/nginx.pid;
error_log {dirname}/error.log;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dirname}/body; proxy_temp_path {dirname}/proxy;
    fastcgi_temp_path {dirname}/fastcgi; uwsgi_temp_path {dirname}/uwsgi; scgi_temp_path {dirname}/scgi;
    keepalive_requests 100000;
    {body}
}}
""")
    binary = "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else "nginx"
    return subprocess.Popen([binary, "-e", os.path.join(dirname, "error.log"), "-p", dirname, "-c", conf])


def request(method, url, headers=None, body=None):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    path = u.path + ("?" + u.query if u.query else "")
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    return r.status, r.getheaders(), data


def header(headers, name):
    return [v for k, v in headers if k.lower() == name]


def cookies_from(headers, jar):
    for v in header(headers, "set-cookie"):
        name, _, rest = v.partition("=")
        value = rest.split(";")[0]
        if "Max-Age=0" in v:
            jar.pop(name, None)
        else:
            jar[name] = value


def cookie_header(jar):
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def sign_in(gateway, user, password):
    """The whole sign-in through the development issuer's form; returns the session cookies."""
    jar = {}
    status, h, _ = request("GET", f"{gateway}/oauth2/start")
    cookies_from(h, jar)
    authorize = header(h, "location")[0]
    u = urllib.parse.urlsplit(authorize)
    params = urllib.parse.parse_qsl(u.query) + [("username", user), ("password", password)]
    status, h, _ = request("POST", f"{u.scheme}://{u.netloc}/login",
                           {"Content-Type": "application/x-www-form-urlencoded"},
                           urllib.parse.urlencode(params))
    callback = header(h, "location")[0]
    cb = urllib.parse.urlsplit(callback)
    status, h, _ = request("GET", f"{gateway}{cb.path}?{cb.query}", {"Cookie": cookie_header(jar)})
    cookies_from(h, jar)
    status, _, _ = request("GET", f"{gateway}/", {"Cookie": cookie_header(jar)})
    assert status == 200, status
    return {k: v for k, v in jar.items() if not k.startswith("portcullis_login_")}


def access_token(issuer_base, client_id, client_secret, user, password):
    """A Cognito-style access token from the development issuer (code flow with PKCE)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = "http://127.0.0.1:1/cb"
    params = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", redirect),
              ("scope", "openid email profile"), ("state", "s"), ("code_challenge", challenge),
              ("code_challenge_method", "S256"), ("username", user), ("password", password)]
    _, h, _ = request("POST", f"{issuer_base}/login", {"Content-Type": "application/x-www-form-urlencoded"},
                      urllib.parse.urlencode(params))
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(header(h, "location")[0]).query))["code"]
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    _, _, body = request("POST", f"{issuer_base}/oauth2/token",
                         {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"},
                         urllib.parse.urlencode([("grant_type", "authorization_code"), ("code", code),
                                                 ("redirect_uri", redirect), ("code_verifier", verifier)]))
    import json
    return json.loads(body)["access_token"]


def children(pid):
    """The processes whose parent is `pid` (nginx's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError):
                pass
    return found


def cpu_seconds(pids):
    """User and system CPU time used so far by `pids` (all their threads), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        user, system = user + int(fields[11]), system + int(fields[12])
    return user / tick, system / tick


def wrk(url, seconds, connections, headers):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        sys.exit(f"{url}: {non2xx.group(1)} failed responses\n{out}")

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    return rps, pct(50), pct(99), requests


def rss(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--perf", metavar="FILE",
                    help="record a CPU profile of the gateway during the session runs (C) with perf")
    ap.add_argument("--baseline", metavar="BIN",
                    help="another portcullis binary to run beside, with C's and P's configuration (rows C0, P0)")
    args = ap.parse_args()
    ensure_tools()
    work = tempfile.mkdtemp(prefix="portcullis-bench-")
    procs = []
    try:
        up, nx, iss, gw = free_port(), free_port(), free_port(), free_port()
        many, old, signing = free_port(), free_port(), free_port()
        os.makedirs(f"{work}/up"); os.makedirs(f"{work}/proxy")
        procs.append(nginx(f"{work}/up", f"server {{ listen 127.0.0.1:{up}; location / {{ return 200 \"ok\"; }} }}"))
        procs.append(nginx(f"{work}/proxy", f"""
upstream app {{ server 127.0.0.1:{up}; keepalive 64; }}
server {{ listen 127.0.0.1:{nx};
  location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}"""))
        secret = secrets.token_urlsafe(24)
        procs.append(subprocess.Popen([BIN, "dev-issuer", "--users", os.path.join(ROOT, "bench", "users.toml"),
                                       "--listen", f"127.0.0.1:{iss}", "--client-id", "bench", f"--client-secret={secret}"],
                                      stdout=subprocess.DEVNULL))
        for p in (up, nx, iss):
            wait_port(p)
        session_secret = secrets.token_urlsafe(48)
        rules = """[[rules]]
path = "/health"
public = true
[[rules]]
path = "/admin"
groups = ["admins"]
[[rules]]
path = "/reports"
roles = ["authp/reports"]
"""
        # The same three rules, inline in each of 50 routes: one third on hosts of their own,
        # one third under wildcard hosts, one third by path prefix on any host.
        inline = ('rules = [{ path = "/health", public = true }, { path = "/admin", groups = ["admins"] }, '
                  '{ path = "/reports", roles = ["authp/reports"] }]')
        routes = ""
        for i in range(50):
            host, path = [(f'host = "app{i}.bench.test"\n', "/"),
                          (f'host = "*.team{i}.bench.test"\n', f"/area{i}"),
                          ("", f"/app{i}")][i % 3]
            routes += f'[[routes]]\nname = "r{i}"\n{host}path = "{path}"\nupstream = "http://127.0.0.1:{up}"\n{inline}\n'

        def write_config(name, listen, public, apps, session_extra=""):
            path = f"{work}/{name}.toml"
            with open(path, "w") as f:
                f.write(f"""
[server]
listen = "127.0.0.1:{listen}"
public_url = "{public}"
{apps}
[oidc]
issuer = "http://127.0.0.1:{iss}/dv-local-1_Portcullis"
client_id = "bench"
client_secret = "{secret}"
cognito_domain = "http://127.0.0.1:{iss}"
[session]
secret = "{session_secret}"
{session_extra}
[bearer]
enabled = true
[[headers]]
name = "X-Forwarded-Roles"
claim = "custom:roles"
split = "|"
[log]
level = "warn"
access = false
""")
            return path

        one_app = f'[upstream]\nurl = "http://127.0.0.1:{up}"\n{rules}'
        config = write_config("portcullis", gw, f"http://127.0.0.1:{gw}", one_app)
        gateway = subprocess.Popen([BIN, "run", "--config", config], stderr=subprocess.DEVNULL)
        procs.append(gateway)
        # The 50-route gateway signs in on portal.bench.test; the session (the same secret, the
        # same cookie name) is valid on every host under bench.test.
        many_config = write_config("many", many, f"http://portal.bench.test:{many}", routes,
                                   'cookie_domain = "bench.test"')
        many_gateway = subprocess.Popen([BIN, "run", "--config", many_config], stderr=subprocess.DEVNULL)
        procs.append(many_gateway)
        signing_config = write_config("signing", signing, f"http://127.0.0.1:{signing}",
                                      one_app + "[assertion]\nenabled = true\n")
        signing_gateway = subprocess.Popen([BIN, "run", "--config", signing_config], stderr=subprocess.DEVNULL)
        procs.append(signing_gateway)
        baseline = None
        if args.baseline:
            old_config = write_config("baseline", old, f"http://127.0.0.1:{old}", one_app)
            baseline = subprocess.Popen([args.baseline, "run", "--config", old_config],
                                        stderr=subprocess.DEVNULL)
            procs.append(baseline)
        for p in [gw, many, signing] + ([old] if baseline else []):
            wait_port(p)
        base = f"http://127.0.0.1:{gw}"
        for _ in range(100):
            if request("GET", f"{base}/readyz")[0] == 200:
                break
            time.sleep(0.1)
        jar = sign_in(base, "bench", "bench-password")
        cookie = cookie_header(jar)
        token = access_token(f"http://127.0.0.1:{iss}", "bench", secret, "bench", "bench-password")
        idle = rss(gateway.pid, "VmRSS")
        for p in [many, signing] + ([old] if baseline else []):
            for _ in range(100):
                if request("GET", f"http://127.0.0.1:{p}/readyz")[0] == 200:
                    break
                time.sleep(0.1)
        # Each target with the processes that serve it (whose CPU time is counted).
        upstream_workers, proxy_workers = children(procs[0].pid), children(procs[1].pid)
        targets = [
            ("A direct", f"http://127.0.0.1:{up}/app/page", [], upstream_workers),
            ("B nginx", f"http://127.0.0.1:{nx}/app/page", [], proxy_workers),
            ("B' nginx, C's request", f"http://127.0.0.1:{nx}/app/page", [f"Cookie: {cookie}"], proxy_workers),
            ("P portcullis public", f"{base}/health", [], [gateway.pid]),
            ("C portcullis session", f"{base}/app/page", [f"Cookie: {cookie}"], [gateway.pid]),
            ("D portcullis bearer", f"{base}/app/page", [f"Authorization: Bearer {token}"], [gateway.pid]),
            ("R portcullis 50 routes", f"http://127.0.0.1:{many}/app/page",
             [f"Cookie: {cookie}", "Host: app48.bench.test"], [many_gateway.pid]),
            ("S portcullis assertion", f"http://127.0.0.1:{signing}/app/page", [f"Cookie: {cookie}"],
             [signing_gateway.pid]),
        ]
        if baseline:
            targets += [
                ("P0 baseline public", f"http://127.0.0.1:{old}/health", [], [baseline.pid]),
                ("C0 baseline session", f"http://127.0.0.1:{old}/app/page", [f"Cookie: {cookie}"], [baseline.pid]),
            ]
        results = {name: [] for name, _, _, _ in targets}
        for r in range(args.rounds):
            for name, url, headers, serving in targets:
                recorder = None
                if args.perf and name.startswith("C"):
                    recorder = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "499", "-g",
                                                 "-o", args.perf, "-p", str(gateway.pid)],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                user, system = cpu_seconds(serving)
                rps, p50, p99, requests = wrk(url, args.seconds, args.connections, headers)
                user_after, system_after = cpu_seconds(serving)
                results[name].append((rps, p50, p99, (user_after - user) * 1e6 / requests,
                                      (system_after - system) * 1e6 / requests))
                if recorder:
                    recorder.send_signal(signal.SIGINT)
                    recorder.wait()
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        peak = rss(gateway.pid, "VmHWM")
        med = {n: tuple(statistics.median(x[i] for x in v) for i in range(5)) for n, v in results.items()}
        print(f"\n{args.rounds} rounds x {args.seconds} s, {args.connections} connections, wrk -t1, "
              f"{os.cpu_count()} CPUs; session cookie {len(cookie)} bytes, token {len(token)} bytes\n")
        print(f"{'target':<24} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'user us':>8} {'sys us':>8}")
        for name, (rps, p50, p99, user, system) in med.items():
            print(f"{name:<24} {rps:>10.0f} {p50:>8.3f} {p99:>8.3f} {user:>8.1f} {system:>8.1f}")
        b, c, d = med["B nginx"], med["C portcullis session"], med["D portcullis bearer"]
        b2, pub = med["B' nginx, C's request"], med["P portcullis public"]
        print(f"\nC/B = {c[0] / b[0]:.2f}   D/B = {d[0] / b[0]:.2f}   D/C = {d[0] / c[0]:.2f}   "
              f"C/B' = {c[0] / b2[0]:.2f}   P/B = {pub[0] / b[0]:.2f}   C/P = {c[0] / pub[0]:.2f}")
        print(f"R/C = {med['R portcullis 50 routes'][0] / c[0]:.3f}   "
              f"S/C = {med['S portcullis assertion'][0] / c[0]:.3f}", end="")
        if baseline:
            print(f"   C/C0 = {c[0] / med['C0 baseline session'][0]:.3f}   "
                  f"P/P0 = {pub[0] / med['P0 baseline public'][0]:.3f}", end="")
        print()
        print(f"p99 C - B = {c[2] - b[2]:+.3f} ms   p99 C - B' = {c[2] - b2[2]:+.3f} ms   "
              f"p99 P - B = {pub[2] - b[2]:+.3f} ms")
        print(f"gateway RSS: idle {idle:.1f} MB, peak {peak:.1f} MB")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
