"""Outbound HTTP: one requests.Session factory whose every call ends by a deadline and reads a bounded answer.

requests' own timeout bounds each wait on the socket, not the call: a server that trickles a byte a
second keeps a worker thread forever. Here the timeout is the whole call's deadline (connect to last
byte): a watchdog shuts the call's socket down when it passes, and the call raises DeadlineExceeded. The
answer is read up to `max_bytes` (1 MiB unless said otherwise); a larger one raises ResponseTooLarge.
Both are requests exceptions, so callers that handle requests.RequestException handle them too.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

DEFAULT_MAX_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024


class DeadlineExceeded(requests.Timeout):
    """The call did not finish within its deadline."""


class ResponseTooLarge(requests.RequestException):
    """The answer was larger than the session reads."""


class _Call:
    """One call in flight: the socket it reads, and whether its deadline has passed."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds
        self.expired = False
        self.finished = False
        self.sock: socket.socket | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> "_Call":
        _calls.current = self
        _watchdog.watch(self)
        return self

    def __exit__(self, *_exc) -> None:
        with self._lock:
            self.finished = True
            self.sock = None
        _calls.current = None

    def watch(self, connection: HTTPConnection) -> None:
        # The socket itself, not the connection: http.client drops `connection.sock` once a response that
        # ends with the connection has its headers, while the response goes on reading from the socket.
        if connection.sock is None:
            return
        with self._lock:
            self.sock = connection.sock
        if self.expired:
            self.cut()

    def expire(self) -> None:
        self.expired = True
        self.cut()

    def cut(self) -> None:
        """Shut the socket: a read blocked on it returns at once (the socket is then discarded by the pool)."""
        with self._lock:
            if self.sock is not None:
                try:
                    socket.socket.shutdown(self.sock, socket.SHUT_RDWR)  # the plain socket's, also under TLS
                except OSError:
                    pass


class _Watchdog:
    """One thread for every call in flight in the process: it sleeps until the earliest deadline and expires that call
    if it has not finished. A call is registered without waking the thread unless its deadline comes first, and a
    finished one is simply passed over, so a call costs no thread and no wake-up (a thread a call did: its start and
    its cancel were two context switches a send)."""

    def __init__(self):
        self._order = itertools.count()
        self.forget()

    def forget(self) -> None:
        """Start afresh (in a forked child: the parent's thread, lock and calls are not the child's)."""
        self._due: list[tuple[float, int, _Call]] = []  # a heap by deadline
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, call: _Call) -> None:
        with self._changed:
            heapq.heappush(self._due, (call.deadline, next(self._order), call))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbound-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0][2] is call:
                self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while True:
                if not self._due:
                    self._changed.wait()
                    continue
                deadline, _, call = self._due[0]
                if call.finished:
                    heapq.heappop(self._due)
                elif (left := deadline - time.monotonic()) > 0:
                    self._changed.wait(left)
                else:
                    heapq.heappop(self._due)
                    call.expire()


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.forget)
_calls = threading.local()


def _watched(connection_class: type[HTTPConnection]) -> type[HTTPConnection]:
    class Watched(connection_class):
        """Registers itself with the calling thread's call in flight, so the watchdog can cut it."""

        def connect(self):
            super().connect()
            if (call := getattr(_calls, "current", None)) is not None:
                call.watch(self)

        def request(self, *args, **kwargs):
            if (call := getattr(_calls, "current", None)) is not None:
                call.watch(self)
            return super().request(*args, **kwargs)

    Watched.__name__ = f"Watched{connection_class.__name__}"
    return Watched


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _watched(HTTPConnection)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _watched(HTTPSConnection)


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


class TimeoutSession(requests.Session):
    """A requests.Session whose calls end by a deadline (`timeout` is the whole call's, in seconds) and read
    at most `max_bytes` of an answer."""

    def __init__(self, timeout: float, max_bytes: int = DEFAULT_MAX_BYTES):
        super().__init__()
        self.default_timeout = timeout
        self.max_bytes = max_bytes
        for scheme in ("http://", "https://"):
            self.mount(scheme, _WatchedAdapter())

    def request(self, method, url, **kwargs):
        deadline = kwargs.pop("timeout", None) or self.default_timeout
        kwargs["stream"] = True
        started = time.monotonic()
        with _Call(deadline) as call:
            try:
                response = super().request(method, url, timeout=deadline, **kwargs)
                try:
                    self._read(response)
                finally:
                    response.close()
            except requests.RequestException:
                if not call.expired:
                    raise
            if call.expired:  # also when the cut looked like the end of an answer without a length
                raise DeadlineExceeded(f"{method} {url}: no complete answer within {deadline:g} s "
                                       f"(gave up after {time.monotonic() - started:.1f} s)")
        return response

    def _read(self, response: requests.Response) -> None:
        """Read the body into the response (as requests does without stream=True), refusing more than max_bytes."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ResponseTooLarge(f"{response.url}: the answer declares {declared} bytes; at most "
                                   f"{self.max_bytes} are read", response=response)
        body, size = [], 0
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if size > self.max_bytes:
                raise ResponseTooLarge(f"{response.url}: the answer is larger than {self.max_bytes} bytes",
                                       response=response)
            body.append(chunk)
        response._content = b"".join(body)  # what response.content returns; requests' own cache of the body


def outbound_session(timeout: float, max_bytes: int = DEFAULT_MAX_BYTES) -> requests.Session:
    return TimeoutSession(timeout, max_bytes)
