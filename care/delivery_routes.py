"""HTTP for appointments, vaccinations and referrals. Thin views: the rules are in care/appointments.py,
care/vaccinations.py and care/referrals.py."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from care import appointments, referrals, vaccinations
from care import delivery_schemas as s
from core.audit import audited
from core.auth import STAFF, Role, current_actor, public, requires
from core.pagination import one_page, page_schema
from packages.vaccinations import SCHEDULE

appointments_blp = Blueprint("appointments", __name__, url_prefix="/api/v1",
                             description="Appointments: clinic slots, bookings, attendance")
vaccinations_blp = Blueprint("vaccinations", __name__, url_prefix="/api/v1",
                             description="Vaccinations of children: doses given, doses due")
referrals_blp = Blueprint("referrals", __name__, url_prefix="/api/v1",
                          description="Referrals to hospitals and back (双向转诊)")
blueprints = [appointments_blp, vaccinations_blp, referrals_blp]


@appointments_blp.route("/centres/<int:centre_id>/slots")
class CentreSlots(MethodView):
    @audited("slot.create")
    @requires(*STAFF)
    @appointments_blp.arguments(s.SlotInSchema)
    @appointments_blp.response(201, s.SlotSchema)
    def post(self, body, centre_id):
        """Publish clinic hours of a team or a doctor with a number of places"""
        return appointments.publish_slot(current_actor(), centre_id=centre_id, **body)

    @requires(Role.RESIDENT, *STAFF)
    @appointments_blp.arguments(s.SlotQuerySchema, location="query")
    @appointments_blp.response(200, page_schema(s.SlotSchema))
    def get(self, query, centre_id):
        """The centre's slots by start time (residents: of the centre their household is signed with)"""
        return appointments.list_slots(current_actor(), centre_id=centre_id, **query)


@appointments_blp.route("/slots/<int:slot_id>")
class SlotById(MethodView):
    @audited("slot.update")
    @requires(*STAFF)
    @appointments_blp.arguments(s.CapacitySchema)
    @appointments_blp.response(200, s.SlotSchema)
    def patch(self, body, slot_id):
        """Change a slot's number of places (never below those booked)"""
        return appointments.change_capacity(current_actor(), slot_id=slot_id, **body)


@appointments_blp.route("/slots/<int:slot_id>/bookings")
class SlotBookings(MethodView):
    @audited("booking.list")
    @requires(*STAFF)
    @appointments_blp.response(200, page_schema(s.BookingSchema))
    def get(self, slot_id):
        """Who booked the slot, for the front desk"""
        return one_page(appointments.slot_bookings(current_actor(), slot_id=slot_id))


@appointments_blp.route("/bookings")
class Bookings(MethodView):
    @audited("booking.create")
    @requires(Role.RESIDENT)
    @appointments_blp.arguments(s.BookingInSchema)
    @appointments_blp.response(201, s.BookingSchema)
    def post(self, body):
        """Book a place for the caller or a member of their household, optionally for a follow-up visit"""
        return appointments.book(current_actor(), **body)


@appointments_blp.route("/me/bookings")
class MyBookings(MethodView):
    @audited("booking.list")
    @requires(Role.RESIDENT)
    @appointments_blp.arguments(s.BookingQuerySchema, location="query")
    @appointments_blp.response(200, page_schema(s.BookingSchema))
    def get(self, query):
        """The bookings of the caller and their household, by slot start"""
        return appointments.bookings_of_household(current_actor(), **query)


@appointments_blp.route("/bookings/<int:booking_id>/move")
class BookingMove(MethodView):
    @audited("booking.move")
    @requires(Role.RESIDENT)
    @appointments_blp.arguments(s.MoveSchema)
    @appointments_blp.response(201, s.BookingSchema)
    def post(self, body, booking_id):
        """Move a booking to another slot: the new booking is answered, the old one is marked moved"""
        return appointments.move(current_actor(), booking_id=booking_id, **body)


@appointments_blp.route("/bookings/<int:booking_id>/cancellation")
class BookingCancellation(MethodView):
    @audited("booking.cancel")
    @requires(Role.RESIDENT, *STAFF)
    @appointments_blp.response(200, s.BookingSchema)
    def post(self, booking_id):
        """Cancel a booking before its slot begins; the place is free again"""
        return appointments.cancel(current_actor(), booking_id=booking_id)


