"""Policy profiles as versioned, validated data (issue part A; POLICY.md: one profile per region, as data)."""

from __future__ import annotations

import copy
import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
import requests

from core import clock
from core.models import AuditEvent
from registry import profiles
from registry.models import PolicyProfile, PolicyProfileVersion, Region
from settlement import service as settlement
from tests import factories as f
from tests.county_helpers import as_admin, count
from tests.live import live_server
from tests.settlement_helpers import agreement, as_bureau

HUNAN = json.loads((profiles.SHIPPED / "hunan-2025.json").read_text(encoding="utf-8"))


def _load(client, profile, effective_from="2026-01-01", region="430523"):
    return client.post("/api/v1/policy-profiles", headers=as_admin(region),
                       json={"profile": profile, "effective_from": effective_from})


def _with(**settlement):
    profile = copy.deepcopy(HUNAN)
    profile["settlement"] = settlement
    return profile


def test_capitation_rules_are_the_ones_settlement_knows():
    assert set(profiles.CAPITATION_RULES) == set(settlement.RULES)


@pytest.mark.parametrize("path", profiles.shipped_files(), ids=lambda p: p.stem)
def test_shipped_profile_files_are_valid_and_match_the_profiles_in_the_database(db, path):
    parsed = profiles.parse_profile(profiles.read_file(path))
    row = db.get(PolicyProfile, parsed.code)
    assert parsed.code == path.stem
    assert parsed.as_json()["settlement"] == row.settlement
    assert all(parsed.as_json()[name] == getattr(row, name) for name in profiles.ROW_FIELDS)


def test_the_four_regions_profiles_are_shipped_as_files():
    assert {p.stem for p in profiles.shipped_files()} == {"hunan-2025", "shaoyang-2019", "zhanjiang-2024", "guangdong-2025"}


def test_unknown_capitation_rule_is_refused_naming_the_field_and_nothing_is_written(client):
    before = count(PolicyProfileVersion)
    response = _load(client, _with(rule="prepaid", fee_fen_per_year=8500, pay_share="0.90"))
    assert response.status_code == 422
    assert "profile.settlement.rule" in response.get_json()["errors"]["json"]
    assert count(PolicyProfileVersion) == before


def test_missing_share_of_the_rule_is_refused_naming_the_field(client):
    before = count(PolicyProfileVersion)
    response = _load(client, _with(rule="reserve", fee_fen_per_year=4000))
    assert response.status_code == 422
    assert "profile.settlement.reserve_share" in response.get_json()["errors"]["json"]
    assert count(PolicyProfileVersion) == before


def test_misspelt_parameter_is_refused_as_an_unknown_field(client):
    before = count(PolicyProfileVersion)
    response = _load(client, _with(rule="prepay", fee_fen_per_year=8500, pay_share="0.90", pay_shares="0.9"))
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"]["profile.settlement.pay_shares"] == ["Unknown field."]
    assert count(PolicyProfileVersion) == before


def test_share_of_another_rule_is_refused(client):
    before = count(PolicyProfileVersion)
    response = _load(client, _with(rule="prepay", fee_fen_per_year=8500, pay_share="0.90", reserve_share="0.2"))
    assert response.status_code == 422
    assert "profile.settlement.reserve_share" in response.get_json()["errors"]["json"]
    assert count(PolicyProfileVersion) == before


def test_share_above_one_and_fee_not_a_number_are_both_named(client):
    before = count(PolicyProfileVersion)
    response = _load(client, _with(rule="prepay", fee_fen_per_year="85", pay_share="1.5"))
    assert response.status_code == 422
    assert {"profile.settlement.pay_share", "profile.settlement.fee_fen_per_year"} <= set(response.get_json()["errors"]["json"])
    assert count(PolicyProfileVersion) == before


def test_overlapping_age_groups_are_refused_as_they_would_count_a_person_twice(client):
    groups = [{"group": "0-6", "max_age": 6, "fee_fen_per_year": 9000}, {"group": "5-10", "min_age": 5, "max_age": 10,
                                                                          "fee_fen_per_year": 7000}]
    before = count(PolicyProfileVersion)
    response = _load(client, _with(rule="prepay", fee_fen_per_year=6000, pay_share="1", age_groups=groups))
    assert response.status_code == 422
    assert "profile.settlement.age_groups.1" in response.get_json()["errors"]["json"]
    assert count(PolicyProfileVersion) == before


