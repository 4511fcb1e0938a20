"""Disclosure modes: per role and metric, exact, threshold claims only, or nothing.

The default policy gives investors and rating agencies the servicer-report figures exactly and
threshold claims for the rest; a malformed ``[[disclosure_modes]]`` table is refused naming the rule
and the field; ``poolproof policy explain --metric`` shows the chain.
"""

from pathlib import Path

import pytest
from click.testing import CliRunner

from policies import DEFAULT_POLICY_PATH, DisclosureModeKind, Party, PolicyFileError, load_policy
from policies.cli import policy_group
from policies.explain import explain_metric

GOOD = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
POLICY = load_policy()
INVESTOR = Party(id="inv-1", role="investor", pools=frozenset({"P"}))
SERVICER_REPORT = frozenset(POLICY.metric_sets["servicer_report"])


def write_policy(tmp_path: Path, text: str) -> Path:
    (tmp_path / "catalogue.toml").write_bytes((DEFAULT_POLICY_PATH.parent / "catalogue.toml").read_bytes())
    p = tmp_path / "policy.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("metric", sorted(SERVICER_REPORT))
def test_every_servicer_report_figure_is_exact_for_investors(metric: str) -> None:
    md = POLICY.disclosure_mode("investor", metric)
    assert md.mode is DisclosureModeKind.EXACT
    assert md.rule_ids[0] == "modes.servicer_report_exact"
    assert POLICY.may_request_claim(INVESTOR, "exact", metric, pool_id="P").allowed
    assert POLICY.may_request_claim(INVESTOR, "threshold", metric, pool_id="P").allowed


def test_the_servicer_report_names_the_v2_metric_ids_of_the_brief() -> None:
    from proofs.lanes import pool_v2

    v2_metrics = set(pool_v2(36, [36] * 7).metrics)
    assert v2_metrics >= SERVICER_REPORT  # every name is a pool statement v2 metric id
    for needed in (
        "delinquent_31plus_balance",
        "delinquent_90plus_count",
        "balance_DEFAULTED",
        "count_PREPAID",
        "written_off",
        "recoveries",
        "collections",
        "unscheduled_principal",
        "defaulted_principal",
        "rate_base_balance",
        "beginning_balance",
        "interest_and_fees",
        "outstanding_balance",
        "active_loan_count",
    ):
        assert needed in SERVICER_REPORT


@pytest.mark.parametrize("metric", ["count_REPURCHASED", "count_MATURED", "balance_dpd_90plus"])
def test_what_a_servicer_report_does_not_publish_is_threshold_only(metric: str) -> None:
    exact = POLICY.may_request_claim(INVESTOR, "exact", metric, pool_id="P")
    assert not exact.allowed
    assert exact.rule_ids[0] == "modes.threshold_for_the_rest"
    assert "mode threshold refuses an exact claim" in exact.reason
    assert POLICY.may_request_claim(INVESTOR, "threshold", metric, pool_id="P").allowed


def test_a_single_loan_value_is_never_exact_even_if_listed_exact(tmp_path: Path) -> None:
    text = GOOD.replace('metrics = ["@servicer_report", "strata/*", "roll/*"]', 'metrics = ["*"]', 1)
    pol = load_policy(write_policy(tmp_path, text))
    assert pol.disclosure_mode("investor", "count_REPURCHASED").mode is DisclosureModeKind.THRESHOLD
    md = pol.disclosure_mode("investor", "largest_balance")
    assert md.mode is DisclosureModeKind.THRESHOLD  # the more restrictive rule wins over exact "*"
    assert "the most restrictive applicable mode wins" in md.reason


def test_mode_none_refuses_thresholds_too(tmp_path: Path) -> None:
    text = GOOD.replace(
        'mode = "threshold"\nreason = "a single loan', 'mode = "none"\nreason = "a single loan', 1
    )
    pol = load_policy(write_policy(tmp_path, text))
    d = pol.may_request_claim(INVESTOR, "threshold", "largest_balance", pool_id="P")
    assert not d.allowed
    assert d.rule_ids[0] == "modes.single_loan_values_threshold_only"


def test_a_metric_no_mode_rule_names_gets_nothing(tmp_path: Path) -> None:
    text = GOOD.replace('metrics = ["*"]\nexcept_metrics', 'metrics = ["count_MATURED"]\nexcept_metrics', 1)
    pol = load_policy(write_policy(tmp_path, text))
    d = pol.may_request_claim(INVESTOR, "threshold", "count_REPURCHASED", pool_id="P")
    assert not d.allowed
    assert d.rule_ids == ("modes.default_none",)


