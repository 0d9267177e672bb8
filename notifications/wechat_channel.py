"""WeChat subscribe messages, on core.wechat's client: the shared access token and one send.

The token lives in the database so every process uses the same one. When it is stale one process
takes the refresh (a conditional UPDATE of `refreshing_until`) and the others wait for its result,
so many sends needing a token make one upstream call. force_refresh is used only when WeChat
rejected the token we hold, and never beyond WeChat's limit (20 a day, 30 s apart).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import or_, update

from core import clock, db
from core.errors import UpstreamError
from core.wechat import WechatClient
from notifications.delivery import SENT, Delivery, Result
from notifications.models import Kind, WechatToken

EARLY = timedelta(minutes=5)  # refresh this long before WeChat's expiry
REFRESH_LEASE = timedelta(seconds=15)
FORCE_GAP = timedelta(seconds=30)
FORCES_PER_DAY = 20
TOKEN_REJECTED = (40001, 42001)
PERMANENT = {43101: "user refused the subscription", 40003: "invalid openid", 40037: "invalid template id",
             47003: "template data invalid", 43107: "subscription not granted"}
RATE_LIMITED = 45009

# Which template key shows which part of a message, per kind (the templates chosen in the WeChat console).
TEMPLATE_KEYS = {
    Kind.VISIT_DUE: {"thing1": "title", "date2": "date", "thing3": "place", "thing4": "note"},
    Kind.VACCINATION_DUE: {"thing1": "title", "date2": "date", "thing3": "place", "thing4": "note"},
    Kind.LECTURE: {"thing1": "title", "time2": "date", "thing3": "place", "thing4": "note"},
    Kind.APPOINTMENT_DUE: {"thing1": "title", "time2": "date", "thing3": "place", "thing4": "note"},
}
# WeChat's value limits by key type (characters); longer values are truncated, never refused.
LIMITS = {"thing": 20, "character_string": 32, "number": 32, "letter": 32, "symbol": 5, "phrase": 5, "name": 10}


def fit(key: str, value: str) -> str:
    """`value` cut to what WeChat accepts for a template key like `thing1` (an ellipsis marks the cut)."""
    limit = LIMITS.get(key.rstrip("0123456789"))
    if limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def template_data(kind: Kind, content: dict) -> dict:
    return {key: {"value": fit(key, str(content.get(part) or "-"))} for key, part in TEMPLATE_KEYS[kind].items()}


def access_token(client: WechatClient, *, rejected: str | None = None) -> str:
    """A token WeChat will accept, from the database, fetched anew when stale or `rejected`."""
    return _usable_token(client, rejected)[0]


class Tokens:
    """The shared token as one dispatcher run holds it: read from the database on first use, and again only when it
    nears its expiry or WeChat rejects it (another process may have refreshed it meanwhile)."""

    def __init__(self, client: WechatClient):
        self.client = client
        self.token: str | None = None
        self.expires_at: datetime | None = None

    def get(self, *, rejected: str | None = None) -> str:
        if rejected is None and self.token and self.expires_at - EARLY > clock.now():
            return self.token
        self.token, self.expires_at = _usable_token(self.client, rejected)
        return self.token


def _usable_token(client: WechatClient, rejected: str | None) -> tuple[str, datetime]:
    row = _token_row(client.appid)
    give_up_at = time.monotonic() + REFRESH_LEASE.total_seconds()  # a wait, not a business time
    while True:
        db.session.refresh(row)
        now = clock.now()
        usable = row.access_token and row.access_token != rejected and row.expires_at - EARLY > now
        # End the read: the next look sees the refresher's commit, and SQLite cannot turn a read into a write.
        db.session.commit()
        if usable:
            return row.access_token, row.expires_at
        if _take_refresh(client.appid, now, rejected):
            return _refresh(client, row, rejected, now), row.expires_at
        if time.monotonic() > give_up_at:
            raise UpstreamError("The WeChat token is being refreshed elsewhere; try again.")
        time.sleep(0.05)


def _token_row(appid: str) -> WechatToken:
    with db.transaction():
        db.insert_unless_exists(WechatToken, appid=appid, forced_count=0)
    return db.session.get(WechatToken, appid)


def _take_refresh(appid: str, now, rejected: str | None) -> bool:
    """Become the one refresher, if nobody is and the token is still stale (another may just have refreshed it)."""
    stale = or_(WechatToken.access_token.is_(None), WechatToken.expires_at <= now + EARLY, WechatToken.access_token == rejected)
    with db.transaction():
        return db.session.execute(
            update(WechatToken)
            .where(WechatToken.appid == appid, stale,
                   or_(WechatToken.refreshing_until.is_(None), WechatToken.refreshing_until < now))
            .values(refreshing_until=now + REFRESH_LEASE)
        ).rowcount == 1


def _may_force(row: WechatToken, rejected: str | None, now) -> bool:
    if rejected is None or row.access_token != rejected:
        return False
    count = row.forced_count if row.forced_on == now.date() else 0
    return count < FORCES_PER_DAY and (row.forced_at is None or now - row.forced_at >= FORCE_GAP)


def _refresh(client: WechatClient, row: WechatToken, rejected: str | None, now) -> str:
    force = _may_force(row, rejected, now)
    try:
        token = client.stable_token(force_refresh=force)
    except UpstreamError:
        with db.transaction():
            row.refreshing_until = None
        raise
    with db.transaction():
        row.access_token, row.expires_at, row.refreshing_until = token.token, now + timedelta(seconds=token.expires_in), None
        if force:
            row.forced_count = (row.forced_count if row.forced_on == now.date() else 0) + 1
            row.forced_on, row.forced_at = now.date(), now
    return token.token


def send(client: WechatClient, *, openid: str, template_id: str, kind: Kind, content: dict, state: str,
         tokens: Tokens | None = None) -> Result:
    """Send one subscribe message; a rejected token is refreshed and the send tried once more."""
    tokens = tokens or Tokens(client)
    try:
        token = tokens.get()
        errcode = _send(client, token, openid, template_id, kind, content, state)
        if errcode in TOKEN_REJECTED:
            errcode = _send(client, tokens.get(rejected=token), openid, template_id, kind, content, state)
    except UpstreamError as error:
        return Result(Delivery.TRANSIENT, error.message)
    if errcode == 0:
        return SENT
    if errcode in PERMANENT:
        return Result(Delivery.PERMANENT, f"wechat {errcode}: {PERMANENT[errcode]}")
    if errcode == RATE_LIMITED:
        return Result(Delivery.RATE_LIMITED, f"wechat {errcode}: rate limited")
    return Result(Delivery.TRANSIENT, f"wechat {errcode}")


def _send(client, token, openid, template_id, kind, content, state) -> int:
    return client.send_subscribe(token, touser=openid, template_id=template_id, page=content.get("page") or "pages/index/index",
                                 data=template_data(kind, content), miniprogram_state=state)
