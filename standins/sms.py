"""A stand-in for the SMS gateway on 127.0.0.1: `POST /send` with a bearer key and `{to, text, ref}`.

`fail(phone, status, …)` queues HTTP statuses for that phone's next sends; `delivered` records the rest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Flask, jsonify, request

KEY = "sms-standin-key"


@dataclass
class SmsState:
    failures: dict[str, list[int]] = field(default_factory=dict)
    delivered: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, phone: str, *statuses: int) -> None:
        self.failures.setdefault(phone, []).extend(statuses)

    def reset(self) -> None:
        self.failures.clear()
        self.delivered.clear()


def create_standin(state: SmsState | None = None) -> Flask:
    app = Flask("sms-standin")
    app.config["STATE"] = state = state or SmsState()

    @app.post("/send")
    def send():
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return jsonify(ok=False, error="bad key"), 401
        body = request.get_json(force=True)
        with state.lock:
            queued = state.failures.get(body.get("to", ""))
            status = queued.pop(0) if queued else None
        if status:
            return jsonify(ok=False, error="scripted failure"), status
        state.delivered.append(body)
        return jsonify(ok=True, id=len(state.delivered))

    return app


if __name__ == "__main__":  # `python -m standins.sms PORT`: the demo's SMS gateway
    import sys

    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 5002, create_standin(), threaded=True)
