"""What every benchmark scenario uses: the result row, the run's context, a gunicorn under test."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench import load
from bench.county import CountyShape
from core.config import ROOT, Settings


def ratio_of(ours: float | None, limit: float | None) -> float | None:
    """ours / limit to three decimals: what the table prints, latest.json holds and targets are judged on."""
    return round(ours / limit, 3) if ours is not None and limit else None


@dataclass
class Row:
    """One line of the table: our figure beside its limit, measured in the same run.

    `ratio` is ours / limit as printed (three decimals), and what a target is judged on; the target says which
    way is good. A detail (e.g. latencies) is
    printed beside its figure.
    """

    scenario: str
    ours: float | None
    limit: float | None
    unit: str
    target: str
    met: bool | None
    note: str = ""
    ours_detail: str = ""
    limit_detail: str = ""

    @property
    def ratio(self) -> float | None:
        return ratio_of(self.ours, self.limit)

    def as_json(self) -> dict:
        return {"scenario": self.scenario, "ours": self.ours, "limit": self.limit, "unit": self.unit,
                "ratio": self.ratio, "target": self.target, "met": self.met,
                "note": self.note}


@dataclass
class Bench:
    settings: Settings
    app: object
    shape: CountyShape
    rows: list[Row] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.settings.DATABASE_URL

    @property
    def engine(self) -> Engine:
        return self.app.extensions["engine"]

    def server_env(self) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": self.url, "SECRET_KEY": self.settings.SECRET_KEY,
                "FIELD_KEY": self.settings.FIELD_KEY, "ACCESS_TOKEN_SECONDS": str(self.settings.ACCESS_TOKEN_SECONDS)}

    def note(self, key: str, text: str) -> None:
        """A note printed once under the table."""
        self.notes.setdefault(key, text)


SCENARIOS: dict[str, Callable[[Bench], None]] = {}


def scenario(fn: Callable[[Bench], None]) -> Callable[[Bench], None]:
    SCENARIOS[fn.__name__] = fn
    return fn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_pids(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


class Gunicorn:
    """gunicorn with `workers` workers (sync unless `options` say otherwise) on 127.0.0.1 serving `app` ("module:attribute") through
    bench.serve, for the duration of a `with` block.

    The block starts only when every worker has answered the probe, i.e. has imported the app.
    """

    def __init__(self, app: str, env: dict[str, str], workers: int = 4, options: tuple[str, ...] = ()):
        self.app, self.workers = app, workers
        self.port = free_port()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), *options, "-b", f"127.0.0.1:{self.port}",
             "--log-level", "warning", "bench.serve:app"], env={**env, "BENCH_APP": app}, cwd=ROOT)
        self.worker_pids: list[int] = []
        self.boot_seconds = 0.0

    def wait_ready(self) -> None:
        """Return when every worker has answered the probe; stop the server and raise if that does not happen."""
        answered: set[int] = set()
        deadline = self.started + 180
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn for {self.app} exited with {self.process.returncode}")
                answered |= load.answering_workers(self.port, self.workers)
                if len(answered) >= self.workers and answered <= set(child_pids(self.process.pid)):
                    self.worker_pids = sorted(answered)
                    self.boot_seconds = time.monotonic() - self.started
                    return
                time.sleep(0.1)
            raise RuntimeError(f"gunicorn for {self.app}: {len(answered)} of {self.workers} workers answered in 180 s")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "Gunicorn":
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextmanager
def serving(*servers: Gunicorn) -> Iterator[None]:
    """Servers started together (they boot side by side), once every worker of each answers; all stop at the end."""
    try:
        for server in servers:
            server.wait_ready()
        yield
    finally:
        for server in servers:
            server.stop()


class Statements:
    """Counts the statements an engine sends while the `with` block runs (SQLAlchemy's before_cursor_execute)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.count = 0
        self.kinds: Counter[str] = Counter()
        # What the listener does not see but the database answers too: the pool's ping on checkout
        # (pool_pre_ping), BEGIN (psycopg sends it before the first statement), COMMIT and ROLLBACK.
        self.others = 0

    @property
    def round_trips(self) -> int:
        return self.count + self.others

    def _seen(self, _conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        self.count += 1
        table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", statement)
        self.kinds[f"{statement.split(None, 1)[0]} {table.group(1) if table else ''}".strip()] += 1

    def summary(self, most: int = 4) -> str:
        """The commonest kinds of statement, e.g. "INSERT outbox_messages × 100,000"."""
        return ", ".join(f"{kind} × {count:,}" for kind, count in self.kinds.most_common(most))

    def _other(self, *_args) -> None:
        self.others += 1

    def _events(self) -> list[tuple[str, Callable]]:
        events = [("before_cursor_execute", self._seen), ("begin", self._other), ("commit", self._other),
                  ("rollback", self._other)]
        return events + ([("checkout", self._other)] if getattr(self.engine.pool, "_pre_ping", False) else [])

    def __enter__(self) -> "Statements":
        for name, listener in self._events():
            event.listen(self.engine, name, listener)
        return self

    def __exit__(self, *exc) -> None:
        for name, listener in self._events():
            event.remove(self.engine, name, listener)


@contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as took:` … `took[0]` is the block's seconds."""
    took = [0.0]
    started = time.perf_counter()
    try:
        yield took
    finally:
        took[0] = time.perf_counter() - started
