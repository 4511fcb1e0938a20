"""Policy files: validation with actionable errors, reload keeping the previous policy, policy tests, CLI."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from policies import DEFAULT_POLICY_PATH, PolicyFileError, PolicyStore, explain, load_policy, run_policy_tests
from policies.cli import policy_group
from policies.policytest import DEFAULT_TEST_PATHS

GOOD = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")


def write_policy(tmp_path: Path, text: str) -> Path:
    (tmp_path / "catalogue.toml").write_bytes((DEFAULT_POLICY_PATH.parent / "catalogue.toml").read_bytes())
    p = tmp_path / "policy.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_packaged_policy_tests_all_pass() -> None:
    for path in DEFAULT_TEST_PATHS:
        results = run_policy_tests(path)
        failed = [r for r in results if not r.passed]
        assert results
        assert not failed, failed


def test_policy_test_runner_reports_a_wrong_expectation(tmp_path: Path) -> None:
    t = tmp_path / "t.toml"
    t.write_text(
        f'format = "poolproof/policy-test/v1"\npolicy = "{DEFAULT_POLICY_PATH}"\n'
        '[[cases]]\nname = "wrong"\nrole = "investor"\nfield = "id_number"\n'
        'purpose = "investment_monitoring"\nexpect = "raw"\n',
        encoding="utf-8",
    )
    [r] = run_policy_tests(t)
    assert not r.passed
    assert "expected raw, got deny" in r.message


@pytest.mark.parametrize(
    ("old", "new", "key_path", "fragment"),
    [
        (
            'transform = "raw"\nreason = "the originator',
            'transform = "rawish"\nreason = "the originator',
            "rules[0].transform",
            "unknown transform 'rawish'",
        ),
        (
            'roles = ["platform"]\nall_fields',
            'roles = ["platfrom"]\nall_fields',
            "rules[0].roles",
            "role 'platfrom' is not declared",
        ),
        (
            'fields = ["merchant_category"]\ntransform = "generalize"\nreason = "coarse purchase scene only"',
            'fields = ["merchant_categry"]\ntransform = "generalize"\nreason = "coarse purchase scene only"',
            "rules[3].fields",
            "'merchant_categry' is not in the catalogue",
        ),
        ("min_cohort = 10", "min_cohort = 1", "aggregates.min_cohort", "min_cohort must be an integer >= 2"),
        (
            'unless_events = ["perfection_event"]\nreason = "ID',
            'unless_events = ["perfection"]\nreason = "ID',
            "rules[6].when_events",
            "event 'perfection' is not declared",
        ),
        ('mask = "prc_id"', 'mask = "prc_idd"', "field_transforms.id_number.mask", "unknown mask preset"),
    ],
)
def test_malformed_policy_is_rejected_with_file_key_and_line(
    tmp_path: Path, old: str, new: str, key_path: str, fragment: str
) -> None:
    assert old in GOOD
    p = write_policy(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(PolicyFileError) as info:
        load_policy(p)
    err = info.value
    assert err.key_path == key_path
    assert fragment in str(err)
    assert str(p) in str(err)
    assert err.line is not None
    text_line = p.read_text(encoding="utf-8").splitlines()[err.line - 1]
    assert key_path.split(".")[-1] in text_line or text_line.startswith("[[rules]]")


def test_generalize_rule_without_parameters_is_rejected(tmp_path: Path) -> None:
    bad = GOOD.replace(
        'fields = ["merchant_category"]\ntransform = "generalize"\nreason = "coarse purchase scene only"',
        'fields = ["pool_addition_date"]\ntransform = "generalize"\nreason = "x"',
        1,
    )
    with pytest.raises(PolicyFileError, match=r"no generalize table"):
        load_policy(write_policy(tmp_path, bad))


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    lines = GOOD.splitlines()
    lines[20] = "this is = = not toml"
    with pytest.raises(PolicyFileError, match="TOML syntax error") as info:
        load_policy(write_policy(tmp_path, "\n".join(lines)))
    assert info.value.line == 21


def test_failed_reload_keeps_previous_policy_in_force(tmp_path: Path) -> None:
    p = write_policy(tmp_path, GOOD)
    store = PolicyStore(p)
    before = store.policy
    p.write_text(GOOD.replace('transform = "raw"', 'transform = "sometimes"', 1), encoding="utf-8")
    with pytest.raises(PolicyFileError):
        store.reload()
    assert store.policy is before
    p.write_text(GOOD.replace("min_cohort = 10", "min_cohort = 20"), encoding="utf-8")
    after = store.reload()
    assert store.policy is after
    assert after.version != before.version
    assert after.aggregates.min_cohort == 20


def test_version_is_a_content_hash() -> None:
    assert load_policy().version == load_policy().version
    assert load_policy().version.startswith("sha256:")


def test_explain_prints_the_rule_chain() -> None:
    text = explain(load_policy(), "rating_agency", "merchant_category", "rating")
    assert "applies  rating_agency.loan_level" in text
    assert "applies  rating_agency.coarse_scene" in text
    assert "generalize wins because the most restrictive applicable transform wins" in text


def test_explain_shows_event_gates() -> None:
    text = explain(load_policy(), "trustee", "mobile", "waterfall", ["perfection_event"])
    assert "skipped  trustee.identities_in_escrow" in text
    assert "suspended by recorded event(s) ['perfection_event']" in text
    assert "=> raw [trustee.identities_after_perfection]" in text


def test_cli_explain_investor_id_number() -> None:
    out = CliRunner().invoke(policy_group, ["explain", "--party", "investor", "--field", "id_number"])
    assert out.exit_code == 0, out.output
    assert "investor.no_identity" in out.output
    assert "=> deny" in out.output


def test_cli_check_accepts_good_and_rejects_bad(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(policy_group, ["check", str(DEFAULT_POLICY_PATH)])
    assert ok.exit_code == 0
    assert "ok:" in ok.output
    bad = write_policy(tmp_path, GOOD.replace("min_cohort = 10", 'min_cohort = "ten"'))
    res = runner.invoke(policy_group, ["check", str(bad)])
    assert res.exit_code == 1
    assert "aggregates.min_cohort" in res.output


def test_cli_test_runs_packaged_policy_tests() -> None:
    res = CliRunner().invoke(policy_group, ["test"])
    assert res.exit_code == 0, res.output
    assert "policy test cases passed" in res.output
