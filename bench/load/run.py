"""Load benchmark: the gateway against nginx on this machine, in the same run (issue #3).

    python -m bench.load.run             # 3 interleaved rounds of 10 s per target and body
    python -m bench.load.run --quick     # 1 round of 2 s: a smoke run

Targets, all behind one fast upstream (nginx `return 200` with a 2-byte and a 1 KiB body):
* `direct`: wrk straight to the upstream (the ceiling);
* `floor`: `bench.floor.proxy`, the least any proxy on the gateway's stack (uvloop + httptools,
  callbacks only) costs, with none of a gateway's work: it splits the gap to nginx into what
  the stack costs and what the gateway's own per-request work costs;
* `nginx`: nginx as a reverse proxy, one process, upstream keep-alive, access log to a file;
* `gateway`: `gateway run --workers 1`, one process, a Prefix route, metrics on, access log to
  a file;
* `gateway-2w`: the same with `--workers 2` (issue #8): a supervisor and two workers;
* `nginx-2w`: nginx with a master and two workers (`reuseport`), the control for `gateway-2w`;
* `gateway-2w-2c`: `gateway-2w` driven with twice the connections, so that each worker has as
  many as the single process has. An event loop with fewer connections handles fewer events per
  wake-up and spends more CPU per request; this row separates that from the cost of workers.

The proxy under test runs on CPU 0; wrk and the upstream share CPU 1. The `-2w` targets may use
both CPUs, so their second worker shares CPU 1 with wrk and the upstream: their throughput
against one worker's says how much a second core helps on this 2-core machine, not what two
free cores would give, and nginx's own 2-worker cost per request shows what that sharing costs.
For each run: requests/s and p50/p99 latency from wrk, the proxy's CPU time per request
(user+system from /proc/PID/stat of the process and its children, divided by the requests wrk
completed) and its RSS (summed over the processes). Reported as medians of the interleaved
rounds. Not a test: figures are recorded in bench/RESULTS.md with the commit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ROOT = Path(__file__).resolve().parents[2]
GATEWAY = str(Path(sys.executable).parent / "gateway")
BODIES = {"2B": "ok", "1KiB": "x" * 1024}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processes(pid: int) -> list[int]:
    """`pid` and its children (a supervisor's workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(child) for child in children)]


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for process in processes(pid):
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return total


def rss_mib(pid: int) -> float:
    total = 0.0
    for process in processes(pid):
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def nginx_conf(folder: Path, body: str, workers: int = 1) -> str:
    temp = "\n".join(
        f"{k}_temp_path {folder}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    master = "on" if workers > 1 else "off"
    return f"""daemon off; master_process {master}; worker_processes {workers};
pid {folder}/nginx.pid; error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{ {temp}
{body}
}}"""


def start_upstream(folder: Path, port: int) -> subprocess.Popen[bytes]:
    locations = "\n".join(
        f'location = /{name} {{ return 200 "{text}"; }}' for name, text in BODIES.items()
    )
    conf = folder / "upstream.conf"
    conf.write_text(
        nginx_conf(
            folder / "up",
            f"access_log off; keepalive_requests 1000000;\n"
            f"server {{ listen 127.0.0.1:{port}; {locations} }}",
        )
    )
    (folder / "up").mkdir()
    return subprocess.Popen(
        ["taskset", "-c", "1", NGINX, "-c", str(conf), "-p", str(folder / "up")],
        stderr=subprocess.DEVNULL,
    )


def start_nginx_proxy(
    folder: Path, port: int, upstream: int, workers: int = 1
) -> subprocess.Popen[bytes]:
    conf = folder / f"proxy-{workers}.conf"
    prefix = folder / f"px-{workers}"
    prefix.mkdir()
    reuseport = " reuseport" if workers > 1 else ""
    conf.write_text(
        nginx_conf(
            prefix,
            f"""
access_log {prefix}/access.log; keepalive_requests 1000000;
upstream backend {{ server 127.0.0.1:{upstream}; keepalive 64; }}
server {{ listen 127.0.0.1:{port}{reuseport};
  location / {{ proxy_pass http://backend; proxy_http_version 1.1;
    proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $remote_addr; }} }}""",
        )
    )
    cpus = "0" if workers == 1 else "0,1"
    return subprocess.Popen(
        ["taskset", "-c", cpus, NGINX, "-c", str(conf), "-p", str(prefix)],
        stderr=subprocess.DEVNULL,
    )


def start_floor(port: int, upstream: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.floor.proxy", str(port), str(upstream)]
    return subprocess.Popen(["taskset", "-c", "0", *command], cwd=ROOT)


def write_manifests(folder: Path, upstream: int, workers: int = 1, suffix: str = "") -> Path:
    """The benchmark's cluster: one Ingress with a Prefix route to one pod, the upstream."""
    manifests = folder / f"manifests-{workers}{suffix and '-' + suffix}"
    manifests.mkdir()
    backend = {"service": {"name": "up", "port": {"number": 80}}}
    document = {
        "kind": "List",
        "items": [
            {
                "kind": "Ingress",
                "metadata": {"name": "bench"},
                "spec": {
                    "ingressClassName": "gateway",
                    "rules": [
                        {
                            "host": "bench.test",
                            "http": {
                                "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]
                            },
                        }
                    ],
                },
            },
            {"kind": "Service", "metadata": {"name": "up"}, "spec": {"ports": [{"port": 80}]}},
            {
                "kind": "EndpointSlice",
                "metadata": {"name": "up-1", "labels": {"kubernetes.io/service-name": "up"}},
                "ports": [{"port": upstream}],
                "endpoints": [{"addresses": ["127.0.0.1"]}],
            },
            {
                "kind": "ConfigMap",
                "metadata": {"name": "cfg"},
                "data": {"keep-alive-requests": "1000000"},
            },
        ],
    }
    (manifests / "bench.json").write_text(json.dumps(document))
    return manifests


def gateway_arguments(manifests: Path, port: int, admin: int, workers: int = 1) -> list[str]:
    """`gateway run` on the benchmark's manifests, as every measurement runs it."""
    return [
        "run",
        "--manifests",
        str(manifests),
        "--listen",
        f"127.0.0.1:{port}",
        "--admin",
        f"127.0.0.1:{admin}",
        "--configmap",
        "default/cfg",
        "--log-level",
        "warning",
        "--shutdown-delay",
        "0",
        "--workers",
        str(workers),
    ]


def tree_python(tree: Path) -> str:
    """The checkout's own interpreter (its `.venv`), else this one: a checkout set up with
    another Python (`PYTHON=... scripts/setup`) runs on it, with the modules it compiled."""
    own = tree / ".venv" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def start_gateway(
    folder: Path,
    port: int,
    admin: int,
    upstream: int,
    workers: int = 1,
    tree: Path | None = None,
    fixed_layout: bool = False,
) -> subprocess.Popen[bytes]:
    """`gateway run` on CPU 0 (both CPUs with workers); with `tree`, that checkout's gateway
    (with its compiled modules) rather than this one's.

    `fixed_layout` runs it without address-space randomisation and with string hashing
    seeded alike (`setarch -R`, PYTHONHASHSEED=0). Two processes of the same code otherwise
    differ by a few percent of CPU per request, as their memory and dictionaries fall
    differently: more than the changes an A/B is for (`bench.load.ab`)."""
    suffix = str(port) if tree else ""  # two gateways may run one checkout (an A/B of itself)
    manifests = write_manifests(folder, upstream, workers, suffix)
    log = (folder / f"gateway-{workers}-{suffix or 'this'}-access.log").open("wb")
    program = [GATEWAY] if tree is None else [tree_python(tree), "-m", "gateway"]
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree is not None else dict(os.environ)
    if fixed_layout:
        program = ["setarch", "-R", *program]
        env["PYTHONHASHSEED"] = "0"
    proc = subprocess.Popen(
        [
            "taskset",
            "-c",
            "0" if workers == 1 else "0,1",
            *program,
            *gateway_arguments(manifests, port, admin, workers),
            "--listen-tls",
            "127.0.0.1:0",
        ],
        stdout=log,
        stderr=subprocess.DEVNULL,
        cwd=tree,
        env=env,
    )
    wait_ready(admin, timeout=30)
    return proc


def wait_ready(admin: int, timeout: float) -> None:
    """Until the gateway's /readyz answers 200 (its first snapshot is live)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"the gateway (admin port {admin}) was not ready within {timeout:g}s")


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    rss_mib: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(text: str, percent: str) -> float:
    match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def run_wrk(port: int, path: str, seconds: int, connections: int, pid: int | None) -> Sample:
    before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            "Host: bench.test",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    used = cpu_seconds(pid) - before if pid else 0.0
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if errors:
        raise RuntimeError(f"wrk saw errors on port {port}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Sample(
        rps,
        _latency(out, "50"),
        _latency(out, "99"),
        used / requests * 1e6 if pid else 0.0,
        rss_mib(pid) if pid else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s (smoke)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    rounds, seconds = (1, 2) if args.quick else (args.rounds, args.seconds)
    folder = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    names = ("upstream", "nginx", "floor", "gateway", "admin", "gateway-2w", "admin-2w", "nginx-2w")
    ports = {name: free_port() for name in names}
    procs = [start_upstream(folder, ports["upstream"])]
    try:
        procs.append(start_nginx_proxy(folder, ports["nginx"], ports["upstream"]))
        procs.append(start_floor(ports["floor"], ports["upstream"]))
        procs.append(start_gateway(folder, ports["gateway"], ports["admin"], ports["upstream"]))
        procs.append(
            start_gateway(folder, ports["gateway-2w"], ports["admin-2w"], ports["upstream"], 2)
        )
        procs.append(start_nginx_proxy(folder, ports["nginx-2w"], ports["upstream"], 2))
        for name in ("upstream", "nginx", "floor", "gateway", "gateway-2w", "nginx-2w"):
            wait_port(ports[name])
        connections = args.connections
        targets = {
            "direct": (ports["upstream"], None, connections),
            "nginx": (ports["nginx"], procs[1].pid, connections),
            "floor": (ports["floor"], procs[2].pid, connections),
            "gateway": (ports["gateway"], procs[3].pid, connections),
            "gateway-2w": (ports["gateway-2w"], procs[4].pid, connections),
            "nginx-2w": (ports["nginx-2w"], procs[5].pid, connections),
            "gateway-2w-2c": (ports["gateway-2w"], procs[4].pid, 2 * connections),
        }
        for port, _, count in targets.values():  # warm up: connections, pools, caches
            run_wrk(port, "/2B", 1, count, None)
        samples: dict[tuple[str, str], list[Sample]] = {}
        for _ in range(rounds):
            for body in BODIES:
                for name, (port, pid, count) in targets.items():
                    samples.setdefault((name, body), []).append(
                        run_wrk(port, f"/{body}", seconds, count, pid)
                    )
        report(samples, rounds, seconds, args.connections)
    finally:
        stop(procs, folder)


def stop(procs: list[subprocess.Popen[bytes]], folder: Path) -> None:
    """End what a benchmark started, by PID, and remove its files."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(folder, ignore_errors=True)


def report(
    samples: dict[tuple[str, str], list[Sample]], rounds: int, seconds: int, connections: int
) -> None:
    print(
        f"{rounds} interleaved round(s) of {seconds} s, wrk -t1 -c{connections} "
        f"(gateway-2w-2c: -c{2 * connections}); medians"
    )
    print("| body | target | req/s | p50 ms | p99 ms | CPU µs/req | RSS MiB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (name, body), runs in samples.items():
        med = {
            f: statistics.median(getattr(s, f) for s in runs) for f in Sample.__dataclass_fields__
        }
        cpu = f"{med['cpu_us']:.1f}" if name != "direct" else "—"
        rss = f"{med['rss_mib']:.1f}" if name != "direct" else "—"
        latency = f"{med['p50_ms']:.2f} | {med['p99_ms']:.2f}"
        print(f"| {body} | {name} | {med['rps']:,.0f} | {latency} | {cpu} | {rss} |")
    for body in BODIES:
        cpu = {
            name: statistics.median(s.cpu_us for s in samples[(name, body)])
            for name in ("nginx", "floor", "gateway")
        }
        print(
            f"{body}: gateway CPU per request = {cpu['gateway'] / cpu['nginx']:.2f}x nginx's; "
            f"the stack's floor = {cpu['floor'] / cpu['nginx']:.2f}x nginx's, "
            f"the gateway's own work = {cpu['gateway'] - cpu['floor']:.1f} µs per request"
        )
    for proxy, two_workers in (
        ("gateway", "gateway-2w"),
        ("gateway", "gateway-2w-2c"),
        ("nginx", "nginx-2w"),
    ):
        for body in BODIES:
            one, two = samples[(proxy, body)], samples[(two_workers, body)]
            cpu = statistics.median(s.cpu_us for s in two) / statistics.median(
                s.cpu_us for s in one
            )
            rps = statistics.median(s.rps for s in two) / statistics.median(s.rps for s in one)
            print(
                f"{body}: {two_workers} vs {proxy}: CPU per request {cpu:.2f}x, "
                f"throughput {rps:.2f}x (wrk and the upstream share the second core)"
            )


if __name__ == "__main__":
    main()