@appointments_blp.route("/bookings/<int:booking_id>/outcome")
class BookingOutcome(MethodView):
    @audited("booking.outcome")
    @requires(*STAFF)
    @appointments_blp.arguments(s.OutcomeSchema)
    @appointments_blp.response(200, s.BookingSchema)
    def post(self, body, booking_id):
        """Record that the resident came (attended) or did not (no_show), once the slot has begun"""
        return appointments.record_outcome(current_actor(), booking_id=booking_id, **body)


@appointments_blp.route("/me/visits/<int:visit_id>/slots")
class VisitSlots(MethodView):
    @audited("visit.slots.read")
    @requires(Role.RESIDENT)
    @appointments_blp.response(200, page_schema(s.SlotSchema))
    def get(self, visit_id):
        """Open slots proposed for a planned follow-up visit, nearest its due date first"""
        return one_page(appointments.slots_for_visit(current_actor(), visit_id=visit_id))


@vaccinations_blp.route("/residents/<int:resident_id>/vaccinations")
class ResidentVaccinations(MethodView):
    @audited("vaccination.record")
    @requires(*STAFF)
    @vaccinations_blp.arguments(s.DoseInSchema)
    @vaccinations_blp.response(201, s.DoseGivenSchema)
    def post(self, body, resident_id):
        """Record a dose of the national schedule given to a child (vaccine, dose, date, place, batch)"""
        return vaccinations.record_dose(current_actor(), resident_id=resident_id, **body)

    @audited("vaccination.read")
    @requires(*STAFF)
    @vaccinations_blp.response(200, s.VaccinationRecordSchema)
    def get(self, resident_id):
        """A child's doses given and the doses due next"""
        return vaccinations.record_of(current_actor(), resident_id=resident_id)


@vaccinations_blp.route("/me/children/<int:resident_id>/vaccinations")
class ChildVaccinations(MethodView):
    @audited("vaccination.read")
    @requires(Role.RESIDENT)
    @vaccinations_blp.response(200, s.VaccinationRecordSchema)
    def get(self, resident_id):
        """A child of the caller's household: doses given and what is next"""
        return vaccinations.child_record(current_actor(), resident_id=resident_id)


@vaccinations_blp.route("/vaccination-schedule")
class Schedule(MethodView):
    @public
    @vaccinations_blp.response(200, page_schema(s.ScheduleDoseSchema))
    def get(self):
        """The national immunisation schedule's doses, by age"""
        return one_page(SCHEDULE)


@referrals_blp.route("/referrals")
class Referrals(MethodView):
    @audited("referral.create")
    @requires(Role.DOCTOR)
    @referrals_blp.arguments(s.ReferralInSchema)
    @referrals_blp.response(201, s.ReferralSchema)
    def post(self, body):
        """Refer a resident out to a hospital with a reason and an urgency"""
        return referrals.refer(current_actor(), **body)

    @audited("referral.list")
    @requires(*STAFF)
    @referrals_blp.arguments(s.ReferralQuerySchema, location="query")
    @referrals_blp.response(200, page_schema(s.ReferralSchema))
    def get(self, query):
        """The team's referrals by the day the resident is expected back (overdue=true: open and past it)"""
        return referrals.centre_referrals(current_actor(), **query)


@referrals_blp.route("/referrals/<int:referral_id>")
class ReferralById(MethodView):
    @audited("referral.read")
    @requires(*STAFF)
    @referrals_blp.response(200, s.ReferralSchema)
    def get(self, referral_id):
        """One referral"""
        return referrals.get_referral(current_actor(), referral_id)


@referrals_blp.route("/referrals/<int:referral_id>/transitions")
class ReferralTransitions(MethodView):
    @audited("referral.transition")
    @requires(*STAFF)
    @referrals_blp.arguments(s.TransitionSchema)
    @referrals_blp.response(200, s.ReferralSchema)
    def post(self, body, referral_id):
        """Record the next step: accepted, seen, returned (a return plans a visit within two weeks), or cancelled"""
        return referrals.advance(current_actor(), referral_id=referral_id, **body)


@referrals_blp.route("/me/referrals")
class MyReferrals(MethodView):
    @audited("referral.list")
    @requires(Role.RESIDENT)
    @referrals_blp.response(200, page_schema(s.ReferralSchema))
    def get(self):
        """The referrals of the caller and their household, the latest first"""
        return one_page(referrals.referrals_of_household(current_actor()))
