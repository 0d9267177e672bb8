"""A small closed-loop HTTP load generator: N processes, each one keep-alive connection, bounded in time.

Only ever aimed at 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _worker(port: int, calls: list[tuple[str, str, dict, bytes | None]], seconds: float, queue) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors, i = [], {}, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and i < len(calls):
        method, path, headers, body = calls[i]
        i += 1
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status >= 400:
            errors[response.status] = errors.get(response.status, 0) + 1
    queue.put((latencies, errors))


def run(port: int, calls_per_worker: list[list[tuple]], seconds: float) -> LoadResult:
    """Send each worker's calls in order until they run out or `seconds` pass."""
    queue = multiprocessing.Queue()
    started = time.perf_counter()
    workers = [multiprocessing.Process(target=_worker, args=(port, calls, seconds, queue)) for calls in calls_per_worker]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=seconds + 60) for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(lat for lats, _ in results for lat in lats)
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=statistics.median(latencies) * 1000 if latencies else 0.0,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0,
        errors={status: sum(e.get(status, 0) for _, e in results) for status in {s for _, e in results for s in e}},
    )


def json_call(method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return method, path, headers, json.dumps(body).encode() if body is not None else None


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
