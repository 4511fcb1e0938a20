"""Named fault points: the process kills itself where a test asks, to show each step is crash-safe.

With ``POOLPROOF_FAULT_AT=<point>`` set, :func:`fault_point` SIGKILLs the process when it reaches that
named point (no clean-up runs, as in a power cut); unset, it does nothing.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "POOLPROOF_FAULT_AT"


def fault_point(name: str) -> None:
    """Kill this process (SIGKILL, no clean-up) if ``POOLPROOF_FAULT_AT`` names this point."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
