"""Request and response shapes of the settlement side: counts, snapshots, capitation, rosters, evaluation."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.crypto import mask_id_number
from core.pagination import PageArgs
from core.schemas import ID, AwareDateTime, Date, Decimal, Digits, Integer, region_code
from registry.models import InsuranceScheme, Sex
from settlement.figures import CATALOGUE
from settlement.models import LineKind
from signing.schemas import AgreementSchema

FIGURES = fields.Dict(
    keys=fields.String(), values=Integer(), required=True,
    metadata={"description": "head counts: signed, counted (for capitation), not_counted, effective, resident_scheme, "
                             "employee_scheme, uninsured, counted_resident_scheme, counted_employee_scheme, each key population "
                             "of signing rule 8 (elderly_65, elderly_80, child_0_6, pregnant, postpartum, hypertension, "
                             "diabetes, copd, tb, severe_mental, disabled, poverty_alleviated, special_family_planning) "
                             "and counted_<age group> where the profile sets age groups"},
)


class RegionQuerySchema(ma.Schema):
    region = region_code(required=True)


class CountQuerySchema(RegionQuerySchema):
    as_of = Date(load_default=None, metadata={"description": "default: today"})
    group_by = fields.String(load_default="centre",
                             validate=validate.OneOf(["centre", "window", "team", "scheme", "key_population"]))


class CountRowSchema(ma.Schema):
    key = fields.String(allow_none=True, metadata={"description": "centre, window or team id, scheme or population"})
    name = fields.String(allow_none=True)
    figures = FIGURES


class CountsSchema(ma.Schema):
    region = fields.String(required=True)
    as_of = fields.Date(required=True)
    group_by = fields.String(required=True)
    rows = fields.List(fields.Nested(CountRowSchema), required=True)
    total = FIGURES


class SnapshotLineSchema(ma.Schema):
    centre_id = Integer(required=True)
    kind = fields.Enum(LineKind, by_value=True, required=True)
    adjusts_month = fields.String(allow_none=True, metadata={"description": "the earlier month an adjustment corrects"})
    figures = FIGURES


class SnapshotSchema(ma.Schema):
    region_code = fields.String(required=True)
    month = fields.String(required=True)
    as_of = fields.Date(required=True)
    content_hash = fields.String(required=True, metadata={"description": "SHA-256 of the snapshot's canonical JSON"})
    created_at = fields.DateTime(required=True)
    lines = fields.List(fields.Nested(SnapshotLineSchema), required=True)


class CapitationQuerySchema(RegionQuerySchema):
    period = Digits(r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$", error="YYYY-MM or YYYY.", required=True,
                    metadata={"description": "a month, or a year: its frozen months summed per centre"})
    actual_cost = fields.List(
        Digits(r"^[0-9]{1,9}:[0-9]{1,15}$", error="Write CENTRE_ID:FEN."), load_default=list,
        validate=validate.Length(max=1000),
        metadata={"description": "CENTRE_ID:FEN, repeated: a centre's actual outpatient cost of the month "
                                 "(regions whose rule settles actual cost)"},
    )

    @ma.post_load
    def actual_costs(self, data, **_kwargs):
        pairs = (item.split(":") for item in data.pop("actual_cost"))
        return {**data, "actual_costs": {int(centre): int(amount) for centre, amount in pairs}}


class CentreCostSchema(ma.Schema):
    centre_id = Integer(required=True, strict=True, validate=ID)
    cost_fen = Integer(required=True, strict=True, validate=validate.Range(min=0, max=10**13),
                              metadata={"description": "the centre's actual outpatient cost of the month, integer fen"})


class ActualCostsSchema(ma.Schema):
    region = region_code(required=True, metadata={"description": "the pooling region"})
    costs = fields.List(fields.Nested(CentreCostSchema), required=True, validate=validate.Length(max=1000))


class ActualCostFilingSchema(ActualCostsSchema):
    region = fields.String(required=True, attribute="region_code")
    month = fields.String(required=True)
    filed_by = fields.String(required=True)
    filed_at = fields.DateTime(required=True)


class SchemeCapitationSchema(ma.Schema):
    scheme = fields.String(required=True, metadata={"description": "resident or employee [000 §二(二)]"})
    counted = Integer(required=True)
    fund_fen = Integer(required=True)
    payable_fen = Integer(required=True)
    withheld_fen = Integer(required=True)


class CentreCapitationSchema(ma.Schema):
    centre_id = Integer(required=True)
    pooling_region = fields.String(required=True)
    rule = fields.String(required=True)
    counted = Integer(required=True, metadata={"description": "frozen count plus the adjustments it carries "
                                                                     "(for a year: head-months)"})
    fund_fen = Integer(required=True, metadata={"description": "the month's fund: counted x fee / 12; under the outpatient-"
                                                                "fund rule the centre's head-count share of the filed "
                                                                "year's fund / 12"})
    actual_cost_fen = Integer(allow_none=True)
    settled_fen = Integer(required=True)
    payable_fen = Integer(required=True)
    withheld_fen = Integer(required=True)
    withheld_as = fields.String(required=True, metadata={"description": "year_end_remainder, risk_reserve or quality_deposit"})
    schemes = fields.List(fields.Nested(SchemeCapitationSchema), required=True, metadata={
        "description": "where the profile splits by scheme [000 §二(二)]: each scheme's fund pays its own part, "
                       "rounded once; the centre's payable is their sum"})


class CapitationSchema(ma.Schema):
    region = fields.String(required=True)
    period = fields.String(required=True)
    rounding = fields.String(required=True)
    centres = fields.List(fields.Nested(CentreCapitationSchema), required=True)
    totals = fields.Dict(keys=fields.String(), values=Integer(), required=True)


class RosterQuerySchema(PageArgs):
    region = region_code(load_default=None, metadata={"description": "default: the bureau's region"})
    cycle = Integer(load_default=None, validate=validate.Range(min=2000, max=2100),
                           metadata={"description": "default: the current cycle"})
    updated_since = AwareDateTime(load_default=None,
                                  metadata={"description": "only agreements changed at or after this instant, "
                                                           "once settled (superseded by changed_after)"})
    changed_after = Integer(load_default=None, validate=validate.Range(min=0, max=2**63 - 1), metadata={
        "description": "only agreements written after this change_seq (the last one your previous pull received): "
                       "numbered in commit order, so nothing committed later is missed"})


class RosterEntrySchema(AgreementSchema):
    """One signed person with their agreement. The ID number and birth date are in full for the bureau only."""

    class Meta:
        exclude = ("team_name", "doctor_id", "doctor")  # the roster is what the bureau pays by, not whom to call

    name = fields.String(required=True)
    id_number = fields.String(required=True, allow_none=True, metadata={"description": "masked for staff; null for a newborn whose number is not issued yet"})
    sex = fields.Enum(Sex, by_value=True, required=True)
    birth_date = fields.Date(allow_none=True, metadata={"description": "bureau only: beside a mask it rebuilds the number"})
    birth_year = Integer(required=True)
    insurance_scheme = fields.Enum(InsuranceScheme, by_value=True, required=True)
    insurance_region_code = fields.String(allow_none=True)
    centre_code = fields.String(required=True)
    centre_name = fields.String(required=True)
    packages = fields.List(fields.String(), required=True)
    tombstone = fields.Boolean(required=True, metadata={"description": "terminated: delete it from your copy"})
    secondary_hospital_name = fields.String(allow_none=True, metadata={"description": "1+1+1: the secondary hospital chosen"})
    tertiary_hospital_name = fields.String(allow_none=True, metadata={"description": "1+1+1: the tertiary hospital chosen"})
    updated_at = fields.DateTime(required=True)
    change_seq = Integer(required=True, metadata={
        "description": "the database's number of this write, in commit order: pass the last as changed_after"})


class EvaluationQuerySchema(RegionQuerySchema):
    cycle = Integer(required=True, validate=validate.Range(min=2000, max=2100))


RATE = dict(as_string=True, allow_none=True)


class Annex2Schema(ma.Schema):
    """The annex-2 items of 000 scored for a centre (item 3 is effective_signing_score beside them)."""

    personal_burden_ratio = fields.Decimal(**RATE, metadata={"description": "item 1: own payments / outpatient cost (filed)"})
    personal_burden_score = Integer(allow_none=True, metadata={"description": "item 1, 0..15"})
    visit_rate = fields.Decimal(**RATE, metadata={"description": "item 2: outpatient visits (filed) / signed insured"})
    visit_rate_score = Integer(allow_none=True, metadata={"description": "item 2, 0..20"})
    drug_list_score = Integer(allow_none=True, metadata={"description": "item 4, 0..20"})
    integration_score = Integer(allow_none=True, metadata={"description": "item 5, 0..10"})
    field_survey_score = fields.Decimal(**RATE, metadata={"description": "item 6, 0..15: a filed survey, else jiayi's"})
    bonus = Integer(required=True, metadata={"description": "item 7, 0..10"})
    deduction = Integer(required=True, metadata={"description": "item 8, 0..10"})
    missing = fields.List(fields.String(), required=True, metadata={"description": "figures not filed yet"})


class CentreEvaluationSchema(ma.Schema):
    centre_id = Integer(required=True)
    name = fields.String(required=True)
    signed_insured = Integer(required=True)
    effective = Integer(required=True)
    effective_signing_rate = fields.Decimal(**RATE)
    effective_signing_score = Integer(allow_none=True, metadata={"description": "annex 2 item 3, 0..20"})
    key_population_residents = Integer(required=True)
    key_population_signed = Integer(required=True)
    key_population_coverage = fields.Decimal(**RATE)
    previous_cycle_signed = Integer(required=True)
    renewed = Integer(required=True)
    renewal_rate = fields.Decimal(**RATE)
    follow_ups_due = Integer(required=True)
    follow_ups_done = Integer(required=True)
    follow_up_completion = fields.Decimal(**RATE)
    policy_awareness_rate = fields.Decimal(**RATE, metadata={"description": "annex 2 item 6, from the latest awareness "
                                                                             "survey of the cycle run in jiayi"})
    policy_awareness_score = fields.Decimal(**RATE, metadata={"description": "0..7.5"})
    policy_awareness_respondents = Integer(required=True)
    satisfaction_rate = fields.Decimal(**RATE, metadata={"description": "annex 2 item 6, from the latest satisfaction "
                                                                        "survey of the cycle run in jiayi"})
    satisfaction_score = fields.Decimal(**RATE, metadata={"description": "0..7.5"})
    satisfaction_respondents = Integer(required=True)
    annex2 = fields.Nested(Annex2Schema, allow_none=True, metadata={"description": "null: the region's profile has no "
                                                                                    "annex-2 rules"})
    total = fields.Decimal(**RATE, metadata={"description": "items 1-6 + bonus - deduction; null until every item is known"})
    veto = fields.Boolean(required=True, metadata={"description": "item 9: the agreement appraisal failed (filed)"})
    rank = Integer(allow_none=True)
    grade = fields.String(allow_none=True, metadata={"description": "excellent, good, qualified or unqualified"})


class GradingSchema(ma.Schema):
    shares = fields.Dict(keys=fields.String(), values=fields.Decimal(**RATE), required=True)
    missing = fields.List(fields.String(), required=True)
    centres_without_total = fields.List(Integer(), required=True)
    complete = fields.Boolean(required=True)


class EvaluationSchema(ma.Schema):
    region = fields.String(required=True)
    cycle = Integer(required=True)
    as_of = fields.Date(required=True)
    county_effective_signing_rate = fields.Decimal(**RATE)
    county_personal_burden_ratio = fields.Decimal(**RATE)
    county_visit_rate = fields.Decimal(**RATE)
    grading = fields.Nested(GradingSchema, allow_none=True)
    centres = fields.List(fields.Nested(CentreEvaluationSchema), required=True)


# Filed figures, the outpatient fund, the year-end ---------------------------------------------------

class FigureItemSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.OneOf(sorted(CATALOGUE)))
    centre_id = Integer(load_default=None, validate=ID, metadata={"description": "for a centre's figure"})
    value = Decimal(required=True, as_string=True,
                    metadata={"description": "fen, a count, a rate (0..1) or a flag (0/1), by the figure"})


class FiguresFilingSchema(ma.Schema):
    region = region_code(required=True, metadata={"description": "the pooling region"})
    figures = fields.List(fields.Nested(FigureItemSchema), required=True, validate=validate.Length(min=1, max=5000))


class FigureVersionSchema(ma.Schema):
    version = Integer(required=True)
    value = fields.String(required=True)
    filed_by = fields.String(required=True)
    filed_at = fields.DateTime(required=True)


class FigureSchema(FigureVersionSchema):
    name = fields.String(required=True)
    centre_id = Integer(allow_none=True)
    history = fields.List(fields.Nested(FigureVersionSchema), required=True, metadata={"description": "newest first"})


class YearQuerySchema(RegionQuerySchema):
    year = Integer(required=True, validate=validate.Range(min=2000, max=2100))


class FundCentreMonthSchema(ma.Schema):
    centre_id = Integer(required=True)
    counted = Integer(required=True, metadata={"description": "signed insured of the resident scheme (the fund's)"})
    prepaid_fen = Integer(required=True)
    carried_in_fen = Integer(allow_none=True)
    actual_cost_fen = Integer(allow_none=True)
    settled_fen = Integer(allow_none=True, metadata={"description": "null until this and every earlier month's cost is filed"})
    carried_out_fen = Integer(allow_none=True)
    overspend_fen = Integer(allow_none=True)


class FundMonthSchema(ma.Schema):
    month = fields.String(required=True)
    counted = Integer(required=True)
    prepaid_fen = Integer(required=True)
    centres = fields.List(fields.Nested(FundCentreMonthSchema), required=True)


class OutpatientFundSchema(ma.Schema):
    region = fields.String(required=True)
    year = Integer(required=True)
    fund_fen = Integer(required=True)
    reserve_share = fields.Decimal(as_string=True, required=True, metadata={
        "description": "as the profile version of the year's first frozen month sets it (each month is prepaid "
                       "under its own version's share)"})
    reserve_fen = Integer(required=True)
    prepaid_pool_fen = Integer(required=True)
    months = fields.List(fields.Nested(FundMonthSchema), required=True)


class YearEndCentreSchema(ma.Schema):
    centre_id = Integer(required=True)
    grade = fields.String(allow_none=True)
    weight = fields.Decimal(as_string=True, required=True)
    resident_head_months = Integer(required=True)
    employee_head_months = Integer(required=True)
    resident_budget_fen = Integer(required=True)
    employee_budget_fen = Integer(required=True)
    secondary_distribution_fen = Integer(required=True)
    employee_year_end_fen = Integer(allow_none=True, metadata={"description": "[000 §二(二)]; null with no resident signed"})


class YearEndSchema(ma.Schema):
    region = fields.String(required=True)
    year = Integer(required=True)
    total_financing_fen = Integer(required=True)
    capitation_signed_fen = Integer(required=True)
    fee_for_service_unsigned_fen = Integer(required=True)
    pool_fen = Integer(required=True)
    distributed_fen = Integer(required=True, metadata={"description": "the shares as rounded; may differ from the pool "
                                                                      "by rounding fen"})
    centres = fields.List(fields.Nested(YearEndCentreSchema), required=True)


class GhostQuerySchema(RegionQuerySchema, PageArgs):
    date_from = Date(load_default=None, data_key="from", metadata={"description": "default: a year before `to`"})
    date_to = Date(load_default=None, data_key="to", metadata={"description": "default: today"})
    flagged_only = fields.Boolean(load_default=False, metadata={"description": "only rows with a flag"})


class GhostRowSchema(ma.Schema):
    """One signer's on-site signings of one day, with the marks of false signing (POLICY.md signing rule 9)."""

    day = fields.Date(required=True)
    signed_by = fields.String(required=True)
    staff_id = Integer(allow_none=True)
    staff_name = fields.String(allow_none=True)
    centre_id = Integer(required=True)
    signings = Integer(required=True)
    never_served = Integer(required=True, metadata={"description": "with no visit record since the signing"})
    recorded_death = Integer(required=True, metadata={"description": "signed on or after their recorded death"})
    flags = fields.List(fields.String(), required=True, metadata={
        "description": "signed_after_death; never_served_batch: 10 or more signed that day, over 92 days ago, none served since"})


