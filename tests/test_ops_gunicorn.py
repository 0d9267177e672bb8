"""The app under gunicorn.conf.py, as deployed: hanging WeChat logins do not stall other requests, metrics
add up across workers, every log line is JSON, and a bad configuration stops the master with its list.

Runs gunicorn as a subprocess on a free port over a migrated SQLite file, with a WeChat stand-in that
holds every login until the test lets go.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from core import migrate
from core.config import ROOT
from standins.server import serve

pytestmark = pytest.mark.slow
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
HANGING_LOGINS = 8
WORKERS = 4  # gunicorn.conf.py


class HangingWechat:
    """code2Session that answers only once `release` is set: a WeChat that has stopped answering."""

    def __init__(self):
        self.release = threading.Event()
        self.waiting = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.waiting += 1
        self.release.wait(timeout=60)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"openid": "openid-after-the-hang", "session_key": "a2V5"}).encode()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_environment(**values) -> dict:
    return {**os.environ, "JIAYI_ENV": "production", "SECRET_KEY": "gunicorn-test-secret-" + "x" * 16,
            "FIELD_KEY": "44" * 32, "HTTP_TIMEOUT_SECONDS": "30", **values}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, the hanging WeChat, the metrics folder, the log file) of gunicorn serving the app."""
    folder = tmp_path_factory.mktemp("gunicorn")
    url = f"sqlite:///{folder / 'jiayi.sqlite'}"
    migrate.upgrade(url)
    wechat, metrics = HangingWechat(), folder / "metrics"
    metrics.mkdir()
    standin = serve(wechat)
    port, log = free_port(), folder / "gunicorn.log"
    environment = production_environment(DATABASE_URL=url, WECHAT_API_BASE=standin.base_url,
                                          PROMETHEUS_MULTIPROC_DIR=str(metrics))
    with log.open("wb") as output:
        process = subprocess.Popen([GUNICORN, "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"], cwd=ROOT,
                                   env=environment, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, log)
        yield base, wechat, metrics, log
    finally:
        wechat.release.set()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        standin.stop()


def _wait_until_up(base: str, process: subprocess.Popen, log: Path) -> None:
    """Until every worker has loaded the app (gunicorn.conf.py logs it) and one answers /healthz."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {log.read_text()[-3000:]}")
        if len(re.findall(r"worker \d+ ready", log.read_text())) >= WORKERS:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn's workers were not up within 90 s: {log.read_text()[-3000:]}")


def test_eight_hanging_wechat_logins_do_not_stall_the_centre_list(served):
    base, wechat, _metrics, _log = served
    answers = []

    def login(n):
        answers.append(requests.post(f"{base}/api/v1/auth/wechat-login", json={"code": f"ok-hang-{n}"}, timeout=60))

    logins = [threading.Thread(target=login, args=(n,)) for n in range(HANGING_LOGINS)]
    for thread in logins:
        thread.start()
    deadline = time.monotonic() + 20
    while wechat.waiting < HANGING_LOGINS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wechat.waiting == HANGING_LOGINS  # all eight are in flight, each holding a thread

    for _ in range(8):  # fresh connections, so they land on different workers
        started = time.monotonic()
        response = requests.get(f"{base}/api/v1/centres", timeout=10, headers={"Connection": "close"})
        assert response.status_code == 200
        assert time.monotonic() - started < 2

    wechat.release.set()
    for thread in logins:
        thread.join(timeout=30)
    assert [answer.status_code for answer in answers] == [200] * HANGING_LOGINS


def test_metrics_add_up_the_requests_of_every_worker(served):
    base, _wechat, metrics, _log = served
    for _ in range(20):
        assert requests.get(f"{base}/api/v1/packages", timeout=10, headers={"Connection": "close"}).status_code == 200
    text = requests.get(f"{base}/metrics", timeout=10).text
    counted = re.search(r'jiayi_http_requests_total\{method="GET",route="/api/v1/packages",status="200"\} (\S+)', text)
    assert counted and float(counted.group(1)) == 20
    assert len(glob.glob(str(metrics / "counter_*.db"))) >= 2  # more than one worker wrote


def test_every_line_gunicorn_and_the_app_log_is_json(served):
    base, _wechat, _metrics, log = served
    requests.get(f"{base}/healthz", timeout=10, headers={"X-Request-Id": "gunicorn-log-check"})
    time.sleep(0.5)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    assert any(line.get("request_id") == "gunicorn-log-check" and line["route"] == "/healthz" for line in lines)


def test_a_bad_configuration_stops_gunicorn_with_every_problem_and_no_traceback(tmp_path):
    environment = production_environment(SECRET_KEY="short", FIELD_KEY="", HTTP_TIMEOUT_SECONDS="abc",
                                         PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    result = subprocess.run([GUNICORN, "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{free_port()}"], cwd=ROOT,
                            env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for name in ("HTTP_TIMEOUT_SECONDS", "SECRET_KEY", "FIELD_KEY"):
        assert f"  - {name}: " in result.stderr
