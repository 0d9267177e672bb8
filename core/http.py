"""Outbound HTTP: one requests.Session factory whose every call has a timeout."""

from __future__ import annotations

import requests


class TimeoutSession(requests.Session):
    """A requests.Session that never waits forever: a call without its own timeout gets the default."""

    def __init__(self, timeout: float):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kwargs)


def outbound_session(timeout: float) -> requests.Session:
    return TimeoutSession(timeout)
