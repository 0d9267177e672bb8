"""The national immunisation schedule for children (国家免疫规划疫苗儿童免疫程序, 2021 edition), as data.

Vaccination reminders for children 0–6 are part of the value-added package (POLICY.md, packages):
each dose is due a whole number of calendar months after birth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.calendar import add_months

EDITION = "2021"
LAST_DOSE_MONTHS = 72  # the 6-year doses; children are reminded up to then


@dataclass(frozen=True)
class Dose:
    vaccine: str
    name: str
    number: int
    months: int

    @property
    def code(self) -> str:
        return f"{self.vaccine}-{self.number}"

    @property
    def title(self) -> str:
        return f"{self.name} 第{self.number}剂"


SCHEDULE = [
    Dose("HepB", "乙肝疫苗", 1, 0),
    Dose("BCG", "卡介苗", 1, 0),
    Dose("HepB", "乙肝疫苗", 2, 1),
    Dose("IPV", "脊灰灭活疫苗", 1, 2),
    Dose("IPV", "脊灰灭活疫苗", 2, 3),
    Dose("DTaP", "百白破疫苗", 1, 3),
    Dose("bOPV", "脊灰减毒活疫苗", 1, 4),
    Dose("DTaP", "百白破疫苗", 2, 4),
    Dose("DTaP", "百白破疫苗", 3, 5),
    Dose("HepB", "乙肝疫苗", 3, 6),
    Dose("MPSV-A", "A群流脑多糖疫苗", 1, 6),
    Dose("MMR", "麻腮风疫苗", 1, 8),
    Dose("JE-L", "乙脑减毒活疫苗", 1, 8),
    Dose("MPSV-A", "A群流脑多糖疫苗", 2, 9),
    Dose("DTaP", "百白破疫苗", 4, 18),
    Dose("MMR", "麻腮风疫苗", 2, 18),
    Dose("HepA-L", "甲肝减毒活疫苗", 1, 18),
    Dose("JE-L", "乙脑减毒活疫苗", 2, 24),
    Dose("MPSV-AC", "A群C群流脑多糖疫苗", 1, 36),
    Dose("bOPV", "脊灰减毒活疫苗", 2, 48),
    Dose("DT", "白破疫苗", 1, 72),
    Dose("MPSV-AC", "A群C群流脑多糖疫苗", 2, 72),
]


def doses_due(birth_date: date, first: date, last: date) -> list[tuple[Dose, date]]:
    """The doses of a child born on `birth_date` that fall due between `first` and `last` (inclusive)."""
    due = ((dose, add_months(birth_date, dose.months)) for dose in SCHEDULE)
    return [(dose, day) for dose, day in due if first <= day <= last]
