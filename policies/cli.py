"""``policy`` click command group: explain, check, test, mounted under ``poolproof`` by the gateway CLI."""

from __future__ import annotations

from pathlib import Path

import click

from .errors import PolicyError
from .explain import explain, explain_metric
from .policy_file import DEFAULT_POLICY_PATH, load_policy
from .policytest import DEFAULT_TEST_PATHS, run_policy_tests


@click.group("policy")
def policy_group() -> None:
    """Inspect, check and test data-classification policies."""


@policy_group.command("explain")
@click.option("--party", "role", required=True, help="party role (platform, trustee, investor, ...)")
@click.option("--field", "field_name", default=None, help="catalogue field name")
@click.option(
    "--metric", default=None, help="a metric id: its disclosure mode and claim decisions (instead of --field)"
)
@click.option("--purpose", default=None, help="stated purpose (default: every purpose of the role)")
@click.option("--event", "events", multiple=True, help="recorded event (repeatable)")
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="policy TOML (default: the packaged default policy)",
)
def explain_cmd(
    role: str,
    field_name: str | None,
    metric: str | None,
    purpose: str | None,
    events: tuple[str, ...],
    policy_path: Path | None,
) -> None:
    """Print the rule chain deciding a field (--field) or a metric's disclosure mode (--metric) for a
    party role."""
    if (field_name is None) == (metric is None):
        raise click.UsageError("give exactly one of --field and --metric")
    try:
        pol = load_policy(policy_path)
        if metric is not None:
            click.echo(explain_metric(pol, role, metric))
        else:
            assert field_name is not None
            click.echo(explain(pol, role, field_name, purpose, events))
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc


@policy_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_POLICY_PATH)
def check_cmd(file: Path) -> None:
    """Validate a policy file (and its catalogue); exit 1 with the problem if it is malformed."""
    try:
        pol = load_policy(file)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"ok: {file}: {len(pol.roles)} roles, {len(pol.rules)} rules, {len(pol.claim_rules)} claim rules, "
        f"{len(pol.disclosure_modes)} disclosure modes, "
        f"{len(pol.catalogue)} catalogue fields; version {pol.version}"
    )


@policy_group.command("test")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="print every case")
def test_cmd(files: tuple[Path, ...], verbose: bool) -> None:
    """Run policy tests (default: the packaged default-policy tests); exit 1 if any fails."""
    failed = total = 0
    for f in files or DEFAULT_TEST_PATHS:
        try:
            results = run_policy_tests(f)
        except PolicyError as exc:
            raise click.ClickException(str(exc)) from exc
        for r in results:
            total += 1
            if not r.passed:
                failed += 1
                click.echo(f"FAIL {f.name}: {r.name}: {r.message}")
            elif verbose:
                click.echo(f"PASS {f.name}: {r.name}")
    click.echo(f"{total - failed}/{total} policy test cases passed")
    if failed:
        raise SystemExit(1)


def main() -> None:
    """Run the group standalone (``python -m policies.cli``)."""
    policy_group()


if __name__ == "__main__":
    main()
