"""What every benchmark scenario uses: the result row, the run's context, a gunicorn under test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from bench.county import CountyShape
from core.config import ROOT, Settings


@dataclass
class Row:
    scenario: str
    ours: str
    limit: str
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""


@dataclass
class Bench:
    settings: Settings
    app: object
    shape: CountyShape
    rows: list[Row] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.settings.DATABASE_URL

    def server_env(self) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": self.url, "SECRET_KEY": self.settings.SECRET_KEY,
                "FIELD_KEY": self.settings.FIELD_KEY}


SCENARIOS: dict[str, Callable[[Bench], None]] = {}


def scenario(fn: Callable[[Bench], None]) -> Callable[[Bench], None]:
    SCENARIOS[fn.__name__] = fn
    return fn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Gunicorn:
    """gunicorn with 4 sync workers on 127.0.0.1, for the duration of a `with` block."""

    def __init__(self, target: str, env: dict[str, str], workers: int = 4):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--log-level",
             "warning", target], env=env, cwd=ROOT)

    def __enter__(self) -> "Gunicorn":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                time.sleep(1.0)  # let every worker boot
                return self
            except OSError:
                time.sleep(0.2)
        self.process.kill()
        raise RuntimeError(f"gunicorn {self.port} did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def ratio_row(name: str, ours: float, limit: float, unit: str, target: str, met: Callable[[float], bool],
              note: str = "", higher_is_better: bool = False) -> Row:
    ratio = ours / limit if limit else None
    return Row(name, f"{ours:,.2f} {unit}", f"{limit:,.2f} {unit}", ratio, target,
               met(ratio) if ratio is not None else None, note)


