"""The outbox and its channels, against the WeChat and SMS stand-ins: exactly once, through failures."""

from datetime import date, timedelta

from sqlalchemy import select, update

from core import clock
from notifications import outbox
from notifications.models import Kind, MessageState, OutboxMessage, Subscription, WechatToken
from tests import factories as f
from tests.factories_notifications import VISIT_TEMPLATE, subscribed

CONTENT = {"title": "高血压随访", "date": "2026-03-19", "place": "塘渡口镇卫生院"}


def _message(person, key="visit:1:3", kind=Kind.VISIT_DUE):
    assert outbox.enqueue(dedupe_key=key, kind=kind, content=CONTENT, resident_id=person.id)
    f.core_db.session.commit()
    return f.core_db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))


def _dispatch_until_done(rounds=8):
    """Dispatch, then move the clock past any backoff, until nothing is pending."""
    for _ in range(rounds):
        outbox.dispatch(worker="test")
        if not f.core_db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.state == MessageState.PENDING)):
            return
        clock.advance(timedelta(hours=6, minutes=1))


def _resident(openid="o-alice", **fields):
    f.regions()
    return f.resident(openid=openid, **fields)


def _subscribed_message():
    """A resident with one grant of the visit template and one message waiting for them."""
    person = _resident()
    subscribed(person, credits=1)
    return person, _message(person)


def test_the_same_dedupe_key_creates_one_message(db):
    person = _resident()
    assert outbox.enqueue(dedupe_key="visit:7:3:2026-03-19", kind=Kind.VISIT_DUE, content=CONTENT, resident_id=person.id)
    assert not outbox.enqueue(dedupe_key="visit:7:3:2026-03-19", kind=Kind.VISIT_DUE, content=CONTENT, resident_id=person.id)
    assert len(db.scalars(select(OutboxMessage)).all()) == 1


def test_subscribed_resident_gets_one_wechat_message_and_spends_the_grant(db, wechat):
    person, message = _subscribed_message()
    assert outbox.dispatch(worker="test") == {"sent": 1}
    assert [m["touser"] for m in wechat.delivered] == ["o-alice"]
    assert wechat.delivered[0]["template_id"] == VISIT_TEMPLATE
    assert wechat.delivered[0]["data"]["thing1"] == {"value": "高血压随访"}
    db.refresh(message)
    assert (message.state, message.channel.value) == (MessageState.SENT, "wechat")
    assert db.scalar(select(Subscription.credits)) == 0
    assert outbox.dispatch(worker="test") == {}
    assert len(wechat.delivered) == 1


def test_reminders_are_delivered_exactly_once_through_timeout_5xx_and_rate_limit(db, wechat):
    person, message = _subscribed_message()
    wechat.slow_seconds = 1.5
    wechat.fail_send("o-alice", "timeout", "5xx", 45009)
    _dispatch_until_done()
    db.refresh(message)
    assert message.state is MessageState.SENT and message.attempts == 3
    assert len(wechat.delivered) == 1
    assert db.scalar(select(Subscription.credits)) == 0  # refunded after each failure, spent once


def test_a_transient_failure_backs_off_exponentially_with_jitter(db, wechat):
    person, message = _subscribed_message()
    wechat.fail_send("o-alice", "5xx", "5xx")
    outbox.dispatch(worker="test")
    db.refresh(message)
    first = message.next_attempt_at - clock.now()
    assert message.state is MessageState.PENDING and "could not be reached" in message.last_error
    assert timedelta(seconds=15) <= first <= timedelta(seconds=45)
    clock.advance(first)
    outbox.dispatch(worker="test")
    db.refresh(message)
    assert timedelta(seconds=30) <= message.next_attempt_at - clock.now() <= timedelta(seconds=90)


def test_rate_limit_45009_backs_off_at_least_a_minute(db, wechat):
    person, message = _subscribed_message()
    wechat.fail_send("o-alice", 45009)
    assert outbox.dispatch(worker="test") == {"rate_limited": 1}
    db.refresh(message)
    assert message.next_attempt_at - clock.now() >= timedelta(seconds=60)


def test_a_resident_who_refused_gets_no_wechat_message_and_it_is_marked_failed(db, wechat):
    person = _resident()
    subscribed(person, credits=3)
    message = _message(person)
    wechat.fail_send("o-alice", 43101)
    assert outbox.dispatch(worker="test") == {"permanent": 1}
    db.refresh(message)
    assert message.state is MessageState.FAILED and "43101" in message.last_error
    assert wechat.delivered == []
    assert db.scalar(select(Subscription.credits)) == 0
    _message(person, key="visit:1:0")
    outbox.dispatch(worker="test")
    assert len(wechat.calls_to("subscribe_send")) == 1  # no second try at WeChat after the refusal


