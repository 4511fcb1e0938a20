"""Seeded synthetic platform: realistic e-commerce instalment pools (Baitiao/Huabei-style), monthly.

What a pool looks like
    Small instalment purchases and a share of cash loans: principal truncated log-normal (median
    RMB 3,000, between RMB 100 and RMB 50,000), terms 3/6/9/12/18/24 months, all-in APR mostly
    1,000-2,400 bps with about 3 % between 2,401 and 3,600 bps (the nominal rate is the APR less a fee
    spread of 0-400 bps), obligors in GB/T 2260 province/city codes weighted by the 2020 census, ages
    18-60 skewed young (about half under 31). At the first cut-off every loan is on the book
    (seasoning 0-12 months, always before scheduled maturity); the same loans then age month by month.

Synthetic identities
    ID numbers are GB 11643-1999 shaped and carry a valid ISO 7064 MOD 11-2 check character, but every
    sequence code is taken from the block 900-999, which makes them recognisably synthetic in a tape
    (odd sequence = male, even = female, as the standard says). Names, mobiles, card numbers and street
    addresses are drawn from a person stream keyed by the ID number, so two loans that happen to share an
    ID number also share the person. No real person's data is used.

Performance model (documented transition probabilities; monthly, in basis points of probability)
    State = number of missed instalments (M0 none, M1 one, M2 two, M3 three, M3+ past the default line).
    ======  =======================================  ==========  =========  ==========
    from    roll (pay nothing)                       cure (all)  hold (one)  prepay
    ======  =======================================  ==========  =========  ==========
    M0      200 x score factor (2 / 1 / 0.5)         --          --          150
    M1      2,500                                    5,500       2,000       --
    M2      5,500                                    2,500       2,000       --
    M3      8,000                                    1,000       1,000       --
    ======  =======================================  ==========  =========  ==========
    The score factor is 2 below an internal score of 550, 1 from 550 to 699 and 0.5 from 700. A loan
    whose days past due reach 90 at a cut-off is DEFAULTED (``default_date`` = oldest unpaid due date +
    90 days) and pays nothing more; at 180 days it is CHARGED_OFF (``charge_off_date`` = oldest unpaid due
    date + 180 days). Loans that pay their last instalment are MATURED_PAID; prepaid loans are
    PREPAID_IN_FULL. Terminal statuses are absorbing: a closed loan appears once, in the tape of the
    month it closed, with zero balances and days past due.
    Before the first cut-off (the simulated history) loans neither prepay nor charge off and a loan three
    instalments behind pays one rather than rolling further: the pool at the cut-off is the book of live
    loans. The pool revolves (持续购买): a loan that closes is replaced the month after by a newly
    originated loan in the same slot (``platform_loan_id`` ends in the slot's generation number), so
    every monthly tape has ``n_loans`` rows. Mature months show about 3 % of live loans 1-30 days past
    due and about 1 % over 90 (seed 7, 40,000 loans: month 6 2.75 % / 0.91 %, month 12 2.74 % / 1.11 %);
    the first cut-off has no loan over 92 days, and the month-3 tape shows the roll of the cut-off's
    M3 stock (about 1.4 % over 90).

Period flows (tape schema v2)
    Each row carries the seven flows of the month since the previous cut-off (none on a loan's first
    tape: it entered the pool at that cut-off). Instalments paid in the month give scheduled principal
    (the fall of the schedule's balance) and their interest; an instalment paid after a cut-off at which
    it was already due also pays a late fee of 5 % of the instalment. A prepaying loan pays the month's
    instalments and then its whole remaining balance (unscheduled principal); partial prepayments are
    not simulated. A loan that reaches 90 days past due defaults its balance that month; at 180 days
    the balance is written off and 0-30 % of it recovered in the same month (a closed loan keeps no row
    after it closes, so later recoveries would have no row to go on). Balances roll forward exactly:
    last month's balance less scheduled, unscheduled and written-off principal is this month's.

Days past due follow the reference notes §6.3 convention: cut-off date minus the oldest unpaid due date,
counting only due dates strictly before the cut-off (an instalment due on the cut-off day is not late).
Balances follow the contract schedule (equal instalment: exact annuity fractions in integer arithmetic;
equal principal: floor division), interest of a missed instalment is its opening balance times the monthly
rate, floored. Rows are computed in integer arithmetic from counter-based draws: BLAKE2b (RFC 7693) of a
seed-derived key and (loan slot, generation) or the ID number, and SplitMix64 (Steele, Lea and Flood,
OOPSLA 2014) for the monthly steps of each loan; only the amount and income quantile tables are built from
floats, once, at import. So the same seed gives the same rows, any month of any loan can be generated
alone, and rows stream one at a time (memory does not grow with the pool: only bounded caches of dates
and schedules).
"""

