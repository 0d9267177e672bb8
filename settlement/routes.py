"""HTTP for the bureau side: counts, snapshots, capitation, rosters and evaluation. Thin: rules are in the services."""

from __future__ import annotations

from flask import Response, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from core import audit, clock
from core.auth import STAFF, Role, current_actor, requires
from core.pagination import one_page, page_schema
from settlement import evaluation, fulfilment, ghost, rosters
from settlement import schemas as s
from settlement import service as settlement

settlement_blp = Blueprint("settlement", __name__, url_prefix="/api/v1/settlement",
                           description="Signed-population counts, monthly snapshots, capitation, evaluation")
rosters_blp = Blueprint("rosters", __name__, url_prefix="/api/v1/rosters", description="Rosters the bureau pulls")
blueprints = [settlement_blp, rosters_blp]

JSON, CSV = "application/json", "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMS = {JSON: "json", CSV: "csv", XLSX: "xlsx"}
BUREAU_SIDE = (Role.BUREAU, Role.ADMIN)


@settlement_blp.route("/signed-counts")
class SignedCounts(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.CountQuerySchema, location="query")
    @settlement_blp.response(200, s.CountsSchema)
    def get(self, query):
        """Head counts of the people signed on a date, by centre, window, team, scheme or key population"""
        return settlement.signed_counts(current_actor(), region=query["region"], as_of=query["as_of"] or clock.today(),
                                        group_by=query["group_by"])


@settlement_blp.route("/snapshots/<string:month>")
class Snapshots(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.RegionQuerySchema, location="query")
    @settlement_blp.response(200, page_schema(s.SnapshotSchema))
    def get(self, query, month):
        """A month's frozen counts per centre, with late corrections as adjustment lines"""
        return one_page(settlement.snapshots(current_actor(), region=query["region"], month=month))


@settlement_blp.route("/capitation")
class Capitation(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.CapitationQuerySchema, location="query")
    @settlement_blp.response(200, s.CapitationSchema)
    def get(self, query):
        """What each centre is owed for a month under its region's capitation rule"""
        return settlement.capitation(current_actor(), region=query["region"], period=query["period"],
                                     actual_costs=query["actual_costs"])


@settlement_blp.route("/actual-costs/<string:month>")
class ActualCosts(MethodView):
    @requires(Role.BUREAU)
    @settlement_blp.arguments(s.ActualCostsSchema)
    @settlement_blp.response(200, s.ActualCostFilingSchema)
    def put(self, body, month):
        """File the centres' actual costs of a month (regions settling actual cost); supersedes earlier filings"""
        return settlement.file_actual_costs(current_actor(), region=body["region"], month=month, costs=body["costs"])


@settlement_blp.route("/evaluation")
class Evaluation(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.EvaluationQuerySchema, location="query")
    @settlement_blp.response(200, s.EvaluationSchema)
    def get(self, query):
        """Annex 2 indicators per centre: effective signing, key-population coverage, renewal, follow-ups"""
        return evaluation.evaluate(current_actor(), region=query["region"], cycle=query["cycle"])


@settlement_blp.route("/ghost-signing")
class GhostSigning(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.GhostQuerySchema, location="query")
    @settlement_blp.response(200, page_schema(s.GhostRowSchema))
    def get(self, query):
        """Per doctor and day: on-site signings, of people never served since, of people signed after their recorded death"""
        return ghost.signal(current_actor(), **query)


@settlement_blp.route("/fulfilment")
class Fulfilment(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.FulfilmentQuerySchema, location="query")
    @settlement_blp.response(200, s.FulfilmentReportSchema)
    def get(self, query):
        """Fulfilment per centre and team: people signed, served and never served; items due, delivered, missed"""
        found = fulfilment.report(current_actor(), **query)
        audit.record("fulfilment.report", "region", found["region"], cycle=found["cycle"])
        return found


@settlement_blp.route("/fulfilment/never-served")
class NeverServed(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.NeverServedQuerySchema, location="query")
    @settlement_blp.response(200, page_schema(s.NeverServedSchema))
    def get(self, query):
        """The people signed in the cycle with no service recorded in their agreement's period (只签不约)"""
        page = fulfilment.never_served(current_actor(), **query)
        audit.record("fulfilment.never_served", "region", query["region"],
                     residents=[agreement.resident_id for agreement in page["items"]])
        return page


@rosters_blp.route("")
class Rosters(MethodView):
    @requires(Role.BUREAU, *STAFF, Role.ADMIN)
    @rosters_blp.arguments(s.RosterQuerySchema, location="query")
    @rosters_blp.response(200, page_schema(s.RosterEntrySchema))
    def get(self, query):
        """The signed people and their agreements, a page at a time (Accept: text/csv or XLSX for the whole roster)

        Pages run in (change_seq, id) order: the order in which the writes committed. Keep the last change_seq and
        pass it as changed_after for the next incremental pull: a change still to commit gets a larger number, so
        none is missed. (updated_since still works: a change is served once settled, 30 seconds after it was made
        and after every transaction still writing then has ended.)
        Terminated agreements come as tombstones. Every pull is audited.
        """
        wanted = request.accept_mimetypes.best_match([JSON, CSV, XLSX], default=JSON)
        pull = rosters.pull(current_actor(), form=FORMS[wanted], **query)
        if wanted == CSV:
            return Response(stream_with_context(pull), mimetype=CSV, headers=_attachment("csv"))
        if wanted == XLSX:
            return Response(pull, mimetype=XLSX, headers=_attachment("xlsx"))
        return pull


def _attachment(extension: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename=roster-{clock.today():%Y%m%d}.{extension}"}
