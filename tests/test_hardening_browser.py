"""Intranet deployment: /docs loads in a real browser with the network closed (nothing from a CDN)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from standins.server import serve

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CLOSED_NETWORK = [
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no name resolves: the internet is gone
    "--proxy-server=http://127.0.0.1:9",  # anything else that tries goes to a closed port (loopback is direct)
]


def dump_dom(url: str, profile) -> str:
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", *CLOSED_NETWORK,
         "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_swagger_ui_lists_the_operations_with_the_network_closed(app, tmp_path):
    if not CHROMIUM:
        pytest.skip("chromium is not installed (.ci/run installs it with apt-get): no headless browser to run")
    running = serve(app)
    try:
        dom = dump_dom(f"{running.base_url}/docs", tmp_path / "profile")
    finally:
        running.stop()
    summaries = [summary for path in app.test_client().get("/openapi.json").get_json()["paths"].values()
                 for summary in (operation.get("summary") for operation in path.values() if isinstance(operation, dict))]
    assert "opblock-summary" in dom
    missing = [summary for summary in summaries if summary and summary not in dom]
    assert summaries and missing == []
