"""One settings object, read from the environment, with defaults that are safe for development."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-secret-change-me-before-production"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _pairs(raw: str, separator: str = ",") -> dict[str, str]:
    """`a=1,b=2` as a dict (split at the first `=` of each part)."""
    return dict(part.strip().split("=", 1) for part in raw.split(separator) if part.strip())


def _days(name: str, default: str) -> tuple[int, ...]:
    return tuple(int(part) for part in _env(name, default).split(",") if part.strip())


# When the scheduler's jobs run (APScheduler cron fields, Asia/Shanghai); SCHEDULES overrides per job id.
DEFAULT_SCHEDULES = (
    "reminders=hour=8 minute=0;overdue=hour=7 minute=30;lectures=hour=9 minute=0;"
    "roll_over=day=1 hour=0 minute=30;dispatch=second=*/20;settlement_snapshot=day=1 hour=0 minute=0;"
    "appointment_reminders=hour=18 minute=0"
)


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Production sets SECRET_KEY, FIELD_KEY and DATABASE_URL."""

    DATABASE_URL: str = field(default_factory=lambda: _env("DATABASE_URL", f"sqlite:///{ROOT / 'instance' / 'jiayi.sqlite'}"))
    SECRET_KEY: str = field(default_factory=lambda: _env("SECRET_KEY", DEV_SECRET))
    # Key for personal data at rest (AES-256-GCM) and its lookup hash; 64 hex chars.
    FIELD_KEY: str = field(default_factory=lambda: _env("FIELD_KEY", ""))
    ACCESS_TOKEN_SECONDS: int = field(default_factory=lambda: int(_env("ACCESS_TOKEN_SECONDS", "7200")))
    WECHAT_API_BASE: str = field(default_factory=lambda: _env("WECHAT_API_BASE", "https://api.weixin.qq.com"))
    WECHAT_APPID: str = field(default_factory=lambda: _env("WECHAT_APPID", "wx-dev-appid"))
    WECHAT_SECRET: str = field(default_factory=lambda: _env("WECHAT_SECRET", "wx-dev-secret"))
    HTTP_TIMEOUT_SECONDS: float = field(default_factory=lambda: float(_env("HTTP_TIMEOUT_SECONDS", "5")))
    CONSENT_TEXT_VERSION: str = field(default_factory=lambda: _env("CONSENT_TEXT_VERSION", "2025-01"))
    IDEMPOTENCY_KEY_HOURS: int = field(default_factory=lambda: int(_env("IDEMPOTENCY_KEY_HOURS", "24")))
    REDIS_URL: str = field(default_factory=lambda: _env("REDIS_URL", ""))
    # Abuse limits (core/limits.py, core/lockout.py): Flask-Limiter strings, counted in Redis when set.
    LOGIN_RATE_LIMIT: str = field(default_factory=lambda: _env("LOGIN_RATE_LIMIT", "20 per minute"))
    SIGN_RATE_LIMIT: str = field(default_factory=lambda: _env("SIGN_RATE_LIMIT", "30 per minute"))
    RATE_LIMIT_KEY_PREFIX: str = field(default_factory=lambda: _env("RATE_LIMIT_KEY_PREFIX", "jiayi"))
    # Reverse proxies in front of the app whose X-Forwarded-For is trusted (client address for limits and audit).
    TRUSTED_PROXY_HOPS: int = field(default_factory=lambda: int(_env("TRUSTED_PROXY_HOPS", "0")))
    # OWASP ASVS 2.2.1: 10 failed staff logins lock the account for 15 minutes (at most 40 tries an hour).
    LOGIN_LOCK_FAILURES: int = field(default_factory=lambda: int(_env("LOGIN_LOCK_FAILURES", "10")))
    LOGIN_LOCK_MINUTES: int = field(default_factory=lambda: int(_env("LOGIN_LOCK_MINUTES", "15")))
    MAX_CONTENT_LENGTH: int = field(default_factory=lambda: int(_env("MAX_CONTENT_LENGTH", str(1024 * 1024))))
    # Notifications: subscribe-message template id per kind of message, and the mini-program they open.
    WECHAT_TEMPLATES: dict = field(default_factory=lambda: _pairs(_env(
        "WECHAT_TEMPLATES", "visit_due=tpl-visit-due,vaccination_due=tpl-vaccination-due,lecture=tpl-lecture,"
        "appointment_due=tpl-appointment-due")))
    WECHAT_MINIPROGRAM_STATE: str = field(default_factory=lambda: _env("WECHAT_MINIPROGRAM_STATE", "formal"))
    # Medical mini-programs may hold long-term subscriptions: a grant is then not spent by a message.
    WECHAT_LONG_TERM_SUBSCRIPTIONS: bool = field(default_factory=lambda: _env("WECHAT_LONG_TERM_SUBSCRIPTIONS", "0") == "1")
    SMS_GATEWAY_URL: str = field(default_factory=lambda: _env("SMS_GATEWAY_URL", ""))
    SMS_GATEWAY_KEY: str = field(default_factory=lambda: _env("SMS_GATEWAY_KEY", ""))
    VISIT_REMINDER_DAYS: tuple = field(default_factory=lambda: _days("VISIT_REMINDER_DAYS", "3,0"))
    VACCINATION_REMINDER_DAYS: tuple = field(default_factory=lambda: _days("VACCINATION_REMINDER_DAYS", "7,0"))
    LECTURE_NOTICE_DAYS: int = field(default_factory=lambda: int(_env("LECTURE_NOTICE_DAYS", "3")))
    OUTBOX_BATCH: int = field(default_factory=lambda: int(_env("OUTBOX_BATCH", "50")))
    OUTBOX_MAX_ATTEMPTS: int = field(default_factory=lambda: int(_env("OUTBOX_MAX_ATTEMPTS", "8")))
    OUTBOX_BACKOFF_SECONDS: float = field(default_factory=lambda: float(_env("OUTBOX_BACKOFF_SECONDS", "30")))
    OUTBOX_LEASE_SECONDS: int = field(default_factory=lambda: int(_env("OUTBOX_LEASE_SECONDS", "120")))
    SCHEDULES: dict = field(default_factory=lambda: {**_pairs(DEFAULT_SCHEDULES, ";"), **_pairs(_env("SCHEDULES", ""), ";")})
    # A run missed by up to this long (a pause, a restart) still happens, once.
    SCHEDULER_MISFIRE_GRACE_SECONDS: int = field(default_factory=lambda: int(_env("SCHEDULER_MISFIRE_GRACE_SECONDS", "21600")))
    SCHEDULER_LEASE_SECONDS: float = field(default_factory=lambda: float(_env("SCHEDULER_LEASE_SECONDS", "30")))

    def replace(self, **overrides) -> "Settings":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(overrides)
        return Settings(**values)