from __future__ import annotations

import calendar
import hashlib
import math
import re
import struct
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from hashlib import blake2b
from statistics import NormalDist
from typing import Any

from gateway.importers.tape_v1 import Row, write_csv, write_jsonl

__all__ = [
    "MARKOV_BPS",
    "PREPAY_BPS",
    "ROLL_M0_BPS",
    "generate_months",
    "generate_tape",
    "monthly_cutoff",
    "write_csv",
    "write_jsonl",
]

_M64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64 increment (odd; golden-ratio based)


def _mix64(z: int) -> int:
    """The SplitMix64 output function (a bijection of 64-bit words; Steele, Lea, Flood 2014)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


# --- Behaviour parameters (see the module docstring) -------------------------------------------------
ROLL_M0_BPS = 200
PREPAY_BPS = 150
# missed instalments -> (cure, hold) in bps; the rest of 10,000 is "roll" (pay nothing).
MARKOV_BPS: dict[int, tuple[int, int]] = {1: (5500, 2000), 2: (2500, 2000), 3: (1000, 1000)}
DEFAULT_DPD = 90
CHARGE_OFF_DPD = 180
MAX_SEASONING_MONTHS = 12
#: Late fee on an instalment paid after a cut-off it was due at: 5 % of the instalment.
LATE_FEE_BPS = 500
#: Recoveries on a written-off balance, booked in the month of the write-off: uniform 0 .. 30 %.
RECOVERY_MAX_BPS = 3000

# --- Static tables --------------------------------------------------------------------------------------
# GB/T 2260 codes, one province a line: name, population (2020 census, in 10,000s), code:city-or-district.
# Municipalities list districts; provinces list prefecture-level cities. Codes as published by the
# Ministry of Civil Affairs (valid in the 2020 code list, hence region_code_version 2020).
REGION_CODE_VERSION = 2020
_REGION_TABLE = """
北京市 2189 110101:东城区 110102:西城区 110105:朝阳区 110106:丰台区 110108:海淀区
天津市 1387 120101:和平区 120103:河西区 120104:南开区
河北省 7461 130100:石家庄市 130200:唐山市 130400:邯郸市 130600:保定市
山西省 3492 140100:太原市 140200:大同市
内蒙古自治区 2405 150100:呼和浩特市 150200:包头市
辽宁省 4259 210100:沈阳市 210200:大连市
吉林省 2407 220100:长春市 220200:吉林市
黑龙江省 3185 230100:哈尔滨市 230600:大庆市
上海市 2487 310101:黄浦区 310104:徐汇区 310110:杨浦区
江苏省 8475 320100:南京市 320200:无锡市 320400:常州市 320500:苏州市
浙江省 6457 330100:杭州市 330200:宁波市 330300:温州市
安徽省 6103 340100:合肥市 340200:芜湖市
福建省 4154 350100:福州市 350200:厦门市 350500:泉州市
江西省 4519 360100:南昌市 360700:赣州市
山东省 10153 370100:济南市 370200:青岛市 370600:烟台市 370700:潍坊市
河南省 9937 410100:郑州市 410300:洛阳市 410700:新乡市 411300:南阳市
湖北省 5775 420100:武汉市 420500:宜昌市 420600:襄阳市
湖南省 6645 430100:长沙市 430200:株洲市 430400:衡阳市
广东省 12601 440100:广州市 440300:深圳市 440500:汕头市 440600:佛山市 441900:东莞市 442000:中山市
广西壮族自治区 5013 450100:南宁市 450200:柳州市 450300:桂林市
海南省 1008 460100:海口市 460200:三亚市
重庆市 3205 500101:万州区 500103:渝中区 500106:沙坪坝区
四川省 8367 510100:成都市 510500:泸州市 510700:绵阳市 511300:南充市
贵州省 3856 520100:贵阳市 520300:遵义市
云南省 4721 530100:昆明市 530300:曲靖市
西藏自治区 365 540100:拉萨市
陕西省 3953 610100:西安市 610300:宝鸡市
甘肃省 2502 620100:兰州市 620500:天水市
青海省 592 630100:西宁市
宁夏回族自治区 720 640100:银川市
新疆维吾尔自治区 2585 650100:乌鲁木齐市 650200:克拉玛依市
"""
_REGIONS: tuple[tuple[str, int, tuple[tuple[str, str], ...]], ...] = tuple(
    (prov, int(pop), tuple((c[:6], c[7:]) for c in cities))
    for prov, pop, *cities in (line.split() for line in _REGION_TABLE.strip().splitlines())
)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋"
    "蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段"
    "雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国文红梅琳晨浩宇欣"
    "怡子涵梓轩雨婷佳琪思远嘉豪晓东海燕春雪峰俊博志斌玲凤云飞鑫宁婧颖瑶琦瑞昊然睿诗雅"
    "晴楠坤毅航阳旭彬倩蕾薇莹丹凯健荣秋亮"
)
_STREETS = (
    "人民路", "解放路", "建设路", "中山路", "和平路", "新华路", "胜利路", "文化路",
    "青年路", "光明街", "朝阳路", "长江路", "黄河路", "复兴路", "友谊路", "幸福街",
)  # fmt: skip
_MOBILE_PREFIX_TEXT = """
130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 173 175 176 177 178
180 181 182 183 184 185 186 187 188 189 191 198 199
"""
_MOBILE_PREFIXES = tuple(_MOBILE_PREFIX_TEXT.split())


def _weighted_table(items: list[tuple[Any, int]], size: int = 4096) -> tuple[Any, ...]:
    """A lookup table of ``size`` slots where each item fills a share of slots proportional to its weight
    (largest-remainder rounding), so a uniform index in ``range(size)`` draws items by weight."""
    total = sum(w for _, w in items)
    quotas = [(item, w * size // total, (w * size) % total) for item, w in items]
    left = size - sum(q for _, q, _ in quotas)
    by_remainder = sorted(range(len(quotas)), key=lambda i: -quotas[i][2])
    extra = set(by_remainder[:left])
    out: list[Any] = []
    for i, (item, q, _) in enumerate(quotas):
        out.extend([item] * (q + (1 if i in extra else 0)))
    return tuple(out)


def _city_table() -> tuple[tuple[str, str, str], ...]:
    items: list[tuple[tuple[str, str, str], int]] = []
    for prov, pop, cities in _REGIONS:
        for code, city in cities:
            items.append(((code, prov, city), pop * 100 // len(cities)))
    return _weighted_table(items)


def _lognormal_table(median: int, sigma_milli: int, lo: int, hi: int, size: int = 4097) -> tuple[int, ...]:
    """Quantiles of a log-normal truncated to [lo, hi], in whole units, at ``size`` equally spaced levels.

    Built once at import with ``statistics.NormalDist`` (IEEE-754 arithmetic); draws interpolate between
    neighbouring quantiles with integers only.
    """
    sigma = sigma_milli / 1000
    nd = NormalDist()
    p_lo = nd.cdf(math.log(lo / median) / sigma)
    p_hi = nd.cdf(math.log(hi / median) / sigma)
    out = []
    for k in range(size):
        p = p_lo + (p_hi - p_lo) * k / (size - 1)
        p = min(max(p, 1e-12), 1 - 1e-12)
        out.append(min(hi, max(lo, round(median * math.exp(sigma * nd.inv_cdf(p))))))
    out[0], out[-1] = lo, hi
    return tuple(out)


_CITY = _city_table()
_AMOUNT_YUAN = _lognormal_table(3000, 1000, 100, 50_000)
_INCOME_YUAN = _lognormal_table(6500, 550, 1500, 80_000)
_TERM = _weighted_table([(3, 22), (6, 28), (9, 8), (12, 27), (18, 5), (24, 10)])
_AGE = _weighted_table([(a, w) for a, w in (
    [(a, 18) for a in range(18, 23)] + [(a, 48) for a in range(23, 31)] + [(a, 32) for a in range(31, 41)]
    + [(a, 14) for a in range(41, 51)] + [(a, 6) for a in range(51, 61)])])  # fmt: skip
_SURNAME = _weighted_table([(c, max(1, 60 - i)) for i, c in enumerate(_SURNAMES)])
_PRODUCT_MERCHANT = _weighted_table([
    (("INSTALLMENT_PURCHASE", "ELECTRONICS"), 240), (("INSTALLMENT_PURCHASE", "APPLIANCES"), 120),
    (("INSTALLMENT_PURCHASE", "APPAREL"), 130), (("INSTALLMENT_PURCHASE", "HOME_FURNISHING"), 60),
    (("INSTALLMENT_PURCHASE", "GROCERY"), 90), (("INSTALLMENT_PURCHASE", "TRAVEL"), 50),
    (("INSTALLMENT_PURCHASE", "EDUCATION"), 30), (("INSTALLMENT_PURCHASE", "DIGITAL_SERVICES"), 60),
    (("INSTALLMENT_PURCHASE", "AUTOMOTIVE"), 20), (("INSTALLMENT_PURCHASE", "OTHER"), 40),
    (("CASH_LOAN", None), 150),
])  # fmt: skip
_CHANNEL = _weighted_table(
    [("APP", 70), ("MINI_PROGRAM", 15), ("WEB", 8), ("OFFLINE_MERCHANT", 2), ("PARTNER", 5)]
)
_METHOD = _weighted_table([("EQUAL_INSTALMENT", 80), ("EQUAL_PRINCIPAL", 20)])
_OCCUPATION = _weighted_table([("EMPLOYED_PRIVATE", 60), ("EMPLOYED_PUBLIC", 10), ("SELF_EMPLOYED", 18),
                               ("STUDENT", 6), ("RETIRED", 1), ("UNEMPLOYED", 2), ("OTHER", 3)])  # fmt: skip

# --- Calendar helpers ---------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _first_of_month_ord(mi: int) -> int:
    return date(mi // 12, mi % 12 + 1, 1).toordinal()


@lru_cache(maxsize=65536)
def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def monthly_cutoff(start: date, k: int) -> date:
    """The k-th monthly cut-off after ``start`` (k may be negative): same day of month, clipped to the
    month's last day; if ``start`` is the last day of its month, every cut-off is a month end."""
    mi = start.year * 12 + start.month - 1 + k
    y, m = divmod(mi, 12)
    last = calendar.monthrange(y, m + 1)[1]
    start_last = calendar.monthrange(start.year, start.month)[1]
    day = last if start.day == start_last else min(start.day, last)
    return date(y, m + 1, day)


