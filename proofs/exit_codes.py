"""Exit codes shared by ``poolproof`` and ``poolproof-audit``, so scripts branch on one table.

| code | name          | meaning                                                                      |
|------|---------------|------------------------------------------------------------------------------|
| 0    | OK            | verified, or the command did what it was asked                               |
| 1    | FAILED        | a verification failed or a claim is false (the failed check is named)        |
| 2    | UNUSABLE      | unusable input: bad arguments, an unreadable or malformed file, a bad tape   |
| 3    | REFUSED       | refused by policy: the party may not ask this, or the answer is suppressed   |
| 4    | AUTH          | authentication failed: unknown, revoked or expired key, or wrong signature   |
| 5    | UNREACHABLE   | the gateway could not be reached (refused connection, time-out, DNS)         |
| 6    | SERVER        | the gateway answered with an error of its own (5xx) or an unexpected answer  |

Click's own usage errors also exit with 2, which fits UNUSABLE.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """One process exit code; see the module docstring for the table."""

    OK = 0
    FAILED = 1
    UNUSABLE = 2
    REFUSED = 3
    AUTH = 4
    UNREACHABLE = 5
    SERVER = 6