class FulfilmentQuerySchema(RegionQuerySchema):
    cycle = Integer(load_default=None, validate=validate.Range(min=2000, max=2100),
                           metadata={"description": "default: the current cycle"})


class NeverServedQuerySchema(PageArgs, FulfilmentQuerySchema):
    centre_id = Integer(load_default=None, validate=ID)


class FulfilmentFiguresSchema(ma.Schema):
    signed = Integer(required=True, metadata={"description": "agreements of the cycle in force for a day or more"})
    served = Integer(required=True)
    never_served = Integer(required=True, metadata={"description": "signed, and no service recorded in the period"})
    due = Integer(required=True, metadata={"description": "items promised in the agreements' periods"})
    delivered = Integer(required=True)
    missed = Integer(required=True)
    coming = Integer(required=True)
    fulfilment_rate = fields.Decimal(**RATE, metadata={"description": "delivered / (delivered + missed)"})


class TeamFulfilmentSchema(FulfilmentFiguresSchema):
    team_id = Integer(allow_none=True)
    name = fields.String(allow_none=True)


class CentreFulfilmentSchema(FulfilmentFiguresSchema):
    centre_id = Integer(required=True)
    name = fields.String(required=True)
    teams = fields.List(fields.Nested(TeamFulfilmentSchema), required=True)


class FulfilmentReportSchema(ma.Schema):
    region = fields.String(required=True)
    cycle = Integer(required=True)
    as_of = fields.Date(required=True)
    centres = fields.List(fields.Nested(CentreFulfilmentSchema), required=True)


class NeverServedSchema(ma.Schema):
    agreement_id = Integer(required=True, attribute="id")
    resident_id = Integer(required=True)
    name = fields.Function(lambda agreement: agreement.resident.name, required=True)
    id_number = fields.Function(lambda agreement: mask_id_number(agreement.resident.id_number), required=True)
    centre_id = Integer(required=True)
    team_id = Integer(allow_none=True)
    start_date = fields.Date(required=True)
    status = fields.String(required=True, attribute="status.value")
