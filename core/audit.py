"""The audit log: who read or changed what, when, from where, with what outcome.

Append-only: this module only inserts, no code path updates or deletes an event, and the database
refuses UPDATE, DELETE and TRUNCATE on the table (triggers, migrations 0005 and 0016). On PostgreSQL
the table is partitioned by month (0016); `flask db audit-partitions` (and the daily `audit_partitions`
job) creates the coming months and drops whole months older than AUDIT_RETENTION_DAYS, never fewer
than the 180 days the security rules ask for. Never put an ID number or a phone in `detail`.

Every view that reads or changes someone's data carries `@audited("entity.verb")` as its first
decorator (tests/test_ops_audit_walk.py holds the table of which routes do and why the others don't).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import date

from flask import Response, g, has_app_context, has_request_context, request
from sqlalchemy import event, insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from core import clock, db
from core.auth import token_actor
from core.config import MIN_AUDIT_RETENTION_DAYS
from core.errors import DomainError, Invalid
from core.models import AuditEvent

ANONYMOUS = "anonymous"
MIN_RETENTION_DAYS = MIN_AUDIT_RETENTION_DAYS
MONTHS_AHEAD = 3
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A field name as the request schemas spell them; anything else (a value sent as a key) is not recorded.
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
PARTITION = re.compile(r"audit_events_(\d{4})_(\d{2})")
DEFAULT_PARTITION = "audit_events_default"  # events outside every month created so far (PostgreSQL)
WITH_THE_WRITE = "audit_with_the_write"  # session.info: the transaction holds the view's event


def record(action: str, target_type: str, target_id=None, outcome: str = "ok", **detail) -> int:
    """Write one event for the calling actor and client address, committed at once; returns its id."""
    with db.transaction():
        event_id = _insert(_caller(), action, target_type, target_id, outcome, detail)
    if has_app_context():
        g.audit_written = True
    return event_id


def record_with_the_write(action: str, target_type: str, target_id=None, **detail) -> None:
    """Write an `ok` event in the caller's open transaction: it commits, or rolls back, with the write it records
    (a receiver of a registry event runs inside the transaction of the change, which `record` would commit early)."""
    _insert(_caller(), action, target_type, target_id, "ok", detail)


def _caller() -> str:
    # g lives in the app context: a CLI command that names its operator (g.actor) is recorded as them.
    actor = getattr(g, "actor", None) if has_app_context() else None
    return actor.subject if actor else ANONYMOUS


# On the table, not the entity: the ORM's bulk-insert machinery costs more than the INSERT's round trip.
INSERT_EVENT = insert(AuditEvent.__table__).returning(AuditEvent.__table__.c.id)


def _insert(actor: str, action: str, target_type: str, target_id, outcome: str, detail: dict) -> int:
    """INSERT the event (one statement, no unit of work) in the session's transaction; returns its id."""
    return db.session.scalar(INSERT_EVENT, dict(
        at=clock.now(),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=request.remote_addr if has_request_context() else None,
        request_id=g.get("request_id") if has_app_context() else None,
        outcome=outcome,
        detail=detail or None,
    ))


def with_the_write() -> None:
    """Put the `ok` event of the view being served, if it is `audited(..., with_the_write=True)`, in the transaction
    that makes its write, called just before that commits (signing.service.sign): one commit for both, and the event
    stands or falls with the write. A rolled-back attempt leaves none, and the view's refusal is recorded as usual;
    anywhere else (another view calling the same service, a job) it does nothing."""
    action = g.get("audit_with_the_write") if has_request_context() else None
    if action is None or g.audit_written:
        return
    target_type, target_id = _target(action, None)
    _insert(_caller(), action, target_type, target_id, "ok", _fields())
    db.session.info[WITH_THE_WRITE] = True


def _written_with_the_write(target_session, *_args) -> None:
    if target_session.info.pop(WITH_THE_WRITE, False):
        g.audit_written = True


def _dropped_with_the_write(target_session, *_args) -> None:
    target_session.info.pop(WITH_THE_WRITE, None)


event.listen(db.session, "after_commit", _written_with_the_write)
event.listen(db.session, "after_rollback", _dropped_with_the_write)


