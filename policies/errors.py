"""The one error hierarchy of ``policies``.

Every message names *where* the problem is (file, key path, line when known, entry index) and *what*
is wrong, and never carries a protected value: a policy or catalogue error quotes keys and rule ids,
a decision-log error quotes the entry index and the failed check.
"""

from __future__ import annotations


class PolicyError(Exception):
    """Root of every error raised by ``policies``."""


class PolicyFileError(PolicyError, ValueError):
    """A catalogue or policy file that cannot be loaded.

    ``path`` is the file, ``key_path`` the dotted TOML key (``"rules[3].transform"``), ``line`` the
    1-based line when it could be located (``None`` otherwise), ``problem`` what is wrong and what was
    expected.
    """

    def __init__(self, path: str, key_path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.key_path = key_path
        self.problem = problem
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        key = f" [{key_path}]" if key_path else ""
        super().__init__(f"{where}{key}: {problem}")


class CatalogueError(PolicyFileError):
    """The field catalogue is malformed."""


class ForbiddenFieldError(PolicyError, ValueError):
    """A record or tape names a field that may never be ingested (authentication data, JR/T 0171 C3).

    Only the offending field *names* are reported, never their values.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        super().__init__(
            "forbidden field(s) "
            + ", ".join(repr(n) for n in names)
            + ": authentication data (JR/T 0171-2020 C3 / JR/T 0197-2020 level 4) may never be ingested"
        )


class DecisionLogError(PolicyError):
    """The decision log failed verification.

    ``index`` is the position (0-based) of the first entry that failed, ``check`` the failed check in a
    stable form (``"entry_hash"``, ``"prev_hash"``, ``"index"``, ``"format"``, ``"head"``).
    """

    def __init__(self, index: int, check: str, message: str) -> None:
        self.index = index
        self.check = check
        super().__init__(f"decision log entry {index}: {check}: {message}")


class PseudonymKeyError(PolicyError, ValueError):
    """A view needs pseudonymisation but no (or an unusable) recipient key was supplied."""