def test_a_float_share_is_kept_as_exact_decimal_text():
    parsed = profiles.parse_profile(_with(rule="prepay", fee_fen_per_year=8500, pay_share=0.9))
    assert parsed.as_json()["settlement"]["pay_share"] == "0.9"


def test_county_administrator_loads_a_new_version_effective_today(client):
    response = _load(client, _with(rule="prepay", fee_fen_per_year=9000, pay_share="0.90"), effective_from="2026-03-01")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["version"] == 3  # 1 from before versions, 2 from migration 0015
    profile = client.get("/api/v1/policy-profiles").get_json()["items"]
    assert next(p for p in profile if p["code"] == "hunan-2025")["settlement"]["fee_fen_per_year"] == 9000
    assert count(AuditEvent, AuditEvent.action == "profile.load") == 1


def test_loading_the_same_profile_and_date_again_changes_nothing(client):
    assert _load(client, HUNAN, "2026-03-01").status_code == 201
    again = _load(client, HUNAN, "2026-03-01")
    assert again.status_code == 200
    assert count(PolicyProfileVersion, PolicyProfileVersion.code == "hunan-2025") == 3  # 2 of them from migrations


def test_county_administrator_cannot_change_a_profile_used_outside_their_county(client, db):
    f.regions()  # hunan-2025 is 邵阳县's profile; 新邵县's administrator does not administer it
    before = count(PolicyProfileVersion)
    response = _load(client, _with(rule="prepay", fee_fen_per_year=1, pay_share="0.90"), region="430522")
    assert response.status_code == 403
    assert count(PolicyProfileVersion) == before


def test_a_version_for_a_future_date_takes_effect_on_its_day(client, db):
    assert _load(client, _with(rule="prepay", fee_fen_per_year=9900, pay_share="0.90"), "2026-07-01").status_code == 201
    assert db.get(PolicyProfile, "hunan-2025").settlement["fee_fen_per_year"] == 8500
    assert profiles.apply_due(date(2026, 6, 30)) == []
    assert profiles.apply_due(date(2026, 7, 1)) == ["hunan-2025"]
    assert db.get(PolicyProfile, "hunan-2025").settlement["fee_fen_per_year"] == 9900


def test_frozen_month_keeps_the_profile_version_it_was_computed_with(client, db):
    f.regions()
    centre = f.centre()
    for _ in range(12):
        agreement(f.resident(), centre)
    clock.set_today(date(2026, 3, 1), hour=0)
    settlement.freeze_month("2026-03")
    march = client.get("/api/v1/settlement/capitation?region=430523&period=2026-03", headers=as_bureau())
    assert march.get_json()["centres"][0]["fund_fen"] == 8500  # 12 x 85 yuan / 12
    # A retroactive version (a higher fee from January) does not reprice the frozen month; April gets it.
    assert _load(client, _with(rule="prepay", fee_fen_per_year=12000, pay_share="0.90"), "2026-01-01").status_code == 201
    again = client.get("/api/v1/settlement/capitation?region=430523&period=2026-03", headers=as_bureau())
    assert again.get_json()["centres"] == march.get_json()["centres"]
    clock.set_today(date(2026, 4, 1), hour=0)
    settlement.freeze_month("2026-04")
    april = client.get("/api/v1/settlement/capitation?region=430523&period=2026-04", headers=as_bureau())
    assert april.get_json()["centres"][0]["fund_fen"] == 12000


def test_cli_refuses_a_typo_naming_the_field_and_writes_nothing(app, db, tmp_path):
    broken = tmp_path / "typo.json"
    broken.write_text(json.dumps(_with(rule="reserve", fee_fen_per_year=4000, reserve_shar="0.2"), ensure_ascii=False))
    before = count(PolicyProfileVersion)
    result = app.test_cli_runner().invoke(args=["registry", "load-profile", str(broken), "--effective-from", "2026-01-01"])
    assert result.exit_code == 1
    assert "settlement.reserve_shar: Unknown field." in result.output
    assert "settlement.reserve_share: Missing data" in result.output
    assert count(PolicyProfileVersion) == before


