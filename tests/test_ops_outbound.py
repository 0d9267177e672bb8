"""Outbound calls end by a deadline for the whole call and read a bounded answer, against real servers on
127.0.0.1: one trickling its answer for 20 s, one sending 50 MB. The WeChat client answers 502 for both."""

from __future__ import annotations

import socketserver
import threading
import time

import pytest

from core.errors import UpstreamError
from core.http import DeadlineExceeded, ResponseTooLarge, outbound_session
from core.wechat import WechatClient
from standins.server import serve

MB = 1024 * 1024


def trickling_body(environ, start_response):
    """A byte every 0.2 s for 20 s: no single wait on the socket is long."""
    start_response("200 OK", [("Content-Type", "application/json")])

    def drip():
        for _ in range(100):
            yield b" "
            time.sleep(0.2)
        yield b"{}"

    return drip()


def huge_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return (b"x" * MB for _ in range(50))


def declared_huge_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(50 * MB))])
    return (b"x" * MB for _ in range(50))


@pytest.fixture
def server():
    running = []

    def start(wsgi_app):
        running.append(serve(wsgi_app))
        return running[-1].base_url

    yield start
    for standin in running:
        standin.stop()


class TricklingHeaders(socketserver.BaseRequestHandler):
    """Status line, then a header line one byte at a time: the answer never gets past its headers."""

    def handle(self):
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.1 200 OK\r\n")
        try:
            for _ in range(100):
                self.request.sendall(b"X")
                time.sleep(0.2)
        except OSError:
            pass


@pytest.fixture
def trickling_headers():
    tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), TricklingHeaders)
    tcp.daemon_threads = True
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{tcp.server_address[1]}"
    tcp.shutdown()
    tcp.server_close()


def test_a_server_trickling_its_body_for_20_seconds_fails_at_the_deadline(server):
    url = server(trickling_body)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        outbound_session(1.0).get(url)
    assert time.monotonic() - started < 1.6


def test_a_server_trickling_its_headers_fails_at_the_deadline(trickling_headers):
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        outbound_session(1.0).get(trickling_headers)
    assert time.monotonic() - started < 1.6


def test_a_call_ends_at_its_own_deadline_while_a_longer_one_is_in_flight(server):
    """One watchdog serves every call in flight: a shorter deadline that comes after a longer one still ends first."""
    url = server(trickling_body)
    ended = {}

    def call(name: str, seconds: float) -> None:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            outbound_session(seconds).get(url)
        ended[name] = time.monotonic() - started

    longer = threading.Thread(target=call, args=("longer", 4.0))
    longer.start()
    time.sleep(0.3)
    call("shorter", 1.0)
    longer.join(timeout=10)
    assert ended["shorter"] < 1.6 and 3.9 < ended["longer"] < 4.6


def test_an_answer_over_the_size_cap_is_refused(server):
    url = server(huge_body)
    started = time.monotonic()
    with pytest.raises(ResponseTooLarge):
        outbound_session(5.0).get(url)
    assert time.monotonic() - started < 2


def test_an_answer_declaring_more_than_the_cap_is_refused_before_reading(server):
    with pytest.raises(ResponseTooLarge, match="declares"):
        outbound_session(5.0).get(server(declared_huge_body))


def test_an_answer_within_the_cap_and_the_deadline_is_read_whole(server):
    def exact(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"padding": "', b"x" * (MB - 15), b'"}']

    response = outbound_session(5.0).get(server(exact))
    assert len(response.content) == MB
    assert response.json()["padding"].startswith("xxx")


def test_the_session_keeps_its_connection_between_calls(server):
    def hello(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"hello"]

    url, session = server(hello), outbound_session(2.0)
    assert [session.get(url).text for _ in range(3)] == ["hello"] * 3


@pytest.mark.parametrize("standin, message", [(trickling_body, "did not answer in time"),
                                              (huge_body, "larger than we read")])
def test_wechat_trickling_or_huge_answers_are_a_502_upstream_error(server, standin, message):
    client = WechatClient(server(standin), "wx-appid", "wx-secret", timeout=1.0)
    with pytest.raises(UpstreamError, match=message) as refused:
        client.code_to_session("ok-alice")
    assert refused.value.status == 502
