"""The synthetic platform's tapes as a Chinese servicer's loan-ledger CSV export (借据台账导出).

Written from the tape schema for the tests of ``gateway/mappings/cn-platform-export.toml``: Chinese
column names, yuan with two decimals, percent rates, Chinese labels for coded values, empty cells for
absent values. The mapping must turn such a file back into exactly the rows it was made from.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# tape field -> (export column, kind); kinds: text, money (fen -> 元), rate (bps -> %), or a label table.
LABELS: dict[str, dict[str, str]] = {
    "id_type": {"RESIDENT_ID": "居民身份证"},
    "gender": {"M": "男", "F": "女"},
    "occupation": {
        "EMPLOYED_PRIVATE": "私营企业职工",
        "EMPLOYED_PUBLIC": "机关事业单位职工",
        "SELF_EMPLOYED": "个体经营",
        "STUDENT": "学生",
        "RETIRED": "退休",
        "UNEMPLOYED": "待业",
        "OTHER": "其他",
    },
    "consent_basis": {"SEPARATE_CONSENT": "单独同意"},
    "product_type": {"INSTALLMENT_PURCHASE": "分期购物", "CASH_LOAN": "现金贷"},
    "merchant_category": {
        "ELECTRONICS": "数码电子",
        "APPLIANCES": "家用电器",
        "APPAREL": "服装",
        "GROCERY": "食品超市",
        "HOME_FURNISHING": "家居",
        "DIGITAL_SERVICES": "数字服务",
        "TRAVEL": "旅游",
        "EDUCATION": "教育",
        "AUTOMOTIVE": "汽车",
        "OTHER": "其他",
    },
    "origination_channel": {
        "APP": "APP",
        "WEB": "网页",
        "MINI_PROGRAM": "小程序",
        "OFFLINE_MERCHANT": "线下商户",
        "PARTNER": "合作方",
    },
    "repayment_method": {"EQUAL_INSTALMENT": "等额本息", "EQUAL_PRINCIPAL": "等额本金"},
    "loan_status": {
        "NORMAL": "正常",
        "OVERDUE": "逾期",
        "DEFAULTED": "违约",
        "PREPAID_IN_FULL": "提前结清",
        "MATURED_PAID": "正常结清",
        "CHARGED_OFF": "核销",
    },
    "five_tier_class": {
        "NORMAL": "正常",
        "SPECIAL_MENTION": "关注",
        "SUBSTANDARD": "次级",
        "DOUBTFUL": "可疑",
        "LOSS": "损失",
    },
}
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("platform_loan_id", "借据编号", "text"),
    ("obligor_name", "客户姓名", "text"),
    ("id_type", "证件类型", "label"),
    ("id_number", "证件号码", "text"),
    ("mobile", "手机号码", "text"),
    ("repayment_account", "还款账户", "text"),
    ("home_address", "家庭住址", "text"),
    ("region_code", "地区代码", "text"),
    ("region_code_version", "地区代码版本", "text"),
    ("birth_date", "出生日期", "text"),
    ("gender", "性别", "label"),
    ("income_monthly_fen", "月收入(元)", "money"),
    ("occupation", "职业", "label"),
    ("internal_score", "内部评分", "text"),
    ("consent_basis", "授权依据", "label"),
    ("consent_version", "授权协议版本", "text"),
    ("consent_time", "授权时间", "text"),
    ("product_type", "产品类型", "label"),
    ("merchant_category", "商户类别", "label"),
    ("origination_channel", "获客渠道", "label"),
    ("origination_date", "放款日期", "text"),
    ("first_due_date", "首次还款日", "text"),
    ("maturity_date", "到期日", "text"),
    ("term_months", "期数", "text"),
    ("installments_total", "总期数", "text"),
    ("installments_paid", "已还期数", "text"),
    ("repayment_method", "还款方式", "label"),
    ("original_principal_fen", "合同金额(元)", "money"),
    ("nominal_rate_bps", "名义年利率(%)", "rate"),
    ("apr_all_in_bps", "综合年化成本(%)", "rate"),
    ("current_principal_fen", "剩余本金(元)", "money"),
    ("days_past_due", "逾期天数", "text"),
    ("overdue_principal_fen", "逾期本金(元)", "money"),
    ("overdue_interest_fen", "逾期利息(元)", "money"),
    ("loan_status", "贷款状态", "label"),
    ("five_tier_class", "五级分类", "label"),
    ("default_date", "违约日期", "text"),
    ("charge_off_date", "核销日期", "text"),
    ("pool_addition_date", "入池日期", "text"),
    ("period_scheduled_principal_fen", "本期正常回收本金(元)", "money"),
    ("period_unscheduled_principal_fen", "本期提前还款本金(元)", "money"),
    ("period_interest_fen", "本期回收利息(元)", "money"),
    ("period_fees_fen", "本期回收费用(元)", "money"),
    ("period_defaulted_principal_fen", "本期新增违约本金(元)", "money"),
    ("period_recoveries_fen", "本期违约回收款(元)", "money"),
    ("period_written_off_fen", "本期核销本金(元)", "money"),
)


def _cell(field: str, kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "money":
        return f"{value // 100}.{value % 100:02d}"
    if kind == "rate":
        return f"{value // 100}.{value % 100:02d}"
    if kind == "label":
        return LABELS[field][value]
    return str(value)


def write_cn_export(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write ``rows`` (tape schema v1) as the Chinese export; return the row count."""
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([c for _, c, _ in COLUMNS])
        for row in rows:
            w.writerow([_cell(name, kind, row.get(name)) for name, _, kind in COLUMNS])
            n += 1
    return n
