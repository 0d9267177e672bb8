"""The service-package catalogue, 2025 edition: annex 1 of seeds/000 (POLICY.md "Packages"), as data.

Every package and service item the annex lists, in its order. An item says what it is (`kind`), how
often (`frequency`, as the annex states it; "as agreed" where the annex leaves it to the agreement)
and for whom (`population`: a key-population or condition tag from packages.populations; None =
every signed resident). A package's `eligible` tags say who may choose it (None = everyone).
Migration 0004 loads these rows; a new edition is a new tuple here and a new migration.
"""

from __future__ import annotations

from dataclasses import dataclass

EDITION = "2025"

BASIC, VALUE_ADDED, PERSONALISED = "basic", "value_added", "personalised"
TIERS = (BASIC, VALUE_ADDED, PERSONALISED)
MANDATORY_TIERS = (BASIC, VALUE_ADDED)  # free to the resident, signed together [000 §二(一)1–2]

# Kinds of service item.
VISIT, TEST, SCREENING, GUIDANCE, HOME_SERVICE = "visit", "test", "screening", "guidance", "home_service"
RECORD, CONTACT, APPOINTMENT, TREATMENT, MEDICINE = "record", "contact", "appointment", "treatment", "medicine"
KINDS = (VISIT, TEST, SCREENING, GUIDANCE, HOME_SERVICE, RECORD, CONTACT, APPOINTMENT, TREATMENT, MEDICINE)

AS_AGREED = "as agreed"
PER_NEED = "per need"


@dataclass(frozen=True)
class Item:
    code: str
    kind: str
    title: str
    frequency: str = AS_AGREED
    population: str | None = None


@dataclass(frozen=True)
class Package:
    code: str
    tier: str
    title: str
    items: tuple[Item, ...]
    eligible: tuple[str, ...] | None = None


def _items(population: str | None, *specs: tuple[str, str, str]) -> tuple[Item, ...]:
    """Personalised-pack items: (code, kind, title), frequency as agreed with the centre."""
    return tuple(Item(code, kind, title, AS_AGREED, population) for code, kind, title in specs)


_ROUTINE_TESTS = (
    ("urine-routine", "尿常规检查"),
    ("stool-routine", "粪便常规检查"),
    ("abo-typing", "ABO红细胞定型"),
    ("blood-cell-analysis", "血细胞分析"),
    ("glucose", "葡萄糖测定"),
    ("hba1c", "糖化血红蛋白测定"),
    ("lipids-two", "血脂两项测定"),
    ("ecg", "常规心电图检查"),
    ("minor-suture", "小清创缝合"),
    ("minor-dressing", "小换药"),
)

_TCM_CARE = ("tcm-care", TREATMENT, "体质辨识与指导、艾灸、拔罐、推拿、刮痧、耳穴埋豆、穴位贴敷等")

