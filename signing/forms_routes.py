"""HTTP for the signing forms of 002 §(三): group signing with a functional community, and the "1+1+1" hospitals
chosen beside the centre. Thin: signing/groups.py and signing/hospitals.py hold the rules."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core.audit import audited
from core.auth import STAFF, Role, current_actor, public, requires
from core.idempotency import idempotent
from core.pagination import one_page, page_schema
from signing import groups, hospitals
from signing import schemas as s

communities_blp = Blueprint("community-signing", __name__, url_prefix="/api/v1/communities",
                            description="Group signing with functional communities (employers, parks, office buildings)")
hospitals_blp = Blueprint("hospitals", __name__, url_prefix="/api/v1",
                          description='"1+1+1": a secondary and a tertiary hospital beside the centre')
blueprints = [communities_blp, hospitals_blp]


@communities_blp.route("/<int:community_id>/agreements")
class CommunityAgreements(MethodView):
    @audited("community.sign")
    @requires(*STAFF)
    @idempotent
    @communities_blp.arguments(s.GroupSignRequestSchema)
    @communities_blp.response(201, page_schema(s.MemberOutcomeSchema))
    @communities_blp.alt_response(200, schema=page_schema(s.MemberOutcomeSchema), description="Nobody newly signed")
    def post(self, body, community_id):
        """Sign a community's members with its centre, each on their own rules (the answer: each member's outcome)"""
        outcomes, created = groups.sign_members(current_actor(), community_id, **body)
        return one_page(outcomes), 201 if created else 200


@hospitals_blp.route("/hospitals")
class Hospitals(MethodView):
    @public
    @hospitals_blp.arguments(s.HospitalQuerySchema, location="query")
    @hospitals_blp.response(200, page_schema(s.HospitalOptionSchema))
    def get(self, query):
        """The secondary and tertiary hospitals a resident signing with the centre may choose"""
        return hospitals.choosable(**query)


@hospitals_blp.route("/agreements/<int:agreement_id>/hospitals")
class AgreementHospitals(MethodView):
    @audited("agreement.hospitals")
    @requires(Role.RESIDENT, *STAFF)
    @hospitals_blp.arguments(s.HospitalChoiceSchema)
    @hospitals_blp.response(200, s.AgreementSchema)
    def put(self, body, agreement_id):
        """Choose or change the agreement's secondary and tertiary hospital (null: none)"""
        return hospitals.choose(current_actor(), agreement_id, **body)
