"""Render each service README's option table from its settings model (platform_common.cli.option_table).

    .venv/bin/python scripts/settings_docs.py          # rewrite the tables in place
    .venv/bin/python scripts/settings_docs.py --check  # exit 1 when a committed table differs (tests/test_platform_cli.py)

The table sits between ``<!-- settings:begin -->`` and ``<!-- settings:end -->`` in services/<service>/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def tables() -> dict[Path, str]:
    from dagsync.cli import COMMANDS
    from dagsync.config import Settings as DagsyncSettings
    from healthcheck.config import Settings as HealthSettings
    from platform_common.cli import option_table
    from scaler.config import ScalerSettings

    used: dict[str, list[str]] = {}
    for command, (_help, fields) in COMMANDS.items():
        for name in fields:
            used.setdefault(name, []).append(command)
    where = {name: ", ".join(cmds) for name, cmds in used.items()}
    return {
        REPO / "services/dagsync/README.md": option_table(DagsyncSettings, where=where),
        REPO / "services/scaler/README.md": option_table(ScalerSettings),
        REPO / "services/healthcheck/README.md": option_table(HealthSettings),
    }


def render(text: str, table: str, path: Path) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} block; add one where the option table belongs")
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a README's table is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, table in tables().items():
        text = path.read_text()
        new = render(text, table, path)
        if new != text:
            stale.append(path.relative_to(REPO))
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print(
            f"option tables out of date in {', '.join(map(str, stale))}: run .venv/bin/python scripts/settings_docs.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