PACKAGES_2025: tuple[Package, ...] = (
    Package("basic", BASIC, "基础服务包", (
        Item("health-record", RECORD, "建立电子健康档案，实时动态更新签约居民健康管理和诊疗相关信息", "continuous"),
        Item("named-doctor", CONTACT, "明确家庭医生和联系人，通过电话、微信、信息平台等方式建立互动联系，指导自我健康管理", "continuous"),
        Item("health-guidance", GUIDANCE, "健康指导：普及健康素养知识与技能（含减盐减油），指导定期体检", "continuous"),
        Item("health-lecture", GUIDANCE, "健康知识讲座，提前发布有关信息", "at least 1 a month"),
        Item("appointment", APPOINTMENT, "预约诊疗：门急诊预约、急诊绿色通道、帮助预约上级医院转诊", PER_NEED),
    )),
    Package("value-added", VALUE_ADDED, "增值服务包", (
        # (一) public health services
        Item("chronic-follow-up", VISIT, "慢病患者面对面随访：常规检查、口腔视力听力运动功能判断、服药指导、危急情况评估与转诊",
             "4 a year", "chronic"),
        Item("elderly-health-check", TEST, "老年人健康管理：生活方式与健康状况评估、体格检查、血尿常规、肝肾功能、空腹血糖、血脂四项、心电图、腹部B超",
             "1 a year", "elderly_65"),
        Item("elderly-tcm", GUIDANCE, "老年人中医药健康管理：中医体质辨识和中医药保健指导", "1 a year", "elderly_65"),
        Item("elderly-home-visit", HOME_SERVICE, "80岁以上老年人上门健康随访，提供药学、护理等服务", "at least 1 a year", "elderly_80"),
        Item("newborn-home-visit", HOME_SERVICE, "新生儿家庭访视：喂养、睡眠、大小便、黄疸、口腔发育", "once", "child_0_6"),
        Item("full-month-check", VISIT, "新生儿满月健康管理", "once", "child_0_6"),
        Item("infant-visits", VISIT, "婴幼儿健康管理随访（3、6、8、12、18、24、30、36月龄）", "8 visits", "child_0_6"),
        Item("child-blood-test", TEST, "血常规检测（6—8、18、30月龄）", "3 tests", "child_0_6"),
        Item("child-hearing-screening", SCREENING, "听力筛查（6、12、24、36月龄）", "4 screenings", "child_0_6"),
        Item("preschool-check", VISIT, "学龄前儿童健康管理：体格检查、心理行为发育评估、血常规、视力筛查、健康指导",
             "1 a year (4–6 years)", "child_0_6"),
        Item("child-tcm-guidance", GUIDANCE, "儿童家长中医药健康指导（6、12、18、24、30月龄）", "5 sessions", "child_0_6"),
        Item("vaccination", GUIDANCE, "预防接种档案与按免疫程序通知接种；疑似预防接种异常反应处理和报告",
             "per immunisation schedule", "child_0_6"),
        Item("prenatal-care", VISIT, "孕早、中、晚期健康管理：母子健康手册、产前检查、健康状况评估、常规检测",
             "early, mid and late pregnancy", "pregnant"),
        Item("postpartum-home-visit", HOME_SERVICE, "产后访视", "once", "postpartum"),
        Item("postpartum-42-day-check", VISIT, "产后42天健康检查", "once", "postpartum"),
        # (二) outpatient services
        Item("registration", APPOINTMENT, "挂号（含线上预约）", PER_NEED),
        Item("medical-record", RECORD, "建立电子病历，核实信息，询问病情，听取主诉，病史采集", PER_NEED),
        Item("physical-exam", TEST, "一般体格检查：体温、脉搏、呼吸、血压、皮肤、头颈、胸部、腹部、四肢、关节", PER_NEED),
        Item("orders-and-plan", TREATMENT, "开具检查单，根据病情提供治疗方案", PER_NEED),
        Item("injection", TREATMENT, "根据治疗方案提供注射服务", PER_NEED),
        Item("insurance-list", TREATMENT, "除特定政策清单项目外的基本医保目录内项目", PER_NEED),
        Item("common-drugs", MEDICINE, "特定政策清单：常用药品不低于20种", PER_NEED),
        *(Item(f"routine-{code}", TEST, f"特定政策清单常规项目：{title}", PER_NEED) for code, title in _ROUTINE_TESTS),
    )),
    Package("elderly", PERSONALISED, "老年人健康包", _items(
        "elderly_65",
        ("home-rounds", HOME_SERVICE, "上门巡诊"),
        ("lab-panel", TEST, "血常规、尿常规、肝功能、肾功能、血脂、肿瘤五项、血糖检测"),
        ("ecg", TEST, "心电图检查"),
        ("fundoscopy", TEST, "眼底镜检查"),
        ("chest-fluoroscopy", TEST, "胸部透视（只曝光，不出片）"),
        ("carotid-ultrasound", TEST, "颈动脉彩超检查"),
        ("abdominal-ultrasound", TEST, "肝、胆、脾、胰腺、双肾彩超（女性可加子宫、附件；男性可加膀胱、前列腺）"),
        _TCM_CARE,
    ), eligible=("elderly_65",)),
    Package("child", PERSONALISED, "儿童健康包", _items(
        "child_0_6",
        ("physical-exam", TEST, "皮肤、五官、心肺、腹部、四肢等体格检查"),
        ("growth-assessment", SCREENING, "身高、体重、头围、骨密度测定等生长发育评估"),
        ("lab-panel", TEST, "微量元素六项、眼视力、IG蛋白全套、贫血四项检查"),
        ("tcm-care", TREATMENT, "中医辨证论治与膳食调理、摩腹、捏脊、穴位按揉等"),
    ), eligible=("child_0_6",)),
    Package("maternal", PERSONALISED, "孕产妇健康包", _items(
        "pregnant",
        ("monitoring", SCREENING, "血压、体重、宫高腹围监测"),
        ("lab-panel", TEST, "血型、血常规、凝血五项、尿常规、肝功能、肾功能、胎心监测、糖耐量、血糖检测"),
        ("imaging", TEST, "B超、心电图检查"),
        ("tcm-care", TREATMENT, "中医辨证论治与膳食调理、针灸、穴位按摩等"),
    ), eligible=("pregnant", "postpartum")),
    Package("hypertension", PERSONALISED, "高血压管理服务包", _items(
        "hypertension",
        ("home-rounds", HOME_SERVICE, "上门巡诊"),
        ("lab-panel", TEST, "血常规、尿常规、肝功能、肾功能、血脂、血糖检测"),
        ("fundus-exam", TEST, "眼底检查"),
        ("ecg", TEST, "心电图检查"),
        ("cardiac-ultrasound", TEST, "心脏、颈部血管彩超检查"),
        _TCM_CARE,
    ), eligible=("hypertension",)),
    Package("diabetes", PERSONALISED, "糖尿病管理服务包", _items(
        "diabetes",
        ("home-rounds", HOME_SERVICE, "上门巡诊"),
        ("lab-panel", TEST, "血糖、血常规、尿常规、肝功能、肾功能、血脂检测"),
        ("urine-protein-hba1c", TEST, "尿蛋白定量、糖化血红蛋白检测"),
        ("fundus-exam", TEST, "眼底检查"),
        ("ecg", TEST, "心电图检查"),
        ("abdominal-ultrasound", TEST, "肝、胆、脾、胰腺、双肾彩超检查"),
        ("leg-doppler", TEST, "双下肢血管彩色多普勒检查"),
        ("leg-autonomic", TEST, "双下肢自主神经功能检查"),
        ("cardiac-ultrasound", TEST, "颈部血管、心脏彩超检查"),
        _TCM_CARE,
    ), eligible=("diabetes",)),
    Package("copd", PERSONALISED, "慢阻肺病管理服务包", _items(
        "copd",
        ("sputum-culture", TEST, "痰培养"),
        ("blood-routine", TEST, "血常规检查"),
        ("lung-function", TEST, "肺通气功能检测"),
        ("chest-fluoroscopy", TEST, "胸部透视"),
        ("ecg", TEST, "心电图检查"),
        ("pulse-oximetry", TEST, "脉氧饱和度测定"),
        ("blood-gas", TEST, "血气分析"),
        ("respiratory-rehab", GUIDANCE, "呼吸技巧、体位排痰、有氧运动、肌肉力量等呼吸康复训练指导"),
        ("oxygen-therapy", TREATMENT, "氧疗"),
        ("tcm-lung-rehab", TREATMENT, "针灸、推拿、艾灸、食疗等中医肺康复疗法"),
    ), eligible=("copd",)),
    Package("tb", PERSONALISED, "肺结核管理服务包", (
        Item("chest-imaging", SCREENING, "65岁以上老年人和糖尿病患者胸部影像学检查", "once", "elderly_65"),
        *_items(
            "tb",
            ("screening-referral", SCREENING, "筛查、推介转诊"),
            ("home-follow-up", HOME_SERVICE, "入户随访"),
            ("supervised-medication", GUIDANCE, "督导服药"),
            ("closing-assessment", VISIT, "结案评估"),
        ),
    ), eligible=("tb", "elderly_65", "diabetes")),
    Package("rehab-tumour", PERSONALISED, "肿瘤患者康复服务包", _items(
        "tumour",
        ("home-follow-up", HOME_SERVICE, "上门随访"),
        ("lab-panel", TEST, "尿常规、肝肾功能检查"),
        ("ecg-ultrasound", TEST, "心电图、彩超检查"),
        ("hospice", HOME_SERVICE, "安宁疗护服务"),
    ), eligible=("tumour",)),
    Package("rehab-stroke", PERSONALISED, "脑卒中患者康复服务包", _items(
        "stroke",
        ("home-follow-up", HOME_SERVICE, "上门随访"),
        ("lab-panel", TEST, "尿常规、肝肾功能检查"),
        ("ecg-ultrasound", TEST, "心电图、彩超检查"),
        ("self-care-rehab", GUIDANCE, "帮助指导自理能力、运动功能恢复"),
    ), eligible=("stroke",)),
    Package("rehab-mental", PERSONALISED, "严重精神障碍康复服务包", _items(
        "severe_mental",
        ("home-follow-up", HOME_SERVICE, "上门随访"),
        ("monitoring", TEST, "体重、血压、尿常规、肝肾功能检测"),
        ("ecg-ultrasound", TEST, "心电图、B超检查"),
        ("home-rehab", GUIDANCE, "指导患者居家康复和应急处置"),
    ), eligible=("severe_mental",)),
    # Annex: for people with limited mobility or bedridden — a doctor's judgement, not a derivable tag.
    Package("home-service", PERSONALISED, "上门服务包", _items(
        None,
        ("home-treatment", HOME_SERVICE, "为行动不便、卧床患者提供上门诊疗服务"),
        ("home-delivery-care", HOME_SERVICE, "为两病、特门、“双通道”患者提供上门送药、护理、康复等服务"),
    )),
)


def package_rows(packages: tuple[Package, ...] = PACKAGES_2025, edition: str = EDITION) -> tuple[list[dict], list[dict]]:
    """The catalogue as rows for the `packages` and `package_items` tables."""
    package_rows, item_rows = [], []
    for package in packages:
        package_rows.append(dict(edition=edition, code=package.code, tier=package.tier, title=package.title,
                                 eligible=list(package.eligible) if package.eligible else None))
        item_rows += [dict(edition=edition, package_code=package.code, position=position, code=item.code, kind=item.kind,
                           title=item.title, frequency=item.frequency, population=item.population)
                      for position, item in enumerate(package.items)]
    return package_rows, item_rows
