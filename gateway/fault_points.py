"""Named fault points: the process kills itself where a test asks, to show each step is crash-safe.

With ``POOLPROOF_FAULT_AT=<point>`` set, :func:`fault_point` SIGKILLs the process when it reaches that
named point (no clean-up runs, as in a power cut); unset, it does nothing.
"""

from __future__ import annotations

import os
import signal

from .config import GatewayConfig

FAULT_ENV = GatewayConfig.variable("fault_at")


def fault_point(name: str) -> None:
    """Kill this process (SIGKILL, no clean-up) if ``POOLPROOF_FAULT_AT`` names this point."""
    if GatewayConfig.from_environment().fault_at == name:
        os.kill(os.getpid(), signal.SIGKILL)
