"""The SMS channel, for residents without the mini-program: a configurable HTTP gateway.

`POST SMS_GATEWAY_URL` with `Authorization: Bearer SMS_GATEWAY_KEY` and `{to, text, ref}`; 2xx is
sent, 429 rate-limited, other 4xx permanent, 5xx and timeouts transient.
"""

from __future__ import annotations

import requests

from core.config import Settings
from core.http import TimeoutSession, outbound_session
from notifications.delivery import SENT, Delivery, Result

PARTS = ("title", "date", "place", "note")


def text_of(content: dict) -> str:
    return "【家庭医生】" + "，".join(str(content[part]) for part in PARTS if content.get(part)) + "。"


def send(settings: Settings, *, phone: str, content: dict, ref: str, http: TimeoutSession | None = None) -> Result:
    """Send one text message through the gateway (on `http`, a session kept alive by the caller, or a new one)."""
    if not settings.SMS_GATEWAY_URL:
        return Result(Delivery.PERMANENT, "no SMS gateway configured")
    try:
        http = http or outbound_session(settings.HTTP_TIMEOUT_SECONDS, settings.HTTP_MAX_RESPONSE_BYTES)
        response = http.post(
            settings.SMS_GATEWAY_URL, json={"to": phone, "text": text_of(content), "ref": ref},
            headers={"Authorization": f"Bearer {settings.SMS_GATEWAY_KEY}"},
        )
    except requests.RequestException as error:
        return Result(Delivery.TRANSIENT, f"sms gateway unreachable: {type(error).__name__}")
    if response.ok:
        return SENT
    if response.status_code == 429:
        return Result(Delivery.RATE_LIMITED, "sms 429")
    kind = Delivery.TRANSIENT if response.status_code >= 500 else Delivery.PERMANENT
    return Result(kind, f"sms {response.status_code}")
