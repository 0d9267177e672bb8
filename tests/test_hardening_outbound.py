"""Every outbound HTTP call has a timeout: the lint gate refuses calls without one, and the one session
factory gives every call a default."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from core.config import ROOT
from core.http import outbound_session
from standins.server import serve

RUFF = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format=concise", "--stdin-filename"]


def lint(source: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RUFF, "core/probe.py", "-"], input=source, capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


@pytest.mark.parametrize("call, rule", [
    ("requests.get('http://127.0.0.1/')", "S113"),
    ("requests.post('http://127.0.0.1/', json={})", "S113"),
    ("requests.Session().get('http://127.0.0.1/')", "TID251"),
])
def test_an_outbound_call_without_a_timeout_fails_the_lint_gate(call, rule):
    result = lint(f"import requests\n\n{call}\n")
    assert result.returncode == 1
    assert rule in result.stdout


def test_an_outbound_call_with_a_timeout_passes_the_lint_gate():
    assert lint("import requests\n\nrequests.get('http://127.0.0.1/', timeout=5)\n").returncode == 0


def test_a_call_through_the_outbound_session_times_out_by_default():
    def slow(environ, start_response):
        time.sleep(1)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"late"]

    running = serve(slow)
    try:
        with pytest.raises(requests.Timeout):
            outbound_session(0.2).get(running.base_url)
    finally:
        running.stop()
