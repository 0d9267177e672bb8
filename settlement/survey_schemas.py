"""Request and response shapes of the field surveys (annex 2 of 000, item 6)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from core.pagination import PageArgs
from core.schemas import ID, Date, Integer, region_code
from settlement.models import SurveyKind

CODE = validate.Length(min=1, max=20)


class ChoiceSchema(ma.Schema):
    code = fields.String(required=True, validate=CODE)
    text = fields.String(required=True, validate=validate.Length(min=1, max=100))
    counts = fields.Boolean(required=True, metadata={"description": "this answer is aware (or satisfied)"})


class QuestionSchema(ma.Schema):
    code = fields.String(required=True, validate=CODE)
    text = fields.String(required=True, validate=validate.Length(min=1, max=200))
    choices = fields.List(fields.Nested(ChoiceSchema), required=True, validate=validate.Length(min=2, max=6))


class SurveyInSchema(ma.Schema):
    kind = fields.Enum(SurveyKind, by_value=True, required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=120))
    questions = fields.List(fields.Nested(QuestionSchema), required=True, validate=validate.Length(min=1, max=20))
    closes_on = Date(required=True)
    region = region_code(load_default=None,
                           metadata={"description": "the bureau's pooling region (a bureau's survey covers its centres)"})
    centre_id = Integer(load_default=None, validate=ID,
                               metadata={"description": "a centre admin's own centre (the default for them)"})


class CentreResultSchema(ma.Schema):
    centre_id = Integer(required=True)
    invited = Integer(required=True)
    answered = Integer(required=True)
    rate = fields.Decimal(as_string=True, allow_none=True, metadata={"description": "answers that count / answers"})
    score = fields.Decimal(as_string=True, allow_none=True,
                           metadata={"description": "annex 2 item 6: 7.5 at 90% or more, 0.5 off per point below"})


class SurveySchema(ma.Schema):
    id = Integer(required=True)
    kind = fields.Enum(SurveyKind, by_value=True, required=True)
    title = fields.String(required=True)
    region_code = fields.String(required=True)
    centre_id = Integer(allow_none=True)
    cycle = Integer(required=True)
    questions = fields.List(fields.Nested(QuestionSchema), required=True)
    sample_size = Integer(required=True, metadata={"description": "drawn per centre (fewer where fewer can answer)"})
    closes_on = fields.Date(required=True)
    published_by = fields.String(required=True)
    published_at = fields.DateTime(required=True)


class SurveyResultsSchema(ma.Schema):
    survey = fields.Nested(SurveySchema, required=True)
    results = fields.List(fields.Nested(CentreResultSchema), required=True)


class SurveyQuerySchema(PageArgs):
    region = region_code(load_default=None, metadata={"description": "the bureau's pooling region"})
    cycle = Integer(load_default=None, validate=validate.Range(min=2000, max=2100))


class OpenChoiceSchema(ma.Schema):
    """A choice as residents see it: which answers count is not shown."""

    code = fields.String(required=True)
    text = fields.String(required=True)


class OpenQuestionSchema(ma.Schema):
    code = fields.String(required=True)
    text = fields.String(required=True)
    choices = fields.List(fields.Nested(OpenChoiceSchema), required=True)


class InvitationSchema(ma.Schema):
    survey_id = Integer(required=True)
    title = fields.String(required=True, attribute="survey.title")
    kind = fields.Enum(SurveyKind, by_value=True, required=True, attribute="survey.kind")
    closes_on = fields.Date(required=True, attribute="survey.closes_on")
    questions = fields.List(fields.Nested(OpenQuestionSchema), required=True, attribute="survey.questions")


class AnswersInSchema(ma.Schema):
    survey_id = Integer(required=True, validate=ID)
    answers = fields.Dict(keys=fields.String(validate=CODE), values=fields.String(validate=CODE), required=True,
                          validate=validate.Length(min=1, max=20),
                          metadata={"description": "question code -> choice code, every question once"})


class AnsweredSchema(ma.Schema):
    survey_id = Integer(required=True)
    answered_at = fields.DateTime(required=True)
