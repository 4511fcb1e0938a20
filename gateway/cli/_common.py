"""What every ``poolproof`` command shares: exit codes, ``--json`` output, the instance's file options,
gateway calls without tracebacks.

This module exists so that the command-group modules import their shared options from one place and never
from the entry point (:mod:`gateway.cli`), which imports them: no import cycle.

Exit codes are the one table in :mod:`proofs.exit_codes`. A command fails by raising :class:`CliFailure`
(one line on stderr, the table's code); an HTTP answer becomes a failure through :func:`http_failure`, and
:func:`gateway_request` turns a refused connection or a time-out into ``UNREACHABLE`` instead of a
``requests`` traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from proofs.canonical import MAX_NESTING, nesting_exceeds
from proofs.exit_codes import ExitCode

from ..config import DEFAULT_URL, GatewayConfig
from ..instance import instance_paths

F = TypeVar("F", bound=Callable[..., Any])


class CliFailure(click.ClickException):
    """An expected failure: printed as one line ``Error: ...`` and exiting with its :class:`ExitCode`."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.exit_code = int(code)  # type: ignore[misc]  # click declares it on the class

    def show(self, file: IO[Any] | None = None) -> None:
        """One line on stderr (the message's own line breaks are kept: some list rows)."""
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


db_option = click.option(
    "--db",
    "db_path",
    default=None,
    help="SQLite file (env POOLPROOF_DATABASE; default: in the instance folder)",
)
"""``--db``: the instance's SQLite file, declared once for every command that opens the database."""

master_key_option = click.option(
    "--master-key-file", default=None, help="master key file (env POOLPROOF_MASTER_KEY_FILE)"
)
"""``--master-key-file``: the instance's master key, declared once for every command that reads it."""


def database_and_key(db: str | None, key_file: str | None) -> tuple[Path, Path]:
    """The database file and master-key file a command uses: the options given, else the environment, else
    the instance folder (:func:`gateway.instance.instance_paths`)."""
    paths = instance_paths(db, key_file)
    return paths.database, paths.master_key


def app_config(database: Path, master_key: Path) -> dict[str, Any]:
    """The Flask configuration of an app over this database and master key."""
    return {"DATABASE": str(database), "MASTER_KEY_FILE": str(master_key)}


json_option = click.option("--json", "as_json", is_flag=True, help="print the result as one JSON document")


def url_option(f: F) -> F:
    """``--url`` of the gateway, default ``$POOLPROOF_URL`` or http://127.0.0.1:8080."""
    return click.option(
        "--url",
        default=lambda: GatewayConfig.from_environment().url,
        show_default="$POOLPROOF_URL or " + DEFAULT_URL,
        help="the gateway's base URL",
    )(f)


def emit(as_json: bool, document: Any, lines: Iterable[str] = ()) -> None:
    """Print ``document`` as JSON (``--json``) or ``lines`` for people."""
    if as_json:
        click.echo(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


def answer_json(resp: Any) -> Any:
    """A gateway answer's JSON body; ``ValueError`` if it is not JSON or nests deeper than the bundle
    reader allows (bounded before decoding: py_ecc's recursion limit lets the decoder overflow the stack)."""
    text = str(resp.text)
    if nesting_exceeds(text, MAX_NESTING):
        raise ValueError(f"the answer nests deeper than {MAX_NESTING} levels")
    return json.loads(text)


def _message(resp: Any) -> str:
    try:
        body = answer_json(resp)
    except ValueError:
        text = " ".join(str(resp.text).split())
        return text[:200] or resp.reason or "no message"
    if isinstance(body, dict):
        return str(body.get("message") or body.get("status") or resp.reason)
    return str(resp.reason)


def exit_code_for_status(status: int) -> ExitCode:
    """The exit code of an HTTP error status: 401 AUTH, 403 REFUSED, other 4xx UNUSABLE, 5xx SERVER."""
    if status == 401:
        return ExitCode.AUTH
    if status == 403:
        return ExitCode.REFUSED
    if status in (429,) or status >= 500 or status < 400:
        return ExitCode.SERVER
    return ExitCode.UNUSABLE


_HINTS = {
    ExitCode.AUTH: " (check --api-key: it is the key 'poolproof parties add' printed for this party)",
    ExitCode.SERVER: " (see the gateway's log)",
}


def http_failure(resp: Any, what: str) -> CliFailure:
    """A :class:`CliFailure` for an HTTP error answer to ``what`` (e.g. ``"submit tape.jsonl"``)."""
    code = exit_code_for_status(int(resp.status_code))
    return CliFailure(code, f"{what}: HTTP {resp.status_code}: {_message(resp)}{_HINTS.get(code, '')}")


def gateway_request(method: str, url: str, **kwargs: Any) -> Any:
    """``requests.request`` raising :class:`CliFailure` (``UNREACHABLE``) when the gateway is not there.

    The caller passes ``timeout``.
    """
    import requests

    try:
        return requests.request(method, url, **kwargs)  # noqa: S113 - callers pass timeout
    except requests.exceptions.Timeout:
        raise CliFailure(ExitCode.UNREACHABLE, f"gateway at {_origin(url)} did not answer in time") from None
    except requests.exceptions.ConnectionError:
        raise CliFailure(
            ExitCode.UNREACHABLE,
            f"cannot reach the gateway at {_origin(url)} (is 'poolproof serve' running there?)",
        ) from None
    except requests.exceptions.InvalidURL as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"--url: {exc}") from None
    except requests.exceptions.RequestException as exc:  # e.g. MissingSchema, TooManyRedirects
        raise CliFailure(ExitCode.UNUSABLE, f"--url {_origin(url)}: {type(exc).__name__}") from None


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def json_body(resp: Any, what: str) -> Any:
    """The JSON body of a successful answer, or a ``SERVER`` failure if it is not JSON."""
    try:
        return answer_json(resp)
    except ValueError:
        raise CliFailure(ExitCode.SERVER, f"{what}: the gateway's answer is not JSON") from None


@contextlib.contextmanager
def written_whole(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block completes, else delete it.

    A reader never sees half a file, and a failed command leaves none behind. Raises :class:`CliFailure`
    (UNUSABLE) if the folder cannot be written.
    """
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        yield partial
        os.replace(partial, target)
    except OSError as exc:
        raise CliFailure(ExitCode.UNUSABLE, f"{target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
