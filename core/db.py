"""Engine, session, declarative Base and the transaction helper.

One scoped session per thread (per request under Flask, removed at teardown). Service functions
write inside `transaction()`; tests bind the session to an outer transaction that is rolled back.
"""

from __future__ import annotations

import enum
import functools
import logging
import random
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, TypeVar

from flask import current_app, has_request_context, request
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Enum,
    Executable,
    MetaData,
    case,
    create_engine,
    event,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

from core import clock
from core.errors import NotFound, database_unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
# PostgreSQL's serialization failure and deadlock: the transaction lost a race and may simply run again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# SQLite answers a writer that would have to wait on a read lock it holds with an immediate "locked"
# (no busy wait): under many concurrent signings it needs more, longer-spaced tries than PostgreSQL.
RETRY_ATTEMPTS = 8
# The largest value an Integer column holds on PostgreSQL: ids and numbers from clients stay within it.
DB_INT_MAX = 2**31 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Instant(TypeDecorator):
    """A point in time, stored as UTC and read back timezone-aware on both databases, in Asia/Shanghai as the clock
    gives it (core.clock.now): an instant reads the same in every response, just written or read back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return datetime

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("instants must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value).astimezone(clock.SHANGHAI)


def enum_column(cls: type[enum.Enum]) -> Enum:
    """Store an enum by its value, as a plain string column on every database."""
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e], validate_strings=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: Instant()}


session = scoped_session(sessionmaker(expire_on_commit=False))
HELD = "held:"


def held(name: str) -> dict:
    """A dict that lives as long as the session's current transaction: for rows one request reads in several
    steps (a region, health facts) that the identity map, holding objects weakly, would let go in between."""
    return session.info.setdefault(HELD + name, {})


def forget_held(target_session, *_args) -> None:
    for key in [key for key in target_session.info if key.startswith(HELD)]:
        del target_session.info[key]


event.listen(session, "after_commit", forget_held)
event.listen(session, "after_rollback", forget_held)


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine that behaves the same on SQLite and PostgreSQL.

    SQLite gets the pysqlite SAVEPOINT recipe (we emit BEGIN ourselves) and foreign keys on,
    so nested transactions and constraints mean what they mean on PostgreSQL. Errors never show the
    statement's parameters (ID numbers, phones, openids): they end up in logged tracebacks.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA foreign_keys=ON")
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _on_begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE" if _for_writing.get() else "BEGIN")

        return engine
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


# A pooled connection checked in less than this ago was answering a moment before: checking it out again needs no
# ping. pool_pre_ping pinged at every checkout — a round trip per request, and one more for each transaction after
# the first (a signing with an Idempotency-Key has three).
PING_AFTER_IDLE_SECONDS = 1.0
CHECKED_IN = "checked_in"


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection on checkout when it sat in the pool a while (the database may have restarted meanwhile);
    a dead one is replaced, as pool_pre_ping would (DisconnectionError: the pool reconnects and tries again)."""

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:
        record.info[CHECKED_IN] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_connection, record, _proxy) -> None:
        if time.monotonic() - record.info.get(CHECKED_IN, float("-inf")) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as lost:
            raise DisconnectionError("the pooled connection did not answer a ping") from lost


def is_sqlite() -> bool:
    return session.get_bind().dialect.name == "sqlite"


def unless_exists(model, **values):
    """The INSERT of a row unless its unique key is already there (ON CONFLICT DO NOTHING)."""
    return (sqlite_insert if is_sqlite() else postgresql_insert)(model).values(**values).on_conflict_do_nothing()


def insert_unless_exists(model, **values) -> bool:
    """INSERT a row unless its unique key is already there, in the session's transaction; True when it was inserted."""
    return session.execute(unless_exists(model, **values).returning(literal_column("1"))).first() is not None


Write = Callable[..., int]


