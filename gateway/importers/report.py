"""What an import found: every rejected cell or row (capped, with the true count) and every notice.

One row numbering everywhere: ``line`` is the source file's physical line, the header being line 1 (a
quoted cell spanning lines counts each of them; a row is named by the line it ends on, as
:mod:`csv` reports it). Nothing here repeats a cell's text: values are never part of a problem.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MAX_LISTED = 100
REPORT_FORMAT = "poolproof/import-report/v1"
MASKED = "<masked>"
PROBLEM_COLUMNS = ("line", "column", "rule", "message", "value")


@dataclass(frozen=True)
class Problem:
    """One problem of the tape: source line, column (``""``: the whole row), rule id and message."""

    line: int
    column: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form; ``value`` is always the fixed text ``<masked>`` (a report never shows cells)."""
        return {
            "line": self.line,
            "column": self.column,
            "rule": self.rule,
            "message": self.message,
            "value": MASKED,
        }


@dataclass
class Notice:
    """Something the mapping told the importer to do that changed values (rounding, a rule applied)."""

    rule: str
    column: str
    message: str
    count: int = 0
    first_line: int = 0


@dataclass
class ImportReport:
    """Problems (the first ``max_listed`` kept, all counted), notices and row counts of one import."""

    source: str = ""
    mapping: str = ""
    max_listed: int = DEFAULT_MAX_LISTED
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    rows_read: int = 0
    rows_imported: int = 0
    rows_excluded: int = 0
    rejected_lines: set[int] = field(default_factory=set)
    notices: dict[tuple[str, str], Notice] = field(default_factory=dict)
    fatal: bool = False

    @property
    def ok(self) -> bool:
        """True if nothing was rejected."""
        return self.problem_count == 0

    def add(self, problem: Problem) -> None:
        """Record a problem (listed until the cap is reached, always counted)."""
        self.problem_count += 1
        self.rejected_lines.add(problem.line)
        if len(self.problems) < self.max_listed:
            self.problems.append(problem)

    def add_unlisted(self, n: int) -> None:
        """Count ``n`` problems found elsewhere (the gateway's validator) that were not listed there."""
        self.problem_count += max(0, n)

    def note(self, rule: str, column: str, message: str, line: int) -> None:
        """Count one application of a stated rule (for example a rounding) at ``line``."""
        n = self.notices.get((rule, column))
        if n is None:
            n = self.notices[(rule, column)] = Notice(rule, column, message, first_line=line)
        n.count += 1

    @property
    def unlisted(self) -> int:
        """How many problems were counted but not listed."""
        return self.problem_count - len(self.problems)

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable report (``--report FILE.json``)."""
        return {
            "format": REPORT_FORMAT,
            "source": self.source,
            "mapping": self.mapping,
            "ok": self.ok,
            "summary": {
                "rows_read": self.rows_read,
                "rows_imported": self.rows_imported,
                "rows_excluded": self.rows_excluded,
                "rows_rejected": len(self.rejected_lines),
                "problem_count": self.problem_count,
                "problems_listed": len(self.problems),
                "problems_not_listed": self.unlisted,
            },
            "line_numbering": "physical line of the source file; the header is line 1",
            "problems": [p.to_dict() for p in self.problems],
            "notices": [
                {
                    "rule": n.rule,
                    "column": n.column,
                    "message": n.message,
                    "count": n.count,
                    "first_line": n.first_line,
                }
                for n in self.notices.values()
            ],
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the report as JSON, or as CSV (one problem a row) if ``path`` ends in ``.csv``.

        The file is written whole to a temporary name and renamed (never half-written). Raises ``OSError``.
        """
        p = Path(path)
        tmp = p.with_name(f".{p.name}.tmp")
        with tmp.open("w", encoding="utf-8", newline="") as f:
            if p.suffix.lower() == ".csv":
                w = csv.writer(f, lineterminator="\n")
                w.writerow(PROBLEM_COLUMNS)
                for prob in self.problems:
                    d = prob.to_dict()
                    w.writerow([d[c] for c in PROBLEM_COLUMNS])
                if self.unlisted:
                    w.writerow(["", "", "not_listed", f"{self.unlisted} more problems not listed", MASKED])
            else:
                json.dump(self.to_dict(), f, ensure_ascii=False, indent=2)
                f.write("\n")
        os.replace(tmp, p)
