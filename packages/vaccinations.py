"""The national immunisation schedule for children (国家免疫规划疫苗儿童免疫程序及说明, 2021 edition), as data.

Vaccination reminders for children 0–6 are part of the value-added package (POLICY.md, packages):
each dose is due a whole number of calendar months after birth. A child who is behind catches up
within the schedule's minimum intervals (the edition's 补种 rules): `after` lists, for a dose, the
earlier doses it must follow and by how much; the first of them is the dose before it in its
series (polio is one series of IPV then bOPV; DTaP continues into DT; meningococcal A into A+C).
Two injected live vaccines not given on the same day are at least 28 days apart (`live_injected`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.calendar import Offset, add_months, days, months

EDITION = "2021"
LAST_DOSE_MONTHS = 72  # the 6-year doses; children are reminded up to then
# Injected live vaccines not given together are given at least this far apart.
LIVE_INJECTED_GAP = days(28)


@dataclass(frozen=True)
class Dose:
    vaccine: str
    name: str
    number: int
    months: int
    after: tuple[tuple[str, Offset], ...] = ()
    live_injected: bool = False

    @property
    def code(self) -> str:
        return f"{self.vaccine}-{self.number}"

    @property
    def title(self) -> str:
        return f"{self.name} 第{self.number}剂"

    @property
    def previous(self) -> str | None:
        """The dose before this one in its series (None for a series' first dose)."""
        return self.after[0][0] if self.after else None

    def scheduled_on(self, birth_date: date) -> date:
        """The day the schedule gives this dose to a child born on `birth_date`."""
        return add_months(birth_date, self.months)


SCHEDULE = [
    Dose("HepB", "乙肝疫苗", 1, 0),
    Dose("BCG", "卡介苗", 1, 0),
    Dose("HepB", "乙肝疫苗", 2, 1, after=(("HepB-1", days(28)),)),
    Dose("IPV", "脊灰灭活疫苗", 1, 2),
    Dose("IPV", "脊灰灭活疫苗", 2, 3, after=(("IPV-1", days(28)),)),
    Dose("DTaP", "百白破疫苗", 1, 3),
    Dose("bOPV", "脊灰减毒活疫苗", 1, 4, after=(("IPV-2", days(28)),)),
    Dose("DTaP", "百白破疫苗", 2, 4, after=(("DTaP-1", days(28)),)),
    Dose("DTaP", "百白破疫苗", 3, 5, after=(("DTaP-2", days(28)),)),
    Dose("HepB", "乙肝疫苗", 3, 6, after=(("HepB-2", days(60)), ("HepB-1", months(4)))),
    Dose("MPSV-A", "A群流脑多糖疫苗", 1, 6),
    Dose("MMR", "麻腮风疫苗", 1, 8, live_injected=True),
    Dose("JE-L", "乙脑减毒活疫苗", 1, 8, live_injected=True),
    Dose("MPSV-A", "A群流脑多糖疫苗", 2, 9, after=(("MPSV-A-1", months(3)),)),
    Dose("DTaP", "百白破疫苗", 4, 18, after=(("DTaP-3", months(6)),)),
    Dose("MMR", "麻腮风疫苗", 2, 18, after=(("MMR-1", days(28)),), live_injected=True),
    Dose("HepA-L", "甲肝减毒活疫苗", 1, 18, live_injected=True),
    Dose("JE-L", "乙脑减毒活疫苗", 2, 24, after=(("JE-L-1", months(12)),), live_injected=True),
    Dose("MPSV-AC", "A群C群流脑多糖疫苗", 1, 36, after=(("MPSV-A-2", months(12)),)),
    Dose("bOPV", "脊灰减毒活疫苗", 2, 48, after=(("bOPV-1", days(28)),)),
    Dose("DT", "白破疫苗", 1, 72, after=(("DTaP-4", months(12)),)),
    Dose("MPSV-AC", "A群C群流脑多糖疫苗", 2, 72, after=(("MPSV-AC-1", months(36)),)),
]
DOSES = {dose.code: dose for dose in SCHEDULE}