def test_modes_do_not_apply_to_inclusion_or_to_other_roles() -> None:
    assert not POLICY.may_request_claim(INVESTOR, "inclusion", "sampled_leaf", pool_id="P").allowed
    trustee = Party(id="t", role="trustee", pools=frozenset({"P"}))
    d = POLICY.may_request_claim(trustee, "exact", "count_REPURCHASED", pool_id="P")
    assert d.allowed
    assert d.rule_ids == ("claims.exact_for_servicing_parties",)


def test_an_out_of_scope_pool_is_refused_before_the_modes() -> None:
    d = POLICY.may_request_claim(INVESTOR, "exact", "pool_balance", pool_id="OTHER")
    assert not d.allowed
    assert d.rule_ids == ("scope.pool",)


@pytest.mark.parametrize(
    ("old", "new", "key_path", "problem"),
    [
        ('mode = "exact"', 'mode = "visible"', "disclosure_modes[0].mode", "mode must be one of"),
        (
            '["@servicer_report", "strata/*", "roll/*"]',
            '["@servicer_reprot"]',
            "disclosure_modes[0].metrics",
            "metric set '@servicer_reprot' is not declared",
        ),
        (
            'roles = ["investor", "rating_agency"]\nmetrics = ["@servicer_report"',
            'roles = ["investor", "hedge_fund"]\nmetrics = ["@servicer_report"',
            "disclosure_modes[0].roles",
            "role 'hedge_fund' is not declared",
        ),
        (
            'id = "modes.threshold_for_the_rest"',
            'id = "modes.servicer_report_exact"',
            "disclosure_modes[2].id",
            "unique",
        ),
        (
            '"roll/*"]\nmode = "exact"',
            '"strata*x"]\nmode = "exact"',
            "disclosure_modes[0].metrics",
            "wildcard",
        ),
        ('mode = "exact"', 'mode = "exact"\nshow = true', "disclosure_modes[0].show", "unknown key"),
        (
            'single_loan_values = ["largest_balance", "largest_obligor_balance"]',
            "single_loan_values = []",
            "metric_sets.single_loan_values",
            "at least one metric id",
        ),
        (
            'roles = ["trustee", "auditor", "platform", "regulator"]\nkinds = ["threshold"]',
            'roles = ["trustee", "auditor", "platform", "regulator", "investor"]\nkinds = ["threshold"]',
            "claim_rules[0].roles",
            "whose claims [[disclosure_modes]] decide",
        ),
    ],
)
def test_a_malformed_mode_rule_is_refused_naming_rule_and_field(
    tmp_path: Path, old: str, new: str, key_path: str, problem: str
) -> None:
    assert old in GOOD
    p = write_policy(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(PolicyFileError) as info:
        load_policy(p)
    assert info.value.key_path == key_path
    assert problem in str(info.value)
    assert info.value.line is not None


def test_explain_metric_shows_every_mode_rule_and_the_winner() -> None:
    text = explain_metric(POLICY, "investor", "count_REPURCHASED")
    assert "skipped  modes.servicer_report_exact: exact - metric not listed" in text
    assert "applies  modes.threshold_for_the_rest: threshold" in text
    assert "=> mode threshold [modes.threshold_for_the_rest]" in text
    assert "exact claim: refused [modes.threshold_for_the_rest]" in text
    assert "threshold claim: allowed [modes.threshold_for_the_rest]" in text
    excluded = explain_metric(POLICY, "investor", "pool_balance")
    assert "skipped  modes.threshold_for_the_rest: threshold - listed in except_metrics" in excluded
    assert "exact claim: allowed [modes.servicer_report_exact]" in excluded


def test_cli_explain_metric() -> None:
    r = CliRunner().invoke(policy_group, ["explain", "--party", "investor", "--metric", "largest_balance"])
    assert r.exit_code == 0, r.output
    assert "=> mode threshold [modes.single_loan_values_threshold_only" in r.output
    both = CliRunner().invoke(
        policy_group, ["explain", "--party", "investor", "--metric", "x", "--field", "id_number"]
    )
    assert both.exit_code == 2
    assert "exactly one of --field and --metric" in both.output


def test_the_modes_are_part_of_the_policy_version(tmp_path: Path) -> None:
    a = load_policy(write_policy(tmp_path, GOOD))
    b = load_policy(write_policy(tmp_path, GOOD.replace('mode = "exact"', 'mode = "threshold"', 1)))
    assert a.version != b.version
