"""HTTP for the bureau side: counts, snapshots, capitation, filed figures, the outpatient fund, the year-end, rosters and
evaluation. Thin: rules are in the services."""

from __future__ import annotations

from flask import Response, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from core import audit, clock
from core.audit import audited
from core.auth import STAFF, Role, current_actor, requires
from core.pagination import one_page, page_schema
from settlement import evaluation, figures, fulfilment, ghost, outpatient_fund, rosters, year_end
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
    @audited("settlement.signed_counts.read")
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.CountQuerySchema, location="query")
    @settlement_blp.response(200, s.CountsSchema)
    def get(self, query):
        """Head counts of the people signed on a date, by centre, window, team, scheme or key population"""
        return settlement.signed_counts(current_actor(), region=query["region"], as_of=query["as_of"] or clock.today(),
                                        group_by=query["group_by"])


@settlement_blp.route("/snapshots/<string:month>")
class Snapshots(MethodView):
    @audited("settlement.snapshot.read")
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.RegionQuerySchema, location="query")
    @settlement_blp.response(200, page_schema(s.SnapshotSchema))
    def get(self, query, month):
        """A month's frozen counts per centre, with late corrections as adjustment lines"""
        return one_page(settlement.snapshots(current_actor(), region=query["region"], month=month))


@settlement_blp.route("/capitation")
class Capitation(MethodView):
    @audited("settlement.capitation.read")
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.CapitationQuerySchema, location="query")
    @settlement_blp.response(200, s.CapitationSchema)
    def get(self, query):
        """What each centre is owed for a month under its region's capitation rule"""
        return settlement.capitation(current_actor(), region=query["region"], period=query["period"],
                                     actual_costs=query["actual_costs"])


@settlement_blp.route("/actual-costs/<string:month>")
class ActualCosts(MethodView):
    @audited("settlement.actual_costs")
    @requires(Role.BUREAU)
    @settlement_blp.arguments(s.ActualCostsSchema)
    @settlement_blp.response(200, s.ActualCostFilingSchema)
    def put(self, body, month):
        """File the centres' actual costs of a month (regions settling actual cost); supersedes earlier filings"""
        return settlement.file_actual_costs(current_actor(), region=body["region"], month=month, costs=body["costs"])


@settlement_blp.route("/figures/<string:period>")
class Figures(MethodView):
    @audited("settlement.figures.file")
    @requires(Role.BUREAU)
    @settlement_blp.arguments(s.FiguresFilingSchema)
    @settlement_blp.response(200, page_schema(s.FigureSchema))
    def put(self, body, period):
        """File figures only the bureau knows for a year (outpatient fund, pool inputs, annex-2 inputs); each is a new version"""
        figures.file(current_actor(), region=body["region"], period=period, figures=body["figures"])
        return one_page(figures.history(current_actor(), region=body["region"], period=period))

    @audited("settlement.figures.read")
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.RegionQuerySchema, location="query")
    @settlement_blp.response(200, page_schema(s.FigureSchema))
    def get(self, query, period):
        """The filed figures of a year: the latest version of each, with every version, its author and time"""
        return one_page(figures.history(current_actor(), region=query["region"], period=period))


@settlement_blp.route("/outpatient-fund")
class OutpatientFund(MethodView):
    @audited("settlement.outpatient_fund.read")
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.YearQuerySchema, location="query")
    @settlement_blp.response(200, s.OutpatientFundSchema)
    def get(self, query):
        """The year's outpatient fund [001 五(一)1]: reserve, and per month and centre prepaid, settled and carried"""
        return outpatient_fund.year(current_actor(), region=query["region"], year=query["year"])


@settlement_blp.route("/year-end")
class YearEnd(MethodView):
    @audited("settlement.year_end.read")
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.YearQuerySchema, location="query")
    @settlement_blp.response(200, s.YearEndSchema)
    def get(self, query):
        """The year-end [000 §二(一)5, §二(二)]: the pool, its distribution by grade, the employee settlement"""
        return year_end.settle(current_actor(), region=query["region"], year=query["year"])


@settlement_blp.route("/evaluation")
class Evaluation(MethodView):
    @audited("settlement.evaluation.read")
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.EvaluationQuerySchema, location="query")
    @settlement_blp.response(200, s.EvaluationSchema)
    def get(self, query):
        """Annex 2 per centre: the nine items scored, total, rank, grade and veto; coverage, renewal, follow-ups"""
        return evaluation.evaluate(current_actor(), region=query["region"], cycle=query["cycle"])


@settlement_blp.route("/ghost-signing")
class GhostSigning(MethodView):
    @audited("settlement.ghost_signing.read")
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.GhostQuerySchema, location="query")
    @settlement_blp.response(200, page_schema(s.GhostRowSchema))
    def get(self, query):
        """Per doctor and day: on-site signings, of people never served since, of people signed after their recorded death"""
        return ghost.signal(current_actor(), **query)


@settlement_blp.route("/fulfilment")
class Fulfilment(MethodView):
    @audited("fulfilment.report")
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
    @audited("fulfilment.never_served")
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
    @audited("roster.pull")
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
