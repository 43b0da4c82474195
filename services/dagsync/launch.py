"""The ``dagsync`` console script. ``dagsync check`` with no arguments, as ECS runs it (DAGSYNC_* env only), is
answered by health.lean_check without importing pydantic or asyncio; every other call is cli.main."""

from __future__ import annotations

import atexit
import gc
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

# At exit the interpreter's garbage collections walk every object the imports made (pydantic, botocore, aiohttp):
# ~0.1 CPU-s per one-shot process (sync, publish, a check through the CLI). Frozen, they are skipped. dagsync closes
# its files, HTTP sessions and event loop before it returns; nothing of it waits for a finalizer at exit.
# docs/adr/0001-dag-sync.md §9.
atexit.register(gc.freeze)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    # Imports make hundreds of thousands of objects and almost no garbage, yet trigger collections that walk them
    # all (~0.1-0.2 CPU-s per start). No collections until cli.collect_from_here freezes what the imports made.
    gc.disable()
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["check"]:
        from .health import lean_check, report

        verdict = lean_check(os.environ)
        if verdict is not None:
            sys.exit(report(verdict))
    from .cli import main as cli_main

    cli_main(args)
