"""``poolproof`` command line: one entry point (:func:`main`) over one module per command group.

:mod:`.instance` (``home``, ``init``, ``serve``), :mod:`.onboarding` (``pools``, ``parties``,
``witnesses``), :mod:`.access` (``api-keys``, ``grants``), :mod:`.importing` (``import``: a CSV export
through a column mapping), :mod:`.synth` (synthetic tapes), :mod:`.remote` (``keygen``, ``submit``,
``get``, ``post``), :mod:`.snapshots` (``seal``, ``claim``, ``demo``), :mod:`.keys` (``keys``,
``backup``, ``restore``) and, when present, ``policy ...``; their shared options live in :mod:`._common`.
Every command exits with a code of :mod:`proofs.exit_codes`; those that report a result take ``--json``.
Files go to the instance folder (:mod:`gateway.instance`) unless told otherwise. A ``POOLPROOF_*``
variable that does not parse (:class:`gateway.config.ConfigError`) fails any command with UNUSABLE, in one
line naming the variable.
"""


from __future__ import annotations

from typing import Any

import click

from proofs.exit_codes import ExitCode

from ..config import ConfigError
from ._common import CliFailure
from .access import api_keys_group, grants_group
from .importing import import_cmd
from .instance import home, init, serve
from .keys import backup_cmd, keys_group, restore_cmd
from .onboarding import parties_group, pools_group, witnesses_group
from .remote import get_cmd, keygen, post_cmd, submit
from .snapshots import claim_cmd, demo_cmd, seal_cmd
from .synth import synth


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("poolproof")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        return "unknown"


class _PoolproofGroup(click.Group):
    """The root group: a bad ``POOLPROOF_*`` variable ends any command as one ``Error:`` line, exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise CliFailure(ExitCode.UNUSABLE, str(exc)) from None


@click.group(cls=_PoolproofGroup)
@click.version_option(_version(), "--version", prog_name="poolproof", message="%(prog)s %(version)s")
def cli() -> None:
    """PoolProof gateway: loan-tape submission, policy-governed views, sealed snapshots and claims.

    Exit codes: 0 OK, 1 FAILED (verification failed or claim false), 2 UNUSABLE input, 3 REFUSED by
    policy, 4 AUTH failed, 5 UNREACHABLE gateway, 6 SERVER error. Files go to the instance folder
    ($POOLPROOF_HOME, default ~/.local/share/poolproof; see 'poolproof home').
    """


for command in (
    home,
    init,
    serve,
    keygen,
    submit,
    get_cmd,
    post_cmd,
    synth,
    pools_group,
    parties_group,
    witnesses_group,
    seal_cmd,
    claim_cmd,
    demo_cmd,
    keys_group,
    backup_cmd,
    restore_cmd,
    api_keys_group,
    grants_group,
    import_cmd,
):
    cli.add_command(command)


def _mount_policy() -> None:
    try:
        from policies.cli import policy_group
    except ImportError:  # policies without a CLI: nothing to mount
        return
    cli.add_command(policy_group, "policy")


_mount_policy()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="poolproof")