def audited(action: str, *, with_the_write: bool = False):
    """Record one event for every call of the view with a valid token: `ok`, or `refused_<status>`.

    Put it above `@requires`, so that a refused role, a failed validation and a scope refusal are all
    recorded (a call without a valid token names nobody and learns nothing: no event). The target is the view's last path argument (`resident_id=7` → resident 7), else the id
    of what it created; a write records the names of the fields sent, never their values. A view or
    service that records its own, richer event during the call is not recorded twice. `with_the_write`: the
    service writes the `ok` event in its own transaction (`with_the_write()`), saving a transaction of its own.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.audit_written = False
            g.audit_with_the_write = action if with_the_write else None
            try:
                result = view(*args, **kwargs)
            except (DomainError, HTTPException, IntegrityError) as refused:
                if not g.audit_written:
                    _after_the_view(_record_refusal, action, refused)
                raise
            if not g.audit_written:
                _after_the_view(_record_answer, action, result)
            return result

        wrapper.audit_action = action
        return wrapper

    return decorate


class AuditNotWritten(RuntimeError):
    """A view ran but its event could not be written: a 500, and never a second run of the view."""


def _after_the_view(write, *args) -> None:
    """Write the view's event; a lost race (SQLite's lock) retries the insert alone, not the view."""
    try:
        db.retrying(write)(*args)
    except DBAPIError as failed:  # not retryable by db.retrying around the view: it would run twice
        raise AuditNotWritten("The audit event could not be written.") from failed


def _record_answer(action: str, result) -> None:
    status = result.status_code if isinstance(result, Response) else 200
    target_type, target_id = _target(action, result)
    record(action, target_type, target_id, "ok" if status < 400 else f"refused_{status}", **_fields())


def _record_refusal(action: str, refused: Exception) -> None:
    # A refused request keeps nothing it may have flushed before refusing (a failed flush left the session
    # unusable besides): only its event is written. What a service committed on purpose stays committed.
    db.session.rollback()
    try:
        actor = token_actor()  # named by the token even when refused before `requires` let them in
    except DomainError:
        return  # no valid token (401): nobody to name and nothing was learned
    status = getattr(refused, "status", None) or getattr(refused, "code", None) or 409
    target_type, target_id = _target(action, None)
    with db.transaction():
        _insert(actor.subject, action, target_type, target_id, f"refused_{status}", _fields())
    g.audit_written = True


def _entity(action: str) -> str:
    """The entity an action names: `visit_record.read` → visit_record, `admin.staff.update` → staff."""
    parts = action.split(".")
    return parts[1] if parts[0] == "admin" and len(parts) > 2 else parts[0]


def _target(action: str, result) -> tuple[str, object]:
    """(entity, id) the call was about: the last path argument, else the id of the entity answered."""
    arguments = list((request.view_args or {}).items())
    if arguments:
        name, value = arguments[-1]
        return (name.removesuffix("_id") if name.endswith("_id") else _entity(action)), value
    answered = result.get_json(silent=True) if isinstance(result, Response) and result.is_json else None
    return _entity(action), answered.get("id") if isinstance(answered, dict) else None


def _fields() -> dict:
    """The names of the fields a write sent (top-level JSON keys or form fields), never their values."""
    if request.method not in WRITES:
        return {}
    sent = request.get_json(silent=True) if request.is_json else request.form
    names = sorted(name for name in sent if FIELD_NAME.fullmatch(name)) if hasattr(sent, "keys") else []
    return {"fields": names} if names else {}


# Monthly partitions (PostgreSQL; SQLite keeps one table and drops nothing).

def month_start(day: date, months: int = 0) -> date:
    """The first day of the month `months` after the one holding `day`."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"audit_events_{month:%Y_%m}"


def check_retention(days: int) -> None:
    """Refuse a retention shorter than the 180 days the security rules ask for."""
    if days < MIN_RETENTION_DAYS:
        raise Invalid(f"Audit events are kept at least {MIN_RETENTION_DAYS} days; {days} is too few.",
                      field="AUDIT_RETENTION_DAYS")


def months_to_drop(partitions: list[str], today: date, retention_days: int) -> Iterator[str]:
    """The monthly partitions whose every day is older than `retention_days` before `today`."""
    check_retention(retention_days)
    keep_from = date.fromordinal(today.toordinal() - retention_days)
    for name in sorted(partitions):
        found = PARTITION.fullmatch(name)
        if found and month_start(date(int(found[1]), int(found[2]), 1), 1) <= keep_from:
            yield name


def maintain_partitions(session: Session, *, today: date, retention_days: int,
                        months_ahead: int = MONTHS_AHEAD) -> dict[str, list[str]]:
    """Create this month's and the next `months_ahead` months' partitions; drop months past retention.

    Whole months go by DROP TABLE of their partition: the append-only triggers refuse DELETE, and a
    drop needs the table's owner (README "Deploying": the maintenance role), not the app's role.
    """
    check_retention(retention_days)  # refused before anything is created or dropped
    if session.get_bind().dialect.name != "postgresql":
        return {"created": [], "dropped": []}
    created = [month for month in (month_start(today, ahead) for ahead in range(months_ahead + 1))
               if _create_partition(session, month)]
    existing = session.scalars(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_events'"))
    dropped = list(months_to_drop(list(existing), today, retention_days))
    for name in dropped:
        session.execute(text(f"DROP TABLE {name}"))
    session.commit()
    return {"created": [partition_name(month) for month in created], "dropped": dropped}


def month_bounds(month: date) -> tuple[str, str]:
    """A month's partition bounds: midnight in Asia/Shanghai, the business timezone."""
    return f"{month.isoformat()} 00:00:00+08", f"{month_start(month, 1).isoformat()} 00:00:00+08"


def _create_partition(session: Session, month: date) -> bool:
    """Create one month's partition (with its TRUNCATE guard) unless it exists; whether it was created.

    A month with events already in audit_events_default (written before the month was made) stays
    there: moving them would need a DELETE, which the log refuses.
    """
    name, (start, end) = partition_name(month), month_bounds(month)
    if session.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
        return False
    if session.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE at >= :start AND at < :end)"),
                      {"start": start, "end": end}):
        return False
    session.execute(text(f"CREATE TABLE {name} PARTITION OF audit_events FOR VALUES FROM ('{start}') TO ('{end}')"))
    session.execute(text(f"CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON {name} "
                         "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"))
    session.commit()
    return True
