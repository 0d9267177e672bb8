"""Tokens, roles and scopes, and the one access decorator every view carries.

Residents hold a token for their WeChat openid; staff for their account (with its centre, team or
region); bureau systems for their client (with its pooling region). Every token names a server-side
session (core/sessions.py) that each request checks, so logging out or disabling an account ends it at
once. Scope checks — which centre, which region, which household — live in the domain services; this
module only says who is calling.
"""

from __future__ import annotations

import copy
import enum
import functools
from dataclasses import dataclass
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from flask import Response, current_app, g, request
from sqlalchemy.engine import Row

from core import clock, sessions
from core.errors import Forbidden, Unauthorized

_hasher = PasswordHasher()
SECURITY = [{"bearerAuth": []}]


class Role(str, enum.Enum):
    RESIDENT = "resident"
    DOCTOR = "doctor"
    CENTRE_ADMIN = "centre_admin"
    BUREAU = "bureau"
    ADMIN = "admin"


STAFF = (Role.DOCTOR, Role.CENTRE_ADMIN)


@dataclass(frozen=True)
class Actor:
    """Who is calling, as the token says: subject is `wx:<openid>`, `staff:<id>` or `client:<id>`."""

    role: Role
    subject: str
    centre_id: int | None = None
    team_id: int | None = None
    region_code: str | None = None

    @property
    def openid(self) -> str | None:
        kind, _, ident = self.subject.partition(":")
        return ident if kind == "wx" else None

    @property
    def staff_id(self) -> int | None:
        kind, _, ident = self.subject.partition(":")
        return int(ident) if kind == "staff" else None


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash, secret)
    except (VerifyMismatchError, InvalidHashError):
        return False


# Verifying against this keeps a login for an unknown user as slow as for a known one.
DUMMY_HASH = _hasher.hash("not-a-real-secret")


def issue_token(actor: Actor, *, password_change_required: bool = False) -> dict:
    """Open a session for the actor and answer its tokens, in the OAuth2 token-response shape.

    The access token is short-lived and names its session, checked at every request (core/sessions.py);
    staff and residents also get a refresh token (POST /api/v1/auth/refresh).
    """
    session = sessions.open_session(subject=actor.subject, role=actor.role.value, centre_id=actor.centre_id,
                                    team_id=actor.team_id, region_code=actor.region_code,
                                    password_change_required=password_change_required)
    return _tokens(session)


def refresh(refresh_token: str) -> dict:
    """Spend a refresh token for a new access token and the next refresh token (rotation)."""
    return _tokens(sessions.rotate(refresh_token))


def logout() -> None:
    """End the caller's session: its access and refresh tokens stop working at once."""
    sessions.revoke(g.session_id, reason="logout")


def _tokens(session: sessions.Session) -> dict:
    lifetime = min(current_app.config["SETTINGS"].ACCESS_TOKEN_SECONDS,
                   max(1, int((session.expires_at - clock.now()).total_seconds())))
    issued = clock.now()
    claims = {
        "sub": session.subject,
        "sid": session.id,
        "role": session.role,
        "centre_id": session.centre_id,
        "team_id": session.team_id,
        "region_code": session.region_code,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=lifetime)).timestamp()),
    }
    token = jwt.encode(claims, current_app.config["SETTINGS"].SECRET_KEY, algorithm="HS256")
    answer = {"access_token": token, "token_type": "Bearer", "expires_in": lifetime,
              "password_change_required": session.password_change_required}
    if session.refresh_generation is not None:
        answer["refresh_token"] = sessions.refresh_token(session)
        answer["refresh_expires_in"] = max(1, int((session.expires_at - clock.now()).total_seconds()))
    return answer


_REQUEST_SESSION = "jiayi.session"  # kept in the request's environ: a test's app context outlives its requests


def _session_from_request() -> tuple[Actor, Row]:
    """The caller and their live session, read once per request (never across requests: revocation holds at once)."""
    header = request.headers.get("Authorization", "")
    known = request.environ.get(_REQUEST_SESSION)
    if known is not None:
        return known
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("A bearer token is required.")
    try:
        claims = jwt.decode(
            token,
            current_app.config["SETTINGS"].SECRET_KEY,
            algorithms=["HS256"],
            options={"verify_iat": False, "verify_exp": False},
        )
        if claims["exp"] <= clock.now().timestamp():
            raise jwt.ExpiredSignatureError
        session_id, subject = claims["sid"], claims["sub"]
        if not isinstance(session_id, str) or not isinstance(subject, str):
            raise ValueError(session_id)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired.") from None
    except (jwt.InvalidTokenError, KeyError, ValueError):
        raise Unauthorized("The token is not valid.") from None
    session = sessions.live(session_id, subject)
    actor = Actor(role=Role(session.role), subject=session.subject, centre_id=session.centre_id,
                  team_id=session.team_id, region_code=session.region_code)
    request.environ[_REQUEST_SESSION] = (actor, session)
    return actor, session


def _actor_from_request() -> Actor:
    return _session_from_request()[0]


def current_actor() -> Actor:
    return g.actor


def token_actor() -> Actor:
    """The caller's actor inside a public view, for an answer that depends on who asks (401 without a token)."""
    return _actor_from_request()


def _document(wrapper, security) -> None:
    """Record the access rule where flask-smorest reads operation docs, and for the route audit."""
    apidoc = copy.deepcopy(getattr(wrapper, "_apidoc", {}))
    apidoc.setdefault("manual_doc", {})["security"] = security
    wrapper._apidoc = apidoc


PASSWORD_CHANGE_REQUIRED = (
    "Set a new password first (POST /api/v1/auth/password): this account logged in with a one-time password "
    "an administrator set, and nothing else is open to it until it is replaced.")


def requires(*roles: Role, before_password_change: bool = False):
    """Let the view run only for a live session of one of `roles` (401 without one, 403 for others).

    A session opened with a one-time password is refused everywhere (403, reason password_change_required)
    except at views marked `before_password_change` (logging out).
    Put it above the flask-smorest decorators so nobody learns anything before being let in.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            actor, session = _session_from_request()
            if actor.role not in roles:
                raise Forbidden("This operation is not open to your role.")
            if session.password_change_required and not before_password_change:
                raise Forbidden(PASSWORD_CHANGE_REQUIRED, reason="password_change_required")
            g.actor, g.session_id = actor, session.id
            return view(*args, **kwargs)

        wrapper.access_roles = frozenset(roles)
        _document(wrapper, SECURITY)
        return wrapper

    return decorate


def public(view):
    """Mark a view as open to anyone: an explicit access rule, like `requires`."""
    view.access_roles = frozenset({"public"})
    _document(view, [])
    return view


def is_public(endpoint: str | None, method: str) -> bool:
    """Whether the view serving `method` at `endpoint` is marked `public` (False for no view at all)."""
    view = current_app.view_functions.get(endpoint) if endpoint else None
    if view is None:
        return False
    view_class = getattr(view, "view_class", None)
    handler = getattr(view_class, "get" if method == "HEAD" else method.lower(), None) if view_class else view
    return "public" in getattr(handler, "access_roles", ())


def no_store_unless_public_read(response: Response) -> Response:
    """Keep answers about someone out of browser and proxy caches (after_request).

    Only a GET of a public view asked without credentials (the centre list, the catalogue, the docs) may
    be stored; everything else may carry personal data or a token, and is `Cache-Control: no-store`.
    """
    if (request.method not in ("GET", "HEAD") or "Authorization" in request.headers
            or not is_public(request.endpoint, request.method)):
        response.headers["Cache-Control"] = "no-store"
    return response
