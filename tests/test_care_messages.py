"""Contact with the family doctor (basic package item 2): residents write to their team, the text checked by WeChat's
content security API (msgSecCheck v2, through the WeChat client, against the stand-in) before it is stored; the
team's inbox, oldest unanswered first; answers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from care.fulfilment_models import Conversation, ConversationMessage
from core import clock
from tests import factories as f
from tests.packages_support import signed, site


def _rows(db) -> tuple[int, int]:
    return (db.scalar(select(func.count()).select_from(Conversation)),
            db.scalar(select(func.count()).select_from(ConversationMessage)))


def _write(client, person, content="医生您好，我最近血压有点高，需要调整药吗？", **body):
    return client.post("/api/v1/me/messages", json={"content": content, **body}, headers=f.as_resident(person))


@pytest.fixture
def place(db):
    return site()


@pytest.fixture
def wang(client, place):
    return signed(client, place, born=date(1950, 6, 1), openid="wx-msg-wang")


def test_a_resident_writes_to_their_team_once_wechat_passed_the_text(client, db, wechat, place, wang):
    response = _write(client, wang)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["author"], body["resident_author_id"], body["text_check"]) == ("resident", wang.id, "pass")
    [check] = wechat.calls_to("msg_sec_check")
    assert {key: check[key] for key in ("content", "version", "scene", "openid")} == {
        "content": "医生您好，我最近血压有点高，需要调整药吗？", "version": 2, "scene": 1, "openid": "wx-msg-wang"}
    assert check["access_token"].startswith("token-") and wechat.calls_to("stable_token")
    thread = db.scalar(select(Conversation))
    assert (thread.resident_id, thread.centre_id, thread.team_id) == (wang.id, place.centre.id, place.team_id)


def test_risky_text_is_refused_422_and_not_stored(client, db, wechat, wang):
    response = _write(client, wang, content="这里有违禁内容")
    assert response.status_code == 422
    assert "content" in response.get_json()["errors"]["json"]
    assert _rows(db) == (0, 0)


def test_text_wechat_suggests_reviewing_is_stored_and_flagged_for_the_team(client, wechat, place, wang):
    assert _write(client, wang, content="一段待审内容").status_code == 201
    thread = client.get(f"/api/v1/residents/{wang.id}/messages", headers=f.as_staff(place.doctor)).get_json()["items"]
    assert [(m["content"], m["text_check"]) for m in thread] == [("一段待审内容", "review")]


@pytest.mark.parametrize("failure", ["5xx", -1, 40003])
def test_when_wechat_cannot_check_the_text_nothing_is_stored_502(client, db, wechat, wang, failure):
    wechat.fail_text_check(failure)
    response = _write(client, wang)
    assert response.status_code == 502, response.get_json()
    assert _rows(db) == (0, 0)


def test_a_check_that_does_not_answer_in_time_is_502_and_nothing_is_stored(client, db, wechat, wang):
    wechat.slow_seconds = 1.5  # the client gives up after 1 s
    wechat.fail_text_check("timeout")
    response = _write(client, wang)
    assert response.status_code == 502 and _rows(db) == (0, 0)
    wechat.slow_seconds = 3.0


def test_a_token_wechat_rejects_is_fetched_again_and_the_check_tried_once_more(client, wechat, wang):
    wechat.fail_text_check(40001)
    assert _write(client, wang).status_code == 201
    assert len(wechat.calls_to("msg_sec_check")) == 2 and len(wechat.calls_to("stable_token")) == 2


def test_a_resident_with_no_agreement_in_force_has_no_team_to_write_to_409(client, db, wechat):
    site()
    stranger = f.resident(openid="wx-msg-unsigned")
    response = _write(client, stranger)
    assert response.status_code == 409 and _rows(db) == (0, 0)
    assert wechat.calls_to("msg_sec_check") == []  # nothing sent to WeChat either


def test_writing_for_someone_outside_the_household_is_404(client, db, wechat, place, wang):
    other = signed(client, place, born=date(1960, 1, 1), openid="wx-msg-other")
    response = _write(client, wang, resident_id=other.id)
    assert response.status_code == 404 and _rows(db) == (0, 0)


def test_a_blank_message_is_422(client, db, wechat, wang):
    for content in ("", "   "):
        response = _write(client, wang, content=content)
        assert response.status_code == 422 and "content" in response.get_json()["errors"]["json"]
    assert _rows(db) == (0, 0)


def test_a_parent_writes_for_their_child_to_the_childs_team(client, db, wechat, place):
    child = signed(client, place, born=date(2024, 1, 1))
    parent = next(member for member in child.household.members if member.id != child.id)
    parent.openid = "wx-msg-parent"
    db.commit()
    response = _write(client, parent, content="孩子发烧了", resident_id=child.id)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["resident_author_id"] == parent.id
    assert db.scalar(select(Conversation.resident_id)) == child.id
    mine = client.get(f"/api/v1/me/messages?resident_id={child.id}", headers=f.as_resident(parent)).get_json()["items"]
    assert [m["content"] for m in mine] == ["孩子发烧了"]


def test_the_team_inbox_shows_threads_waiting_longest_first_with_their_age(client, db, wechat, place, wang):
    li = signed(client, place, born=date(1960, 1, 1), openid="wx-msg-li")
    assert _write(client, wang).status_code == 201
    clock.advance(timedelta(hours=5))
    assert _write(client, li, content="请问体检什么时候？").status_code == 201
    assert _write(client, wang, content="还有，药快吃完了").status_code == 201
    clock.advance(timedelta(hours=2))
    response = client.get("/api/v1/inbox", headers=f.as_staff(place.doctor))
    assert response.status_code == 200, response.get_json()
    assert [(e["resident_id"], e["waiting_hours"], e["unanswered"]) for e in response.get_json()["items"]] == [
        (wang.id, 7, 2), (li.id, 2, 1)]

    answered = client.post(f"/api/v1/residents/{wang.id}/messages", json={"content": "请明天上午来卫生院复查血压"},
                           headers=f.as_staff(place.doctor))
    assert answered.status_code == 201 and answered.get_json()["author"] == "staff"
    waiting = client.get("/api/v1/inbox", headers=f.as_staff(place.admin)).get_json()["items"]
    assert [e["resident_id"] for e in waiting] == [li.id]
    thread = client.get("/api/v1/me/messages", headers=f.as_resident(wang)).get_json()["items"]
    assert [m["author"] for m in thread] == ["resident", "resident", "staff"]


def test_the_inbox_comes_a_page_at_a_time(client, wechat, place):
    people = [signed(client, place, born=date(1960, 1, 1), openid=f"wx-msg-{n}") for n in range(3)]
    for person in people:
        assert _write(client, person).status_code == 201
        clock.advance(timedelta(minutes=1))
    doctor = f.as_staff(place.doctor)
    first = client.get("/api/v1/inbox?limit=2", headers=doctor).get_json()
    second = client.get(f"/api/v1/inbox?limit=2&cursor={first['next_cursor']}", headers=doctor).get_json()
    assert [e["resident_id"] for e in first["items"] + second["items"]] == [person.id for person in people]
    assert second["next_cursor"] is None


def test_staff_of_another_centre_cannot_answer_or_read_a_thread_403(client, db, wechat, wang):
    assert _write(client, wang).status_code == 201
    stranger = f.as_staff(site().doctor)
    before = _rows(db)
    assert client.post(f"/api/v1/residents/{wang.id}/messages", json={"content": "你好"}, headers=stranger).status_code == 403
    assert client.get(f"/api/v1/residents/{wang.id}/messages", headers=stranger).status_code == 403
    assert _rows(db) == before


def test_an_answer_to_a_question_is_contact_and_service_a_note_from_the_team_only_contact(client, db, wechat, place):
    def ledger(person):
        agreement_id = client.get("/api/v1/me/agreements", headers=f.as_resident(person)).get_json()["items"][0]["id"]
        found = client.get(f"/api/v1/agreements/{agreement_id}/fulfilment", headers=f.as_staff(place.doctor)).get_json()
        contact = next(line["delivered"] for line in found["lines"] if line["item_code"] == "named-doctor")
        return contact, found["served"]

    asked = signed(client, place, born=date(1960, 1, 1), openid="wx-msg-asked")
    told = signed(client, place, born=date(1961, 1, 1), openid="wx-msg-told")
    assert _write(client, asked).status_code == 201
    assert ledger(asked) == (0, False)
    for person in (asked, told):
        response = client.post(f"/api/v1/residents/{person.id}/messages", json={"content": "请按时服药"},
                               headers=f.as_staff(place.doctor))
        assert response.status_code == 201
    assert ledger(asked) == (1, True)
    assert ledger(told) == (1, False)
