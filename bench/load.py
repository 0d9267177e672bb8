"""A small closed-loop HTTP load generator: N processes, each one client connection, bounded in time.

Only ever aimed at 127.0.0.1. The clients run on the same machine as the server under test and take
their share of its cores. gunicorn's sync workers close the connection after each response, so a
request to them is a new TCP connection (http.client reconnects by itself). A server that keeps
connections alive (gunicorn's gthread worker, as the WeChat stand-in is served) gets one per client.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

# The path bench.serve answers in front of the app under test, with the answering worker's pid.
PROBE = "/__bench/worker"


@dataclass
class LoadResult:
    latencies: list[float]  # seconds, sorted
    seconds: float
    errors: dict[int, int]
    connections: int = 0  # TCP connections opened: as many as requests unless the server keeps them alive
    ran_out: bool = False  # every call was sent before the time was up

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0

    @property
    def p99_ms(self) -> float:
        return self.latencies[max(int(len(self.latencies) * 0.99) - 1, 0)] * 1000 if self.latencies else 0.0

    @property
    def latency(self) -> str:
        return f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"


def _worker(port: int, calls: list[tuple[str, str, dict, bytes | None]], seconds: float, repeat: bool, start, queue) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies, errors, i, connections = [], {}, 0, 0
    start.wait()
    began = time.monotonic()
    deadline = began + seconds
    while time.monotonic() < deadline and (repeat or i < len(calls)):
        method, path, headers, body = calls[i % len(calls)]
        i += 1
        started = time.perf_counter()
        connections += connection.sock is None
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            status = 599  # the connection failed: counted as an error, not a latency
        else:
            latencies.append(time.perf_counter() - started)
        if status >= 400:
            errors[status] = errors.get(status, 0) + 1
    queue.put((latencies, errors, began, time.monotonic(), not repeat and i >= len(calls), connections))


def run(port: int, calls_per_client: list[list[tuple]], seconds: float, repeat: bool = False) -> LoadResult:
    """Send each client's calls in order until they run out (or, with `repeat`, round and round) or `seconds` pass.

    The clients start together; the time is from the first client's start to the last client's end,
    so process start-up is not counted.
    """
    calls_per_client = [calls for calls in calls_per_client if calls]
    queue = multiprocessing.Queue()
    start = multiprocessing.Event()
    clients = [multiprocessing.Process(target=_worker, args=(port, calls, seconds, repeat, start, queue))
               for calls in calls_per_client]
    for client in clients:
        client.start()
    start.set()
    results = [queue.get(timeout=seconds + 120) for _ in clients]
    for client in clients:
        client.join()
    elapsed = max(r[3] for r in results) - min(r[2] for r in results)
    latencies = sorted(lat for r in results for lat in r[0])
    errors: dict[int, int] = {}
    for r in results:
        for status, count in r[1].items():
            errors[status] = errors.get(status, 0) + count
    return LoadResult(latencies=latencies, seconds=elapsed, errors=errors, connections=sum(r[5] for r in results),
                      ran_out=all(r[4] for r in results))


def merged(parts: list[LoadResult]) -> LoadResult:
    """Several timed runs as one: their requests over their summed time."""
    errors: dict[int, int] = {}
    for part in parts:
        for status, count in part.errors.items():
            errors[status] = errors.get(status, 0) + count
    return LoadResult(latencies=sorted(lat for part in parts for lat in part.latencies),
                      seconds=sum(part.seconds for part in parts), errors=errors,
                      connections=sum(part.connections for part in parts), ran_out=any(part.ran_out for part in parts))


def json_call(method: str, path: str, token: str | None = None, body: dict | None = None,
              headers: dict[str, str] | None = None) -> tuple:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return method, path, sent, json.dumps(body).encode() if body is not None else None


def fetch(port: int, call: tuple) -> tuple[int, bytes]:
    """Send one call; returns the status and the body."""
    method, path, headers, body = call
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _probe(port: int, hold: float) -> int | None:
    try:
        status, body = fetch(port, ("GET", f"{PROBE}?hold={hold}", {}, None))
    except OSError:
        return None
    return int(body) if status == 200 else None


def answering_workers(port: int, workers: int, hold: float = 0.2) -> set[int]:
    """The pids of the workers that answer `workers` probes sent at once.

    Each probe holds its worker for `hold` seconds, so while all are booted every probe lands on a
    different one; a worker still importing the app leaves its probe to a booted one.
    """
    with ThreadPoolExecutor(workers) as pool:
        return {pid for pid in pool.map(lambda _: _probe(port, hold), range(workers)) if pid is not None}


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def stream_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """GET a streamed body and drop it as it comes; returns its bytes and lines."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    size = lines = 0
    while chunk := response.read(1 << 16):
        size += len(chunk)
        lines += chunk.count(b"\n")
    connection.close()
    return size, lines
