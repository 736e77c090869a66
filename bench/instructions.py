"""Instructions per proxied request, counted by callgrind: a figure that repeats.

    python -m bench.instructions                     # this checkout, 1000 requests
    python -m bench.instructions --tree ../other     # another checkout, with its compiled modules
    python -m bench.instructions --quick             # 100 requests: a smoke run

CPU time per request (`bench.load.run`) is what the performance target is stated in, but on
this machine it moves by 15-25% from run to run, so a change worth 3% needs many interleaved
rounds to show. The instructions the gateway executes per request do not move: the same tree
gives the same count to within 0.1%. They are not time, and can mislead: the change that cut
them by 18% (bench/RESULTS.md) took about 1% off the CPU time. Use the count to see where the
Python-level work goes and whether a change removed what it meant to; judge a gain by the load
benchmark.

How: the gateway (`--workers 1`, the load benchmark's route and settings) runs under
`valgrind --tool=callgrind` twice, serving `WARM` requests once and `WARM + N` the other time;
the difference of the two totals divided by N cancels start-up, warm-up and shutdown. Each
request is `GET /1KiB` with three headers, on four keep-alive connections in turn, answered by
nginx (`bench.load.run.start_upstream`). The access log goes to a file and metrics are on.
With `--keep DIR` the two callgrind files are kept for `callgrind_annotate`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.load.run import (
    ROOT,
    free_port,
    gateway_arguments,
    start_upstream,
    tree_python,
    wait_port,
    wait_ready,
    write_manifests,
)

WARM = 400
REQUEST = b"GET /1KiB HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
CONNECTIONS = 4


def _read_response(sock: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"unexpected answer: {head[:80]!r}")
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        body += _recv(sock)


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise RuntimeError("the gateway closed the connection")
    return chunk


def _send_requests(port: int, count: int) -> None:
    """`count` requests, one at a time on each of the connections in turn."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    try:
        for _ in range(count // CONNECTIONS):
            for sock in socks:
                sock.sendall(REQUEST)
            for sock in socks:
                _read_response(sock)
    finally:
        for sock in socks:
            sock.close()


def _total(tree: Path, manifests: Path, requests: int, out: Path) -> int:
    """Instructions of one gateway run under callgrind that serves `requests`."""
    port, admin = free_port(), free_port()
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        tree_python(tree),
        "-m",
        "gateway",
        *gateway_arguments(manifests, port, admin),
    ]
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    with (out.parent / "access.log").open("ab") as log:
        gateway = subprocess.Popen(
            command, cwd=tree, env=env, stdout=log, stderr=subprocess.DEVNULL
        )
        try:
            wait_port(port, timeout=300)
            wait_ready(admin, timeout=300)
            _send_requests(port, requests)
        finally:
            gateway.terminate()
            try:
                gateway.wait(120)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait()
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def count(tree: Path, requests: int, keep: Path | None = None) -> float:
    """Instructions per request for the gateway of `tree`."""
    folder = Path(tempfile.mkdtemp(prefix="gateway-instructions-"))
    upstream_port = free_port()
    upstream = start_upstream(folder, upstream_port)
    try:
        wait_port(upstream_port)
        manifests = write_manifests(folder, upstream_port)
        warm = _total(tree, manifests, WARM, folder / "warm.out")
        full = _total(tree, manifests, WARM + requests, folder / "full.out")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for name in ("warm.out", "full.out"):
                shutil.copy(folder / name, keep / name)
        return (full - warm) / requests
    finally:
        upstream.terminate()
        upstream.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 requests: a smoke run")
    parser.add_argument("--keep", type=Path, help="keep the two callgrind files here")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench.instructions: valgrind is not installed (Debian package valgrind)")
    requests = 100 if args.quick else args.requests
    per_request = count(args.tree.resolve(), requests, args.keep)
    print(f"{args.tree}: {per_request:,.0f} instructions per request ({requests} requests)")


if __name__ == "__main__":
    main()
