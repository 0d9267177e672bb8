"""HTTP for registry administration (county and centre administrators). Thin: the rules are in registry.admin."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from core import db
from core.auth import Role, current_actor, public, requires
from core.errors import NotFound
from core.pagination import PageArgs, page_schema, paginate
from registry import admin
from registry import admin_schemas as s
from registry.models import PolicyProfile, PolicyProfileVersion

profiles_blp = Blueprint("policy-profiles", __name__, url_prefix="/api/v1/policy-profiles",
                         description="Pooling regions' signing and payment rules, versioned")
blueprints = [profiles_blp]


@profiles_blp.route("")
class Profiles(MethodView):
    @public
    @profiles_blp.arguments(PageArgs, location="query")
    @profiles_blp.response(200, page_schema(s.ProfileSchema))
    def get(self, query):
        """The policy profiles, each as its version in force today"""
        return paginate(select(PolicyProfile), key_columns=[PolicyProfile.code], **query)

    @requires(Role.ADMIN)
    @profiles_blp.arguments(s.ProfileLoadSchema)
    @profiles_blp.response(201, s.ProfileVersionSchema)
    @profiles_blp.alt_response(200, schema=s.ProfileVersionSchema, description="The same profile and date: already loaded")
    def post(self, body):
        """Load a policy profile as a new version from a date (a typo is a 422 naming the field)"""
        version, created = admin.load_profile(current_actor(), profile=body["profile"], effective_from=body["effective_from"],
                                              source=body["source"], path="profile")
        return version, 201 if created else 200


@profiles_blp.route("/<code>/versions")
class ProfileVersions(MethodView):
    @public
    @profiles_blp.arguments(PageArgs, location="query")
    @profiles_blp.response(200, page_schema(s.ProfileVersionSchema))
    def get(self, query, code):
        """Every version of a profile, oldest first: frozen months are settled under theirs"""
        if db.session.get(PolicyProfile, code) is None:
            raise NotFound("No such policy profile.")
        return paginate(select(PolicyProfileVersion).where(PolicyProfileVersion.code == code),
                        key_columns=[PolicyProfileVersion.version], **query)