def test_a_new_region_is_a_new_file_loaded_by_the_cli(app, db, tmp_path):
    new = {**copy.deepcopy(HUNAN), "code": "changsha-2026", "name": "长沙市 2026"}
    path = tmp_path / "changsha-2026.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(new, ensure_ascii=False).encode())  # a BOM, as Windows editors write
    runner = app.test_cli_runner()
    result = runner.invoke(args=["registry", "load-profile", str(path), "--effective-from", "2026-01-01"])
    assert result.exit_code == 0, result.output
    assert "changsha-2026 version 1 loaded" in result.output
    db.add(Region(code="430100", name="长沙市", profile_code="changsha-2026"))
    db.flush()
    assert "already loaded" in runner.invoke(args=["registry", "load-profile", str(path), "--effective-from",
                                                   "2026-01-01"]).output
    assert [e.actor for e in db.query(AuditEvent).filter_by(action="profile.load")][0].startswith("cli:")


def test_a_profile_file_may_be_yaml_and_is_loaded_by_the_cli(app, db, tmp_path):
    path = tmp_path / "changsha-2026.yaml"
    path.write_text("code: changsha-2026\nname: 长沙市 2026\ncycle_start_month: 1\ncycle_start_day: 1\n"
                    "change_period_start: '10-01'\nchange_period_end: '12-31'\nauto_renew: true\n"
                    "default_assignment: false\nmax_term_years: 3\n"
                    "settlement:\n  rule: prepay\n  fee_fen_per_year: 8500\n  pay_share: '0.90'\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["registry", "load-profile", str(path), "--effective-from", "2026-01-01"])
    assert result.exit_code == 0, result.output
    assert db.get(PolicyProfile, "changsha-2026").settlement == {"rule": "prepay", "fee_fen_per_year": 8500,
                                                                 "pay_share": "0.90"}


CHANGSHA_YAML = ("code: changsha-2026\nname: 长沙市 2026\ncycle_start_month: 1\ncycle_start_day: 1\n"
                 "change_period_start: '10-01'\nchange_period_end: '12-31'\nauto_renew: true\n"
                 "default_assignment: false\nmax_term_years: 3\n"
                 "settlement:\n  rule: prepay\n  fee_fen_per_year: 8500\n  pay_share: '0.90'\n")


def _upload_profile(client, content: bytes, filename: str, region: str = "430523", effective_from: str = "2026-01-01"):
    return client.post("/api/v1/policy-profiles/files", headers=as_admin(region), content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), filename), "effective_from": effective_from})


def test_a_yaml_profile_file_is_loaded_through_the_api_and_the_same_file_again_is_already_loaded(client, db):
    first = _upload_profile(client, CHANGSHA_YAML.encode(), "changsha-2026.yaml")
    assert first.status_code == 201, first.get_json()
    assert db.get(PolicyProfile, "changsha-2026").settlement["fee_fen_per_year"] == 8500
    again = _upload_profile(client, CHANGSHA_YAML.encode(), "changsha-2026.yaml")
    assert again.status_code == 200 and again.get_json()["version"] == first.get_json()["version"]


def test_a_profile_file_with_a_typo_or_not_a_mapping_uploaded_is_422_naming_it_and_writes_nothing(client, db):
    before = count(PolicyProfileVersion)
    typo = _upload_profile(client, "code: changsha-2026\nnmae: 长沙市\n".encode(), "typo.yml")
    assert typo.status_code == 422 and "nmae" in str(typo.get_json()["errors"])
    listed = _upload_profile(client, b"- code\n- name\n", "list.yaml")
    assert listed.status_code == 422 and "file" in str(listed.get_json()["errors"])
    broken = _upload_profile(client, b"{not json", "profile.json")
    assert broken.status_code == 422 and "file" in str(broken.get_json()["errors"])
    assert count(PolicyProfileVersion) == before


