"""One settings object, read from the environment, with defaults that are safe for development only.

Outside development (JIAYI_ENV=development, which `make run` and the tests set) a Settings object
refuses to exist with the published default SECRET_KEY, a short one, or a missing or malformed
FIELD_KEY; every problem is listed in one message, and a value that does not parse
(`HTTP_TIMEOUT_SECONDS=abc`) is named rather than raised as a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me-before-production"
DEVELOPMENT, PRODUCTION = "development", "production"
MIN_SECRET_LENGTH = 32
MIN_AUDIT_RETENTION_DAYS = 180
FIELD_CIPHERS = ("aes-256-gcm", "sm4-gcm")
LOOKUP_HASHES = ("hmac-sha256", "hmac-sm3")
# Ciphertext written before key ids existed was made with the key that now carries this id.
LEGACY_KEY_ID = "k1"
KEY_ID = re.compile(r"[a-z0-9]{1,8}")
HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
# Values never repeated in a message: a start-up error lands in logs.
SECRETS = frozenset({"SECRET_KEY", "AUDIT_MAINTENANCE_DATABASE_URL", "FIELD_KEY", "FIELD_OLD_KEYS", "LOOKUP_KEY", "WECHAT_SECRET", "SMS_GATEWAY_KEY",
                     "METRICS_TOKEN"})


class ConfigError(SystemExit):
    """Start-up refused: the message lists every problem. A SystemExit, so that flask, gunicorn and
    python print the message and exit 1 instead of showing a traceback."""

    def __init__(self, problems: list[str], env: str):
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"jiayi will not start: {len(problems)} problem(s) in the configuration (environment variables):\n"
            f"{lines}\n(JIAYI_ENV={env}; only JIAYI_ENV={DEVELOPMENT} accepts development defaults.)"
        )


@dataclass(frozen=True)
class Unreadable:
    """An environment value that did not parse, kept so that all such values are reported together."""

    name: str
    raw: str
    expected: str

    def problem(self) -> str:
        shown = "(value hidden)" if self.name in SECRETS else repr(self.raw)
        return f"{self.name}: {shown} is not {self.expected}"


_EXPECTED = {int: "a whole number", float: "a number"}


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _read(name: str, default: str, parse: Callable[[str], Any], expected: str | None = None) -> Any:
    raw = _env(name, default)
    try:
        return parse(raw)
    except (ValueError, TypeError):
        return Unreadable(name, raw, expected or _EXPECTED.get(parse, "readable"))


def _above_zero(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_above_zero(raw: str):
        value = parse(raw)
        if value <= 0:
            raise ValueError(raw)
        return value

    return parse_above_zero


def _split_pairs(raw: str, separator: str = ",") -> dict[str, str]:
    """`a=1,b=2` as a dict (split at the first `=` of each part)."""
    pairs = {}
    for part in raw.split(separator):
        if part.strip():
            name, equals, value = part.strip().partition("=")
            if not equals:
                raise ValueError(part)
            pairs[name.strip()] = value.strip()
    return pairs


def _pairs(name: str, default: str, separator: str = ",") -> dict[str, str] | Unreadable:
    return _read(name, default, lambda raw: _split_pairs(raw, separator), f"a list of name=value separated by {separator!r}")


def _days(name: str, default: str) -> tuple[int, ...] | Unreadable:
    return _read(name, default, lambda raw: tuple(int(part) for part in raw.split(",") if part.strip()),
                 "a comma-separated list of whole numbers of days")


# When the scheduler's jobs run (APScheduler cron fields, Asia/Shanghai); SCHEDULES overrides per job id.
DEFAULT_SCHEDULES = (
    "reminders=hour=8 minute=0;overdue=hour=7 minute=30;lectures=hour=9 minute=0;"
    "roll_over=day=1 hour=0 minute=30;dispatch=second=*/20;settlement_snapshot=day=1 hour=0 minute=0;"
    "profiles=hour=0 minute=0;insurance_facts=hour=0 minute=0;"
    "appointment_reminders=hour=18 minute=0;audit_partitions=hour=1 minute=15;spent_logins=hour=1 minute=45;"
    "old_job_runs=hour=1 minute=50;imports=minute=*"
)


def _schedules() -> dict[str, str] | Unreadable:
    overrides = _pairs("SCHEDULES", "", ";")
    return overrides if isinstance(overrides, Unreadable) else {**_split_pairs(DEFAULT_SCHEDULES, ";"), **overrides}


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Production sets SECRET_KEY, FIELD_KEY and DATABASE_URL."""

    # `development` allows the defaults below (a published SECRET_KEY, a FIELD_KEY derived from it).
    JIAYI_ENV: str = field(default_factory=lambda: _env("JIAYI_ENV", PRODUCTION))
    DATABASE_URL: str = field(default_factory=lambda: _env("DATABASE_URL", f"sqlite:///{ROOT / 'instance' / 'jiayi.sqlite'}"))
    # A PostgreSQL read replica for reads that may lag (counts, roster rows: core.db.replica_session); unset: the primary.
    DATABASE_REPLICA_URL: str = field(default_factory=lambda: _env("DATABASE_REPLICA_URL", ""))
    SECRET_KEY: str = field(default_factory=lambda: _env("SECRET_KEY", DEV_SECRET))
    # Personal data at rest (core/crypto.py): the current key (64 hex chars) and its id, written before each
    # ciphertext; keys being retired, kept for reading (`k1=<hex>,k2=sm4-gcm:<hex>`); the cipher new values get.
    FIELD_KEY: str = field(default_factory=lambda: _env("FIELD_KEY", ""))
    FIELD_KEY_ID: str = field(default_factory=lambda: _env("FIELD_KEY_ID", LEGACY_KEY_ID))
    FIELD_OLD_KEYS: dict = field(default_factory=lambda: _pairs("FIELD_OLD_KEYS", ""))
    FIELD_CIPHER: str = field(default_factory=lambda: _env("FIELD_CIPHER", "aes-256-gcm"))
    # The keyed hash beside each encrypted value, for lookups and unique indexes. It outlives key rotation:
    # its key is LOOKUP_KEY (64 hex chars) or, unset, derived from key k1. Chosen once, at installation.
    LOOKUP_KEY: str = field(default_factory=lambda: _env("LOOKUP_KEY", ""))
    LOOKUP_HASH: str = field(default_factory=lambda: _env("LOOKUP_HASH", "hmac-sha256"))
    # Sessions (core/sessions.py): short access tokens renewed with a rotating refresh token while the session
    # lives; a staff session ends after STAFF_IDLE_MINUTES without a request, any session at its refresh lifetime.
    ACCESS_TOKEN_SECONDS: int = field(default_factory=lambda: _read(
        "ACCESS_TOKEN_SECONDS", "900", _above_zero(int), "a whole number of seconds above 0"))
    STAFF_IDLE_MINUTES: int = field(default_factory=lambda: _read(
        "STAFF_IDLE_MINUTES", "30", _above_zero(int), "a whole number of minutes above 0"))
    STAFF_SESSION_HOURS: int = field(default_factory=lambda: _read(
        "STAFF_SESSION_HOURS", "12", _above_zero(int), "a whole number of hours above 0"))
    RESIDENT_SESSION_DAYS: int = field(default_factory=lambda: _read(
        "RESIDENT_SESSION_DAYS", "30", _above_zero(int), "a whole number of days above 0"))
    # Staff passwords (registry/passwords.py): the shortest a new one may be.
    STAFF_PASSWORD_MIN_LENGTH: int = field(default_factory=lambda: _read(
        "STAFF_PASSWORD_MIN_LENGTH", "12", _above_zero(int), "a whole number of characters above 0"))
    WECHAT_API_BASE: str = field(default_factory=lambda: _env("WECHAT_API_BASE", "https://api.weixin.qq.com"))
    WECHAT_APPID: str = field(default_factory=lambda: _env("WECHAT_APPID", "wx-dev-appid"))
    WECHAT_SECRET: str = field(default_factory=lambda: _env("WECHAT_SECRET", "wx-dev-secret"))
    # Outbound calls (core/http.py): the whole call, connect to last byte, and the largest answer read.
    HTTP_TIMEOUT_SECONDS: float = field(default_factory=lambda: _read(
        "HTTP_TIMEOUT_SECONDS", "5", _above_zero(float), "a number of seconds above 0"))
    HTTP_MAX_RESPONSE_BYTES: int = field(default_factory=lambda: _read(
        "HTTP_MAX_RESPONSE_BYTES", str(1024 * 1024), _above_zero(int), "a whole number of bytes above 0"))
    CONSENT_TEXT_VERSION: str = field(default_factory=lambda: _env("CONSENT_TEXT_VERSION", "2025-01"))
    IDEMPOTENCY_KEY_HOURS: int = field(default_factory=lambda: _read("IDEMPOTENCY_KEY_HOURS", "24", int))
    # A key whose first request never answered (its worker was killed) is free again after this: longer than
    # any request lives (gunicorn.conf.py restarts a worker silent for 30 s).
    IDEMPOTENCY_IN_FLIGHT_SECONDS: int = field(default_factory=lambda: _read(
        "IDEMPOTENCY_IN_FLIGHT_SECONDS", "60", _above_zero(int), "a whole number of seconds above 0"))
    REDIS_URL: str = field(default_factory=lambda: _env("REDIS_URL", ""))
    # Abuse limits (core/limits.py, core/lockout.py): Flask-Limiter strings, counted in Redis when set.
    LOGIN_RATE_LIMIT: str = field(default_factory=lambda: _env("LOGIN_RATE_LIMIT", "20 per minute"))
    SIGN_RATE_LIMIT: str = field(default_factory=lambda: _env("SIGN_RATE_LIMIT", "30 per minute"))
    # Identity binding and household calls, per WeChat account and per client address (carrier NAT puts
    # many phones behind one address, hence the larger budget there); on-site registrations per staff member.
    IDENTITY_RATE_LIMIT: str = field(default_factory=lambda: _env("IDENTITY_RATE_LIMIT", "10 per hour"))
    IDENTITY_ADDRESS_RATE_LIMIT: str = field(default_factory=lambda: _env("IDENTITY_ADDRESS_RATE_LIMIT", "100 per hour"))
    REGISTRATION_RATE_LIMIT: str = field(default_factory=lambda: _env("REGISTRATION_RATE_LIMIT", "120 per hour"))
    RATE_LIMIT_KEY_PREFIX: str = field(default_factory=lambda: _env("RATE_LIMIT_KEY_PREFIX", "jiayi"))
    # Reverse proxies in front of the app whose X-Forwarded-For is trusted (client address for limits and audit).
    TRUSTED_PROXY_HOPS: int = field(default_factory=lambda: _read("TRUSTED_PROXY_HOPS", "0", int))
    # OWASP ASVS 2.2.1 (core/lockout.py): 10 failed logins of one account from one client address lock that
    # address out of the account for 15 minutes; 100 failures an hour from all addresses together lock the
    # account everywhere for an hour, unless an administrator unlocks it or the owner changes the password.
    LOGIN_LOCK_FAILURES: int = field(default_factory=lambda: _read("LOGIN_LOCK_FAILURES", "10", int))
    LOGIN_LOCK_MINUTES: int = field(default_factory=lambda: _read("LOGIN_LOCK_MINUTES", "15", int))
    LOGIN_ACCOUNT_CEILING: int = field(default_factory=lambda: _read("LOGIN_ACCOUNT_CEILING", "100", int))
    LOGIN_CEILING_MINUTES: int = field(default_factory=lambda: _read("LOGIN_CEILING_MINUTES", "60", int))
    # One-time codes of identity proof (registry/proofs.py): a binding or household code handed out on
    # site is good for a day; a presence code the mini-program shows the doctor for ten minutes.
    HANDOUT_CODE_HOURS: int = field(default_factory=lambda: _read("HANDOUT_CODE_HOURS", "24", int))
    PRESENCE_CODE_MINUTES: int = field(default_factory=lambda: _read("PRESENCE_CODE_MINUTES", "10", int))
    MAX_CONTENT_LENGTH: int = field(default_factory=lambda: _read("MAX_CONTENT_LENGTH", str(1024 * 1024), int))
    # A file uploaded for import (core.inputs.takes_files): a centre's export runs to tens of MiB.
    UPLOAD_MAX_BYTES: int = field(default_factory=lambda: _read("UPLOAD_MAX_BYTES", str(32 * 1024 * 1024), int))
    # Notifications: subscribe-message template id per kind of message, and the mini-program they open.
    WECHAT_TEMPLATES: dict = field(default_factory=lambda: _pairs(
        "WECHAT_TEMPLATES", "visit_due=tpl-visit-due,vaccination_due=tpl-vaccination-due,lecture=tpl-lecture,"
        "appointment_due=tpl-appointment-due"))
    WECHAT_MINIPROGRAM_STATE: str = field(default_factory=lambda: _env("WECHAT_MINIPROGRAM_STATE", "formal"))
    # Medical mini-programs may hold long-term subscriptions: a grant is then not spent by a message.
    WECHAT_LONG_TERM_SUBSCRIPTIONS: bool = field(default_factory=lambda: _env("WECHAT_LONG_TERM_SUBSCRIPTIONS", "0") == "1")
    SMS_GATEWAY_URL: str = field(default_factory=lambda: _env("SMS_GATEWAY_URL", ""))
    SMS_GATEWAY_KEY: str = field(default_factory=lambda: _env("SMS_GATEWAY_KEY", ""))
    VISIT_REMINDER_DAYS: tuple = field(default_factory=lambda: _days("VISIT_REMINDER_DAYS", "3,0"))
    VACCINATION_REMINDER_DAYS: tuple = field(default_factory=lambda: _days("VACCINATION_REMINDER_DAYS", "7,0"))
    LECTURE_NOTICE_DAYS: int = field(default_factory=lambda: _read("LECTURE_NOTICE_DAYS", "3", int))
    OUTBOX_BATCH: int = field(default_factory=lambda: _read("OUTBOX_BATCH", "50", int))
    OUTBOX_MAX_ATTEMPTS: int = field(default_factory=lambda: _read("OUTBOX_MAX_ATTEMPTS", "8", int))
    OUTBOX_BACKOFF_SECONDS: float = field(default_factory=lambda: _read("OUTBOX_BACKOFF_SECONDS", "30", float))
    OUTBOX_LEASE_SECONDS: int = field(default_factory=lambda: _read("OUTBOX_LEASE_SECONDS", "120", int))
    SCHEDULES: dict = field(default_factory=_schedules)
    # A run missed by up to this long (a pause, a restart) still happens, once.
    SCHEDULER_MISFIRE_GRACE_SECONDS: int = field(default_factory=lambda: _read("SCHEDULER_MISFIRE_GRACE_SECONDS", "21600", int))
    SCHEDULER_LEASE_SECONDS: float = field(default_factory=lambda: _read("SCHEDULER_LEASE_SECONDS", "30", float))
    # /metrics (core/observability.py): with a token, scrapers send `Authorization: Bearer <token>`;
    # without one, only loopback clients are answered.
    METRICS_TOKEN: str = field(default_factory=lambda: _env("METRICS_TOKEN", ""))
    # The audit log keeps whole months until all their days are this old (never under 180, 等保 level 3);
    # partitions are created and dropped over AUDIT_MAINTENANCE_DATABASE_URL (the owner role), else DATABASE_URL.
    AUDIT_RETENTION_DAYS: int = field(default_factory=lambda: _read("AUDIT_RETENTION_DAYS", "180", int))
    AUDIT_MAINTENANCE_DATABASE_URL: str = field(default_factory=lambda: _env("AUDIT_MAINTENANCE_DATABASE_URL", ""))

    def __post_init__(self) -> None:
        problems = [value.problem() for value in self._values().values() if isinstance(value, Unreadable)]
        problems += self._rule_problems()
        if problems:
            raise ConfigError(problems, self.JIAYI_ENV)

    @property
    def development(self) -> bool:
        return self.JIAYI_ENV == DEVELOPMENT

    def _values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def _rule_problems(self) -> list[str]:
        problems = []
        if self.JIAYI_ENV not in (DEVELOPMENT, PRODUCTION):
            problems.append(f"JIAYI_ENV: {self.JIAYI_ENV!r} is not {DEVELOPMENT!r} or {PRODUCTION!r}")
        if not self.development:
            if self.SECRET_KEY == DEV_SECRET:
                problems.append("SECRET_KEY: is the published development default; set a random one "
                                "(`openssl rand -hex 32`)")
            elif len(self.SECRET_KEY) < MIN_SECRET_LENGTH:
                problems.append(f"SECRET_KEY: has {len(self.SECRET_KEY)} characters; at least {MIN_SECRET_LENGTH} "
                                "random ones are needed (`openssl rand -hex 32`)")
            if not self.FIELD_KEY:
                problems.append("FIELD_KEY: is not set; it must be 64 hex characters (`openssl rand -hex 32`), "
                                "kept apart from the database backups")
        if self.FIELD_KEY and not HEX_KEY.fullmatch(self.FIELD_KEY):
            problems.append(f"FIELD_KEY: must be exactly 64 hex characters (0-9, a-f); the value set has "
                            f"{len(self.FIELD_KEY)} characters")
        if not KEY_ID.fullmatch(self.FIELD_KEY_ID):
            problems.append(f"FIELD_KEY_ID: {self.FIELD_KEY_ID!r} is not 1-8 lowercase letters or digits")
        if self.FIELD_CIPHER not in FIELD_CIPHERS:
            problems.append(f"FIELD_CIPHER: {self.FIELD_CIPHER!r} is not one of {', '.join(FIELD_CIPHERS)}")
        if self.LOOKUP_HASH not in LOOKUP_HASHES:
            problems.append(f"LOOKUP_HASH: {self.LOOKUP_HASH!r} is not one of {', '.join(LOOKUP_HASHES)}")
        if isinstance(self.FIELD_OLD_KEYS, dict):
            for key_id, spec in self.FIELD_OLD_KEYS.items():
                cipher, _, material = spec.rpartition(":")
                if not KEY_ID.fullmatch(key_id) or key_id == self.FIELD_KEY_ID:
                    problems.append(f"FIELD_OLD_KEYS: key id {key_id!r} is not 1-8 lowercase letters or digits "
                                    "other than FIELD_KEY_ID")
                if (cipher and cipher not in FIELD_CIPHERS) or not HEX_KEY.fullmatch(material):
                    problems.append(f"FIELD_OLD_KEYS: key {key_id!r} is not [cipher:]<64 hex characters>")
        if isinstance(self.AUDIT_RETENTION_DAYS, int) and self.AUDIT_RETENTION_DAYS < MIN_AUDIT_RETENTION_DAYS:
            problems.append(f"AUDIT_RETENTION_DAYS: {self.AUDIT_RETENTION_DAYS} is under the "
                            f"{MIN_AUDIT_RETENTION_DAYS} days audit events must be kept")
        if self.LOOKUP_KEY and not HEX_KEY.fullmatch(self.LOOKUP_KEY):
            problems.append("LOOKUP_KEY: must be 64 hex characters")
        if not self.development and not self.LOOKUP_KEY and LEGACY_KEY_ID not in self._key_ids():
            problems.append(f"LOOKUP_KEY: is not set and no key has id {LEGACY_KEY_ID!r} to derive it from "
                            f"(keep key {LEGACY_KEY_ID} in FIELD_OLD_KEYS, or set LOOKUP_KEY)")
        return problems

    def _key_ids(self) -> set[str]:
        old = self.FIELD_OLD_KEYS if isinstance(self.FIELD_OLD_KEYS, dict) else {}
        return {self.FIELD_KEY_ID, *old}

    def field_keys(self) -> list[tuple[str, str, bytes]]:
        """(key id, cipher, key material) for every field key, the current one first.

        In development without FIELD_KEY the current key's material is SECRET_KEY, as it always was.
        """
        current = bytes.fromhex(self.FIELD_KEY) if self.FIELD_KEY else self.SECRET_KEY.encode()
        keys = [(self.FIELD_KEY_ID, self.FIELD_CIPHER, current)]
        for key_id, spec in self.FIELD_OLD_KEYS.items():
            cipher, _, material = spec.rpartition(":")
            keys.append((key_id, cipher or FIELD_CIPHERS[0], bytes.fromhex(material)))
        return keys

    def lookup_key_material(self) -> bytes:
        """What the lookup hash's key is derived from: LOOKUP_KEY, else key k1 (else, in development, the current key)."""
        if self.LOOKUP_KEY:
            return bytes.fromhex(self.LOOKUP_KEY)
        materials = {key_id: material for key_id, _, material in self.field_keys()}
        return materials.get(LEGACY_KEY_ID, materials[self.FIELD_KEY_ID])

    def replace(self, **overrides) -> "Settings":
        return Settings(**{**self._values(), **overrides})
