"""packages: the 2025 catalogue (loaded here), centre prices, agreement packages, health facts,
visit records

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


# A frozen copy of the 2025 catalogue as it was when this migration was written: editing
# packages/catalogue.py never changes what a fresh install loads (a new edition gets a new migration).
PACKAGES = [
 {
  "edition": "2025",
  "code": "basic",
  "tier": "basic",
  "title": "基础服务包",
  "eligible": None
 },
 {
  "edition": "2025",
  "code": "value-added",
  "tier": "value_added",
  "title": "增值服务包",
  "eligible": None
 },
 {
  "edition": "2025",
  "code": "elderly",
  "tier": "personalised",
  "title": "老年人健康包",
  "eligible": [
   "elderly_65"
  ]
 },
 {
  "edition": "2025",
  "code": "child",
  "tier": "personalised",
  "title": "儿童健康包",
  "eligible": [
   "child_0_6"
  ]
 },
 {
  "edition": "2025",
  "code": "maternal",
  "tier": "personalised",
  "title": "孕产妇健康包",
  "eligible": [
   "pregnant",
   "postpartum"
  ]
 },
 {
  "edition": "2025",
  "code": "hypertension",
  "tier": "personalised",
  "title": "高血压管理服务包",
  "eligible": [
   "hypertension"
  ]
 },
 {
  "edition": "2025",
  "code": "diabetes",
  "tier": "personalised",
  "title": "糖尿病管理服务包",
  "eligible": [
   "diabetes"
  ]
 },
 {
  "edition": "2025",
  "code": "copd",
  "tier": "personalised",
  "title": "慢阻肺病管理服务包",
  "eligible": [
   "copd"
  ]
 },
 {
  "edition": "2025",
  "code": "tb",
  "tier": "personalised",
  "title": "肺结核管理服务包",
  "eligible": [
   "tb",
   "elderly_65",
   "diabetes"
  ]
 },
 {
  "edition": "2025",
  "code": "rehab-tumour",
  "tier": "personalised",
  "title": "肿瘤患者康复服务包",
  "eligible": [
   "tumour"
  ]
 },
 {
  "edition": "2025",
  "code": "rehab-stroke",
  "tier": "personalised",
  "title": "脑卒中患者康复服务包",
  "eligible": [
   "stroke"
  ]
 },
 {
  "edition": "2025",
  "code": "rehab-mental",
  "tier": "personalised",
  "title": "严重精神障碍康复服务包",
  "eligible": [
   "severe_mental"
  ]
 },
 {
  "edition": "2025",
  "code": "home-service",
  "tier": "personalised",
  "title": "上门服务包",
  "eligible": None
 }
]
ITEMS = [
    {"edition": "2025", "package_code": "basic", "position": 0, "code": "health-record", "kind": "record", "title": "建立电子健康档案，实时动态更新签约居民健康管理和诊疗相关信息", "frequency": "continuous", "population": None},
    {"edition": "2025", "package_code": "basic", "position": 1, "code": "named-doctor", "kind": "contact", "title": "明确家庭医生和联系人，通过电话、微信、信息平台等方式建立互动联系，指导自我健康管理", "frequency": "continuous", "population": None},
    {"edition": "2025", "package_code": "basic", "position": 2, "code": "health-guidance", "kind": "guidance", "title": "健康指导：普及健康素养知识与技能（含减盐减油），指导定期体检", "frequency": "continuous", "population": None},
    {"edition": "2025", "package_code": "basic", "position": 3, "code": "health-lecture", "kind": "guidance", "title": "健康知识讲座，提前发布有关信息", "frequency": "at least 1 a month", "population": None},
    {"edition": "2025", "package_code": "basic", "position": 4, "code": "appointment", "kind": "appointment", "title": "预约诊疗：门急诊预约、急诊绿色通道、帮助预约上级医院转诊", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 0, "code": "chronic-follow-up", "kind": "visit", "title": "慢病患者面对面随访：常规检查、口腔视力听力运动功能判断、服药指导、危急情况评估与转诊", "frequency": "4 a year", "population": "chronic"},
    {"edition": "2025", "package_code": "value-added", "position": 1, "code": "elderly-health-check", "kind": "test", "title": "老年人健康管理：生活方式与健康状况评估、体格检查、血尿常规、肝肾功能、空腹血糖、血脂四项、心电图、腹部B超", "frequency": "1 a year", "population": "elderly_65"},
    {"edition": "2025", "package_code": "value-added", "position": 2, "code": "elderly-tcm", "kind": "guidance", "title": "老年人中医药健康管理：中医体质辨识和中医药保健指导", "frequency": "1 a year", "population": "elderly_65"},
    {"edition": "2025", "package_code": "value-added", "position": 3, "code": "elderly-home-visit", "kind": "home_service", "title": "80岁以上老年人上门健康随访，提供药学、护理等服务", "frequency": "at least 1 a year", "population": "elderly_80"},
    {"edition": "2025", "package_code": "value-added", "position": 4, "code": "newborn-home-visit", "kind": "home_service", "title": "新生儿家庭访视：喂养、睡眠、大小便、黄疸、口腔发育", "frequency": "once", "population": "child_0_6"},
    {"edition": "2025", "package_code": "value-added", "position": 5, "code": "full-month-check", "kind": "visit", "title": "新生儿满月健康管理", "frequency": "once", "population": "child_0_6"},
    {"edition": "2025", "package_code": "value-added", "position": 6, "code": "infant-visits", "kind": "visit", "title": "婴幼儿健康管理随访（3、6、8、12、18、24、30、36月龄）", "frequency": "8 visits", "population": "child_0_6"},
    {"edition": "2025", "package_code": "value-added", "position": 7, "code": "child-blood-test", "kind": "test", "title": "血常规检测（6—8、18、30月龄）", "frequency": "3 tests", "population": "child_0_6"},
    {"edition": "2025", "package_code": "value-added", "position": 8, "code": "child-hearing-screening", "kind": "screening", "title": "听力筛查（6、12、24、36月龄）", "frequency": "4 screenings", "population": "child_0_6"},
    {"edition": "2025", "package_code": "value-added", "position": 9, "code": "preschool-check", "kind": "visit", "title": "学龄前儿童健康管理：体格检查、心理行为发育评估、血常规、视力筛查、健康指导", "frequency": "1 a year (4–6 years)", "population": "child_0_6"},
    {"edition": "2025", "package_code": "value-added", "position": 10, "code": "child-tcm-guidance", "kind": "guidance", "title": "儿童家长中医药健康指导（6、12、18、24、30月龄）", "frequency": "5 sessions", "population": "child_0_6"},
    {"edition": "2025", "package_code": "value-added", "position": 11, "code": "vaccination", "kind": "guidance", "title": "预防接种档案与按免疫程序通知接种；疑似预防接种异常反应处理和报告", "frequency": "per immunisation schedule", "population": "child_0_6"},
    {"edition": "2025", "package_code": "value-added", "position": 12, "code": "prenatal-care", "kind": "visit", "title": "孕早、中、晚期健康管理：母子健康手册、产前检查、健康状况评估、常规检测", "frequency": "early, mid and late pregnancy", "population": "pregnant"},
    {"edition": "2025", "package_code": "value-added", "position": 13, "code": "postpartum-home-visit", "kind": "home_service", "title": "产后访视", "frequency": "once", "population": "postpartum"},
    {"edition": "2025", "package_code": "value-added", "position": 14, "code": "postpartum-42-day-check", "kind": "visit", "title": "产后42天健康检查", "frequency": "once", "population": "postpartum"},
    {"edition": "2025", "package_code": "value-added", "position": 15, "code": "registration", "kind": "appointment", "title": "挂号（含线上预约）", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 16, "code": "medical-record", "kind": "record", "title": "建立电子病历，核实信息，询问病情，听取主诉，病史采集", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 17, "code": "physical-exam", "kind": "test", "title": "一般体格检查：体温、脉搏、呼吸、血压、皮肤、头颈、胸部、腹部、四肢、关节", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 18, "code": "orders-and-plan", "kind": "treatment", "title": "开具检查单，根据病情提供治疗方案", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 19, "code": "injection", "kind": "treatment", "title": "根据治疗方案提供注射服务", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 20, "code": "insurance-list", "kind": "treatment", "title": "除特定政策清单项目外的基本医保目录内项目", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 21, "code": "common-drugs", "kind": "medicine", "title": "特定政策清单：常用药品不低于20种", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 22, "code": "routine-urine-routine", "kind": "test", "title": "特定政策清单常规项目：尿常规检查", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 23, "code": "routine-stool-routine", "kind": "test", "title": "特定政策清单常规项目：粪便常规检查", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 24, "code": "routine-abo-typing", "kind": "test", "title": "特定政策清单常规项目：ABO红细胞定型", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 25, "code": "routine-blood-cell-analysis", "kind": "test", "title": "特定政策清单常规项目：血细胞分析", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 26, "code": "routine-glucose", "kind": "test", "title": "特定政策清单常规项目：葡萄糖测定", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 27, "code": "routine-hba1c", "kind": "test", "title": "特定政策清单常规项目：糖化血红蛋白测定", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 28, "code": "routine-lipids-two", "kind": "test", "title": "特定政策清单常规项目：血脂两项测定", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 29, "code": "routine-ecg", "kind": "test", "title": "特定政策清单常规项目：常规心电图检查", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 30, "code": "routine-minor-suture", "kind": "test", "title": "特定政策清单常规项目：小清创缝合", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "value-added", "position": 31, "code": "routine-minor-dressing", "kind": "test", "title": "特定政策清单常规项目：小换药", "frequency": "per need", "population": None},
    {"edition": "2025", "package_code": "elderly", "position": 0, "code": "home-rounds", "kind": "home_service", "title": "上门巡诊", "frequency": "as agreed", "population": "elderly_65"},
    {"edition": "2025", "package_code": "elderly", "position": 1, "code": "lab-panel", "kind": "test", "title": "血常规、尿常规、肝功能、肾功能、血脂、肿瘤五项、血糖检测", "frequency": "as agreed", "population": "elderly_65"},
    {"edition": "2025", "package_code": "elderly", "position": 2, "code": "ecg", "kind": "test", "title": "心电图检查", "frequency": "as agreed", "population": "elderly_65"},
    {"edition": "2025", "package_code": "elderly", "position": 3, "code": "fundoscopy", "kind": "test", "title": "眼底镜检查", "frequency": "as agreed", "population": "elderly_65"},
    {"edition": "2025", "package_code": "elderly", "position": 4, "code": "chest-fluoroscopy", "kind": "test", "title": "胸部透视（只曝光，不出片）", "frequency": "as agreed", "population": "elderly_65"},
    {"edition": "2025", "package_code": "elderly", "position": 5, "code": "carotid-ultrasound", "kind": "test", "title": "颈动脉彩超检查", "frequency": "as agreed", "population": "elderly_65"},
    {"edition": "2025", "package_code": "elderly", "position": 6, "code": "abdominal-ultrasound", "kind": "test", "title": "肝、胆、脾、胰腺、双肾彩超（女性可加子宫、附件；男性可加膀胱、前列腺）", "frequency": "as agreed", "population": "elderly_65"},
    {"edition": "2025", "package_code": "elderly", "position": 7, "code": "tcm-care", "kind": "treatment", "title": "体质辨识与指导、艾灸、拔罐、推拿、刮痧、耳穴埋豆、穴位贴敷等", "frequency": "as agreed", "population": "elderly_65"},
    {"edition": "2025", "package_code": "child", "position": 0, "code": "physical-exam", "kind": "test", "title": "皮肤、五官、心肺、腹部、四肢等体格检查", "frequency": "as agreed", "population": "child_0_6"},
    {"edition": "2025", "package_code": "child", "position": 1, "code": "growth-assessment", "kind": "screening", "title": "身高、体重、头围、骨密度测定等生长发育评估", "frequency": "as agreed", "population": "child_0_6"},
    {"edition": "2025", "package_code": "child", "position": 2, "code": "lab-panel", "kind": "test", "title": "微量元素六项、眼视力、IG蛋白全套、贫血四项检查", "frequency": "as agreed", "population": "child_0_6"},
    {"edition": "2025", "package_code": "child", "position": 3, "code": "tcm-care", "kind": "treatment", "title": "中医辨证论治与膳食调理、摩腹、捏脊、穴位按揉等", "frequency": "as agreed", "population": "child_0_6"},
    {"edition": "2025", "package_code": "maternal", "position": 0, "code": "monitoring", "kind": "screening", "title": "血压、体重、宫高腹围监测", "frequency": "as agreed", "population": "pregnant"},
    {"edition": "2025", "package_code": "maternal", "position": 1, "code": "lab-panel", "kind": "test", "title": "血型、血常规、凝血五项、尿常规、肝功能、肾功能、胎心监测、糖耐量、血糖检测", "frequency": "as agreed", "population": "pregnant"},
    {"edition": "2025", "package_code": "maternal", "position": 2, "code": "imaging", "kind": "test", "title": "B超、心电图检查", "frequency": "as agreed", "population": "pregnant"},
    {"edition": "2025", "package_code": "maternal", "position": 3, "code": "tcm-care", "kind": "treatment", "title": "中医辨证论治与膳食调理、针灸、穴位按摩等", "frequency": "as agreed", "population": "pregnant"},
    {"edition": "2025", "package_code": "hypertension", "position": 0, "code": "home-rounds", "kind": "home_service", "title": "上门巡诊", "frequency": "as agreed", "population": "hypertension"},
    {"edition": "2025", "package_code": "hypertension", "position": 1, "code": "lab-panel", "kind": "test", "title": "血常规、尿常规、肝功能、肾功能、血脂、血糖检测", "frequency": "as agreed", "population": "hypertension"},
    {"edition": "2025", "package_code": "hypertension", "position": 2, "code": "fundus-exam", "kind": "test", "title": "眼底检查", "frequency": "as agreed", "population": "hypertension"},
    {"edition": "2025", "package_code": "hypertension", "position": 3, "code": "ecg", "kind": "test", "title": "心电图检查", "frequency": "as agreed", "population": "hypertension"},
    {"edition": "2025", "package_code": "hypertension", "position": 4, "code": "cardiac-ultrasound", "kind": "test", "title": "心脏、颈部血管彩超检查", "frequency": "as agreed", "population": "hypertension"},
    {"edition": "2025", "package_code": "hypertension", "position": 5, "code": "tcm-care", "kind": "treatment", "title": "体质辨识与指导、艾灸、拔罐、推拿、刮痧、耳穴埋豆、穴位贴敷等", "frequency": "as agreed", "population": "hypertension"},
    {"edition": "2025", "package_code": "diabetes", "position": 0, "code": "home-rounds", "kind": "home_service", "title": "上门巡诊", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "diabetes", "position": 1, "code": "lab-panel", "kind": "test", "title": "血糖、血常规、尿常规、肝功能、肾功能、血脂检测", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "diabetes", "position": 2, "code": "urine-protein-hba1c", "kind": "test", "title": "尿蛋白定量、糖化血红蛋白检测", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "diabetes", "position": 3, "code": "fundus-exam", "kind": "test", "title": "眼底检查", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "diabetes", "position": 4, "code": "ecg", "kind": "test", "title": "心电图检查", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "diabetes", "position": 5, "code": "abdominal-ultrasound", "kind": "test", "title": "肝、胆、脾、胰腺、双肾彩超检查", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "diabetes", "position": 6, "code": "leg-doppler", "kind": "test", "title": "双下肢血管彩色多普勒检查", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "diabetes", "position": 7, "code": "leg-autonomic", "kind": "test", "title": "双下肢自主神经功能检查", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "diabetes", "position": 8, "code": "cardiac-ultrasound", "kind": "test", "title": "颈部血管、心脏彩超检查", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "diabetes", "position": 9, "code": "tcm-care", "kind": "treatment", "title": "体质辨识与指导、艾灸、拔罐、推拿、刮痧、耳穴埋豆、穴位贴敷等", "frequency": "as agreed", "population": "diabetes"},
    {"edition": "2025", "package_code": "copd", "position": 0, "code": "sputum-culture", "kind": "test", "title": "痰培养", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "copd", "position": 1, "code": "blood-routine", "kind": "test", "title": "血常规检查", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "copd", "position": 2, "code": "lung-function", "kind": "test", "title": "肺通气功能检测", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "copd", "position": 3, "code": "chest-fluoroscopy", "kind": "test", "title": "胸部透视", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "copd", "position": 4, "code": "ecg", "kind": "test", "title": "心电图检查", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "copd", "position": 5, "code": "pulse-oximetry", "kind": "test", "title": "脉氧饱和度测定", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "copd", "position": 6, "code": "blood-gas", "kind": "test", "title": "血气分析", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "copd", "position": 7, "code": "respiratory-rehab", "kind": "guidance", "title": "呼吸技巧、体位排痰、有氧运动、肌肉力量等呼吸康复训练指导", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "copd", "position": 8, "code": "oxygen-therapy", "kind": "treatment", "title": "氧疗", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "copd", "position": 9, "code": "tcm-lung-rehab", "kind": "treatment", "title": "针灸、推拿、艾灸、食疗等中医肺康复疗法", "frequency": "as agreed", "population": "copd"},
    {"edition": "2025", "package_code": "tb", "position": 0, "code": "chest-imaging", "kind": "screening", "title": "65岁以上老年人和糖尿病患者胸部影像学检查", "frequency": "once", "population": "elderly_65"},
    {"edition": "2025", "package_code": "tb", "position": 1, "code": "screening-referral", "kind": "screening", "title": "筛查、推介转诊", "frequency": "as agreed", "population": "tb"},
    {"edition": "2025", "package_code": "tb", "position": 2, "code": "home-follow-up", "kind": "home_service", "title": "入户随访", "frequency": "as agreed", "population": "tb"},
    {"edition": "2025", "package_code": "tb", "position": 3, "code": "supervised-medication", "kind": "guidance", "title": "督导服药", "frequency": "as agreed", "population": "tb"},
    {"edition": "2025", "package_code": "tb", "position": 4, "code": "closing-assessment", "kind": "visit", "title": "结案评估", "frequency": "as agreed", "population": "tb"},
    {"edition": "2025", "package_code": "rehab-tumour", "position": 0, "code": "home-follow-up", "kind": "home_service", "title": "上门随访", "frequency": "as agreed", "population": "tumour"},
    {"edition": "2025", "package_code": "rehab-tumour", "position": 1, "code": "lab-panel", "kind": "test", "title": "尿常规、肝肾功能检查", "frequency": "as agreed", "population": "tumour"},
    {"edition": "2025", "package_code": "rehab-tumour", "position": 2, "code": "ecg-ultrasound", "kind": "test", "title": "心电图、彩超检查", "frequency": "as agreed", "population": "tumour"},
    {"edition": "2025", "package_code": "rehab-tumour", "position": 3, "code": "hospice", "kind": "home_service", "title": "安宁疗护服务", "frequency": "as agreed", "population": "tumour"},
    {"edition": "2025", "package_code": "rehab-stroke", "position": 0, "code": "home-follow-up", "kind": "home_service", "title": "上门随访", "frequency": "as agreed", "population": "stroke"},
    {"edition": "2025", "package_code": "rehab-stroke", "position": 1, "code": "lab-panel", "kind": "test", "title": "尿常规、肝肾功能检查", "frequency": "as agreed", "population": "stroke"},
    {"edition": "2025", "package_code": "rehab-stroke", "position": 2, "code": "ecg-ultrasound", "kind": "test", "title": "心电图、彩超检查", "frequency": "as agreed", "population": "stroke"},
    {"edition": "2025", "package_code": "rehab-stroke", "position": 3, "code": "self-care-rehab", "kind": "guidance", "title": "帮助指导自理能力、运动功能恢复", "frequency": "as agreed", "population": "stroke"},
    {"edition": "2025", "package_code": "rehab-mental", "position": 0, "code": "home-follow-up", "kind": "home_service", "title": "上门随访", "frequency": "as agreed", "population": "severe_mental"},
    {"edition": "2025", "package_code": "rehab-mental", "position": 1, "code": "monitoring", "kind": "test", "title": "体重、血压、尿常规、肝肾功能检测", "frequency": "as agreed", "population": "severe_mental"},
    {"edition": "2025", "package_code": "rehab-mental", "position": 2, "code": "ecg-ultrasound", "kind": "test", "title": "心电图、B超检查", "frequency": "as agreed", "population": "severe_mental"},
    {"edition": "2025", "package_code": "rehab-mental", "position": 3, "code": "home-rehab", "kind": "guidance", "title": "指导患者居家康复和应急处置", "frequency": "as agreed", "population": "severe_mental"},
    {"edition": "2025", "package_code": "home-service", "position": 0, "code": "home-treatment", "kind": "home_service", "title": "为行动不便、卧床患者提供上门诊疗服务", "frequency": "as agreed", "population": None},
    {"edition": "2025", "package_code": "home-service", "position": 1, "code": "home-delivery-care", "kind": "home_service", "title": "为两病、特门、“双通道”患者提供上门送药、护理、康复等服务", "frequency": "as agreed", "population": None},
]


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('packages',
    sa.Column('edition', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('tier', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('eligible', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('edition', 'code', name=op.f('pk_packages'))
    )
    op.create_table('package_items',
    sa.Column('edition', sa.String(length=10), nullable=False),
    sa.Column('package_code', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('frequency', sa.String(length=40), nullable=False),
    sa.Column('population', sa.String(length=30), nullable=True),
    sa.ForeignKeyConstraint(['edition', 'package_code'], ['packages.edition', 'packages.code'], name=op.f('fk_package_items_edition_packages')),
    sa.PrimaryKeyConstraint('edition', 'package_code', 'position', name=op.f('pk_package_items'))
    )
    op.create_table('package_prices',
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('edition', sa.String(length=10), nullable=False),
    sa.Column('package_code', sa.String(length=40), nullable=False),
    sa.Column('price_fen', sa.Integer(), nullable=False),
    sa.Column('set_by', sa.String(length=120), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_package_prices_centre_id_centres')),
    sa.ForeignKeyConstraint(['edition', 'package_code'], ['packages.edition', 'packages.code'], name=op.f('fk_package_prices_edition_packages')),
    sa.PrimaryKeyConstraint('centre_id', 'edition', 'package_code', name=op.f('pk_package_prices'))
    )
    op.create_table('conditions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('hypertension', 'diabetes', 'copd', 'tb', 'severe_mental', 'tumour', 'stroke', name='conditionkind', native_enum=False, length=32), nullable=False),
    sa.Column('diagnosed_on', sa.Date(), nullable=False),
    sa.Column('recorded_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_conditions_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conditions')),
    sa.UniqueConstraint('resident_id', 'kind', name=op.f('uq_conditions_resident_id_kind'))
    )
    op.create_table('population_tags',
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.Enum('disabled', 'poverty_alleviated', 'special_family_planning', name='recordedtag', native_enum=False, length=32), nullable=False),
    sa.Column('recorded_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_population_tags_resident_id_residents')),
    sa.PrimaryKeyConstraint('resident_id', 'tag', name=op.f('pk_population_tags'))
    )
    op.create_table('pregnancies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('last_menstrual_period', sa.Date(), nullable=False),
    sa.Column('expected_delivery', sa.Date(), nullable=False),
    sa.Column('delivered_on', sa.Date(), nullable=True),
    sa.Column('registered_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_pregnancies_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pregnancies'))
    )
    with op.batch_alter_table('pregnancies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pregnancies_resident_id'), ['resident_id'], unique=False)
        batch_op.create_index('uq_pregnancies_one_ongoing', ['resident_id'], unique=True, sqlite_where=sa.text('delivered_on IS NULL'), postgresql_where=sa.text('delivered_on IS NULL'))

    op.create_table('agreement_packages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('edition', sa.String(length=10), nullable=False),
    sa.Column('package_code', sa.String(length=40), nullable=False),
    sa.Column('price_fen', sa.Integer(), nullable=False),
    sa.Column('added_on', sa.Date(), nullable=False),
    sa.Column('added_by', sa.String(length=120), nullable=False),
    sa.Column('dropped_on', sa.Date(), nullable=True),
    sa.Column('dropped_by', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreements.id'], name=op.f('fk_agreement_packages_agreement_id_agreements')),
    sa.ForeignKeyConstraint(['edition', 'package_code'], ['packages.edition', 'packages.code'], name=op.f('fk_agreement_packages_edition_packages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_packages'))
    )
    with op.batch_alter_table('agreement_packages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_packages_agreement_id'), ['agreement_id'], unique=False)
        batch_op.create_index('uq_agreement_packages_one_current', ['agreement_id', 'package_code'], unique=True, sqlite_where=sa.text('dropped_on IS NULL'), postgresql_where=sa.text('dropped_on IS NULL'))

    op.create_table('visit_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('served_on', sa.Date(), nullable=False),
    sa.Column('mode', sa.Enum('clinic', 'home', 'phone', name='visitmode', native_enum=False, length=32), nullable=False),
    sa.Column('systolic', sa.Integer(), nullable=True),
    sa.Column('diastolic', sa.Integer(), nullable=True),
    sa.Column('glucose', sa.Numeric(precision=4, scale=1), nullable=True),
    sa.Column('glucose_fasting', sa.Boolean(), nullable=True),
    sa.Column('heart_rate', sa.Integer(), nullable=True),
    sa.Column('weight_kg', sa.Numeric(precision=5, scale=1), nullable=True),
    sa.Column('findings', sa.String(length=2000), nullable=True),
    sa.Column('referral', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.String(length=2000), nullable=True),
    sa.Column('reading', sa.Enum('controlled', 'uncontrolled', 'danger', name='reading', native_enum=False, length=32), nullable=True),
    sa.Column('window_start', sa.Date(), nullable=False),
    sa.Column('window_end', sa.Date(), nullable=False),
    sa.Column('timeliness', sa.Enum('on_time', 'late', name='timeliness', native_enum=False, length=32), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['staff.id'], name=op.f('fk_visit_records_author_id_staff')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_visit_records_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_records')),
    sa.UniqueConstraint('visit_id', 'revision', name=op.f('uq_visit_records_visit_id_revision'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rescheduled', sa.Boolean(), server_default=sa.text('(false)'), nullable=False))
        batch_op.add_column(sa.Column('served_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('timeliness', sa.Enum('on_time', 'late', name='timeliness', native_enum=False, length=32), nullable=True))
        batch_op.add_column(sa.Column('referral', sa.Boolean(), server_default=sa.text('(false)'), nullable=False))
        batch_op.create_index('ix_visits_centre_state_window_end', ['centre_id', 'state', 'window_end'], unique=False)

    # ### end Alembic commands ###
    _load_catalogue()


def _load_catalogue() -> None:
    """The annex-1 catalogue, 2025 edition, as data (a new edition comes with its own migration)."""
    packages, items = PACKAGES, ITEMS
    op.bulk_insert(sa.table('packages', sa.column('edition', sa.String), sa.column('code', sa.String),
                            sa.column('tier', sa.String), sa.column('title', sa.String),
                            sa.column('eligible', sa.JSON)), packages)
    op.bulk_insert(sa.table('package_items', sa.column('edition', sa.String), sa.column('package_code', sa.String),
                            sa.column('position', sa.Integer), sa.column('code', sa.String), sa.column('kind', sa.String),
                            sa.column('title', sa.String), sa.column('frequency', sa.String),
                            sa.column('population', sa.String)), items)


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_centre_state_window_end')
        batch_op.drop_column('referral')
        batch_op.drop_column('timeliness')
        batch_op.drop_column('served_on')
        batch_op.drop_column('rescheduled')

    op.drop_table('visit_records')
    with op.batch_alter_table('agreement_packages', schema=None) as batch_op:
        batch_op.drop_index('uq_agreement_packages_one_current', sqlite_where=sa.text('dropped_on IS NULL'), postgresql_where=sa.text('dropped_on IS NULL'))
        batch_op.drop_index(batch_op.f('ix_agreement_packages_agreement_id'))

    op.drop_table('agreement_packages')
    with op.batch_alter_table('pregnancies', schema=None) as batch_op:
        batch_op.drop_index('uq_pregnancies_one_ongoing', sqlite_where=sa.text('delivered_on IS NULL'), postgresql_where=sa.text('delivered_on IS NULL'))
        batch_op.drop_index(batch_op.f('ix_pregnancies_resident_id'))

    op.drop_table('pregnancies')
    op.drop_table('population_tags')
    op.drop_table('conditions')
    op.drop_table('package_prices')
    op.drop_table('package_items')
    op.drop_table('packages')
    # ### end Alembic commands ###