def test_only_an_administrator_uploads_a_profile_file(client, db, centres):
    response = client.post("/api/v1/policy-profiles/files", headers=f.as_staff(f.staff(centre=centres["home"])),
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(CHANGSHA_YAML.encode()), "p.yaml"), "effective_from": "2026-01-01"})
    assert response.status_code == 403
    assert db.get(PolicyProfile, "changsha-2026") is None


def test_a_yaml_profile_with_a_typo_is_refused_naming_the_field_and_writes_nothing(app, db, tmp_path):
    path = tmp_path / "typo.yml"
    path.write_text("code: changsha-2026\nnmae: 长沙市\n", encoding="utf-8")
    before = count(PolicyProfileVersion)
    result = app.test_cli_runner().invoke(args=["registry", "load-profile", str(path), "--effective-from", "2026-01-01"])
    assert result.exit_code == 1
    assert "nmae: Unknown field." in result.output
    assert count(PolicyProfileVersion) == before


def test_a_county_cannot_take_up_a_profile_another_county_settles_under(client, db):
    f.regions()  # zhanjiang-2024 is 遂溪县's: 邵阳县 taking it up would take its versions out of 遂溪县's hands
    response = client.patch("/api/v1/admin/regions/430523", headers=as_admin("430523"),
                            json={"profile_code": "zhanjiang-2024"})
    assert response.status_code == 403
    assert db.get(Region, "430523").profile_code == "hunan-2025"
    assert _load(client, {**copy.deepcopy(HUNAN), "code": "zhanjiang-2024"}, region="440823").status_code == 201


def test_a_profile_file_says_whether_signing_names_a_village_clinic_and_the_loaded_row_follows(client, db):
    new = {**copy.deepcopy(HUNAN), "code": "maoming-2026", "name": "茂名市 2026", "requires_village_clinic": True}
    assert _load(client, new).status_code == 201
    assert db.get(PolicyProfile, "maoming-2026").requires_village_clinic is True
    listed = client.get("/api/v1/policy-profiles?limit=100").get_json()["items"]
    assert next(p for p in listed if p["code"] == "maoming-2026")["requires_village_clinic"] is True


def test_requires_village_clinic_that_is_not_a_boolean_is_refused_naming_the_field(client):
    before = count(PolicyProfileVersion)
    response = _load(client, {**copy.deepcopy(HUNAN), "requires_village_clinic": "yes"})
    assert response.status_code == 422
    assert "profile.requires_village_clinic" in response.get_json()["errors"]["json"]
    assert count(PolicyProfileVersion) == before


def test_a_version_loaded_before_profiles_named_the_village_clinic_rule_leaves_the_rule_as_it_was(db):
    row = db.get(PolicyProfile, "zhanjiang-2024")
    legacy = PolicyProfileVersion(code=row.code, version=row.version + 1, effective_from=date(2026, 1, 1),
                                  body={k: v for k, v in profiles.version_on(row.code, date(2026, 1, 1)).body.items()
                                        if k != "requires_village_clinic"}, loaded_by="test")
    db.add(legacy)
    db.flush()
    profiles.apply_due(date(2026, 3, 16))
    assert row.version == legacy.version and row.requires_village_clinic is True


def test_parallel_first_loads_of_a_new_profile_make_one_version_and_no_500(app, settings, tmp_path):
    new = {**copy.deepcopy(HUNAN), "code": "yueyang-2026", "name": "岳阳市 2026"}
    with live_server(settings, tmp_path, restore=app) as (live_app, base_url):
        with live_app.app_context():
            f.regions()
            headers = as_admin("430523")
        load = lambda: requests.post(f"{base_url}/api/v1/policy-profiles", headers=headers, timeout=60,  # noqa: E731
                                     json={"profile": new, "effective_from": "2026-01-01"}).status_code
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = Counter(pool.map(lambda _: load(), range(8)))
        assert statuses == Counter({201: 1, 200: 7})
        with live_app.app_context():
            assert count(PolicyProfileVersion, PolicyProfileVersion.code == "yueyang-2026") == 1
