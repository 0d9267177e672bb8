"""The one WeChat API client: mini-program login (code2Session), the stable access token, subscribe
messages, the phone number a user lets the mini-program read (getuserphonenumber), and the text
security check (msgSecCheck).

Every call has a timeout; WeChat's errcodes become domain errors with clear statuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import requests
from flask import current_app

from core.errors import Forbidden, Invalid, TooManyRequests, Unauthorized, UpstreamError
from core.http import DEFAULT_MAX_BYTES, ResponseTooLarge, outbound_session

# errcodes of code2Session and what they mean for our caller
_LOGIN_ERRORS = {
    40029: (Unauthorized, "WeChat rejected the login code."),
    40163: (Unauthorized, "This login code has already been used."),
    45011: (TooManyRequests, "Too many logins from this WeChat user; try again in a minute."),
    40226: (Forbidden, "WeChat has blocked this user (high-risk account)."),
}

# errcodes of getuserphonenumber: a bad or spent code is the client's fault, the rest is WeChat's
_PHONE_ERRORS = {
    40029: (Invalid, "WeChat rejected the phone-number code (wrong, expired or already used)."),
    45011: (TooManyRequests, "Too many phone-number requests; try again in a minute."),
}


# WeChat's openids and unionids are 28 printable ASCII characters; we store up to this many.
MAX_IDENTIFIER_LENGTH = 64


def _identifier(value) -> bool:
    """An openid or unionid as WeChat gives them: a short printable ASCII string (anything else is WeChat's
    fault, a 502, not a value for our columns)."""
    return isinstance(value, str) and 0 < len(value) <= MAX_IDENTIFIER_LENGTH and value.isascii() and value.isprintable()


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


@dataclass(frozen=True)
class TextCheck:
    """msgSecCheck's answer: errcode 0 and a suggestion (pass, review, risky) with its label."""

    errcode: int
    suggest: str | None = None
    label: int | None = None


class WechatClient:
    def __init__(self, base_url: str, appid: str, secret: str, timeout: float, max_bytes: int = DEFAULT_MAX_BYTES):
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.http = outbound_session(timeout, max_bytes)

    @classmethod
    def from_app(cls) -> "WechatClient":
        settings = current_app.config["SETTINGS"]
        return cls(settings.WECHAT_API_BASE, settings.WECHAT_APPID, settings.WECHAT_SECRET, settings.HTTP_TIMEOUT_SECONDS,
                   settings.HTTP_MAX_RESPONSE_BYTES)

    def get_json(self, path: str, **params) -> dict:
        """GET a WeChat API and return its JSON body; network trouble is a 502 for our caller."""
        return self._call("GET", path, params=params)

    def post_json(self, path: str, body: dict, **params) -> dict:
        """POST JSON to a WeChat API (UTF-8, not escaped: WeChat shows what it receives)."""
        payload = json.dumps(body, ensure_ascii=False).encode()
        return self._call("POST", path, params=params, data=payload, headers={"Content-Type": "application/json"})

    def _call(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self.http.request(method, f"{self.base_url}{path}", **kwargs)
            response.raise_for_status()
            return response.json()
        except requests.Timeout:  # also core.http's deadline for the whole call
            raise UpstreamError("WeChat did not answer in time.") from None
        except ResponseTooLarge:
            raise UpstreamError("WeChat's answer was larger than we read.") from None
        except (requests.RequestException, ValueError):
            raise UpstreamError("WeChat could not be reached.") from None

    def stable_token(self, *, force_refresh: bool = False) -> AccessToken:
        """Fetch the access token from the stable-token API (getStableAccessToken)."""
        body = self.post_json(
            "/cgi-bin/stable_token",
            {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret, "force_refresh": force_refresh},
        )
        if body.get("errcode") or not body.get("access_token"):
            raise UpstreamError("WeChat gave no access token.", wechat_errcode=body.get("errcode"))
        return AccessToken(token=body["access_token"], expires_in=int(body.get("expires_in", 7200)))

    def send_subscribe(self, access_token: str, *, touser: str, template_id: str, page: str, data: dict,
                       miniprogram_state: str) -> int:
        """Send one subscribe message; returns WeChat's errcode (0 when sent)."""
        body = self.post_json(
            "/cgi-bin/message/subscribe/send",
            {"touser": touser, "template_id": template_id, "page": page, "data": data,
             "miniprogram_state": miniprogram_state, "lang": "zh_CN"},
            access_token=access_token,
        )
        return int(body.get("errcode", 0))

    def msg_sec_check(self, access_token: str, *, openid: str, content: str, scene: int = 1) -> TextCheck:
        """Check a user's text with WeChat's content security API, version 2 (security.msgSecCheck).

        `openid` is the user who wrote it (they must have used the mini-program in the last two hours).
        """
        body = self.post_json("/wxa/msg_sec_check", {"content": content, "version": 2, "scene": scene, "openid": openid},
                              access_token=access_token)
        result = body.get("result") or {}
        return TextCheck(errcode=int(body.get("errcode", 0)), suggest=result.get("suggest"), label=result.get("label"))

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
        openid, unionid = body.get("openid"), body.get("unionid")
        if not _identifier(openid):
            raise UpstreamError("WeChat answered without an openid we can use.")
        if unionid is not None and not _identifier(unionid):
            raise UpstreamError("WeChat answered with a unionid we cannot use.")
        return WechatSession(openid=openid, unionid=unionid)

    def phone_number(self, code: str) -> str:
        """The mainland phone number WeChat verified for the user who tapped the phone button (getuserphonenumber).

        `code` is the single-use code of the button's getphonenumber event. The call needs the
        access token; the stable-token API gives the token in force without invalidating it, so
        this rare call asks for it directly instead of sharing a cache with the message sender.
        """
        token = self.stable_token().token
        body = self.post_json("/wxa/business/getuserphonenumber", {"code": code}, access_token=token)
        errcode = body.get("errcode", 0)
        if errcode:
            error, message = _PHONE_ERRORS.get(errcode, (UpstreamError, "WeChat could not give the phone number."))
            raise error(message, field="phone_code" if error is Invalid else None, wechat_errcode=errcode)
        info = body.get("phone_info") or {}
        if (info.get("watermark") or {}).get("appid") != self.appid or not info.get("purePhoneNumber"):
            raise UpstreamError("WeChat answered without a phone number for this mini-program.")
        if info.get("countryCode") not in (None, "86"):
            raise Invalid("Only a mainland (+86) mobile number can be verified.", field="phone_code")
        return info["purePhoneNumber"]
