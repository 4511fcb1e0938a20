"""Throughput of ``Policy.view`` on one core for the investor and rating-agency views.

Usage: ``python bench/bench_policy_view.py [--n 100000] [--repeat 3] [--seed 1]``

Generates n synthetic tape-schema-v1 rows (plus gateway-derived fields; seeded, varied values), then
for each role times ``view`` over all rows with the packaged default policy: the investor view (pool
keys only at record level) and the rating-agency view (pseudonymised keys with HMAC-SHA-256,
generalised demographics, raw economics). Reports the best of ``--repeat`` runs, plan compilation
separately. One process, one thread. Writes ``bench/results/policy-view-<n>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import sys
import time

from _common import RESULTS, cpu_model, peak_rss_mib  # bench/ is on sys.path when run as a script

from policies import Party, load_policy

POOL = "pool-bench"
REGIONS = ("110105", "310115", "440305", "330106", "510107", "420106", "320102", "370202")
NAMES = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强")


def synthetic_rows(n: int, seed: int) -> list[dict[str, object]]:
    """n varied rows; not a realistic credit model, only realistic field shapes and sizes."""
    rng = random.Random(seed)  # benchmark inputs only
    rows = []
    base = dt.date(2024, 1, 1)
    for i in range(n):
        orig = base + dt.timedelta(days=rng.randrange(180))
        term = rng.choice((3, 6, 12, 24))
        born = dt.date(rng.randrange(1960, 2004), rng.randrange(1, 13), rng.randrange(1, 29))
        principal = rng.randrange(10_000, 5_000_000)
        dpd = rng.choice((0, 0, 0, 0, 0, 0, 5, 35, 70, 120))
        rows.append(
            {
                "platform_loan_id": f"JD-{i:010d}",
                "obligor_name": rng.choice(NAMES),
                "id_type": "RESIDENT_ID",
                "id_number": f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}X",
                "mobile": f"13{rng.randrange(10**9):09d}",
                "repayment_account": f"622202{rng.randrange(10**13):013d}",
                "home_address": "北京市朝阳区建国路88号",
                "region_code": rng.choice(REGIONS),
                "region_code_version": 2023,
                "birth_date": born.isoformat(),
                "gender": rng.choice("MF"),
                "income_monthly_fen": rng.randrange(200_000, 6_000_000),
                "occupation": rng.choice(("EMPLOYED_PRIVATE", "EMPLOYED_PUBLIC", "SELF_EMPLOYED", "STUDENT")),
                "internal_score": rng.randrange(300, 900),
                "consent_basis": "CONTRACT_CLAUSE",
                "consent_version": "v3",
                "consent_time": f"{orig.isoformat()}T10:00:00+08:00",
                "product_type": "INSTALLMENT_PURCHASE",
                "merchant_category": rng.choice(("ELECTRONICS", "APPAREL", "GROCERY", "TRAVEL")),
                "origination_channel": "APP",
                "origination_date": orig.isoformat(),
                "first_due_date": (orig + dt.timedelta(days=30)).isoformat(),
                "maturity_date": (orig + dt.timedelta(days=30 * term)).isoformat(),
                "term_months": term,
                "installments_total": term,
                "installments_paid": rng.randrange(term),
                "repayment_method": "EQUAL_INSTALMENT",
                "original_principal_fen": principal,
                "nominal_rate_bps": rng.randrange(800, 2400),
                "apr_all_in_bps": rng.randrange(1000, 2400),
                "current_principal_fen": rng.randrange(principal + 1),
                "days_past_due": dpd,
                "overdue_principal_fen": 0 if dpd == 0 else rng.randrange(1, 100_000),
                "overdue_interest_fen": 0 if dpd == 0 else rng.randrange(1, 10_000),
                "loan_status": "NORMAL" if dpd == 0 else "OVERDUE",
                "five_tier_class": "NORMAL",
                "default_date": None,
                "charge_off_date": None,
                "pool_addition_date": "2024-07-01",
                "exposure_id": f"EXP-{i:010d}",
                "obligor_pseudo_id": f"{rng.getrandbits(128):032x}",
                "pool_id": POOL,
                "cutoff_date": "2024-06-30",
                "dpd_bucket": "M0" if dpd == 0 else "M1",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    rows = synthetic_rows(args.n, args.seed)
    gen_seconds = time.perf_counter() - t0
    policy = load_policy()
    key = bytes(range(32))  # benchmark key; real keys come from derive_pseudonym_key
    views = {"investor": "investment_monitoring", "rating_agency": "rating"}
    figures: dict[str, dict[str, float | int]] = {}
    total = 0.0
    for role, purpose in views.items():
        party = Party(id=f"{role}-bench", role=role, pools=frozenset({POOL}))
        t0 = time.perf_counter()
        plan = policy.compile_view(party, purpose, pool_id=POOL, pseudonym_key=key)
        compile_seconds = time.perf_counter() - t0
        best = float("inf")
        out: list[dict[str, object]] = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = policy.view(party, rows, purpose, pool_id=POOL, pseudonym_key=key)
            best = min(best, time.perf_counter() - t0)
        total += best
        figures[role] = {
            "seconds": round(best, 4),
            "records_per_second": round(args.n / best),
            "us_per_record": round(best / args.n * 1e6, 2),
            "fields_out": len(out[0]) if out else 0,
            "raw_fields": len(plan.raw_fields),
            "transformed_fields": len(plan.fn_fields),
            "plan_compile_ms": round(compile_seconds * 1000, 3),
        }
        print(
            f"{role:14s} {args.n} rows in {best:.3f} s = {args.n / best:,.0f} records/s per core "
            f"({figures[role]['fields_out']} fields out, {len(plan.fn_fields)} transformed)"
        )

    result = {
        "target": "policy-view",
        "n": args.n,
        "loans": args.n,
        "seconds": round(total, 4),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "date": dt.date.today().isoformat(),
        "command": "python bench/bench_policy_view.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{cpu_model()}, CPython {platform.python_version()}",
        "generate_seconds": round(gen_seconds, 3),
        "repeat": args.repeat,
        "views": figures,
        "target_records_per_second": 50_000,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"policy-view-{args.n}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