def test_without_a_grant_nothing_goes_to_wechat_and_sms_reaches_the_phone(db, wechat, sms):
    person = _resident(openid=None)
    person.phone = "13812345678"
    db.commit()
    message = _message(person)
    assert outbox.dispatch(worker="test") == {"sent": 1}
    assert wechat.calls_to("subscribe_send") == []
    assert sms.delivered == [{"to": "13812345678", "text": "【家庭医生】高血压随访，2026-03-19，塘渡口镇卫生院。",
                              "ref": "visit:1:3"}]
    db.refresh(message)
    assert message.channel.value == "sms"


def test_no_grant_and_no_phone_is_recorded_undeliverable_not_retried(db, wechat, sms):
    person = _resident()
    message = _message(person)
    assert outbox.dispatch(worker="test") == {"permanent": 1}
    db.refresh(message)
    assert message.state is MessageState.FAILED and message.last_error == outbox.UNREACHABLE
    assert wechat.calls_to("subscribe_send") == [] and sms.delivered == []


def test_a_child_without_contact_is_reached_through_the_household_adult(db, wechat):
    parent = _resident()
    child = f.resident(born=date(2025, 9, 1), household=parent.household)
    subscribed(parent, "tpl-vaccination-due")
    _message(child, key="vaccination:child", kind=Kind.VACCINATION_DUE)
    assert outbox.dispatch(worker="test") == {"sent": 1}
    assert wechat.delivered[0]["touser"] == "o-alice"


def test_transient_failures_until_the_last_attempt_make_the_message_dead(app, db, wechat):
    person, message = _subscribed_message()
    wechat.fail_send("o-alice", *["5xx"] * app.config["SETTINGS"].OUTBOX_MAX_ATTEMPTS)
    _dispatch_until_done(rounds=app.config["SETTINGS"].OUTBOX_MAX_ATTEMPTS + 1)
    db.refresh(message)
    assert message.state is MessageState.DEAD and message.attempts == app.config["SETTINGS"].OUTBOX_MAX_ATTEMPTS
    assert wechat.delivered == []


def test_a_rejected_token_is_force_refreshed_and_the_send_retried_once(db, wechat):
    person, _ = _subscribed_message()
    outbox.dispatch(worker="test")
    wechat.revoke_token()
    db.execute(update(Subscription).values(credits=1))
    _message(person, key="visit:1:0")
    assert outbox.dispatch(worker="test") == {"sent": 1}
    tokens = wechat.calls_to("stable_token")
    assert [call["force_refresh"] for call in tokens] == [False, True]
    assert wechat.calls_to("subscribe_send")[-1]["access_token"] == "token-2"
    assert db.get(WechatToken, "wx-dev-appid").forced_count == 1


def test_force_refresh_is_not_used_again_within_thirty_seconds(db, wechat):
    person = _resident()
    subscribed(person, credits=5)
    for n in range(3):
        wechat.revoke_token()
        _message(person, key=f"visit:1:{n}")
        outbox.dispatch(worker="test")
    assert [call["force_refresh"] for call in wechat.calls_to("stable_token")] == [False, True, False]


def test_a_kind_turned_off_is_not_queued(db, client):
    person = _resident()
    headers = f.as_resident(person)
    assert client.put("/api/v1/me/notification-preferences", json={"off": ["visit_due"]}, headers=headers).status_code == 200
    assert not outbox.enqueue(dedupe_key="visit:9:0", kind=Kind.VISIT_DUE, content=CONTENT, resident_id=person.id)
    assert outbox.enqueue(dedupe_key="lecture:9:1", kind=Kind.LECTURE, content=CONTENT, resident_id=person.id)
    assert client.get("/api/v1/me/notification-preferences", headers=headers).get_json() == {"off": ["visit_due"]}


def test_the_digest_cannot_be_turned_off_and_nothing_is_written(db, client):
    person = _resident()
    response = client.put("/api/v1/me/notification-preferences", json={"off": ["overdue_digest"]},
                          headers=f.as_resident(person))
    assert response.status_code == 422 and "off" in response.get_json()["errors"]["json"]
    assert client.get("/api/v1/me/notification-preferences", headers=f.as_resident(person)).get_json() == {"off": []}


