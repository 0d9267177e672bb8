"""Every log record of the test run, kept and checked at its end: no full ID number, phone or openid in any."""

from __future__ import annotations

import logging
import re

import pytest

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# A resident's token subject (core/auth.py): `wx:` and the openid.
OPENID_SUBJECT = re.compile(r"(?<![0-9A-Za-z])wx:[0-9A-Za-z_-]+")


def personal_numbers_in(text: str) -> list[str]:
    return ID_NUMBER.findall(text) + PHONE.findall(text)


def personal_data_in(text: str) -> list[str]:
    return personal_numbers_in(text) + OPENID_SUBJECT.findall(text)


class RunLog(logging.Handler):
    """Formats and keeps every record (message and traceback) the run logs at INFO and above."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def run_log_has_no_personal_numbers():
    root, handler = logging.getLogger(), RunLog()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(min(previous_level or logging.INFO, logging.INFO))
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous_level)
    leaked = [line for line in handler.lines if personal_data_in(line)]
    assert not leaked, f"log lines with a full ID number, phone or openid: {leaked[:5]}"