@contextmanager
def on_their_own(*, wait_for_disk: bool = True) -> Iterator[Write]:
    """Writes that each stand by themselves (one statement is atomic by itself), each committed as it runs, whatever
    the session's transaction is doing: `write(statement, parameters=None)` returns the rows it wrote.

    On PostgreSQL they run in autocommit on a pooled connection held for the block: a write is one round trip (no
    BEGIN and COMMIT), and the session's open transaction, if any, goes on untouched. With `wait_for_disk=False`
    their commits do not wait for the disk (synchronous_commit off): every connection sees them at once, and only a
    crash of the database server itself could lose the last few hundred milliseconds of them. On SQLite each is a
    transaction of that connection. A session bound to one connection (the tests' rolled-back one) writes them on
    that connection, in its transaction.
    """
    bind = session.get_bind()
    if isinstance(bind, Connection):
        yield lambda statement, parameters=None: bind.execute(
            statement.execution_options(preserve_rowcount=True), parameters).rowcount
        return
    with bind.connect() as connection:
        def write(statement: Executable, parameters: dict | None = None) -> int:
            with connection.begin():
                return connection.execute(statement.execution_options(preserve_rowcount=True), parameters).rowcount

        if connection.dialect.name != "postgresql":
            yield write
            return
        connection.execution_options(isolation_level="AUTOCOMMIT")
        if wait_for_disk:
            yield write
            return
        write(text("SET synchronous_commit = off"))
        try:
            yield write
        finally:
            write(text("RESET synchronous_commit"))  # before the connection goes back to the pool


def on_its_own(statement: Executable) -> int:
    """One write that stands by itself, committed at once (see `on_their_own`); the rows it wrote."""
    with on_their_own() as write:
        return write(statement)


@contextmanager
def transaction() -> Iterator[None]:
    """Commit what the block wrote, or roll all of it back on any exception."""
    _begin_for_writing()
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


# SQLite: set while the session begins a transaction that will write (see _begin_for_writing).
_for_writing: ContextVar[bool] = ContextVar("sqlite_for_writing", default=False)
WROTE = "wrote"


def _begin_for_writing() -> None:
    """On SQLite, a transaction that will write takes the write lock when it begins (BEGIN IMMEDIATE).

    A deferred transaction that has read and then writes fails at once with "database is locked" when another
    writer committed since its first read (WAL mode: it would write over a snapshot that is no longer the
    latest) — busy_timeout does not help there. So a read-only transaction still open is ended first (nothing
    of it is lost: objects are not expired on commit), and the write transaction waits its turn for the lock
    instead. Like PostgreSQL's READ COMMITTED, what was read before is not re-checked: constraints are.
    A transaction that has already written, or a session bound to an outer transaction (tests), is left as is.
    """
    current = session()
    if current.get_bind().dialect.name != "sqlite":
        return
    if current.in_transaction():
        if current.new or current.dirty or current.deleted or current.info.get(WROTE):
            return
        held_so_far = {key: value for key, value in current.info.items() if key.startswith(HELD)}
        current.commit()
        current.info.update(held_so_far)  # the same request goes on: what it read stays read (as READ COMMITTED)
    token = _for_writing.set(True)
    try:
        current.connection()
    finally:
        _for_writing.reset(token)


def _note_flush(target_session, *_args) -> None:
    target_session.info[WROTE] = True