# --- Schedules --------------------------------------------------------------------------------------------
_SCALE = 10**18


@lru_cache(maxsize=8192)
def _annuity_fractions(rate_bps: int, n: int) -> tuple[int, ...]:
    """Outstanding principal after j equal instalments, as exact fractions of the principal scaled by 10^18.

    With monthly rate r = rate_bps / 120,000, the balance after j of n payments is
    P * ((1+r)^n - (1+r)^j) / ((1+r)^n - 1); with A = 120,000 + rate_bps and B = 120,000 this is
    P * (A^n - A^j B^(n-j)) / (A^n - B^n), evaluated in integers (floored).
    """
    a, b = 120_000 + rate_bps, 120_000
    an, bn = a**n, b**n
    den = an - bn
    return tuple((an - a**j * b ** (n - j)) * _SCALE // den for j in range(n + 1))


# --- Generation ---------------------------------------------------------------------------------------------
_POOL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_STATIC_SLOTS = 8
MAX_MONTH = 12_000  # a thousand years of monthly tapes
_STEP_SLOT0 = 64  # step t draws from slot (_STEP_SLOT0 + MAX_SEASONING_MONTHS + t) // 4, 16 bits each
_LOAN_DRAWS = struct.Struct("<5Q")  # d0..d3 (contract, obligor) and the loan's step-stream state
_PERSON_DRAWS = struct.Struct("<3Q")
_LOAN_KEY = struct.Struct("<QI")  # loan slot (mod 2^64), generation


def _check_args(n_loans: int, seed: int, pool_id: str, month: int) -> None:
    if not isinstance(n_loans, int) or n_loans < 0:
        raise ValueError("n_loans must be a non-negative integer")
    if not isinstance(seed, int):
        raise TypeError("seed must be an integer")
    if not isinstance(month, int) or not 0 <= month <= MAX_MONTH:
        raise ValueError(f"month must be an integer in 0..{MAX_MONTH}")
    if not isinstance(pool_id, str) or not _POOL_ID_RE.match(pool_id):
        raise ValueError("pool_id must be 1-40 characters of letters, digits, '.', '_' or '-'")


def generate_tape(
    n_loans: int,
    *,
    seed: int,
    cutoff: date,
    pool_id: str,
    month: int = 0,
    indices: range | None = None,
) -> Iterator[Row]:
    """Stream the monthly tape number ``month`` of a synthetic pool of ``n_loans`` loans.

    ``cutoff`` is the pool's first cut-off date (month 0); the tape of month ``k`` is as of
    :func:`monthly_cutoff` ``(cutoff, k)``, and describes the same loans k months later. ``indices``
    restricts the output to a sub-range of loan numbers (for parallel generation); rows come in loan
    order, one dict at a time, each satisfying the tape rules of the reference notes §6.4 (see the tests).
    The same arguments always give the same rows. Raises ``ValueError``/``TypeError`` on bad arguments.
    """
    _check_args(n_loans, seed, pool_id, month)
    if not isinstance(cutoff, date):
        raise TypeError("cutoff must be a datetime.date")
    if indices is None:
        indices = range(n_loans)
    elif indices.step != 1 or indices.start < 0 or indices.stop > n_loans:
        raise ValueError("indices must be a contiguous sub-range of range(n_loans)")
    return _rows(n_loans, seed, cutoff, pool_id, month, indices)


def generate_months(
    n_loans: int, *, seed: int, start_cutoff: date, months: int, pool_id: str = "SYNTH"
) -> Iterator[tuple[date, Iterator[Row]]]:
    """Yield ``(cutoff_k, rows_k)`` for k = 0 .. months-1: the monthly tapes of one synthetic pool.

    Each ``rows_k`` is the stream :func:`generate_tape` gives for ``month=k``; consume it before the
    next (or not at all: tapes are independent streams). Raises ``ValueError`` on bad arguments.
    """
    _check_args(n_loans, seed, pool_id, 0)
    if not isinstance(months, int) or months < 0:
        raise ValueError("months must be a non-negative integer")
    for k in range(months):
        yield (
            monthly_cutoff(start_cutoff, k),
            generate_tape(n_loans, seed=seed, cutoff=start_cutoff, pool_id=pool_id, month=k),
        )


def _rows(n_loans: int, seed: int, cutoff0: date, pool_id: str, month: int, indices: range) -> Iterator[Row]:
    m64, gamma, mix = _M64, _GAMMA, _mix64
    # Per-loan and per-person draws: BLAKE2b (RFC 7693) of a fixed-length key derived from the seed and a
    # fixed-length message, so no two inputs collide; monthly steps: SplitMix64 from the loan's state.
    seed_key = hashlib.sha256(b"poolproof/synth/v1\x00%d" % seed).digest()
    loan_prefix, person_prefix = seed_key + b"L", seed_key + b"P"
    loan_draws, person_draws, loan_key = _LOAN_DRAWS.unpack, _PERSON_DRAWS.unpack, _LOAN_KEY.pack
    c0_mi = cutoff0.year * 12 + cutoff0.month - 1
    # Cut-off calendar: cut[t] = (month index, day, ordinal, draw slot, bit shift) of the cut-off of step t,
    # for t = -MAX_SEASONING_MONTHS .. month (negative t index the list's tail).
    cut: list[tuple[int, int, int, int, int]] = [(0, 0, 0, 0, 0)] * (month + 1 + MAX_SEASONING_MONTHS)
    for t in range(-MAX_SEASONING_MONTHS, month + 1):
        c = monthly_cutoff(cutoff0, t)
        # The uniform of step t: 16 bits at 16 * (slot % 4) of draw number slot // 4.
        slot = _STEP_SLOT0 + MAX_SEASONING_MONTHS + t
        cut[t] = (c0_mi + t, c.day, c.toordinal(), slot >> 2, (slot & 3) << 4)
    ck_ord = cut[month][2]
    city_t, amount_t, income_t, term_t, age_t = _CITY, _AMOUNT_YUAN, _INCOME_YUAN, _TERM, _AGE
    surname_t, pm_t, chan_t, meth_t, occ_t = _SURNAME, _PRODUCT_MERCHANT, _CHANNEL, _METHOD, _OCCUPATION
    given, streets, nprefix = _GIVEN, _STREETS, len(_MOBILE_PREFIXES)
    mprefix = tuple(int(p) * 100_000_000 for p in _MOBILE_PREFIXES)
    ngiven = len(given)
    luhn4 = _LUHN4
    luhn62 = _LUHN4[62]  # digits 17-18 from the right of every payload ("62"), see _luhn4_table
    iso = _iso
    birth: dict[int, tuple[str, str]] = {}  # birth-date ordinal -> (ISO, YYYYMMDD); at most ~16,000 days
    # First-of-month ordinals for every month a due date, origination or maturity can fall in.
    fom = {mi: _first_of_month_ord(mi) for mi in range(c0_mi - MAX_SEASONING_MONTHS - 1, c0_mi + month + 40)}
    pool_add = [iso(c[2]) for c in cut]  # pool_add[t]: the cut-off of step t, ISO
    consent_versions = {mi: f"PP-CONSENT-{mi // 12}.{1 if mi % 12 < 6 else 2}" for mi in fom}
    fractions = _annuity_fractions
    cures = (0, MARKOV_BPS[1][0], MARKOV_BPS[2][0], MARKOV_BPS[3][0])
    stays = (0, sum(MARKOV_BPS[1]), sum(MARKOV_BPS[2]), sum(MARKOV_BPS[3]))  # cure + hold
    roll0_base, prepay_bps = ROLL_M0_BPS, PREPAY_BPS
    id_prefix = f"{pool_id}-"
    scale = _SCALE
    hours = tuple(f"{h:02d}" for h in range(8, 23))  # consent between 08:00 and 22:59 CST
    mmss = tuple(f":{m:02d}:{sec:02d}" for m in range(60) for sec in range(60))

    for i in indices:
        g = 0
        while True:  # generations of slot i: a closed loan is replaced the month after it closes
            digest = blake2b(loan_prefix + loan_key(i & m64, g), digest_size=40).digest()
            d0, d1, d2, d3, ls = loan_draws(digest)
            n = term_t[d0 & 4095]
            if g == 0:
                o_t = -(((d0 >> 48) & 0xFFFF) % (min(n - 1, MAX_SEASONING_MONTHS) + 1))  # minus seasoning
            o_mi, o_cday = cut[o_t][0], cut[o_t][1]
            o_day = 1 + ((d1 >> 32) & 0xFFFF) % (o_cday if o_cday < 28 else 28)
            band = (d2 & 0xFFFF) % 10_000
            apr = 2401 + ((d2 >> 16) & 0xFFFF) % 1200 if band < 300 else 1000 + ((d2 >> 16) & 0xFFFF) % 1401
            nominal = (apr - ((d2 >> 32) & 0xFFFF) % 401) // 5 * 5
            if nominal < 600:
                nominal = 600
            score = 350 + (((d2 >> 48) & 0xFF) + ((d2 >> 56) & 0xFF)) * 500 // 510
            roll0 = roll0_base * 2 if score < 550 else roll0_base if score < 700 else roll0_base // 2

            # Performance: simulate from the origination month (step o_t) to the tape's cut-off.
            paid = due_prev = default_ord = charge_ord = 0
            closed = None
            close_t = month
            paid0 = due0 = 0  # instalments paid and due at the start of the tape's step (t == month)
            defaulted_now = False
            blk_id = -1
            blk_draw = 0
            for t in range(o_t + 1, month + 1):
                c_mi, c_day, c_ord, blk, shift = cut[t]
                due = c_mi - o_mi - (0 if o_day < c_day else 1)
                if due > n:
                    due = n
                missed = due_prev - paid
                if t == month:
                    paid0, due0 = paid, due_prev
                if not default_ord:  # a defaulted loan pays nothing until charge-off
                    # Four 16-bit uniforms per 64-bit draw; u is in units of 1/10,000 (bps of probability).
                    if blk != blk_id:
                        blk_id = blk
                        blk_draw = mix((ls + blk * gamma) & m64)
                    u = (((blk_draw >> shift) & 0xFFFF) * 10_000) >> 16
                    if missed == 0:
                        if due == due_prev:  # nothing fell due this month
                            if t >= 1 and u < prepay_bps:
                                closed = "PREPAID_IN_FULL"
                        elif u < roll0:
                            pass  # misses the new instalment
                        elif t >= 1 and u < roll0 + prepay_bps:
                            closed = "PREPAID_IN_FULL"
                        else:
                            paid = due
                    else:
                        b = 3 if missed > 3 else missed
                        if u < cures[b]:
                            paid = due
                        elif (u < stays[b] or (t <= 0 and missed >= 3)) and paid < due:
                            paid += 1  # holds: pays one instalment
                due_prev = due
                if closed is None:
                    if paid == n:
                        closed = "MATURED_PAID"
                    elif due > paid and t >= 0:
                        oldest = fom[o_mi + paid + 1] + o_day - 1
                        dpd = c_ord - oldest
                        if dpd >= DEFAULT_DPD and not default_ord:
                            default_ord = oldest + DEFAULT_DPD
                            defaulted_now = t == month
                        if t >= 1 and dpd >= CHARGE_OFF_DPD:
                            charge_ord = oldest + CHARGE_OFF_DPD
                            closed = "CHARGED_OFF"
                if closed is not None:
                    close_t = t
                    break
            if closed is not None and close_t < month:
                # Revolving purchase: the slot takes a loan originated in the month after the closure.
                g += 1
                o_t = close_t + 1
                continue
            break

        # Contract terms not needed by the simulation.
        product, merchant = pm_t[(d0 >> 12) & 4095]
        method = meth_t[(d0 >> 36) & 4095]
        q = d1 & 0xFFFFFFFF  # amount quantile: 12 bits of table index, 20 bits of interpolation
        lo_y = amount_t[q >> 20]
        principal = (lo_y + (amount_t[(q >> 20) + 1] - lo_y) * (q & 0xFFFFF) // 0x100000) * 100
        fr = fractions(nominal, n) if method == "EQUAL_INSTALMENT" else ()
        if month > (o_t if g else 0):  # the loan was in the pool at the previous cut-off
            flows = _period_flows(
                principal,
                nominal,
                n,
                fr,
                paid0,
                due0,
                paid if closed != "PREPAID_IN_FULL" else due_prev,
                closed,
                defaulted_now,
                (ls >> 20) % (RECOVERY_MAX_BPS + 1),
            )
        else:
            flows = _NO_FLOWS
        if closed is not None:
            status = closed
            current = dpd = odp = odi = 0
            tier = "LOSS" if closed == "CHARGED_OFF" else "NORMAL"
        else:
            if method == "EQUAL_INSTALMENT":
                current = principal * fr[paid] // scale
            else:
                current = principal - principal * paid // n
            if due_prev > paid:
                dpd = ck_ord - (fom[o_mi + paid + 1] + o_day - 1)
                odi = 0
                if method == "EQUAL_INSTALMENT":
                    odp = current - principal * fr[due_prev] // scale
                    for j in range(paid, due_prev):
                        odi += principal * fr[j] // scale * nominal // 120_000
                else:
                    odp = current - (principal - principal * due_prev // n)
                    for j in range(paid, due_prev):
                        odi += (principal - principal * j // n) * nominal // 120_000
                status = "DEFAULTED" if default_ord else "OVERDUE"
                tier = "SUBSTANDARD" if dpd > DEFAULT_DPD else "SPECIAL_MENTION"
            else:
                dpd = odp = odi = 0
                status = tier = "NORMAL"

        # Obligor: region, birth date, ID number; person attributes keyed by the ID number.
        o_ord = fom[o_mi] + o_day - 1
        code, prov, city = city_t[d3 & 4095]
        b_ord = o_ord - (age_t[(d3 >> 12) & 4095] * 365 + 5 + ((d3 >> 24) & 0xFFFF) % 360)  # >= 18 years
        male = (d3 >> 40) & 1
        bd = birth.get(b_ord)
        if bd is None:
            bdate = iso(b_ord)
            bd = birth[b_ord] = (bdate, bdate.replace("-", ""))
        bdate = bd[0]
        id17 = f"{code}{bd[1]}{900 + (((d3 >> 41) & 0xFFFF) % 50) * 2 + male}"
        x = (1 - 2 * int(id17, 13)) % 11
        p0, p1, p2 = person_draws(blake2b(person_prefix + id17.encode(), digest_size=24).digest())
        name = surname_t[p0 & 4095] + given[(p0 >> 12) % ngiven]
        if (p0 >> 20) & 3:
            name += given[(p0 >> 22) % ngiven]
        r16 = p1 % 10**16  # the card number is "62" + 16 digits + a Luhn check digit
        lsum = luhn62 + luhn4[r16 % 10_000] + luhn4[r16 // 10_000 % 10_000]
        lsum += luhn4[r16 // 10**8 % 10_000] + luhn4[r16 // 10**12]
        o_iso = iso(o_ord)
        yield {
            "platform_loan_id": f"{id_prefix}{i:09d}-{g}",
            "obligor_name": name,
            "id_type": "RESIDENT_ID",
            "id_number": id17 + ("X" if x == 10 else str(x)),
            "mobile": str(mprefix[((p0 >> 32) & 0xFF) % nprefix] + (p0 >> 40) % 100_000_000),
            "repayment_account": str((62 * 10**16 + r16) * 10 + (10 - lsum % 10) % 10),
            "home_address": f"{prov}{city}{streets[(p1 >> 56) & 15]}{1 + ((p1 >> 48) & 0xFF)}号",
            "region_code": code,
            "region_code_version": REGION_CODE_VERSION,
            "birth_date": bdate,
            "gender": "M" if male else "F",
            "income_monthly_fen": income_t[(p2 >> 12) & 4095] * 100,
            "occupation": occ_t[p2 & 4095],
            "internal_score": score,
            "consent_basis": "SEPARATE_CONSENT",
            "consent_version": consent_versions[o_mi],
            "consent_time": f"{o_iso}T{hours[(d3 >> 57) % 15]}{mmss[(d1 >> 48) % 3600]}+08:00",
            "product_type": product,
            "merchant_category": merchant,
            "origination_channel": chan_t[(d0 >> 24) & 4095],
            "origination_date": o_iso,
            "first_due_date": iso(fom[o_mi + 1] + o_day - 1),
            "maturity_date": iso(fom[o_mi + n] + o_day - 1),
            "term_months": n,
            "installments_total": n,
            "installments_paid": paid,
            "repayment_method": method,
            "original_principal_fen": principal,
            "nominal_rate_bps": nominal,
            "apr_all_in_bps": apr,
            "current_principal_fen": current,
            "days_past_due": dpd,
            "overdue_principal_fen": odp,
            "overdue_interest_fen": odi,
            "loan_status": status,
            "five_tier_class": tier,
            "default_date": iso(default_ord) if default_ord else None,
            "charge_off_date": iso(charge_ord) if charge_ord else None,
            "pool_addition_date": pool_add[o_t if g else 0],
            "period_scheduled_principal_fen": flows[0],
            "period_unscheduled_principal_fen": flows[1],
            "period_interest_fen": flows[2],
            "period_fees_fen": flows[3],
            "period_defaulted_principal_fen": flows[4],
            "period_recoveries_fen": flows[5],
            "period_written_off_fen": flows[6],
        }


_NO_FLOWS = (0, 0, 0, 0, 0, 0, 0)


def _period_flows(
    principal: int,
    nominal: int,
    n: int,
    fr: tuple[int, ...],
    paid0: int,
    due0: int,
    paid1: int,
    closed: str | None,
    defaulted_now: bool,
    recovery_bps: int,
) -> tuple[int, ...]:
    """The seven period flows of a loan's last month (tape schema v2), in integer fen.

    ``paid0``/``due0`` are the instalments paid and due at the previous cut-off, ``paid1`` those paid
    by this one (for a prepaid loan: those due, paid with the rest of the balance); ``fr`` the annuity
    fractions of an equal-instalment loan (empty for equal principal). Instalments ``paid0 ..
    paid1 - 1`` give scheduled principal and their interest; those of them already due at the previous
    cut-off (paid late) a late fee of :data:`LATE_FEE_BPS` of the instalment. A prepaid loan's balance
    after them is unscheduled principal; a loan that reached the default line this month defaults its
    balance; a charged-off loan writes its balance off and recovers ``recovery_bps`` of it.
    """

    def balance(k: int) -> int:
        return principal * fr[k] // _SCALE if fr else principal - principal * k // n

    scheduled = balance(paid0) - balance(paid1)
    interest = fees = 0
    for j in range(paid0, paid1):
        due_interest = balance(j) * nominal // 120_000
        interest += due_interest
        if j < due0:
            fees += (balance(j) - balance(j + 1) + due_interest) * LATE_FEE_BPS // 10_000
    rest = balance(paid1)
    unscheduled = rest if closed == "PREPAID_IN_FULL" else 0
    defaulted = rest if defaulted_now else 0
    written_off = rest if closed == "CHARGED_OFF" else 0
    recoveries = written_off * recovery_bps // 10_000
    return (scheduled, unscheduled, interest, fees, defaulted, recoveries, written_off)


def _luhn4_table() -> tuple[int, ...]:
    """Luhn (ISO/IEC 7812-1 Annex B) partial sums of every 4-digit group, for a payload whose check digit
    will be appended: within a group aligned from the right, the 1st and 3rd digits from the right are
    doubled (digit sums of 2d taken), the others added as they are."""
    dbl = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
    out = []
    for v in range(10_000):
        d = [(v // 10**k) % 10 for k in range(4)]  # d[0] is the rightmost digit
        out.append(dbl[d[0]] + d[1] + dbl[d[2]] + d[3])
    return tuple(out)


_LUHN4 = _luhn4_table()
