"""The one WeChat API client: mini-program login (code2Session).

Every call has a timeout; WeChat's errcodes become domain errors with clear statuses.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from flask import current_app

from core.errors import Forbidden, TooManyRequests, Unauthorized, UpstreamError
from core.http import outbound_session

# errcodes of code2Session and what they mean for our caller
_LOGIN_ERRORS = {
    40029: (Unauthorized, "WeChat rejected the login code."),
    40163: (Unauthorized, "This login code has already been used."),
    45011: (TooManyRequests, "Too many logins from this WeChat user; try again in a minute."),
    40226: (Forbidden, "WeChat has blocked this user (high-risk account)."),
}


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None


class WechatClient:
    def __init__(self, base_url: str, appid: str, secret: str, timeout: float):
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.http = outbound_session(timeout)

    @classmethod
    def from_app(cls) -> "WechatClient":
        settings = current_app.config["SETTINGS"]
        return cls(settings.WECHAT_API_BASE, settings.WECHAT_APPID, settings.WECHAT_SECRET, settings.HTTP_TIMEOUT_SECONDS)

    def get_json(self, path: str, **params) -> dict:
        """GET a WeChat API and return its JSON body; network trouble is a 502 for our caller."""
        try:
            response = self.http.get(f"{self.base_url}{path}", params=params)
            response.raise_for_status()
            return response.json()
        except requests.Timeout:
            raise UpstreamError("WeChat did not answer in time.") from None
        except (requests.RequestException, ValueError):
            raise UpstreamError("WeChat could not be reached.") from None

    def code_to_session(self, code: str) -> WechatSession:
        """Exchange a wx.login() code for the user's openid (auth.code2Session)."""
        body = self.get_json(
            "/sns/jscode2session",
            appid=self.appid,
            secret=self.secret,
            js_code=code,
            grant_type="authorization_code",
        )
        errcode = body.get("errcode", 0)
        if errcode:
            error, message = _LOGIN_ERRORS.get(errcode, (UpstreamError, "WeChat login failed."))
            raise error(message, wechat_errcode=errcode)
        if not body.get("openid"):
            raise UpstreamError("WeChat answered without an openid.")
        return WechatSession(openid=body["openid"], unionid=body.get("unionid"))
