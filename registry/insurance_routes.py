"""HTTP for the bureau's insurance enrolment pushes. Thin: the rules are in registry.insurance."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from core import audit
from core.audit import audited
from core.auth import Role, current_actor, requires
from core.idempotency import idempotent
from core.inputs import takes_files
from core.schemas import Date, Integer, Name
from registry import insurance
from registry.models import InsuranceScheme

insurance_blp = Blueprint("insurance", __name__, url_prefix="/api/v1/insurance",
                          description="Insured-person facts the bureau reports")
blueprints = [insurance_blp]
MAX_BATCH = 1000


class EnrolmentSchema(ma.Schema):
    id_number = fields.String(required=True, validate=validate.Length(min=15, max=18), load_only=True)
    scheme = fields.Enum(InsuranceScheme, by_value=True, required=True,
                         validate=validate.OneOf([InsuranceScheme.RESIDENT, InsuranceScheme.EMPLOYEE]))
    region_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{6}$"),
                                metadata={"description": "insurance region (GB/T 2260), within the bureau's region"})
    valid_from = Date(required=True)
    valid_to = Date(load_default=None, metadata={"description": "last day insured; null: open"})
    name = Name(load_default=None, validate=validate.Length(min=1, max=80), load_only=True,
                         metadata={"description": "the insured person's name: when it is the name of an unverified "
                                                  "(self-registered) record of this ID number, the record becomes "
                                                  "verified for capitation"})


class EnrolmentBatchSchema(ma.Schema):
    items = fields.List(fields.Nested(EnrolmentSchema), required=True, validate=validate.Length(min=1, max=MAX_BATCH))


class UnmatchedSchema(ma.Schema):
    index = Integer(required=True)
    id_number = fields.String(required=True, metadata={"description": "masked"})


class RefusedItemSchema(ma.Schema):
    index = Integer(required=True)
    field = fields.String(required=True)
    why = fields.String(required=True)


class EnrolmentReportSchema(ma.Schema):
    applied = Integer(required=True)
    unchanged = Integer(required=True)
    verified = Integer(required=True, metadata={"description": "unverified records whose ID number and name matched"})
    unmatched = fields.List(fields.Nested(UnmatchedSchema), required=True, metadata={"description": "nobody registered with this ID number"})
    refused = fields.List(fields.Nested(RefusedItemSchema), required=True)
    not_verified = fields.List(fields.Nested(RefusedItemSchema), required=True,
                               metadata={"description": "a name that differs from the unverified record's (the fact "
                                                        "is applied; the record stays unverified)"})


class EnrolmentFileSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "CSV (UTF-8 or GBK/GB18030) or XLSX: 姓名, 身份证号, 险种类型 "
                                                          "(城乡居民/职工), 参保地 (code), 开始日期, 终止日期"})


@insurance_blp.route("/enrolments")
class Enrolments(MethodView):
    @audited("insurance.enrolments")
    @requires(Role.BUREAU)
    @idempotent
    @insurance_blp.arguments(EnrolmentBatchSchema)
    @insurance_blp.response(200, EnrolmentReportSchema)
    def post(self, body):
        """Report insured-person facts (batch; the same batch again changes nothing; unmatched come back)"""
        report = insurance.report_enrolments(current_actor(), items=body["items"])
        audit.record("insurance.enrolments", "region", current_actor().region_code, applied=report.applied,
                     unchanged=report.unchanged, unmatched=len(report.unmatched), refused=len(report.refused),
                     verified=report.verified)
        return report


@insurance_blp.route("/enrolment-files")
@takes_files
class EnrolmentFiles(MethodView):
    @audited("insurance.enrolments")
    @requires(Role.BUREAU)
    @insurance_blp.arguments(EnrolmentFileSchema, location="files")
    @insurance_blp.response(200, EnrolmentReportSchema)
    def post(self, files):
        """Report insured-person facts as a file, one a row (the same file again changes nothing; the report's index
        is the row in the file, its field the column)"""
        upload = files["file"]
        report = insurance.report_enrolment_file(current_actor(), content=upload.read(),
                                                 filename=upload.filename or "enrolments.csv")
        audit.record("insurance.enrolments", "region", current_actor().region_code, applied=report.applied,
                     unchanged=report.unchanged, unmatched=len(report.unmatched), refused=len(report.refused),
                     verified=report.verified)
        return report
