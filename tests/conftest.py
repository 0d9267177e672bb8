"""Fixtures: one database per run and kind (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
built by the migrations; each test inside a transaction that is rolled back."""

from __future__ import annotations

import os
import uuid
from datetime import date

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from core import clock, migrate
from core import db as core_db
from core.config import Settings
from standins import sms as sms_standin_app
from standins.server import serve
from standins.wechat import WechatState, create_standin
from tests import factories as f
from tests.logscan import run_log_has_no_personal_numbers  # noqa: F401  (checks the whole run's logs)

# Development mode (core/config.py): Settings() from a bare environment, here and in the processes tests start.
os.environ["JIAYI_ENV"] = "development"
# `make test` runs two pytest workers (pytest-xdist, a file each at a time): each counts its rate limits in a Redis
# database of its own, so one worker's counts never reach the other's tests.
if os.environ.get("TEST_REDIS_URL") and os.environ.get("PYTEST_XDIST_WORKER"):
    worker = int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw"))
    os.environ["TEST_REDIS_URL"] = f"{os.environ['TEST_REDIS_URL'].rsplit('/', 1)[0]}/{1 + worker}"
PG_URL = os.environ.get("TEST_DATABASE_URL")
DATABASES = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
TODAY = date(2026, 3, 16)


def _create_pg_database() -> tuple[str, callable]:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"jiayi_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def drop():
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path_factory.mktemp('db') / 'jiayi.sqlite'}", (lambda: None)
    else:
        url, drop = _create_pg_database()
    migrate.upgrade(url)
    migrate.check(url)
    yield url
    drop()


@pytest.fixture(scope="session")
def wechat_state():
    return WechatState()


@pytest.fixture(scope="session")
def wechat_standin(wechat_state):
    running = serve(create_standin(wechat_state))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def sms_state():
    return sms_standin_app.SmsState()


@pytest.fixture(scope="session")
def sms_standin(sms_state):
    running = serve(sms_standin_app.create_standin(sms_state))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def settings(database_url, wechat_standin, sms_standin):
    return Settings().replace(
        DATABASE_URL=database_url,
        SECRET_KEY="test-secret-of-at-least-thirty-two-bytes",
        FIELD_KEY="11" * 32,
        WECHAT_API_BASE=wechat_standin.base_url,
        HTTP_TIMEOUT_SECONDS=1.0,
        # Tests sign and log in many times from one address; tests/test_hardening_limits.py tests low limits.
        LOGIN_RATE_LIMIT="100000 per minute",
        SIGN_RATE_LIMIT="100000 per minute",
        IDENTITY_RATE_LIMIT="100000 per minute",
        IDENTITY_ADDRESS_RATE_LIMIT="100000 per minute",
        REGISTRATION_RATE_LIMIT="100000 per minute",
        RATE_LIMIT_KEY_PREFIX=f"jiayi-test-{uuid.uuid4().hex[:8]}",
        SMS_GATEWAY_URL=f"{sms_standin.base_url}/send",
        SMS_GATEWAY_KEY=sms_standin_app.KEY,
    )


@pytest.fixture(scope="session")
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["engine"].dispose()


@pytest.fixture(autouse=True)
def frozen_clock():
    clock.set_today(TODAY)
    yield
    clock.set_now(None)


@pytest.fixture
def db(app):
    """The session, bound to a connection whose outer transaction is rolled back after the test."""
    engine = app.extensions["engine"]
    connection = engine.connect()
    outer = connection.begin()
    core_db.session.remove()
    core_db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    with app.app_context():
        yield core_db.session
    core_db.session.remove()
    outer.rollback()
    connection.close()
    core_db.session.configure(bind=engine, join_transaction_mode="conditional_savepoint")


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def wechat(wechat_state):
    """The WeChat stand-in's state, clean for each test."""
    wechat_state.login_errors.clear()
    wechat_state.slow_codes.clear()
    wechat_state.broken_codes.clear()
    wechat_state.calls.clear()
    wechat_state.spent_phone_codes.clear()
    wechat_state.reset_messages()
    return wechat_state


@pytest.fixture
def centres(db):
    """Two centres of 邵阳县 (hunan-2025), one of 新邵县 (shaoyang-2019), one that does not take part."""
    f.regions()
    return {
        "home": f.centre(region="430523"),
        "other": f.centre(region="430523"),
        "xinshao": f.centre(region="430522"),
        "hospital": f.centre(region="430523", takes_part=False),
    }


@pytest.fixture
def alice(centres):
    """A bound adult resident, insured (resident scheme) in 邵阳县."""
    return f.resident(name="李爱丽", openid="openid-alice", born=date(1980, 5, 1))


@pytest.fixture
def limited(app, monkeypatch):
    """Apply `limits` (settings overrides) to the running app, with fresh counters."""

    def apply(**limits):
        monkeypatch.setitem(app.config, "SETTINGS", app.config["SETTINGS"].replace(**limits))
        for limiter in app.extensions["limiter"]:
            limiter.reset()

    yield apply
    for limiter in app.extensions["limiter"]:
        limiter.reset()


@pytest.fixture
def home(db):
    """A centre of the demo regions, for tests that need one place (identity, households)."""
    f.regions()
    return f.centre()


@pytest.fixture
def doctor(home):
    return f.staff(centre=home)


@pytest.fixture
def sms(sms_state):
    """The SMS gateway stand-in's state, clean for each test."""
    sms_state.reset()
    return sms_state


@pytest.fixture
def committed_db(app, database_url, tmp_path):
    """A fresh migrated database whose commits are real, for tests with threads or other processes.

    The session is bound to it for the test (each thread gets its own); yields its URL.
    """
    if database_url.startswith("sqlite"):
        url, drop = f"sqlite:///{tmp_path / 'committed.sqlite'}", (lambda: None)
    else:
        url, drop = _create_pg_database()
    migrate.upgrade(url)
    engine = core_db.make_engine(url)
    core_db.session.remove()
    core_db.session.configure(bind=engine)
    with app.app_context():
        yield url
    core_db.session.remove()
    core_db.session.configure(bind=app.extensions["engine"])
    engine.dispose()
    drop()