def _note_statement_write(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True


def _forget_writes(target_session, *_args) -> None:
    target_session.info.pop(WROTE, None)


event.listen(session, "after_flush", _note_flush)
event.listen(session, "do_orm_execute", _note_statement_write)
event.listen(session, "after_commit", _forget_writes)
event.listen(session, "after_rollback", _forget_writes)


def is_retryable(error: BaseException) -> bool:
    """A lost race the database asks us to run again: 40001, 40P01, or SQLite's busy/locked."""
    if not isinstance(error, DBAPIError):
        return False
    if getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(error.orig) or "database table is locked" in str(error.orig)


def retrying(work: Callable[..., T], attempts: int = RETRY_ATTEMPTS) -> Callable[..., T]:
    """Run `work` again (after a rollback and a short jittered pause) when it loses a race.

    A read (a GET or HEAD request) whose database connection was lost also runs once more, on a fresh
    connection: it changes nothing the client asked to change. A write is not retried: whether it
    committed before the connection went is unknown, and the client's answer is a 503.
    """

    @functools.wraps(work)
    def run(*args, **kwargs) -> T:
        attempt, reconnects = 1, 1 if _is_read() else 0
        while True:
            try:
                return work(*args, **kwargs)
            except DBAPIError as error:
                session.rollback()
                if is_retryable(error) and attempt < attempts:
                    log.info("retrying after a lost race (attempt %d): %s", attempt, type(error.orig).__name__)
                    time.sleep(random.uniform(0, 0.05 * attempt))
                    attempt += 1
                elif database_unavailable(error) and not is_retryable(error) and reconnects:
                    log.warning("reading again after losing the database connection: %s", type(error.orig).__name__)
                    reconnects -= 1
                else:
                    raise

    return run


def _is_read() -> bool:
    return has_request_context() and request.method in ("GET", "HEAD")


def get_or_404(model: type[T], key, what: str) -> T:
    """The row with primary key `key`, or a 404 saying there is no such `what`."""
    found = session.get(model, key)
    if found is None:
        raise NotFound(f"No such {what}.")
    return found


def without_jit(target: Session) -> None:
    """PostgreSQL's JIT off for the rest of `target`'s transaction. A county's GROUP BY of some forty aggregates is
    costed high enough to be JIT-compiled, and compiling took longer than the query ran (200,000 residents: 4.4 s
    with JIT, 0.99 s without; `python -m bench.insurance_counts 200000`)."""
    if target.get_bind().dialect.name == "postgresql":
        target.execute(text("SET LOCAL jit = off"))


def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """An aggregate counting the rows of a GROUP BY for which `condition` holds (0 for none)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# Read replica --------------------------------------------------------------------------------------
# Reads that may lag a few seconds (counts, roster rows) can go to a PostgreSQL streaming replica
# (DATABASE_REPLICA_URL). Anything that decides what a later read may skip (an incremental pull's
# horizon) is taken on the primary and held back by the replica's lag (`replica_lag`), so a row the
# replica has not replayed yet is served later, never skipped.

_replica_lock = threading.Lock()


def replica_engine() -> Engine | None:
    """The app's engine on DATABASE_REPLICA_URL (made on first use, read-only), or None without one."""
    url = current_app.config["SETTINGS"].DATABASE_REPLICA_URL
    if not url:
        return None
    with _replica_lock:
        engine = current_app.extensions.get("replica_engine")
        if engine is None:
            options = {} if url.startswith("sqlite") else {"execution_options": {"postgresql_readonly": True}}
            engine = current_app.extensions["replica_engine"] = make_engine(url, **options)
        return engine


@contextmanager
def replica_session() -> Iterator[Session]:
    """A session for reads that may lag: on the replica (closed at the end of the block, so no transaction
    stays open there), or `session` itself, the primary's, when no replica is configured."""
    engine = replica_engine()
    if engine is None:
        yield session
        return
    with Session(engine, expire_on_commit=False) as reading:
        yield reading


def replica_lag(reading: Session) -> timedelta:
    """How far `reading` may be behind the primary: none for the primary's own session; on a replica, the age
    of the newest scheduler lease renewal it has replayed (the leader renews every SCHEDULER_LEASE_SECONDS / 3, so
    this overstates the lag by at most that: the safe side). Without a lease on the replica, a day: nothing
    recent is served from it."""
    if reading is session:
        return timedelta(0)
    from core.models import Lease  # core.models builds on this module

    ttl = timedelta(seconds=current_app.config["SETTINGS"].SCHEDULER_LEASE_SECONDS)
    newest = reading.scalar(select(func.max(Lease.expires_at)))
    return max(clock.now() - (newest - ttl), timedelta(0)) if newest is not None else timedelta(days=1)
