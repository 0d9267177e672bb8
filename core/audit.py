"""The audit log: who did or read what, when, from where (POLICY.md signing rule 9: audited)."""

from __future__ import annotations

from flask import g, has_request_context, request

from core import db
from core.models import AuditEvent


def record(action: str, target_type: str, target_id=None, outcome: str = "ok", **detail) -> None:
    """Append one event, committed at once; the actor and IP come from the current request."""
    actor = getattr(g, "actor", None) if has_request_context() else None
    with db.transaction():
        db.session.add(AuditEvent(
            actor=actor.subject if actor else "system",
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            ip=request.remote_addr if has_request_context() else None,
            outcome=outcome,
            detail=detail or None,
        ))
