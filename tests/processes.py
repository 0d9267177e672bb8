"""Other processes of the app (a scheduler, a dispatcher, the CLI) started by a test against its committed
database, on the test's business date (JIAYI_CLOCK_SHIFT), to be killed and waited for."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

from core import clock
from core import db as core_db
from core.config import ROOT

FLASK = str(ROOT / ".venv" / "bin" / "flask")


def environment(app, url: str, **extra) -> dict:
    settings = app.config["SETTINGS"]
    shift = (clock.now() - datetime.now(timezone.utc)).total_seconds()
    clock.set_now(lambda: datetime.now(timezone.utc) + timedelta(seconds=shift))  # this process keeps the same time
    return {**os.environ, "DATABASE_URL": url, "SECRET_KEY": settings.SECRET_KEY, "FIELD_KEY": settings.FIELD_KEY,
            "WECHAT_API_BASE": settings.WECHAT_API_BASE, "SMS_GATEWAY_URL": settings.SMS_GATEWAY_URL,
            "SMS_GATEWAY_KEY": settings.SMS_GATEWAY_KEY, "HTTP_TIMEOUT_SECONDS": "1", "JIAYI_CLOCK_SHIFT": str(shift),
            **extra}


def start(env: dict, *command: str) -> subprocess.Popen:
    return subprocess.Popen([FLASK, "--app", "wsgi", *command], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(condition, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        core_db.session.commit()  # a fresh look at what the other processes committed
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    process.wait(timeout=10)
