"""A stand-in for the WeChat API on 127.0.0.1, with failures a test can ask for.

Login codes: `ok-<openid>` logs in as <openid>; any other code without a scripted failure logs in
as `openid-<code>`. Script failures per code with `fail_login(code, errcode=…)`, or `slow_codes`
for a reply that comes after the client's timeout.

Subscribe messages: `fail_send(openid, "timeout" | "5xx" | errcode, …)` queues failures for that
openid's next sends; `hang_openids` answer 500 only after `hang_seconds` (a send in flight);
`revoke_token()` makes the current token answer 40001; `token_errcode` fails the token API. `delivered` records accepted messages.

Phone numbers (getuserphonenumber): a code `phone-<11 digits>` or `phone-<11 digits>-<anything>` gives
that number, once (a spent code answers 40029, as WeChat's do); any other code answers 40029.

Text security (msgSecCheck v2): text holding one of `risky_words` is risky, one of `review_words` needs
review, anything else passes; `fail_text_check("timeout" | "5xx" | errcode, …)` queues failures for the next checks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from flask import Flask, jsonify, request

RISKY_WORDS = ("违禁内容",)
REVIEW_WORDS = ("待审内容",)
# msgSecCheck labels: 100 normal, 20001 political, 20006 illegal and criminal.
LABELS = {"pass": 100, "review": 20001, "risky": 20006}
# Longer unscripted login codes are refused as WeChat refuses a code it never issued (errcode 40029).
MAX_LOGIN_CODE = 64


@dataclass
class WechatState:
    login_errors: dict[str, int] = field(default_factory=dict)
    slow_codes: set[str] = field(default_factory=set)
    broken_codes: set[str] = field(default_factory=set)
    slow_seconds: float = 3.0
    calls: list[tuple[str, dict]] = field(default_factory=list)
    tokens_issued: int = 0
    token_delay: float = 0.0
    token_errcode: int = 0
    revoked: set[str] = field(default_factory=set)
    send_failures: dict[str, list] = field(default_factory=dict)
    hang_openids: set[str] = field(default_factory=set)
    hang_seconds: float = 3.0
    delivered: list[dict] = field(default_factory=list)
    spent_phone_codes: set[str] = field(default_factory=set)
    token_appids: dict[str, str] = field(default_factory=dict)  # access token -> the appid it was issued to
    risky_words: set[str] = field(default_factory=lambda: set(RISKY_WORDS))
    review_words: set[str] = field(default_factory=lambda: set(REVIEW_WORDS))
    text_check_failures: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_login(self, code: str, *, errcode: int) -> None:
        self.login_errors[code] = errcode

    def fail_send(self, openid: str, *failures) -> None:
        self.send_failures.setdefault(openid, []).extend(failures)

    def fail_text_check(self, *failures) -> None:
        self.text_check_failures.extend(failures)

    def revoke_token(self) -> None:
        self.revoked.add(f"token-{self.tokens_issued}")

    def reset_messages(self) -> None:
        self.tokens_issued, self.token_delay, self.token_errcode = 0, 0.0, 0
        for collection in (self.revoked, self.send_failures, self.hang_openids, self.delivered, self.text_check_failures):
            collection.clear()
        self.risky_words, self.review_words = set(RISKY_WORDS), set(REVIEW_WORDS)

    def calls_to(self, api: str) -> list[dict]:
        return [params for name, params in self.calls if name == api]


def create_standin(state: WechatState | None = None) -> Flask:
    app = Flask("wechat-standin")
    app.config["STATE"] = state = state or WechatState()

    def scripted(failure):
        """The answer to a scripted failure: "timeout" answers only after the client gave up (and does nothing),
        "5xx" is a gateway error, anything else a WeChat errcode."""
        if failure == "timeout":
            time.sleep(state.slow_seconds)
            return "too late", 504
        if failure == "5xx":
            return "upstream exploded", 502
        return jsonify(errcode=failure, errmsg="scripted failure")

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
        if not code.startswith("ok-") and (len(code) > MAX_LOGIN_CODE or not code.isascii()):  # real ones: 32 ASCII
            return jsonify(errcode=40029, errmsg="invalid code")
        openid = code.removeprefix("ok-") if code.startswith("ok-") else f"openid-{code}"
        return jsonify(openid=openid, session_key="c2Vzc2lvbi1rZXk=")

    @app.post("/cgi-bin/stable_token")
    def stable_token():
        body = request.get_json(force=True)
        state.calls.append(("stable_token", body))
        time.sleep(state.token_delay)
        if state.token_errcode:
            return jsonify(errcode=state.token_errcode, errmsg="scripted failure")
        if body.get("grant_type") != "client_credential" or not body.get("appid") or not body.get("secret"):
            return jsonify(errcode=40013, errmsg="invalid appid")
        with state.lock:
            current = f"token-{state.tokens_issued}"
            if body.get("force_refresh") or state.tokens_issued == 0 or current in state.revoked:
                state.tokens_issued += 1
            state.token_appids[f"token-{state.tokens_issued}"] = body["appid"]
            return jsonify(access_token=f"token-{state.tokens_issued}", expires_in=7200)

    @app.post("/cgi-bin/message/subscribe/send")
    def subscribe_send():
        body = request.get_json(force=True)
        token = request.args.get("access_token", "")
        state.calls.append(("subscribe_send", {**body, "access_token": token}))
        openid = body.get("touser", "")
        if openid in state.hang_openids:
            time.sleep(state.hang_seconds)
            return "gateway timeout", 504
        if token in state.revoked or not token.startswith("token-"):
            return jsonify(errcode=40001, errmsg="invalid credential")
        with state.lock:
            failure = state.send_failures.get(openid, []).pop(0) if state.send_failures.get(openid) else None
        if failure is not None:
            return scripted(failure)
        state.delivered.append(body)
        return jsonify(errcode=0, errmsg="ok")

    @app.post("/wxa/business/getuserphonenumber")
    def user_phone_number():
        body = request.get_json(force=True)
        token = request.args.get("access_token", "")
        state.calls.append(("getuserphonenumber", {**body, "access_token": token}))
        if token in state.revoked or not token.startswith("token-"):
            return jsonify(errcode=40001, errmsg="invalid credential")
        code = str(body.get("code", ""))
        number = code.removeprefix("phone-").split("-", 1)[0]
        with state.lock:
            if not code.startswith("phone-") or len(number) != 11 or not number.isascii() or not number.isdigit() \
                    or code in state.spent_phone_codes:
                return jsonify(errcode=40029, errmsg="invalid code")
            state.spent_phone_codes.add(code)
        return jsonify(errcode=0, errmsg="ok", phone_info={
            "phoneNumber": number, "purePhoneNumber": number, "countryCode": "86",
            "watermark": {"timestamp": int(time.time()), "appid": state.token_appids.get(token, "")}})

    @app.post("/wxa/msg_sec_check")
    def msg_sec_check():
        body = request.get_json(force=True)
        token = request.args.get("access_token", "")
        state.calls.append(("msg_sec_check", {**body, "access_token": token}))
        with state.lock:
            failure = state.text_check_failures.pop(0) if state.text_check_failures else None
        if failure is not None:
            return scripted(failure)
        if token in state.revoked or not token.startswith("token-"):
            return jsonify(errcode=40001, errmsg="invalid credential")
        if body.get("scene") not in (1, 2, 3, 4):
            return jsonify(errcode=40129, errmsg="invalid scene")
        content = body.get("content")
        if body.get("version") != 2 or not body.get("openid") or not isinstance(content, str) or not content:
            return jsonify(errcode=47001, errmsg="data format error")
        suggest = ("risky" if any(word in content for word in state.risky_words)
                   else "review" if any(word in content for word in state.review_words) else "pass")
        verdict = {"suggest": suggest, "label": LABELS[suggest]}
        return jsonify(errcode=0, errmsg="ok", result=verdict, trace_id="standin",
                       detail=[{"strategy": "content_model", "errcode": 0, "prob": 90, **verdict}])

    return app


if __name__ == "__main__":  # `python -m standins.wechat PORT`: the demo's WeChat
    import sys

    from werkzeug.serving import run_simple

    run_simple("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 5001, create_standin(), threaded=True)
