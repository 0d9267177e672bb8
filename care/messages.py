"""Contact with the family doctor (basic package item 2 [000 附件1 一2]): a signed person writes to their team,
the team answers from its inbox, oldest unanswered first.

A resident's text is checked with WeChat's content security API (msgSecCheck version 2) before it is
stored: risky text is refused (422) and kept nowhere; text WeChat suggests reviewing is stored and
flagged for the team. When WeChat cannot say, nothing is stored (502) and the client sends again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, literal, select, update

from care.fulfilment_models import Author, Conversation, ConversationMessage
from core import clock, db
from core.auth import Actor, Role
from core.errors import Conflict, Invalid, UpstreamError
from core.pagination import paginate
from core.wechat import TextCheck, WechatClient
from registry import access
from registry.models import Resident
from signing.models import Agreement, in_force_on

SCENE = 1  # msgSecCheck scene 1 (资料): a user's own text
PASS, REVIEW, RISKY = "pass", "review", "risky"
TOKEN_REJECTED = (40001, 42001)


def check_text(*, openid: str, content: str) -> str:
    """WeChat's suggestion for a user's text: pass or review; risky is a 422 naming `content`.

    The token comes from the stable-token API (normal mode hands every caller the current token, so
    there is no cache to share); a token WeChat rejects is fetched once more, in case it was just
    renewed. Force refresh is rationed (20 a day) and left to the message dispatcher.
    """
    client = WechatClient.from_app()
    check = client.msg_sec_check(client.stable_token().token, openid=openid, content=content, scene=SCENE)
    if check.errcode in TOKEN_REJECTED:
        check = client.msg_sec_check(client.stable_token().token, openid=openid, content=content, scene=SCENE)
    return _verdict(check)


def _verdict(check: TextCheck) -> str:
    if check.errcode or check.suggest not in (PASS, REVIEW, RISKY):
        raise UpstreamError("WeChat could not check the text; send it again.", wechat_errcode=check.errcode)
    if check.suggest == RISKY:
        raise Invalid("This text cannot be sent: WeChat's content check refused it.", field="content", label=check.label)
    return check.suggest


def _agreement_in_force(resident: Resident, *, centre_id: int | None = None) -> Agreement | None:
    query = select(Agreement).where(Agreement.resident_id == resident.id, in_force_on(clock.today()))
    if centre_id is not None:
        query = query.where(Agreement.centre_id == centre_id)
    return db.session.scalar(query)


def _thread(agreement: Agreement) -> Conversation:
    """The person's thread with the agreement's centre, made on first use (a concurrent first message finds it)."""
    db.insert_unless_exists(Conversation, resident_id=agreement.resident_id, centre_id=agreement.centre_id,
                            team_id=agreement.team_id, last_message_at=clock.now(), created_at=clock.now())
    return db.session.scalar(select(Conversation).where(Conversation.resident_id == agreement.resident_id,
                                                        Conversation.centre_id == agreement.centre_id))


def _subject(actor: Actor, resident_id: int | None) -> Resident:
    """The caller, or the household member they write or read for (404 for anyone else)."""
    return access.resident_of(actor) if resident_id is None else access.get_resident(actor, resident_id)


def send(actor: Actor, *, content: str, resident_id: int | None = None) -> ConversationMessage:
    """Write to the team of one's own (or a household member's) agreement in force, once WeChat passed the text."""
    if not content.strip():
        raise Invalid("Write something.", field="content")
    subject = _subject(actor, resident_id)
    agreement = _agreement_in_force(subject)
    if agreement is None:
        raise Conflict("There is no team to write to: no agreement is in force.", resident_id=subject.id)
    writer = access.resident_of(actor)
    db.session.commit()  # end the read: no transaction stays open across the call to WeChat
    text_check = check_text(openid=actor.openid, content=content)
    now = clock.now()
    with db.transaction():
        thread = _thread(agreement)
        message = ConversationMessage(conversation_id=thread.id, author=Author.RESIDENT, resident_author_id=writer.id,
                                      content=content, text_check=text_check, sent_at=now, sent_on=now.astimezone(clock.SHANGHAI).date())
        db.session.add(message)
        db.session.execute(update(Conversation).where(Conversation.id == thread.id).values(
            team_id=agreement.team_id, last_message_at=now,
            waiting_since=func.coalesce(Conversation.waiting_since, literal(now, Conversation.waiting_since.type)))
            .execution_options(synchronize_session=False))
    return message


def answer(actor: Actor, *, resident_id: int, content: str) -> ConversationMessage:
    """A team member answers a signed person (or writes first); nothing of the thread waits any more."""
    if not content.strip():
        raise Invalid("Write something.", field="content")
    resident = access.get_resident(actor, resident_id)
    agreement = _agreement_in_force(resident, centre_id=actor.centre_id)
    if agreement is None:
        raise Conflict("This person holds no agreement in force with your centre.")
    now = clock.now()
    with db.transaction():
        thread = _thread(agreement)
        message = ConversationMessage(conversation_id=thread.id, author=Author.STAFF, staff_author_id=actor.staff_id,
                                      content=content, sent_at=now, sent_on=now.astimezone(clock.SHANGHAI).date())
        db.session.add(message)
        db.session.execute(update(Conversation).where(Conversation.id == thread.id)
                           .values(last_message_at=now, waiting_since=None).execution_options(synchronize_session=False))
    return message


def my_messages(actor: Actor, *, resident_id: int | None, cursor: str | None, limit: int) -> dict:
    """The messages of the caller's (or a household member's) threads, oldest first, a page at a time."""
    subject = _subject(actor, resident_id)
    query = (select(ConversationMessage).join(Conversation, ConversationMessage.conversation_id == Conversation.id)
             .where(Conversation.resident_id == subject.id))
    return paginate(query, key_columns=[ConversationMessage.id], cursor=cursor, limit=limit)


def thread_of(actor: Actor, *, resident_id: int, cursor: str | None, limit: int) -> dict:
    """A person's thread with the caller's centre, oldest first."""
    resident = access.get_resident(actor, resident_id)
    query = (select(ConversationMessage).join(Conversation, ConversationMessage.conversation_id == Conversation.id)
             .where(Conversation.resident_id == resident.id, Conversation.centre_id == actor.centre_id))
    return paginate(query, key_columns=[ConversationMessage.id], cursor=cursor, limit=limit)


def inbox(actor: Actor, *, cursor: str | None, limit: int) -> dict:
    """The threads waiting for the team's answer (a doctor's team and those with no team; a centre admin's centre),
    the longest waiting first, with how long and how many messages wait."""
    query = (select(Conversation, Resident.name).join(Resident, Conversation.resident_id == Resident.id)
             .where(Conversation.centre_id == actor.centre_id, Conversation.waiting_since.is_not(None)))
    if actor.role is Role.DOCTOR and actor.team_id is not None:
        query = query.where((Conversation.team_id == actor.team_id) | Conversation.team_id.is_(None))
    page = paginate(query, key_columns=[Conversation.waiting_since, Conversation.id], cursor=cursor, limit=limit, rows=True,
                    key_of=lambda row: [row.Conversation.waiting_since, row.Conversation.id])
    waiting = dict(db.session.execute(
        select(ConversationMessage.conversation_id, func.count()).join(
            Conversation, ConversationMessage.conversation_id == Conversation.id)
        .where(ConversationMessage.conversation_id.in_([row.Conversation.id for row in page["items"]]),
               ConversationMessage.author == Author.RESIDENT, ConversationMessage.sent_at >= Conversation.waiting_since)
        .group_by(ConversationMessage.conversation_id)).all())
    now = clock.now()
    page["items"] = [_waiting(row.Conversation, row.name, waiting.get(row.Conversation.id, 0), now) for row in page["items"]]
    return page


def _waiting(thread: Conversation, name: str, messages: int, now: datetime) -> dict:
    return {"conversation_id": thread.id, "resident_id": thread.resident_id, "resident_name": name,
            "team_id": thread.team_id, "waiting_since": thread.waiting_since, "unanswered": messages,
            "waiting_hours": int((now - thread.waiting_since).total_seconds() // 3600)}
