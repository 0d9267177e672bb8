""""1+1+1" [002 §(三)3] (POLICY.md signing rule 5): beside the centre, a resident or family may choose one secondary and
one tertiary hospital of the pooling region they sign in. Chosen at signing (online or on site), changed later by
the resident or the centre's staff; the agreement, its document and the roster show them."""

from __future__ import annotations

from sqlalchemy import select, update

from core import audit, db
from core.auth import Actor
from core.errors import Conflict, Invalid
from core.pagination import paginate
from registry.models import Hospital, HospitalGrade
from registry.service import get_centre, pooling_region, region_and_descendants
from signing.access import get_agreement
from signing.models import HOLDING, Agreement

# The agreement's field for each choice, and the grade it takes.
SLOTS = {"secondary_hospital_id": HospitalGrade.SECONDARY, "tertiary_hospital_id": HospitalGrade.TERTIARY}
GRADE_NAMES = {HospitalGrade.SECONDARY: "secondary (二级)", HospitalGrade.TERTIARY: "tertiary (三级)"}


def checked_choice(region_code: str, *, secondary_hospital_id: int | None = None,
                   tertiary_hospital_id: int | None = None) -> dict[str, int | None]:
    """The choice to store for an agreement of `region_code`; 422 naming the slot unless each chosen hospital is
    offered, has the slot's grade and lies in the same pooling region."""
    chosen = {"secondary_hospital_id": secondary_hospital_id, "tertiary_hospital_id": tertiary_hospital_id}
    if not any(chosen.values()):
        return chosen
    signing_in = pooling_region(region_code)
    for field, hospital_id in chosen.items():
        if hospital_id is None:
            continue
        hospital = db.session.get(Hospital, hospital_id)
        if hospital is None or not hospital.active:
            raise Invalid("No such hospital is offered.", field=field)
        if hospital.grade is not SLOTS[field]:
            raise Invalid(f"This slot takes a {GRADE_NAMES[SLOTS[field]]} hospital; this one is "
                          f"{GRADE_NAMES[hospital.grade]} [002 §(三)3].", field=field, reason="hospital_grade")
        if signing_in is None or pooling_region(hospital.region_code) != signing_in:
            raise Invalid("The hospital lies outside the pooling region the resident signs in.", field=field,
                          reason="hospital_region")
    return chosen


def choose(actor: Actor, agreement_id: int, *, secondary_hospital_id: int | None,
           tertiary_hospital_id: int | None) -> Agreement:
    """Replace an agreement's hospital choice (null: none); only while it holds the resident's place in its cycle."""
    agreement = get_agreement(actor, agreement_id)
    choice = checked_choice(agreement.region_code, secondary_hospital_id=secondary_hospital_id,
                            tertiary_hospital_id=tertiary_hospital_id)
    with db.transaction():
        changed = db.session.execute(update(Agreement).where(Agreement.id == agreement.id, Agreement.status.in_(HOLDING))
                                     .values(**choice)).rowcount
        if not changed:
            raise Conflict(f"An agreement that is {agreement.status.value} takes no hospital choice.",
                           status=agreement.status.value)
    db.session.refresh(agreement)
    audit.record("agreement.hospitals", "agreement", agreement.id, **choice)
    return agreement


def carried(old: Agreement, centre_region_code: str) -> dict[str, int | None]:
    """The choice a renewal keeps: the old one, unless the new cycle's centre lies in another pooling region."""
    if pooling_region(centre_region_code) != pooling_region(old.region_code):
        return dict.fromkeys(SLOTS)
    return {field: getattr(old, field) for field in SLOTS}


def choosable(*, centre_id: int, grade: HospitalGrade | None, cursor: str | None, limit: int) -> dict:
    """The hospitals a resident signing with the centre may choose: offered ones of its pooling region."""
    pooling = pooling_region(get_centre(centre_id).region_code)
    if pooling is None:
        raise Invalid("The centre's region has no policy profile.", field="centre_id")
    query = select(Hospital).where(Hospital.active.is_(True), Hospital.region_code.in_(region_and_descendants(pooling.code)))
    if grade is not None:
        query = query.where(Hospital.grade == grade)
    return paginate(query, key_columns=[Hospital.id], cursor=cursor, limit=limit)
