"""HTTP for the bureau side: counts, snapshots, capitation, rosters and evaluation. Thin: rules are in the services."""

from __future__ import annotations

from flask import Response, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from core import audit, clock
from core.auth import STAFF, Role, current_actor, requires
from core.pagination import page_schema
from registry.access import check_region
from settlement import evaluation, rosters
from settlement import schemas as s
from settlement import service as settlement

settlement_blp = Blueprint("settlement", __name__, url_prefix="/api/v1/settlement",
                           description="Signed-population counts, monthly snapshots, capitation, evaluation")
rosters_blp = Blueprint("rosters", __name__, url_prefix="/api/v1/rosters", description="Rosters the bureau pulls")
blueprints = [settlement_blp, rosters_blp]

JSON, CSV = "application/json", "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BUREAU_SIDE = (Role.BUREAU, Role.ADMIN)


def _in_region(region: str) -> str:
    check_region(current_actor(), region)
    return region


@settlement_blp.route("/signed-counts")
class SignedCounts(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.CountQuerySchema, location="query")
    @settlement_blp.response(200, s.CountsSchema)
    def get(self, query):
        """Head counts of the people signed on a date, by centre, window, team, scheme or key population"""
        return settlement.signed_counts(region=_in_region(query["region"]), as_of=query["as_of"] or clock.today(),
                                        group_by=query["group_by"])


@settlement_blp.route("/snapshots/<string:month>")
class Snapshots(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.RegionQuerySchema, location="query")
    @settlement_blp.response(200, s.SnapshotListSchema)
    def get(self, query, month):
        """A month's frozen counts per centre, with late corrections as adjustment lines"""
        return {"snapshots": settlement.snapshots(region=_in_region(query["region"]), month=month)}


@settlement_blp.route("/capitation")
class Capitation(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.CapitationQuerySchema, location="query")
    @settlement_blp.response(200, s.CapitationSchema)
    def get(self, query):
        """What each centre is owed for a month under its region's capitation rule"""
        return settlement.capitation(region=_in_region(query["region"]), period=query["period"],
                                     actual_costs=query["actual_costs"])


@settlement_blp.route("/actual-costs/<string:month>")
class ActualCosts(MethodView):
    @requires(Role.BUREAU)
    @settlement_blp.arguments(s.ActualCostsSchema)
    @settlement_blp.response(200, s.ActualCostFilingSchema)
    def put(self, body, month):
        """File the centres' actual costs of a month (regions settling actual cost); supersedes earlier filings"""
        actor = current_actor()
        filing = settlement.file_actual_costs(region=_in_region(body["region"]), month=month, costs=body["costs"],
                                              filed_by=actor.subject)
        audit.record("settlement.actual_costs", "region", filing.region_code, month=month, filing_id=filing.id,
                     centres=len(filing.costs), total_fen=sum(cost.cost_fen for cost in filing.costs))
        return filing


@settlement_blp.route("/evaluation")
class Evaluation(MethodView):
    @requires(*BUREAU_SIDE)
    @settlement_blp.arguments(s.EvaluationQuerySchema, location="query")
    @settlement_blp.response(200, s.EvaluationSchema)
    def get(self, query):
        """Annex 2 indicators per centre: effective signing, key-population coverage, renewal, follow-ups"""
        return evaluation.evaluate(region=_in_region(query["region"]), cycle=query["cycle"])


@rosters_blp.route("")
class Rosters(MethodView):
    @requires(Role.BUREAU, *STAFF, Role.ADMIN)
    @rosters_blp.arguments(s.RosterQuerySchema, location="query")
    @rosters_blp.response(200, page_schema(s.RosterEntrySchema))
    def get(self, query):
        """The signed people and their agreements, a page at a time (Accept: text/csv or XLSX for the whole roster)

        Pages run in (updated_at, id) order; pass the last updated_at as updated_since for the next
        incremental pull. A change is served once settled: 30 seconds after it was made and after every
        transaction that was still writing then has ended, so a cursor never passes a change yet to commit.
        Terminated agreements come as tombstones. Every pull is audited.
        """
        actor = current_actor()
        roster, region = rosters.roster_query(actor, region=query["region"], cycle=query["cycle"],
                                              updated_since=query["updated_since"])
        pulled = dict(region=region, cycle=query["cycle"], centre_id=actor.centre_id,
                      updated_since=query["updated_since"] and query["updated_since"].isoformat())
        wanted = request.accept_mimetypes.best_match([JSON, CSV, XLSX], default=JSON)
        if wanted == CSV:
            lines = rosters.stream_csv(actor, roster, lambda rows: audit.record("roster.pull", "roster", region, rows=rows,
                                                                                format="csv", **pulled))
            return Response(stream_with_context(lines), mimetype=CSV, headers=_attachment("csv"))
        if wanted == XLSX:
            spool, rows = rosters.write_xlsx(actor, roster)
            audit.record("roster.pull", "roster", region, rows=rows, format="xlsx", **pulled)
            return Response(rosters.chunks(spool), mimetype=XLSX, headers=_attachment("xlsx"))
        page = rosters.roster_page(actor, roster, cursor=query["cursor"], limit=query["limit"])
        audit.record("roster.pull", "roster", region, rows=len(page["items"]), format="json", **pulled)
        return page


def _attachment(extension: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename=roster-{clock.today():%Y%m%d}.{extension}"}