def test_granting_subscriptions_adds_one_message_each(db, client):
    person = _resident()
    headers = f.as_resident(person)
    body = {"template_ids": [VISIT_TEMPLATE, "tpl-lecture"]}
    client.post("/api/v1/me/subscriptions", json=body, headers=headers)
    response = client.post("/api/v1/me/subscriptions", json={"template_ids": [VISIT_TEMPLATE]}, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["items"] == [
        {"template_id": "tpl-lecture", "credits": 1, "long_term": False},
        {"template_id": VISIT_TEMPLATE, "credits": 2, "long_term": False},
    ]


def test_granting_an_unknown_template_is_422_and_nothing_is_written(db, client):
    person = _resident()
    response = client.post("/api/v1/me/subscriptions", json={"template_ids": [VISIT_TEMPLATE, "tpl-evil"]},
                           headers=f.as_resident(person))
    assert response.status_code == 422 and "template_ids" in response.get_json()["errors"]["json"]
    assert db.scalars(select(Subscription)).all() == []


def test_a_resident_sees_their_messages_and_not_others(db, client, wechat):
    person, other = _resident(), f.resident(openid="o-bob")
    _message(person)
    _message(other, key="visit:2:3")
    items = client.get("/api/v1/me/notifications", headers=f.as_resident(person)).get_json()["items"]
    assert [(m["kind"], m["state"], m["content"]["title"]) for m in items] == [("visit_due", "pending", "高血压随访")]


def test_staff_see_the_state_of_their_centres_messages_with_the_reason(db, client, wechat):
    person = _resident()
    centre, elsewhere = f.centre(), f.centre()
    outbox.enqueue(dedupe_key="a", kind=Kind.VISIT_DUE, content=CONTENT, resident_id=person.id, centre_id=centre.id)
    outbox.enqueue(dedupe_key="b", kind=Kind.VISIT_DUE, content=CONTENT, resident_id=person.id, centre_id=elsewhere.id)
    db.commit()
    outbox.dispatch(worker="test")
    doctor = f.staff(centre=centre)
    page = client.get("/api/v1/notifications?state=failed", headers=f.as_staff(doctor)).get_json()
    assert [(m["state"], m["last_error"]) for m in page["items"]] == [("failed", outbox.UNREACHABLE)]
    assert client.get("/api/v1/notifications?state=sent", headers=f.as_staff(doctor)).get_json()["items"] == []


def test_residents_cannot_read_the_staff_message_list(db, client):
    person = _resident()
    assert client.get("/api/v1/notifications", headers=f.as_resident(person)).status_code == 403


def test_two_dispatchers_never_claim_the_same_message(db):
    person = _resident()
    for n in range(5):
        outbox.enqueue(dedupe_key=f"k{n}", kind=Kind.VISIT_DUE, content=CONTENT, resident_id=person.id)
    db.commit()
    first, second = outbox.claim("one", 3), outbox.claim("two", 3)
    assert len(first) == 3 and len(second) == 2
    assert not {m.id for m in first} & {m.id for m in second}
    assert outbox.claim("three", 3) == []
    clock.advance(timedelta(minutes=3))  # the leases ran out: the rows are free again
    assert len(outbox.claim("three", 10)) == 5


def test_a_long_term_subscription_is_not_used_up(db, wechat):
    person = _resident()
    grant = subscribed(person, credits=0)
    grant.long_term = True
    db.commit()
    for key in ("visit:1:3", "visit:1:0"):
        _message(person, key=key)
    assert outbox.dispatch(worker="test") == {"sent": 2}
    assert len(wechat.delivered) == 2


def test_sms_gateway_5xx_is_retried_and_4xx_is_final(db, sms):
    person, other = _resident(openid=None), f.resident()
    person.phone, other.phone = "13812345678", "13900000000"
    db.commit()
    retried, final = _message(person), _message(other, key="visit:2:3")
    sms.fail("13812345678", 503)
    sms.fail("13900000000", 400)
    _dispatch_until_done()
    db.refresh(retried)
    db.refresh(final)
    assert (retried.state, retried.attempts) == (MessageState.SENT, 1)
    assert (final.state, final.last_error) == (MessageState.FAILED, "sms 400")
    assert [m["to"] for m in sms.delivered] == ["13812345678"]


def test_a_token_api_failure_is_transient_and_the_grant_is_kept_for_the_retry(db, wechat):
    _, message = _subscribed_message()
    wechat.token_errcode = -1
    assert outbox.dispatch(worker="test") == {"transient": 1}
    db.refresh(message)
    assert (message.state, message.attempts, message.holds_grant) == (MessageState.PENDING, 1, False)
    assert db.scalar(select(Subscription.credits)) == 1
    wechat.token_errcode = 0
    _dispatch_until_done()
    assert len(wechat.delivered) == 1
