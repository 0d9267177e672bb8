"""Follow-up protocols as data: one versioned definition per programme (POLICY.md "Packages" and
the national basic public-health service standard, 3rd edition, for the on-time ranges).

A protocol names its anchor (birth date, last menstrual period, delivery date, or the start of the
signing cycle for yearly series) and its visits as offsets from that anchor: the due date, the
on-time range (earliest, latest) in which the visit counts as on time, and the modes of contact that
complete it. Annex 1 of 000 asks for face-to-face (面对面) chronic follow-ups and a home (上门) visit
for people 80+; a phone contact can be recorded but completes no visit here.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.calendar import Offset, days, months, weeks
from packages.catalogue import GUIDANCE, HOME_SERVICE, SCREENING, TEST, VISIT

VERSION = "2025.1"

BIRTH, LMP, DELIVERY, CYCLE = "birth_date", "last_menstrual_period", "delivery_date", "cycle_start"

# Modes of contact (care.models.VisitMode has the same values).
CLINIC, HOME, PHONE = "clinic", "home", "phone"
FACE_TO_FACE = (CLINIC, HOME)
AT_HOME = (HOME,)


@dataclass(frozen=True)
class VisitDef:
    code: str
    title: str
    kind: str
    at: Offset
    on_time: tuple[Offset, Offset]
    modes: tuple[str, ...] = FACE_TO_FACE  # the modes that complete the visit


@dataclass(frozen=True)
class Protocol:
    programme: str
    anchor: str
    visits: tuple[VisitDef, ...]
    version: str = VERSION


TWO_WEEKS = days(14)


def _around(code: str, title: str, kind: str, at: Offset) -> VisitDef:
    """A visit due at `at`, on time within two weeks either side."""
    return VisitDef(code, title, kind, at, (at - TWO_WEEKS, at + TWO_WEEKS))


def _child_visits() -> tuple[VisitDef, ...]:
    """Newborn and full-month visits, 8 infant visits, tests, screenings, TCM guidance, preschool checks."""
    visits = [
        VisitDef("newborn-home", "新生儿家庭访视", HOME_SERVICE, days(0), (days(0), days(7)), AT_HOME),
        VisitDef("full-month", "满月健康管理", VISIT, days(28), (days(28), days(30))),
    ]
    visits += [_around(f"{m}m", f"{m}月龄健康管理", VISIT, months(m)) for m in (3, 6, 8, 12, 18, 24, 30, 36)]
    visits.append(VisitDef("blood-6-8m", "血常规检测（6—8月龄）", TEST, months(6), (months(6), months(8))))
    visits += [_around(f"blood-{m}m", f"血常规检测（{m}月龄）", TEST, months(m)) for m in (18, 30)]
    visits += [_around(f"hearing-{m}m", f"听力筛查（{m}月龄）", SCREENING, months(m)) for m in (6, 12, 24, 36)]
    visits += [_around(f"tcm-{m}m", f"儿童中医药健康指导（{m}月龄）", GUIDANCE, months(m)) for m in (6, 12, 18, 24, 30)]
    visits += [VisitDef(f"preschool-{y}y", f"学龄前儿童健康管理（{y}岁）", VISIT, months(12 * y),
                        (months(12 * y), months(12 * y + 12) - days(1))) for y in (4, 5, 6)]
    return tuple(visits)


CHILD = Protocol("child", BIRTH, _child_visits())

PRENATAL = Protocol("prenatal", LMP, (
    VisitDef("early", "孕早期健康管理（孕13周前）", VISIT, weeks(12), (weeks(0), weeks(13) - days(1))),
    VisitDef("16-20w", "孕中期随访（孕16—20周）", VISIT, weeks(16), (weeks(16), weeks(21) - days(1))),
    VisitDef("21-24w", "孕中期随访（孕21—24周）", VISIT, weeks(21), (weeks(21), weeks(25) - days(1))),
    VisitDef("28-36w", "孕晚期随访（孕28—36周）", VISIT, weeks(28), (weeks(28), weeks(37) - days(1))),
    VisitDef("37-40w", "孕晚期随访（孕37—40周）", VISIT, weeks(37), (weeks(37), weeks(41) - days(1))),
))

POSTPARTUM = Protocol("postpartum", DELIVERY, (
    VisitDef("home-visit", "产后访视", HOME_SERVICE, days(3), (days(3), days(7)), AT_HOME),
    VisitDef("42-day", "产后42天健康检查", VISIT, days(42), (days(42), days(56))),
))

_WHOLE_CYCLE = (months(0), months(12) - days(1))

ELDERLY = Protocol("elderly", CYCLE, (
    VisitDef("health-check", "老年人年度健康管理（体检）", TEST, _WHOLE_CYCLE[1], _WHOLE_CYCLE),
    VisitDef("tcm", "老年人中医药健康管理", GUIDANCE, _WHOLE_CYCLE[1], _WHOLE_CYCLE),
))

ELDERLY_80 = Protocol("elderly-80", CYCLE, (
    VisitDef("home-visit", "80岁以上老年人上门健康随访", HOME_SERVICE, _WHOLE_CYCLE[1], _WHOLE_CYCLE, AT_HOME),
))


def _quarterly(programme: str, title: str) -> Protocol:
    """Four face-to-face follow-ups a year, one per quarter of the cycle, due by the quarter's end."""
    quarters = tuple(
        VisitDef(f"q{q}", f"{title}随访（第{q}季度）", VISIT, months(3 * q) - days(1), (months(3 * q - 3), months(3 * q) - days(1)),
                 FACE_TO_FACE)
        for q in (1, 2, 3, 4)
    )
    return Protocol(programme, CYCLE, quarters)


CHRONIC = {
    "hypertension": _quarterly("hypertension", "高血压"),
    "diabetes": _quarterly("diabetes", "2型糖尿病"),
    "copd": _quarterly("copd", "慢阻肺病"),
    "tb": _quarterly("tb", "肺结核"),
    "severe_mental": _quarterly("severe_mental", "严重精神障碍"),
}

PROTOCOLS = {p.programme: p for p in (CHILD, PRENATAL, POSTPARTUM, ELDERLY, ELDERLY_80, *CHRONIC.values())}
PROGRAMMES = tuple(PROTOCOLS)
