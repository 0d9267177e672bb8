"""A live server on 127.0.0.1 over a database of its own, for tests that need real concurrency or real
HTTP (the `db` fixture's rolled-back transaction cannot show races: they need committed data)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from flask import Flask

from app import create_app
from core import db as core_db
from core import migrate
from core.config import Settings
from standins.server import serve
from tests.conftest import _create_pg_database


@contextmanager
def another_app(settings: Settings, restore: Flask) -> Iterator[Flask]:
    """A second app instance (a gunicorn worker, a differently configured deployment); the session
    goes back to `restore`'s engine afterwards."""
    app = create_app(settings)
    try:
        yield app
    finally:
        core_db.session.remove()
        app.extensions["engine"].dispose()
        core_db.session.configure(bind=restore.extensions["engine"])


@contextmanager
def live_server(settings: Settings, tmp_path: Path, restore: Flask) -> Iterator[tuple[Flask, str]]:
    """Serve a fresh app on a fresh, migrated database of the run's kind; give back (app, base URL)."""
    if settings.DATABASE_URL.startswith("sqlite"):
        url, drop = f"sqlite:///{tmp_path / 'live.sqlite'}", (lambda: None)
    else:
        url, drop = _create_pg_database()
    migrate.upgrade(url)
    try:
        with another_app(settings.replace(DATABASE_URL=url), restore) as app:
            running = serve(app)
            try:
                yield app, running.base_url
            finally:
                running.stop()
    finally:
        drop()
