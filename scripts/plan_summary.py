#!/usr/bin/env python3
"""Summarise a plan JSON (`tofu show -json`) as Markdown: counts and resource addresses per action.

Attribute values are never printed (they can hold secrets and account ids); only addresses and actions.
Usage: scripts/plan_summary.py PLAN.json [--env dev]   (exit 2 with one line if the file is not a plan JSON)
Used by the deploy workflow's PR comment. See docs/adr/0010-ci-cd.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import Any

ORDER = ("delete", "replace", "create", "update", "read")
ICON = {"delete": "🔴", "replace": "🟠", "create": "🟢", "update": "🟡", "read": "🔵"}


def classify(actions: list[str]) -> str | None:
    """Terraform's action list -> one word; None for no-op."""
    acts = set(actions)
    if acts == {"no-op"} or not acts:
        return None
    if {"create", "delete"} <= acts:
        return "replace"
    for name in ("delete", "create", "update", "read"):
        if name in acts:
            return name
    return "update"


def summarize(plan: dict[str, Any], env: str = "") -> str:
    if "resource_changes" not in plan and "format_version" not in plan:
        raise ValueError("not a plan JSON (no resource_changes/format_version)")
    groups: dict[str, list[str]] = defaultdict(list)
    for rc in plan.get("resource_changes") or []:
        kind = classify(list(rc.get("change", {}).get("actions", [])))
        if kind:
            groups[kind].append(str(rc.get("address", "?")))
    title = f"### infra plan{f' ({env})' if env else ''}"
    counts = ", ".join(f"{len(groups[k])} to {k}" for k in ORDER if groups.get(k)) or "no changes"
    lines = [title, "", f"**{counts}**", ""]
    if groups.get("delete") or groups.get("replace"):
        lines += ["> ⚠️ This plan destroys or replaces resources. Read the list below before approving.", ""]
    for kind in ORDER:
        addrs = sorted(groups.get(kind, []))
        if not addrs:
            continue
        lines.append(
            f"<details{' open' if kind in ('delete', 'replace') else ''}><summary>{ICON[kind]} {kind} "
            f"({len(addrs)})</summary>\n"
        )
        lines += [f"- `{a}`" for a in addrs]
        lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan")
    parser.add_argument("--env", default="")
    args = parser.parse_args(argv)
    try:
        with open(args.plan, encoding="utf-8") as fh:
            plan = json.load(fh)
        if not isinstance(plan, dict):
            raise ValueError("top level is not an object")
        sys.stdout.write(summarize(plan, args.env))
    except (OSError, ValueError) as err:
        print(
            f"error: cannot summarise {args.plan}: {err}; pass the output of `tofu show -json PLAN`",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
