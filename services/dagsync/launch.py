"""The ``dagsync`` console script. ``dagsync check`` with no arguments, as ECS runs it (DAGSYNC_* env only), is
answered by health.lean_check without importing pydantic or asyncio; every other call is cli.main."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["check"]:
        from .health import lean_check, report

        verdict = lean_check(os.environ)
        if verdict is not None:
            sys.exit(report(verdict))
    from .cli import main as cli_main

    cli_main(args)
