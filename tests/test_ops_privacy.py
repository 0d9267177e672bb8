"""Logs and shared stores never carry personal data: SQL errors hide their parameters, rate-limit keys are
pseudonyms (in Redis and in Flask-Limiter's breach log), and the run's log scan looks for openids too."""

from __future__ import annotations

import logging
import os
import uuid

import pytest
from limits.storage import MemoryStorage
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import crypto
from core.db import make_engine
from tests import factories as f
from tests.live import another_app
from tests.logscan import personal_data_in

REDIS_URL = os.environ.get("TEST_REDIS_URL")


def test_a_failing_statement_does_not_show_its_parameters(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection, pytest.raises(DBAPIError) as failed:
            connection.execute(text("SELECT * FROM no_such_table WHERE phone = :phone"), {"phone": "13812345678"})
    finally:
        engine.dispose()
    assert "13812345678" not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)


def stored_keys(limiter) -> list[str]:
    storage = limiter.storage
    if isinstance(storage, MemoryStorage):
        return [*storage.storage, *storage.events]
    return [key.decode() for key in storage.storage.scan_iter("*")]  # RedisStorage.storage: its client


def sign_until_limited(client, openid: str) -> None:
    f.regions()
    headers = f.as_resident(f.resident(openid=openid))
    statuses = [client.post("/api/v1/agreements", json={}, headers=headers).status_code for _ in range(3)]
    assert statuses[-1] == 429


def test_a_limit_breach_writes_no_openid_to_the_log_or_the_counter_store(app, client, caplog, monkeypatch):
    monkeypatch.setitem(app.config, "SETTINGS", app.config["SETTINGS"].replace(SIGN_RATE_LIMIT="2 per minute"))
    (limiter,) = app.extensions["limiter"]
    limiter.reset()
    caplog.set_level(logging.INFO, logger="flask-limiter")
    sign_until_limited(client, "wx-counted-openid")
    assert "exceeded" in caplog.text
    assert crypto.pseudonym("wx:wx-counted-openid") in caplog.text
    assert "wx-counted-openid" not in caplog.text
    keys = stored_keys(limiter)
    assert any(crypto.pseudonym("wx:wx-counted-openid") in key for key in keys)
    assert not any("wx-counted-openid" in key or "127.0.0.1" in key for key in keys)
    limiter.reset()


def test_limit_keys_in_redis_are_pseudonyms(app, settings, db):
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set (.ci/run sets it)")
    shared = settings.replace(REDIS_URL=REDIS_URL, SIGN_RATE_LIMIT="2 per minute",
                              RATE_LIMIT_KEY_PREFIX=f"jiayi-test-{uuid.uuid4().hex}")
    with another_app(shared, restore=app) as worker:
        (limiter,) = worker.extensions["limiter"]
        with worker.app_context():
            sign_until_limited(worker.test_client(), "wx-redis-openid")
        keys = [key for key in stored_keys(limiter) if shared.RATE_LIMIT_KEY_PREFIX in key]
        assert keys and not any("wx-redis-openid" in key for key in keys)
        limiter.reset()


@pytest.mark.parametrize("line", ["limit (LIMITER/jiayi/agreements/wx:oAbC_12-x9/2/1/minute) exceeded",
                                  "resident 430523198005010026 signed", "sms to 13812345678"])
def test_the_run_log_scan_finds_openids_id_numbers_and_phones(line):
    assert personal_data_in(line)
