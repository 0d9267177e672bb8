"""Start-up and secrets: outside development the app refuses published or weak keys, naming every problem
at once; a value that does not parse is named, not raised as a traceback."""

from __future__ import annotations

import os
import subprocess

import pytest

from core.config import DEV_SECRET, ROOT, ConfigError, Settings

GOOD = {"SECRET_KEY": "s" * 32, "FIELD_KEY": "ab" * 32}


@pytest.fixture
def production(monkeypatch):
    """A bare production environment: only what each test sets."""
    for name in ("SECRET_KEY", "FIELD_KEY", "FIELD_KEY_ID", "FIELD_OLD_KEYS", "LOOKUP_KEY", "HTTP_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JIAYI_ENV", "production")

    def environment(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return environment


def problems() -> list[str]:
    with pytest.raises(ConfigError) as refused:
        Settings()
    return refused.value.problems


def test_good_keys_start_in_production(production):
    production(**GOOD)
    assert Settings().FIELD_KEY == GOOD["FIELD_KEY"]


def test_the_published_default_secret_key_is_refused_outside_development(production):
    production(FIELD_KEY=GOOD["FIELD_KEY"])
    assert [p for p in problems() if p.startswith("SECRET_KEY")] == [
        "SECRET_KEY: is the published development default; set a random one (`openssl rand -hex 32`)"]


def test_a_secret_key_shorter_than_32_characters_is_refused(production):
    production(SECRET_KEY="x" * 31, FIELD_KEY=GOOD["FIELD_KEY"])
    assert problems() == ["SECRET_KEY: has 31 characters; at least 32 random ones are needed (`openssl rand -hex 32`)"]


def test_a_missing_field_key_is_refused_outside_development(production):
    production(SECRET_KEY=GOOD["SECRET_KEY"])
    assert [p.split(":")[0] for p in problems()] == ["FIELD_KEY"]


@pytest.mark.parametrize("field_key", ["ab" * 31, "zz" * 32, "ab" * 33])
def test_a_field_key_not_64_hex_characters_is_refused_without_repeating_it(production, field_key):
    production(SECRET_KEY=GOOD["SECRET_KEY"], FIELD_KEY=field_key)
    (problem,) = problems()
    assert problem.startswith("FIELD_KEY: must be exactly 64 hex characters")
    assert field_key not in problem


def test_every_problem_is_listed_in_one_message(production):
    production(SECRET_KEY=DEV_SECRET, FIELD_KEY="not-hex", HTTP_TIMEOUT_SECONDS="abc", FIELD_CIPHER="des")
    with pytest.raises(ConfigError) as refused:
        Settings()
    message = str(refused.value)
    for name in ("HTTP_TIMEOUT_SECONDS", "SECRET_KEY", "FIELD_KEY", "FIELD_CIPHER"):
        assert f"  - {name}: " in message
    assert message.startswith("jiayi will not start: 4 problem(s)")


def test_an_unreadable_number_is_named_even_in_development(monkeypatch):
    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "abc")
    assert problems() == ["HTTP_TIMEOUT_SECONDS: 'abc' is not a number of seconds above 0"]


def test_a_retired_key_that_is_not_64_hex_characters_is_refused(production):
    production(**GOOD, FIELD_KEY_ID="k2", FIELD_OLD_KEYS="k1=abcd")
    assert problems() == ["FIELD_OLD_KEYS: key 'k1' is not [cipher:]<64 hex characters>"]


def test_without_key_k1_or_a_lookup_key_the_lookup_hashes_cannot_be_made(production):
    production(**GOOD, FIELD_KEY_ID="k2")
    assert [p.split(":")[0] for p in problems()] == ["LOOKUP_KEY"]


def test_in_development_the_defaults_start_and_the_field_key_is_derived(monkeypatch):
    for name in ("SECRET_KEY", "FIELD_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.development and settings.SECRET_KEY == DEV_SECRET
    assert settings.field_keys() == [("k1", "aes-256-gcm", DEV_SECRET.encode())]


def test_the_command_line_prints_the_problems_without_a_traceback():
    environment = {**os.environ, "JIAYI_ENV": "production", "SECRET_KEY": DEV_SECRET, "HTTP_TIMEOUT_SECONDS": "abc"}
    environment.pop("FIELD_KEY", None)
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "db", "check"], cwd=ROOT,
                            env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "HTTP_TIMEOUT_SECONDS: 'abc' is not a number" in result.stderr
    assert "SECRET_KEY: is the published development default" in result.stderr
