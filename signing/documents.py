"""The agreement itself (家庭医生签约服务协议): the current text, and each agreement as HTML and PDF in Chinese.

The text's version is the consent version a signing needs (Settings.CONSENT_TEXT_VERSION, checked by
signing.service). A rendered agreement shows the parties, the team and doctor, the term, the packages
with their services and the prices of personalised ones, and the consent (version and time). The PDF
uses ReportLab's built-in CID font STSong-Light, so no font file is shipped. Who may download one is
signing.access.get_agreement's scope: a resident their household's, staff their centre's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from html import escape

from flask import current_app
from sqlalchemy import select

from core import clock, db
from core.auth import Actor, Role
from core.crypto import mask_id_number, mask_phone
from core.errors import Invalid
from packages import catalogue
from packages.models import PackageDef
from packages.service import _prices
from registry.models import Centre, Hospital, MemberRole, Resident, Staff, Team, TeamMember, Window
from registry.service import pooling_region, profile_for, region_and_descendants
from signing.access import get_agreement
from signing.models import Agreement, AgreementPackage, AgreementStatus, Consent

TITLE = "家庭医生签约服务协议"
# Rights and duties of both sides [000 §二, 002 §(三)]; a new text is a new version here and in the config.
RESIDENT_RIGHTS = (
    "在签约周期内享受签约家庭医生团队提供的基础服务包和增值服务包中的服务。",
    "了解家庭医生团队的组成、联系方式和服务内容，通过电话、微信等方式与家庭医生联系。",
    "自愿选择个性化服务包，按签约机构公示的价格付费。",
    "对服务提出意见和投诉；在变更窗口期内申请下一周期更换签约机构。",
    "个人信息和健康信息依法受到保护，仅用于签约服务和医保结算。",
)
RESIDENT_DUTIES = (
    "如实提供身份、参保和健康信息，信息变化时及时告知。",
    "一个签约周期内只与一家签约机构签约。",
    "配合家庭医生团队开展随访、健康体检等服务，遵守就诊秩序。",
)
CENTRE_DUTIES = (
    "明确签约家庭医生及团队成员，公开联系方式，提供约定的服务包服务。",
    "建立并动态更新电子健康档案，按规范开展慢病随访、老年人健康管理、儿童和孕产妇健康管理等。",
    "每月至少举办一次健康知识讲座，提前发布信息。",
    "提供预约诊疗和转诊服务，不得虚假签约，不得收取约定以外的费用。",
    "保护签约居民的个人信息，不得泄露。",
)


def text_version() -> str:
    return current_app.config["SETTINGS"].CONSENT_TEXT_VERSION


def _packages(centre_id: int | None) -> list[dict]:
    prices = _prices(centre_id)
    order = {package.code: index for index, package in enumerate(catalogue.PACKAGES_2025)}
    packages = sorted(db.session.scalars(select(PackageDef).where(PackageDef.edition == catalogue.EDITION)),
                      key=lambda package: order.get(package.code, len(order)))
    return [dict(code=p.code, tier=p.tier, title=p.title, items=[item.title for item in p.items],
                 price_fen=0 if p.tier in catalogue.MANDATORY_TIERS else prices.get(p.code)) for p in packages]


def _renewal(region_code: str) -> str:
    return "期满未变更的自动续约" if profile_for(region_code).auto_renew else "期满需重新签约"


def _place(centre_id: int | None, region: str | None) -> tuple[Centre | None, str | None]:
    """The centre asked for (one that signs) and its region, or the region alone; 422 naming what is unknown."""
    centre = db.session.get(Centre, centre_id) if centre_id else None
    if centre_id and (centre is None or not centre.takes_part):
        raise Invalid("No such centre taking part in family-doctor signing.", field="centre_id", location="query")
    if centre is not None and region and region not in region_and_descendants(centre.region_code) \
            and centre.region_code not in region_and_descendants(region):
        raise Invalid("The centre is not of this region.", field="region", location="query")
    region_code = centre.region_code if centre is not None else region
    if region_code and pooling_region(region_code) is None:
        raise Invalid("No such region with a policy profile.", field="region", location="query")
    return centre, region_code


def agreement_text(*, centre_id: int | None, region: str | None = None) -> dict:
    """The current agreement text: version (the consent_version to sign with), rights and duties, packages,
    and, for a region or centre, how its agreements renew (the region's profile)."""
    centre, region_code = _place(centre_id, region)
    return dict(version=text_version(), title=TITLE, centre_id=centre.id if centre else None,
                centre_name=centre.name if centre else None, region_code=region_code,
                renewal=_renewal(region_code) if region_code else None, resident_rights=list(RESIDENT_RIGHTS),
                resident_duties=list(RESIDENT_DUTIES), centre_duties=list(CENTRE_DUTIES),
                packages=_packages(centre.id if centre else None))


@dataclass
class Sheet:
    """What a rendered agreement shows, read once from the database."""

    agreement: Agreement
    centre: Centre
    window: Window | None
    team: Team | None
    doctor: TeamMember | None  # the named family doctor; None on agreements older than the rule
    doctors: list[str]  # without a named doctor: the team's doctors, or the doctor who signed
    packages: list[tuple[AgreementPackage, PackageDef]]
    consent: Consent | None
    secondary_hospital: Hospital | None = None
    tertiary_hospital: Hospital | None = None


def _doctors(team: Team | None, signed_by: str) -> list[str]:
    if team is not None:
        named = list(db.session.scalars(select(TeamMember.name).where(
            TeamMember.team_id == team.id, TeamMember.role == MemberRole.DOCTOR, TeamMember.active.is_(True))
            .order_by(TeamMember.id)))
        named = named or list(db.session.scalars(select(Staff.name).where(
            Staff.team_id == team.id, Staff.role == Role.DOCTOR, Staff.active.is_(True)).order_by(Staff.id)))
        if named:
            return named
    kind, _, ident = signed_by.partition(":")
    signer = db.session.get(Staff, int(ident)) if kind == "staff" and ident.isdigit() else None
    return [signer.name] if signer is not None and signer.role is Role.DOCTOR else []


def sheet(actor: Actor, agreement_id: int) -> Sheet:
    agreement = get_agreement(actor, agreement_id)
    team = db.session.get(Team, agreement.team_id) if agreement.team_id else None
    packages = db.session.execute(
        select(AgreementPackage, PackageDef).join(PackageDef, (PackageDef.edition == AgreementPackage.edition)
                                                  & (PackageDef.code == AgreementPackage.package_code))
        .where(AgreementPackage.agreement_id == agreement.id).order_by(AgreementPackage.id)).all()
    consent = db.session.scalar(select(Consent).where(Consent.agreement_id == agreement.id).order_by(Consent.id).limit(1))
    doctor = agreement.doctor
    hospital = lambda hospital_id: db.session.get(Hospital, hospital_id) if hospital_id else None  # noqa: E731
    return Sheet(agreement, agreement.centre, db.session.get(Window, agreement.window_id) if agreement.window_id else None,
                 team, doctor, [] if doctor is not None else _doctors(team, agreement.signed_by),
                 [tuple(row) for row in packages], consent,
                 hospital(agreement.secondary_hospital_id), hospital(agreement.tertiary_hospital_id))


STATUS = {AgreementStatus.PENDING: "待生效", AgreementStatus.ACTIVE: "有效", AgreementStatus.CHANGE_PENDING: "已申请下周期变更机构",
          AgreementStatus.TERMINATED: "已解约", AgreementStatus.EXPIRED: "已到期"}


def _yuan(fen: int | None) -> str:
    return "免费" if not fen else f"{fen / 100:.2f} 元"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else "—"


def sections(s: Sheet) -> list[tuple[str, list[str]]]:
    """The agreement as headed lists of lines: the one content both HTML and PDF render."""
    a, resident = s.agreement, s.agreement.resident
    parties = [f"甲方（签约居民）：{resident.name}　身份证号：{mask_id_number(resident.id_number) or '（未发放）'}",
               # The birth year only: the date would fill in most of what the mask hides (README, masked values).
               f"出生年份：{resident.birth_date.year}　联系电话：{mask_phone(resident.phone) or '—'}",
               f"乙方（签约机构）：{s.centre.name}",
               f"地址：{s.centre.address or '—'}　电话：{s.centre.phone or '—'}　服务时间：{s.centre.opening_hours or '—'}"]
    if s.window is not None:
        parties.append(f"服务站点（村卫生室）：{s.window.name}")
    team = [f"家庭医生团队：{s.team.name if s.team else '—'}"]
    if s.doctor is not None:  # annex 1 of 000, basic package item 2: a named doctor and how to reach them
        team += [f"签约家庭医生：{s.doctor.name}　职称：{s.doctor.title or '—'}　专长：{s.doctor.speciality or '—'}",
                 f"家庭医生联系方式：{s.doctor.contact or s.centre.phone or '—'}"]
    else:
        team.append(f"签约家庭医生：{'、'.join(s.doctors) or '—'}")
    # "1+1+1" [002 §(三)3]: the secondary and tertiary hospital chosen beside the centre.
    combined = [f"二级医院：{s.secondary_hospital.name if s.secondary_hospital else '未选择'}",
                f"三级医院：{s.tertiary_hospital.name if s.tertiary_hospital else '未选择'}"]
    renews = _renewal(a.region_code)
    term = [f"签约周期：{a.cycle} 年度，{a.start_date.isoformat()} 至 {a.end_date.isoformat()}",
            f"签约期限：{a.term_years} 年（至 {a.term_end_date.isoformat()}），{renews}",
            f"协议编号：{a.id}　状态：{STATUS[a.status]}"]
    packages = []
    for held, package in s.packages:
        ended = f"（{held.dropped_on.isoformat()} 终止）" if held.dropped_on else ""
        packages.append(f"{package.title}：{_yuan(held.price_fen)}{ended}")
        packages += [f"　{number}. {item.title}" for number, item in enumerate(package.items, start=1)]
    consent = [f"知情同意书版本：{s.consent.text_version if s.consent else '—'}",
               f"同意时间：{_when(s.consent.consented_at if s.consent else None)}"]
    if s.consent is not None and s.consent.guardian_id is not None:  # a child under 14 consents through a guardian
        consent.append(f"同意人：{db.session.get(Resident, s.consent.guardian_id).name}（监护人）")
    return [("签约双方", parties), ("家庭医生团队", team), ("组合签约（1+1+1）", combined), ("签约期限", term), ("服务包与服务内容", packages),
            ("甲方权利", list(RESIDENT_RIGHTS)), ("甲方义务", list(RESIDENT_DUTIES)), ("乙方义务", list(CENTRE_DUTIES)),
            ("个人信息处理同意", consent)]


def html(s: Sheet) -> str:
    body = "".join(f"<h2>{escape(head)}</h2><ul>{''.join(f'<li>{escape(line)}</li>' for line in lines)}</ul>"
                   for head, lines in sections(s))
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{TITLE}</title></head>'
            f"<body><h1>{TITLE}</h1>{body}</body></html>")


FONT = "STSong-Light"


def pdf(s: Sheet) -> bytes:
    """The agreement as a PDF in Chinese (ReportLab's CID font STSong-Light: no font file needed)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    title = ParagraphStyle("title", fontName=FONT, fontSize=18, leading=26, alignment=1)
    head = ParagraphStyle("head", fontName=FONT, fontSize=13, leading=20, spaceBefore=8)
    line = ParagraphStyle("line", fontName=FONT, fontSize=10.5, leading=16, wordWrap="CJK")
    story = [Paragraph(TITLE, title), Spacer(1, 8)]
    for heading, lines in sections(s):
        story.append(Paragraph(escape(heading), head))
        story += [Paragraph(escape(text), line) for text in lines]
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=TITLE, author=s.centre.name).build(story)
    return buffer.getvalue()
