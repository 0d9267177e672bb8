"""HTTP for residents' subscriptions, messages and preferences, centres' lectures, and message state."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from core import audit
from core.audit import audited
from core.auth import STAFF, Role, current_actor, requires
from core.pagination import PageArgs, one_page, page_schema
from notifications import attendance, service
from notifications import schemas as s

my_blp = Blueprint("my-notifications", __name__, url_prefix="/api/v1/me", description="The calling resident's reminders")
lectures_blp = Blueprint("lectures", __name__, url_prefix="/api/v1/centres", description="Centres' health lectures")
messages_blp = Blueprint("notifications", __name__, url_prefix="/api/v1/notifications",
                         description="Message delivery state, for staff")
blueprints = [my_blp, lectures_blp, messages_blp]


@my_blp.route("/subscriptions")
class Subscriptions(MethodView):
    @audited("notification_subscription.create")
    @requires(Role.RESIDENT)
    @my_blp.arguments(s.SubscriptionGrantSchema)
    @my_blp.response(200, page_schema(s.SubscriptionSchema))
    def post(self, body):
        """Record the subscribe-message templates the resident just accepted"""
        return one_page(service.grant_subscriptions(current_actor(), **body))


@my_blp.route("/notifications")
class MyNotifications(MethodView):
    @audited("notification.list")
    @requires(Role.RESIDENT)
    @my_blp.arguments(PageArgs, location="query")
    @my_blp.response(200, page_schema(s.MessageSchema))
    def get(self, query):
        """The caller's messages, a page at a time"""
        return service.my_notifications(current_actor(), **query)


@my_blp.route("/notification-preferences")
class Preferences(MethodView):
    @requires(Role.RESIDENT)
    @my_blp.response(200, s.PreferencesSchema)
    def get(self):
        """The kinds of reminder the caller turned off"""
        return service.preferences(current_actor())

    @audited("notification_preferences.update")
    @requires(Role.RESIDENT)
    @my_blp.arguments(s.PreferencesSchema)
    @my_blp.response(200, s.PreferencesSchema)
    def put(self, body):
        """Turn kinds of reminder off (the rest on)"""
        return service.set_preferences(current_actor(), **body)


@lectures_blp.route("/<int:centre_id>/lectures")
class Lectures(MethodView):
    @audited("lecture.create")
    @requires(*STAFF)
    @lectures_blp.arguments(s.LectureInSchema)
    @lectures_blp.response(201, s.LectureSchema)
    def post(self, body, centre_id):
        """Publish a health lecture; the centre's signed residents are told in advance"""
        return service.publish_lecture(current_actor(), centre_id=centre_id, **body)


@lectures_blp.route("/<int:centre_id>/lectures/<int:lecture_id>/attendance")
class LectureAttendance(MethodView):
    @audited("lecture_attendance.read")
    @requires(*STAFF)
    @lectures_blp.response(200, page_schema(s.AttendanceSchema))
    def get(self, centre_id, lecture_id):
        """Who attended a lecture"""
        found = attendance.attendance_of(current_actor(), centre_id=centre_id, lecture_id=lecture_id)
        audit.record("lecture_attendance.read", "lecture", lecture_id)
        return one_page(found)

    @audited("lecture_attendance.record")
    @requires(*STAFF)
    @lectures_blp.arguments(s.AttendanceInSchema)
    @lectures_blp.response(201, page_schema(s.AttendanceSchema))
    def post(self, body, centre_id, lecture_id):
        """Record signed residents who attended a lecture (after it began); the lecture's whole list comes back"""
        found = attendance.record_attendance(current_actor(), centre_id=centre_id, lecture_id=lecture_id, **body)
        audit.record("lecture_attendance.record", "lecture", lecture_id, residents=body["resident_ids"])
        return one_page(found)


@messages_blp.route("")
class Messages(MethodView):
    @audited("notification.list")
    @requires(*STAFF)
    @messages_blp.arguments(s.MessageQuerySchema, location="query")
    @messages_blp.response(200, page_schema(s.StaffMessageSchema))
    def get(self, query):
        """The messages of the caller's centre and their delivery state"""
        return service.centre_messages(current_actor(), **query)
