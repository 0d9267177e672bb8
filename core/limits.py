"""Abuse limits: logins per client address, signing per caller, identity and household calls per
WeChat account and per address, on-site registrations per staff member; counted where every worker sees them.

With REDIS_URL set the counters live in Redis, so a limit holds across all gunicorn workers; without
it (development, tests) each process counts for itself. The limits are read from Settings at request
time, written as Flask-Limiter strings ("20 per minute"). A breach answers 429 in the one error shape.
Behind a reverse proxy set TRUSTED_PROXY_HOPS, or every client shares the proxy's address.

A key names who is counted (an openid, an address): Flask-Limiter writes it into Redis and into its
log line on a breach, so it is counted under a keyed pseudonym (core.crypto.pseudonym), never in clear.
"""

from __future__ import annotations

from typing import Callable

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from core import crypto
from core.auth import Role, token_actor
from core.errors import DomainError


def caller_or_address() -> str:
    """The token's subject (a resident's openid, a staff id), else the client address."""
    try:
        return token_actor().subject
    except DomainError:
        return get_remote_address()


def pseudonymous(key: Callable[[], str]) -> Callable[[], str]:
    """The same counting key, as a keyed hash: equal callers still share a counter, nobody reads who they are."""
    return lambda: crypto.pseudonym(key())


def _setting(name: str) -> Callable[[], str]:
    return lambda: getattr(current_app.config["SETTINGS"], name)


def _counting(residents: bool) -> Callable[[], bool]:
    """An exempt_when for a blueprint residents and staff both write to: count only residents, or only staff."""
    def exempt() -> bool:
        try:
            return (token_actor().role is Role.RESIDENT) is not residents
        except DomainError:
            return False  # no valid token: refused anyway, and counted
    return exempt


# (blueprint name, counter scope, setting holding the limit, whose requests count together, limited methods);
# all limited routes of a blueprint share one counter per scope and key. Binding an identity and
# managing a household (the `me` blueprint's writes) count per account and per address, so neither
# many accounts behind one address nor one account from many addresses can try name + ID pairs fast.
LIMITED_BLUEPRINTS = [
    ("auth", "auth", "LOGIN_RATE_LIMIT", get_remote_address, ["POST"]),
    ("agreements", "agreements", "SIGN_RATE_LIMIT", caller_or_address, ["POST"]),
    ("me", "identity-account", "IDENTITY_RATE_LIMIT", caller_or_address, ["POST", "DELETE"]),
    ("me", "identity-address", "IDENTITY_ADDRESS_RATE_LIMIT", get_remote_address, ["POST", "DELETE"]),
    ("residents", "registration", "REGISTRATION_RATE_LIMIT", caller_or_address, ["POST"]),
]
# Newborns are written by a guardian (a household call, on the account's and the address's identity budget) and
# by staff (an on-site registration): (blueprint, scope, setting, key, methods, exempt when).
SHARED_BLUEPRINTS = [
    ("newborns", "identity-account", "IDENTITY_RATE_LIMIT", caller_or_address, ["POST", "PUT"], _counting(residents=True)),
    ("newborns", "identity-address", "IDENTITY_ADDRESS_RATE_LIMIT", get_remote_address, ["POST", "PUT"], _counting(residents=True)),
    ("newborns", "registration", "REGISTRATION_RATE_LIMIT", caller_or_address, ["POST", "PUT"], _counting(residents=False)),
]


def init_app(app: Flask) -> Limiter:
    settings = app.config["SETTINGS"]
    limiter = Limiter(
        pseudonymous(get_remote_address),
        app=app,
        storage_uri=settings.REDIS_URL or "memory://",
        key_prefix=settings.RATE_LIMIT_KEY_PREFIX,
        headers_enabled=True,
        in_memory_fallback_enabled=True,  # Redis down: each worker keeps limiting on its own
    )
    for blueprint, scope, setting, key, methods in LIMITED_BLUEPRINTS:
        limiter.shared_limit(_setting(setting), scope=scope, key_func=pseudonymous(key), methods=methods)(app.blueprints[blueprint])
    for blueprint, scope, setting, key, methods, exempt in SHARED_BLUEPRINTS:
        limiter.shared_limit(_setting(setting), scope=scope, key_func=pseudonymous(key), methods=methods,
                             exempt_when=exempt)(app.blueprints[blueprint])
    return limiter
