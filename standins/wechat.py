"""A stand-in for the WeChat API on 127.0.0.1, with failures a test can ask for.

Login codes: `ok-<openid>` logs in as <openid>; any other code without a scripted failure logs in
as `openid-<code>`. Script failures per code with `fail_login(code, errcode=…)`, or `slow_codes`
for a reply that comes after the client's timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from flask import Flask, jsonify, request


@dataclass
class WechatState:
    login_errors: dict[str, int] = field(default_factory=dict)
    slow_codes: set[str] = field(default_factory=set)
    broken_codes: set[str] = field(default_factory=set)
    slow_seconds: float = 3.0
    calls: list[tuple[str, dict]] = field(default_factory=list)

    def fail_login(self, code: str, *, errcode: int) -> None:
        self.login_errors[code] = errcode


def create_standin(state: WechatState | None = None) -> Flask:
    app = Flask("wechat-standin")
    app.config["STATE"] = state = state or WechatState()

    @app.get("/sns/jscode2session")
    def code2session():
        params = request.args.to_dict()
        state.calls.append(("jscode2session", params))
        code = params.get("js_code", "")
        if code in state.slow_codes:
            time.sleep(state.slow_seconds)
        if code in state.broken_codes:
            return "upstream exploded", 500
        if code in state.login_errors:
            return jsonify(errcode=state.login_errors[code], errmsg="scripted failure")
        if not params.get("appid") or not params.get("secret") or params.get("grant_type") != "authorization_code":
            return jsonify(errcode=40013, errmsg="invalid appid")
        openid = code.removeprefix("ok-") if code.startswith("ok-") else f"openid-{code}"
        return jsonify(openid=openid, session_key="c2Vzc2lvbi1rZXk=")

    return app


if __name__ == "__main__":  # `python -m standins.wechat PORT`: the demo's WeChat
    import sys

    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 5001, create_standin(), threaded=True)
