"""Write the demo county's export files once (deterministic): `python -m demo.generate`.

They look like what a county's current system exports: Chinese headers, residents with households, chronic
conditions, pregnancies, key-population tags and health record numbers (UTF-8 with a BOM), and the agreements
already signed this cycle (GBK, as Excel writes them in China); beside them the county bureau's file of the people it
insures (`insurance.csv`). About 320 residents of two centres, dated for DEMO_DATE (registry.demo):
children 0–6, pregnant women, people of 65+ and 80+, hypertension and diabetes patients, most of them signed.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta
from pathlib import Path

from registry.demo import CENTRES, DEMO_DATE
from registry.idcard import check_character

OUT = Path(__file__).parent / "county"
SEED = 2026
PEOPLE = {"430523-TDK": 240, "430523-BC": 80}
SURNAMES = "王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗梁宋郑谢唐许邓冯曾彭"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国红梅玉珍德荣志凤春海燕"
RESIDENT_HEADER = ["序号", "姓名", "身份证号", "性别", "出生日期", "联系电话", "户号", "参保类型", "参保地", "村卫生室", "慢病",
                   "确诊日期", "末次月经", "重点人群", "健康档案编号"]
AGREEMENT_HEADER = ["姓名", "身份证号", "签约日期", "签约年度", "签约方式", "签约年限", "村卫生室", "签约团队", "服务包"]
# The county bureau's insured-person file (registry.insurance's file path): its own insured, from the year's start.
INSURANCE_HEADER = ["身份证号", "险种类型", "参保地", "开始日期"]
NO_HEALTH_RECORD_EVERY = 10  # every so many people have no health record yet (not an effective signing)


def _birth(rng: random.Random) -> date:
    """Ages so that every programme has people: 0–6, 7–17, adults, 65–79, 80+."""
    roll = rng.random()
    years = (rng.uniform(0.05, 6.9) if roll < 0.10 else rng.uniform(7, 17.9) if roll < 0.17 else
             rng.uniform(18, 64.9) if roll < 0.70 else rng.uniform(65, 79.9) if roll < 0.91 else rng.uniform(80, 94))
    return DEMO_DATE - timedelta(days=int(years * 365.25))


def _id_number(birth: date, serial: int, male: bool) -> str:
    sequence = (serial * 2 + (1 if male else 0)) % 1000
    first17 = f"430523{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def _write(path: Path, header: list[str], rows: list[list], encoding: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().encode(encoding))


def generate(out: Path = OUT) -> None:
    rng = random.Random(SEED)
    serial, insured = 0, []
    for code, name, _, _, windows, teams in CENTRES:
        if code not in PEOPLE:
            continue
        residents, agreements, household = [], [], 0
        left = PEOPLE[code]
        while left > 0:
            household += 1
            surname, village = rng.choice(SURNAMES), rng.choice(windows)
            for _ in range(min(left, rng.choice((1, 2, 2, 3, 3, 4)))):
                left -= 1
                serial += 1
                birth = _birth(rng)
                male = rng.random() < 0.5
                age = (DEMO_DATE - birth).days / 365.25
                person = surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
                conditions = [label for label, share in (("高血压", 0.30), ("2型糖尿病", 0.12)) if age >= 35 and rng.random() < share]
                diagnosed = (DEMO_DATE - timedelta(days=rng.randrange(200, 3000))).isoformat() if conditions else ""
                pregnant = not male and 21 <= age <= 38 and rng.random() < 0.25
                lmp = (DEMO_DATE - timedelta(days=rng.randrange(30, 250))).isoformat() if pregnant else ""
                tags = "、".join(t for t, share in (("残疾人", 0.03), ("脱贫人口", 0.04)) if rng.random() < share)
                roll = rng.random()
                scheme, region = (("城乡居民", "430523") if roll < 0.90 else ("职工", "430523") if roll < 0.95 else
                                  ("城乡居民", "430522") if roll < 0.98 else ("未参保", ""))
                phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}" if age >= 18 and rng.random() < 0.8 else ""
                number = _id_number(birth, serial, male)
                residents.append([serial, person, number, "男" if male else "女", birth.isoformat(), phone,
                                  f"{code}-{household:04d}", scheme, region, village, "、".join(conditions), diagnosed, lmp,
                                  tags, f"430523{serial:011d}" if serial % NO_HEALTH_RECORD_EVERY else ""])
                if region == "430523":
                    insured.append([number, scheme, region, "2026-01-01"])
                priority = conditions or pregnant or age < 7 or age >= 65
                if rng.random() < (0.92 if priority else 0.6):
                    start = max(date(2026, 1, 4) + timedelta(days=rng.randrange(300)), birth + timedelta(days=7))
                    channel = rng.choices(["现场签约", "线上签约", "默认签约", "续约"], [50, 25, 20, 5])[0]
                    team = teams[0] if village in windows[::2] or len(teams) == 1 else teams[1]
                    agreements.append([person, number, start.isoformat(), "2026", channel, "1", village, team, ""])
        _write(out / code / "residents.csv", RESIDENT_HEADER, residents, "utf-8-sig")
        _write(out / code / "agreements.csv", AGREEMENT_HEADER, agreements, "gbk")
        print(f"{code} {name}: {len(residents)} residents, {len(agreements)} agreements")
    _write(out / "insurance.csv", INSURANCE_HEADER, insured, "gbk")
    print(f"邵阳县医保局: {len(insured)} insured people")


if __name__ == "__main__":
    generate()
