"""The one exit-code scheme of every console script (dagsync, scaler, healthcheck, infra).

Shells and CI branch on these numbers, so they mean the same thing in every program:

- ``OK`` (0): the command did what was asked (and, for a check, the target is healthy).
- ``FAILED`` (1): the command ran and the outcome is a failure: a sync, publish, measurement, plan or apply failed,
  or a check found its target down. Retrying later may succeed; the message says what to look at.
- ``USAGE`` (2): bad flags, bad configuration or bad input; nothing was changed. Fix the command or its settings.
  (argparse already exits 2 for bad flags.)
- ``DENIED`` (3): a policy refused the change (the infra gate); nothing was applied. Fix the change, not the tool.
- ``INTERRUPTED`` (130): stopped by SIGINT/SIGTERM before finishing, leaving no half-done state.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    DENIED = 3
    INTERRUPTED = 130


OK, FAILED, USAGE, DENIED, INTERRUPTED = (
    ExitCode.OK,
    ExitCode.FAILED,
    ExitCode.USAGE,
    ExitCode.DENIED,
    ExitCode.INTERRUPTED,
)
