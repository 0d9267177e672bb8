"""The named family doctor of an agreement (annex 1 of 000, basic package item 2: 明确家庭医生和联系人).

A signing puts the resident with a team of the centre and a doctor of that team. The resident may
choose both; a chosen doctor must be an active member of the team with the doctor role (422 naming
`doctor_id`). Without a chosen team the team is the one that serves the resident's village clinic
(the chosen window, else their village of household registration or residence if it is the centre's),
else the centre's first team that has a doctor. Without a chosen doctor it is the team's lead doctor:
its first active doctor member (lowest id), so the answer never depends on row order. A team without
a doctor cannot keep the package's promise: the signing is refused with a 409 naming the rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from core import db
from core.errors import Conflict, Invalid
from registry.models import Centre, MemberRole, Resident, Team, TeamMember, Window

NAMED_DOCTOR = "named_doctor_required"
NO_DOCTOR = ("The basic package promises a named family doctor and a way to contact them (annex 1 of 000, basic "
             "package item 2): this team has no doctor yet. Choose another team, or ask the centre to add one.")


def _doctor_members():
    return select(TeamMember).where(TeamMember.role == MemberRole.DOCTOR, TeamMember.active.is_(True))


def lead_doctors(team_ids: Iterable[int | None]) -> dict[int, int]:
    """Each team's lead doctor: its first active doctor member; teams without one are left out."""
    wanted = {team_id for team_id in team_ids if team_id is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(
        select(TeamMember.team_id, func.min(TeamMember.id)).where(
            TeamMember.team_id.in_(wanted), TeamMember.role == MemberRole.DOCTOR, TeamMember.active.is_(True))
        .group_by(TeamMember.team_id)).all())


def first_teams_with_doctor(centre_ids: Iterable[int]) -> dict[int, int]:
    """Each centre's first team (lowest id) that has an active doctor: the team of last resort."""
    wanted = set(centre_ids)
    if not wanted:
        return {}
    return dict(db.session.execute(
        select(Team.centre_id, func.min(Team.id)).join(TeamMember, TeamMember.team_id == Team.id).where(
            Team.centre_id.in_(wanted), TeamMember.role == MemberRole.DOCTOR, TeamMember.active.is_(True))
        .group_by(Team.centre_id)).all())


def is_doctor_of(doctor_id: int | None, team_id: int | None) -> bool:
    """Whether the member is (still) an active doctor of the team."""
    if doctor_id is None or team_id is None:
        return False
    member = db.session.get(TeamMember, doctor_id)
    return (member is not None and member.team_id == team_id and member.role is MemberRole.DOCTOR
            and member.active)


def chosen_doctor(centre: Centre, team_id: int | None, doctor_id: int) -> tuple[Team, TeamMember]:
    """The doctor a signing names, with their team: an active doctor member of the chosen team (or, with no team
    chosen, of a team of the centre); 422 naming `doctor_id` otherwise."""
    member = db.session.get(TeamMember, doctor_id)
    team = db.session.get(Team, member.team_id) if member is not None else None
    if (member is None or member.role is not MemberRole.DOCTOR or not member.active or team is None
            or team.centre_id != centre.id or (team_id is not None and member.team_id != team_id)):
        raise Invalid("The family doctor must be a doctor of the chosen team of this centre.", field="doctor_id",
                      team_id=team_id)
    return team, member


def _window_team(window_id: int, centre_id: int):
    return select(Window.team_id).where(Window.id == window_id, Window.centre_id == centre_id,
                                        Window.team_id.is_not(None)).scalar_subquery()


def place_with_doctor(centre: Centre, resident: Resident, *, team_id: int | None, window_id: int | None,
                      chosen: tuple[Team, TeamMember] | None) -> tuple[Team, TeamMember]:
    """The team and doctor a resident signs with (see the module docstring), read in one statement: the team (the
    chosen one, else the first of the chosen window's, the home village's and the residence village's teams that
    belong to the centre, else the centre's first team with a doctor) with its lead doctor. 409 without a doctor."""
    if chosen is not None:
        return chosen
    team = team_id
    if team is None:
        candidates = [_window_team(candidate, centre.id)
                      for candidate in (window_id, resident.home_window_id, resident.residence_window_id)
                      if candidate is not None]
        candidates.append(select(func.min(Team.id)).join(TeamMember, TeamMember.team_id == Team.id).where(
            Team.centre_id == centre.id, TeamMember.role == MemberRole.DOCTOR, TeamMember.active.is_(True))
            .scalar_subquery())
        team = func.coalesce(*candidates) if len(candidates) > 1 else candidates[0]
    member = aliased(TeamMember)
    lead = (select(func.min(member.id)).where(member.team_id == Team.id, member.role == MemberRole.DOCTOR,
                                              member.active.is_(True)).correlate(Team).scalar_subquery())
    placed = db.session.execute(select(Team, TeamMember).outerjoin(TeamMember, TeamMember.id == lead)
                                .where(Team.id == team)).first()
    if placed is None or placed[1] is None:
        raise Conflict(NO_DOCTOR, reason=NAMED_DOCTOR, rule="annex 1 of 000, basic package item 2", centre_id=centre.id,
                       team_id=placed[0].id if placed is not None else None)
    return placed[0], placed[1]
