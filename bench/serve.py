"""What the benchmark's gunicorn serves: the app named by BENCH_APP, behind a probe.

BENCH_APP is written as gunicorn takes it: "module:attribute", or "module:factory()" for an app factory.

GET /__bench/worker answers with the pid of the worker that took it, without touching the app, so
the benchmark can wait until every worker has imported the app before it starts the load. Ours and
the hand-written limits are served through this same wrapper.
"""

from __future__ import annotations

import importlib
import os
import time
from urllib.parse import parse_qs

from bench.load import PROBE

_module, _, _attribute = os.environ["BENCH_APP"].partition(":")
target = getattr(importlib.import_module(_module), _attribute.removesuffix("()"))
if _attribute.endswith("()"):
    target = target()


def app(environ, start_response):
    if environ.get("PATH_INFO") != PROBE:
        return target(environ, start_response)
    hold = float(parse_qs(environ.get("QUERY_STRING", "")).get("hold", ["0"])[0])
    time.sleep(min(hold, 1.0))  # keep this worker busy so the probes sent with it reach the others
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
