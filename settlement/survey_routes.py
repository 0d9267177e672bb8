"""HTTP for the field surveys: the bureau or a centre publishes and reads results; residents answer. Thin views."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core import audit
from core.audit import audited
from core.auth import Role, current_actor, requires
from core.pagination import one_page, page_schema
from settlement import survey_schemas as s
from settlement import surveys

surveys_blp = Blueprint("surveys", __name__, url_prefix="/api/v1/settlement/surveys",
                        description="Field surveys of the evaluation: policy awareness and satisfaction")
my_surveys_blp = Blueprint("my-surveys", __name__, url_prefix="/api/v1/me", description="Surveys the resident is invited to")
blueprints = [surveys_blp, my_surveys_blp]


@surveys_blp.route("")
class Surveys(MethodView):
    @audited("survey.publish")
    @requires(Role.BUREAU, Role.CENTRE_ADMIN)
    @surveys_blp.arguments(s.SurveyInSchema)
    @surveys_blp.response(201, s.SurveyResultsSchema)
    def post(self, body):
        """Publish a questionnaire and invite its sample: 20 signed insured residents per centre, at random"""
        survey = surveys.publish(current_actor(), **body)
        audit.record("survey.publish", "survey", survey.id, region=survey.region_code, centre_id=survey.centre_id)
        return {"survey": survey, "results": surveys.results(survey)}

    @audited("survey.results.read")
    @requires(Role.BUREAU, Role.CENTRE_ADMIN, Role.ADMIN)
    @surveys_blp.arguments(s.SurveyQuerySchema, location="query")
    @surveys_blp.response(200, page_schema(s.SurveyResultsSchema))
    def get(self, query):
        """Surveys and their results per centre: invited, answered, rate, annex 2 score"""
        return surveys.surveys(current_actor(), **query)


@my_surveys_blp.route("/surveys")
class MySurveys(MethodView):
    @audited("survey.list")
    @requires(Role.RESIDENT)
    @my_surveys_blp.response(200, page_schema(s.InvitationSchema))
    def get(self):
        """The open surveys the caller is invited to and has not answered"""
        return one_page(surveys.my_invitations(current_actor()))


@my_surveys_blp.route("/survey-answers")
class MySurveyAnswers(MethodView):
    @audited("survey.answer")
    @requires(Role.RESIDENT)
    @my_surveys_blp.arguments(s.AnswersInSchema)
    @my_surveys_blp.response(201, s.AnsweredSchema)
    def post(self, body):
        """Answer a survey you were invited to (every question, once)"""
        invitation = surveys.answer(current_actor(), **body)
        audit.record("survey.answer", "survey", invitation.survey_id)
        return invitation
