"""Looking up the registry: regions and their profiles, centres with their windows and teams."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import contains_eager, selectinload

from core import db
from core.errors import Invalid
from core.pagination import paginate
from registry.models import Centre, PolicyProfile, Region, Team, Window


def _region(region_code: str) -> Region | None:
    """A region, held for the transaction: a signing used to read its centre's region three times."""
    held = db.held("regions")
    region = held.get(region_code)
    if region is None or region not in db.session:  # not read yet, or gone with a rolled-back transaction
        region = db.session.get(Region, region_code)
    if region is not None:
        _hold(region)
    return region


def _hold(region: Region) -> None:
    db.held("regions")[region.code] = region  # the same object the identity map has: changes made to it show here


def pooling_region(region_code: str | None) -> Region | None:
    """The nearest region at or above `region_code` that carries a policy profile."""
    while region_code:
        region = _region(region_code)
        if region is None:
            return None
        if region.profile_code:
            return region
        region_code = region.parent_code
    return None


def profile_for(region_code: str) -> PolicyProfile:
    region = pooling_region(region_code)
    if region is None:
        raise Invalid(f"Region {region_code} has no policy profile.", field="centre_id")
    return region.profile


def region_and_descendants(region_code: str) -> list[str]:
    """`region_code` and every region below it (a city sees its counties)."""
    codes, frontier = [region_code], [region_code]
    while frontier:
        frontier = list(db.session.scalars(select(Region.code).where(Region.parent_code.in_(frontier))))
        codes += frontier
    return codes


def list_centres(*, region: str | None, q: str | None, cursor: str | None, limit: int) -> dict:
    """Centres a resident can sign with, optionally within a region (and its sub-regions) or by name, a page at a time."""
    query = select(Centre).where(Centre.takes_part.is_(True)).options(
        selectinload(Centre.windows), selectinload(Centre.teams).selectinload(Team.doctors))
    if region:
        query = query.where(Centre.region_code.in_(region_and_descendants(region)))
    if q:
        pattern = f"%{q.strip()}%"
        query = query.where(or_(Centre.name.like(pattern), Centre.code.like(pattern)))
    return paginate(query, key_columns=[Centre.id], cursor=cursor, limit=limit)


def get_centre(centre_id: int) -> Centre:
    centre = db.get_or_404(Centre, centre_id, "centre")
    return centre


def signable_place(centre_id: int, window_id: int | None, team_id: int | None) -> Centre:
    """The centre (and window, team) a resident asks to sign with, each checked to belong together.

    The centre comes with its region and the region's profile, in one statement, and the region is held for the
    transaction (`_region`): what the signing reads next, its profile and pooling region, costs nothing more.
    """
    centre = db.session.scalar(select(Centre).join(Centre.region).outerjoin(Region.profile)
                               .options(contains_eager(Centre.region).contains_eager(Region.profile))
                               .where(Centre.id == centre_id))
    if centre is None:
        raise Invalid("No such centre.", field="centre_id")
    _hold(centre.region)
    if not centre.takes_part:
        raise Invalid("This institution does not take part in family-doctor signing.", field="centre_id")
    if window_id is not None:
        window = db.session.get(Window, window_id)
        if window is None or window.centre_id != centre.id:
            raise Invalid("This village clinic is not a window of the chosen centre.", field="window_id")
    if team_id is not None:
        team = db.session.get(Team, team_id)
        if team is None or team.centre_id != centre.id:
            raise Invalid("This team does not belong to the chosen centre.", field="team_id")
    return centre

