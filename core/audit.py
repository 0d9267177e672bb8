"""The audit log: who read or changed what, when, from where, with what outcome.

Append-only: this module only inserts, no code path updates or deletes an event, and the database
refuses UPDATE and DELETE on the table (a trigger, migration 0007). Events are kept indefinitely,
so at least the 180 days the security rules ask for. Never put an ID number or a phone in `detail`.
"""

from __future__ import annotations

from flask import g, has_app_context, has_request_context, request

from core import db
from core.models import AuditEvent

ANONYMOUS = "anonymous"


def record(action: str, target_type: str, target_id=None, outcome: str = "ok", **detail) -> AuditEvent:
    """Write one event for the calling actor and client address, committed at once."""
    # g lives in the app context: a CLI command that names its operator (g.actor) is recorded as them.
    actor = getattr(g, "actor", None) if has_app_context() else None
    event = AuditEvent(
        actor=actor.subject if actor else ANONYMOUS,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=request.remote_addr if has_request_context() else None,
        outcome=outcome,
        detail=detail or None,
    )
    with db.transaction():
        db.session.add(event)
    return event
