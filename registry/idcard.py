"""Resident ID numbers (GB 11643-1999): 6-digit region, 8-digit birth date, 3-digit sequence, check.

The region code is deliberately not checked against the code list of the birth year: older
residents hold numbers with codes created after their birth (born 1956, 430523 from 1986).

Every entry point (self-binding, on-site registration, household members, imports) goes through
`parse_id_number`: NFKC first, so the full-width digits of a Chinese phone keyboard become ASCII,
then ASCII digits only. The stored value and its lookup hash are of that one form, so one person is
one row whatever form the digits came in; other Unicode digits (٤٣٠…) are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from operator import mul

from core.schemas import nfkc
from registry.models import Sex

ADULT_AGE = 18  # full civil capacity (Civil Code art. 17): an adult consents and acts for themself
_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_CHECK_CHARACTERS = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$", re.ASCII)


class InvalidIdNumber(ValueError):
    pass


@dataclass(frozen=True)
class IdNumber:
    value: str
    birth_date: date
    sex: Sex


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits."""
    if len(first17) != len(_WEIGHTS):
        raise ValueError("17 digits")
    return _CHECK_CHARACTERS[sum(map(mul, map(int, first17), _WEIGHTS)) % 11]


def parse_id_number(raw: str, *, today: date) -> IdNumber:
    """Validate an ID number and derive birth date and sex from it, or raise InvalidIdNumber."""
    value = nfkc(raw).upper()
    if not _SHAPE.fullmatch(value):
        raise InvalidIdNumber("An ID number has 17 digits and a check digit or X.")
    if check_character(value[:17]) != value[17]:
        raise InvalidIdNumber("The check character does not match (ISO 7064 MOD 11-2).")
    try:
        birth_date = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber("The birth date in the ID number is not a real date.") from None
    if birth_date > today or birth_date.year < 1880:
        raise InvalidIdNumber("The birth date in the ID number is not possible.")
    sex = Sex.MALE if int(value[16]) % 2 else Sex.FEMALE
    return IdNumber(value=value, birth_date=birth_date, sex=sex)


def age_on(birth_date: date, day: date) -> int:
    """Whole years of age on `day` (a 29 February birthday counts on 1 March in common years)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
