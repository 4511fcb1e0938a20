"""The report's one message catalogue: every label in English and Chinese, by key.

Metric labels are keyed ``metric.<metric id>`` (the ids of docs/metrics.md and of the lane sets of
:mod:`proofs.lanes`); a metric the catalogue does not know is shown by its id, so a new figure is
never dropped for want of a label. Chinese labels follow the terms of the NAFMII servicer and trustee
reports (资产池余额, 逾期, 违约, 早偿, 累计违约率).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

Lang = Literal["en", "zh"]
LANGS: Final[tuple[Lang, ...]] = ("en", "zh")

_STATES_ZH: Final = {
    "M0": "正常",
    "M1": "逾期 1-30 天",
    "M2": "逾期 31-60 天",
    "M3": "逾期 61-90 天",
    "M3+": "逾期 90 天以上",
    "DEFAULTED": "违约",
    "WRITTEN_OFF": "核销",
    "PREPAID": "提前结清",
    "MATURED": "到期结清",
    "REPURCHASED": "回购",
}
_STATES_EN: Final = {
    "M0": "current (M0)",
    "M1": "1-30 days past due (M1)",
    "M2": "31-60 days past due (M2)",
    "M3": "61-90 days past due (M3)",
    "M3+": "beyond 90 days past due (M3+)",
    "DEFAULTED": "defaulted",
    "WRITTEN_OFF": "written off",
    "PREPAID": "prepaid in full",
    "MATURED": "matured",
    "REPURCHASED": "repurchased",
}


def _metric_labels() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {
        "loan_count": ("loans on the tape", "贷款笔数"),
        "active_loan_count": ("outstanding loans", "未结清贷款笔数"),
        "performing_loan_count": ("performing loans", "正常及逾期贷款笔数"),
        "pool_balance": ("pool balance (performing)", "资产池余额(未违约)"),
        "outstanding_balance": ("outstanding balance (incl. defaulted)", "未偿本金余额(含违约)"),
        "beginning_balance": ("balance at the start of the period", "期初本金余额"),
        "rate_base_balance": ("beginning balance less scheduled principal", "期初余额减计划内本金"),
        "delinquent_1plus_balance": ("1+ days past due, balance", "逾期 1 天以上余额"),
        "delinquent_31plus_balance": ("31+ days past due, balance", "逾期 31 天以上余额"),
        "delinquent_61plus_balance": ("61+ days past due, balance", "逾期 61 天以上余额"),
        "delinquent_90plus_balance": ("beyond 90 days past due, balance", "逾期 90 天以上余额"),
        "delinquent_90plus_or_defaulted_balance": ("90+ or defaulted, balance", "逾期 90 天以上或违约余额"),
        "delinquent_1plus_count": ("1+ days past due, loans", "逾期 1 天以上笔数"),
        "delinquent_31plus_count": ("31+ days past due, loans", "逾期 31 天以上笔数"),
        "delinquent_61plus_count": ("61+ days past due, loans", "逾期 61 天以上笔数"),
        "delinquent_90plus_count": ("beyond 90 days past due, loans", "逾期 90 天以上笔数"),
        "delinquency_1plus_ratio": ("1+ delinquency ratio", "逾期 1 天以上比率"),
        "delinquency_31plus_ratio": ("31+ delinquency ratio", "逾期 31 天以上比率"),
        "delinquency_61plus_ratio": ("61+ delinquency ratio", "逾期 61 天以上比率"),
        "delinquency_90plus_ratio": ("90+ delinquency ratio", "逾期 90 天以上比率"),
        "delinquency_90plus_or_defaulted_ratio": ("90+ or defaulted ratio", "逾期 90 天以上或违约比率"),
        "scheduled_principal": ("scheduled principal received", "计划内本金回收"),
        "unscheduled_principal": ("unscheduled principal (prepayments)", "计划外本金回收(早偿)"),
        "interest": ("interest received", "利息回收"),
        "fees": ("fees received", "费用回收"),
        "defaulted_principal": ("newly defaulted principal", "新增违约本金"),
        "recoveries": ("recoveries", "违约回收"),
        "written_off": ("principal written off", "核销本金"),
        "principal_collections": ("principal collections", "本金回收合计"),
        "collections": ("collections", "回收款合计"),
        "interest_and_fees": ("interest and fees", "利息及费用"),
        "net_loss": ("net loss (written off less recoveries)", "净损失(核销减回收)"),
        "loss_severity": ("loss severity (period)", "损失率(当期)"),
        "smm": ("single monthly mortality (SMM)", "单月早偿率 SMM"),
        "cpr": ("constant prepayment rate (CPR)", "年化早偿率 CPR"),
        "mdr": ("monthly default rate (MDR)", "单月违约率 MDR"),
        "cdr": ("constant default rate (CDR)", "年化违约率 CDR"),
        "cumulative_defaulted_principal": ("cumulative defaulted principal", "累计违约本金"),
        "cumulative_default_rate": ("cumulative default rate", "累计违约率"),
        "leaf_count": ("loans sealed in the snapshot", "快照封存贷款笔数"),
        "balance_cap": ("per-loan balance cap, proven for every loan", "单笔余额上限(逐笔证明)"),
        "largest_balance": ("largest loan balance", "单笔最大余额"),
        "top_region_share": ("largest region's share", "最大地区占比"),
        "largest_obligor_balance": ("largest obligor balance", "单一借款人最大余额"),
        "active_obligor_count": ("obligors with outstanding loans", "未结清借款人数"),
        # The dpd5 lane sets' delinquency metrics.
        "balance_dpd_1plus": ("1+ days past due, balance", "逾期 1 天以上余额"),
        "balance_dpd_31plus": ("31+ days past due, balance", "逾期 31 天以上余额"),
        "balance_dpd_61plus": ("61+ days past due, balance", "逾期 61 天以上余额"),
        "balance_dpd_90plus": ("90+ days past due, balance", "逾期 90 天以上余额"),
        "count_dpd_1plus": ("1+ days past due, loans", "逾期 1 天以上笔数"),
        "count_dpd_31plus": ("31+ days past due, loans", "逾期 31 天以上笔数"),
        "count_dpd_61plus": ("61+ days past due, loans", "逾期 61 天以上笔数"),
        "count_dpd_90plus": ("90+ days past due, loans", "逾期 90 天以上笔数"),
    }
    for state, en in _STATES_EN.items():
        zh = _STATES_ZH[state]
        out[f"count_{state}"] = (f"{en}, loans", f"{zh}笔数")
        out[f"balance_{state}"] = (f"{en}, balance", f"{zh}余额")
    for bucket, state in (("1-30", "M1"), ("31-60", "M2"), ("61-90", "M3"), ("90+", "M3+")):
        out[f"count_{bucket}"] = (f"{_STATES_EN[state]}, loans", f"{_STATES_ZH[state]}笔数")
        out[f"balance_{bucket}"] = (f"{_STATES_EN[state]}, balance", f"{_STATES_ZH[state]}余额")
    return out


_TEXT: Final[Mapping[str, tuple[str, str]]] = {
    "title": ("Investor report", "投资者报告"),
    "subtitle": (
        "Every figure below was verified by your own tool against the gateway key you trust",
        "以下每项数据均由您自己的工具依据您信任的网关公钥验证",
    ),
    "pool": ("pool", "资产池"),
    "cutoff": ("cut-off date", "截止日"),
    "cutoffs": ("cut-off dates", "截止日"),
    "generated": ("verified and rendered", "验证并生成于"),
    "gateway_key": ("gateway key", "网关公钥"),
    "witness_policy": ("witness policy", "见证人要求"),
    "witness_policy_none": ("none: headers rest on the gateway's word", "无:快照头仅凭网关签名"),
    "witness_policy_k": ("{k} of {n} named witnesses must cosign", "须有 {n} 名指定见证人中的 {k} 名联署"),
    "verdict_ok": ("All {n} bundles verified.", "全部 {n} 个证明包验证通过。"),
    "verdict_failed": (
        "{failed} of {n} bundles FAILED verification: their figures are not drawn.",
        "{n} 个证明包中有 {failed} 个验证失败:其数据未予展示。",
    ),
    "section.summary": ("Pool summary", "资产池概况"),
    "section.delinquency": ("Delinquency by bucket", "逾期分布"),
    "section.performance": ("Defaults, prepayments and losses", "违约、早偿与损失"),
    "section.strata": ("Stratification", "资产池分层"),
    "section.concentration": ("Concentration", "集中度"),
    "section.trends": ("Trends over the snapshot chain", "快照链趋势"),
    "section.triggers": ("Triggers", "触发事件"),
    "section.waterfall": ("Waterfall", "现金流分配"),
    "section.rolls": ("Roll rates", "迁徙率"),
    "section.deal": ("The deal: triggers and waterfall", "交易:触发事件与现金流分配"),
    "section.transitions": ("Transition matrices and curves", "迁徙矩阵与曲线"),
    "absent.deal_cdr": ("No verified payment report in these bundles.", "这些证明包中没有已验证的支付报告。"),
    "chart.deal_cdr": (
        "Cumulative default rate of the payment reports against the deal's trigger levels",
        "支付报告累计违约率与交易触发水平",
    ),
    "deal.file": ("deal file", "交易文件"),
    "deal.triggers": ("Triggers per period", "各期触发事件"),
    "deal.cdr": ("Cumulative default rate per period", "各期累计违约率"),
    "deal.cdr_parts": (
        "defaulted since closing / (initial balance + purchases)",
        "自封包日起违约本金 /(初始余额 + 循环购买)",
    ),
    "deal.waterfall": ("Waterfall of period {period} ({cutoff})", "第 {period} 期现金流分配({cutoff})"),
    "deal.no_waterfall": (
        "The payment reports here are trigger-status views: the waterfall's exact figures are not given "
        "to this party.",
        "此处的支付报告为触发状态视图:现金流分配的精确数据不向该方提供。",
    ),
    "deal.mode": ("principal", "本金偿付方式"),
    "deal.mode.pro_rata": ("pro rata", "按比例"),
    "deal.mode.sequential": ("sequential", "顺序"),
    "deal.mode.None": ("–", "–"),
    "deal.revolving": ("revolving", "循环购买期"),
    "deal.yes": ("yes", "是"),
    "deal.no": ("no", "否"),
    "deal.line": ("line", "分配项"),
    "deal.interest_due": ("interest due", "应付利息"),
    "deal.interest_paid": ("interest paid", "已付利息"),
    "deal.principal_paid": ("principal paid", "已付本金"),
    "deal.balance_after": ("balance after", "期末余额"),
    "deal.breached": ("BREACHED", "已触发"),
    "deal.not_breached": ("not breached", "未触发"),
    "deal.level_excess_spread": ("excess spread < 0", "超额利差 < 0"),
    "deal.cure_unknown": ("not known from this view", "此视图无法得知"),
    "deal.not_in_effect": ("not in effect", "未生效"),
    "deal.in_effect_no_cure": ("in effect (no cure)", "生效中(不可补救)"),
    "deal.in_effect_curing": (
        "in effect, {clear} of {need} clear periods to cure",
        "生效中,已连续 {clear}/{need} 期未触发",
    ),
    "deal.known.proven_full": (
        "proven status; cure state and waterfall recomputed from proven inputs",
        "状态已证明;补救状态与分配由已证明数据重算",
    ),
    "deal.known.proven_view": (
        "proven status (range proof on the committed figures)",
        "状态已证明(承诺数据上的范围证明)",
    ),
    "deal.known.served": ("served by the gateway, not proven from this view", "网关提供,无法由此视图证明"),
    "trigger.cumulative_default_rate": ("cumulative default rate", "累计违约率"),
    "trigger.delinquency_31plus_3m": ("31+ delinquency, 3 cut-offs", "31天以上逾期率(三期)"),
    "trigger.excess_spread": ("excess spread", "超额利差"),
    "col.period": ("period", "期数"),
    "col.trigger": ("trigger", "触发事件"),
    "col.cure": ("in effect / cure", "生效与补救"),
    "col.known": ("how it is known", "依据"),
    "col.tranche": ("tranche", "档次"),
    "col.from_to": ("from \\ to", "从 \\ 到"),
    "kind.payment-report": ("payment report (verify-distribution)", "支付报告(verify-distribution)"),
    "kind.roll-figure": ("roll-rate cell (against the signed link header)", "迁移率单元(对照签名的链接头)"),
    "kind.vintage-curve": ("vintage curve (over the header chain)", "静态池曲线(基于快照头链)"),
    "section.failures": ("Bundles that failed verification", "验证失败的证明包"),
    "section.bundles": ("Bundles verified", "已验证的证明包"),
    "section.legend": ("How each figure is known", "数据来源说明"),
    "col.figure": ("figure", "项目"),
    "col.value": ("value", "数值"),
    "col.unit": ("unit", "单位"),
    "col.basis": ("how it is known", "验证方式"),
    "col.bundle": ("bundle", "证明包"),
    "col.cutoff": ("cut-off", "截止日"),
    "col.level": ("trigger level", "触发水平"),
    "col.status": ("status", "状态"),
    "col.check": ("failed check", "未通过的检查"),
    "col.reason": ("why", "原因"),
    "col.file": ("file", "文件"),
    "col.kind": ("kind", "类型"),
    "col.cell": ("cell", "分层"),
    "col.count": ("loans", "笔数"),
    "col.balance": ("balance", "余额"),
    "basis.disclosure": ("exact proven disclosure", "精确披露(已证明)"),
    "basis.threshold": ("proven threshold", "阈值证明"),
    "basis.witness": ("witness-cosigned", "见证人联署"),
    "basis.derived": ("computed exactly from proven disclosures", "由已证明的披露值精确计算"),
    "legend.disclosure": (
        "the bundle opens the committed aggregate to this exact value (a Schnorr proof on the signed header)",
        "证明包将已承诺的汇总值打开为该精确数值(基于已签名快照头的 Schnorr 证明)",
    ),
    "legend.threshold": (
        "a range proof shows the committed figure is on the stated side of the level; the value stays hidden",
        "区间证明表明已承诺的数值位于所述水平的一侧;数值本身不公开",
    ),
    "legend.witness": (
        "a field of the signed header that the witnesses you require recomputed from every leaf "
        "before cosigning",
        "您要求的见证人在联署前已根据全部叶子重新计算的已签名快照头字段",
    ),
    "legend.derived": (
        "a ratio or rate computed by this tool with exact rational arithmetic from proven integers, "
        "rounded once",
        "由本工具依据已证明的整数以精确有理数运算得出,仅舍入一次",
    ),
    "status.holds": ("holds (proven)", "成立(已证明)"),
    "status.unverified": ("UNVERIFIED: not drawn", "未验证:不予展示"),
    "unverified_reason": ("check {check} failed: {message}", "检查 {check} 未通过:{message}"),
    "absent.strata": (
        "No stratification figures in these bundles: the snapshots do not commit to strata cells.",
        "这些证明包中没有分层数据:快照尚未承诺分层单元。",
    ),
    "absent.concentration": (
        "No concentration figures beyond the per-loan cap in these bundles.",
        "除单笔上限外,这些证明包中没有集中度数据。",
    ),
    "absent.rolls": (
        "No roll-rate figures in these bundles: they need snapshots linked loan by loan.",
        "这些证明包中没有迁徙率数据:需要逐笔关联的快照。",
    ),
    "absent.waterfall_deal": (
        "The deal's waterfall, from the payment reports, is in the deal's section below.",
        "交易的现金流分配(来自支付报告)见下方交易一节。",
    ),
    "absent.waterfall": (
        "No waterfall in these bundles: no deal file was given.",
        "这些证明包中没有现金流分配:未提供交易文件。",
    ),
    "absent.triggers": ("No trigger claims in these bundles.", "这些证明包中没有触发事件证明。"),
    "absent.trends": (
        "Trends need verified figures at two or more cut-offs.",
        "趋势图需要两个或以上截止日的已验证数据。",
    ),
    "absent.section": ("No verified figure for this section.", "本节没有已验证的数据。"),
    "chart.buckets": ("Delinquency buckets and defaulted loans, balance", "逾期及违约贷款余额分布"),
    "chart.rates": ("CPR and CDR, annualised", "年化早偿率与违约率"),
    "chart.cumulative": ("Cumulative default rate against trigger levels", "累计违约率与触发水平"),
    "chart.ratio_trigger": ("{label} against its trigger", "{label}与触发水平"),
    "chart.rolls": ("Roll rates", "迁徙率"),
    "chart.figures": ("figures drawn", "图中数据"),
    "cumulative_note": (
        "Summed over the verified, hash-chained snapshots in the folder and divided by the first "
        "cut-off's beginning balance (revolving purchases are not in the bundles).",
        "对文件夹中已验证且哈希链相连的快照累加,并除以首个截止日的期初余额(证明包中不含循环购买)。",
    ),
    "unit.loans": ("loans", "笔"),
    "unit.percent": ("%", "%"),
    "unit.minor": ("{currency}", "{currency_zh}"),
    "kind.claim": ("claim", "证明"),
    "kind.snapshot": ("whole snapshot (every leaf and proof)", "完整快照(全部叶子及证明)"),
    "kind.header": ("snapshot header", "快照头"),
    "kind.skipped": ("not a figure bundle", "非数据证明包"),
    "trigger_level": ("{op} {level}", "{op} {level}"),
    "footer": (
        "Rendered offline by poolproof-audit report; the bundles linked beside each figure are the evidence.",
        "由 poolproof-audit report 离线生成;每项数据旁链接的证明包即为依据。",
    ),
}

_METRICS: Final = _metric_labels()
_CURRENCY_ZH: Final = {"CNY": "元", "USD": "美元", "HKD": "港元", "EUR": "欧元"}


def text(key: str, lang: Lang, **values: object) -> str:
    """The catalogue text of ``key`` in ``lang``, formatted with ``values``.

    Raises:
        KeyError: ``key`` is not in the catalogue (a programming error, not bad input).
    """
    en, zh = _TEXT[key]
    template = zh if lang == "zh" else en
    return template.format(**values) if values else template


def metric_label(metric: str, lang: Lang) -> str:
    """The label of a metric id; the id itself when the catalogue has none."""
    labels = _METRICS.get(metric)
    if labels is None:
        return metric
    return labels[1] if lang == "zh" else labels[0]


_LINE_PARTS: Final[Mapping[str, tuple[str, str]]] = {
    "available": ("available", "可分配资金"),
    "interest_collections": ("interest collections", "利息回收"),
    "principal_collections": ("principal collections", "本金回收"),
    "principal_carried": ("principal carried", "结转本金"),
    "reserve": ("reserve", "储备金"),
    "total": ("total", "合计"),
    "senior_fees": ("senior fees", "优先费用"),
    "interest": ("interest", "利息"),
    "principal": ("principal", "本金"),
    "purchases": ("purchases", "循环购买"),
    "carried": ("carried", "结转"),
    "balance": ("balance", "余额"),
    "residual": ("residual", "剩余收益"),
    "due": ("due", "应付"),
    "paid": ("paid", "已付"),
}


def line_label(name: str, lang: Lang) -> str:
    """A waterfall line's label (``interest:A.paid`` → "interest A, paid"); unknown parts stay as they are."""
    step, _, item = name.partition(".")
    head, _, tranche = step.partition(":")
    i = 1 if lang == "zh" else 0
    parts = [_LINE_PARTS.get(head, (head, head))[i] + (f" {tranche}" if tranche else "")]
    if item:
        parts.append(_LINE_PARTS.get(item, (item, item))[i])
    return ("," if lang == "zh" else ", ").join(parts)


def currency_label(currency: str, lang: Lang) -> str:
    """The unit label of an amount in ``currency`` (ISO 4217 code in English, its name in Chinese)."""
    return _CURRENCY_ZH.get(currency, currency) if lang == "zh" else currency


def catalogue_keys() -> frozenset[str]:
    """Every text key (for the test that every key has both languages)."""
    return frozenset(_TEXT)


def metric_catalogue() -> Mapping[str, tuple[str, str]]:
    """Every metric label, ``{metric id: (English, Chinese)}``."""
    return dict(_METRICS)
