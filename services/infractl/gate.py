"""Policy gate: evaluate infra/policies/*.rego over a plan JSON with regopy; every `deny` message is a finding.

The policies are Rego v1 (`import rego.v1`, `deny contains msg if`), so OPA/conftest evaluate the same files in CI.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PACKAGE = re.compile(r"^package\s+([A-Za-z0-9_.]+)\s*$", re.MULTILINE)


class PolicyError(Exception):
    """A policy that does not compile or evaluate."""


def _first_line(exc: Exception) -> str:
    text = str(exc)
    for marker in ("errormsg", "Errors:"):
        if marker in text:
            return text.split(marker, 1)[1].strip().splitlines()[0][:200]
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


@dataclass(frozen=True)
class Policy:
    path: Path
    package: str
    source: str


def load_policies(policy_dir: Path) -> list[Policy]:
    policies = []
    for path in sorted(policy_dir.glob("*.rego")):
        if path.name.endswith("_test.rego"):
            continue
        source = path.read_text()
        m = _PACKAGE.search(source)
        if not m:
            raise ValueError(f"{path}: no package line")
        policies.append(Policy(path, m.group(1), source))
    return policies


def slim(plan: dict[str, Any]) -> dict[str, Any]:
    """What the policies read: resource changes (planned values only) and the root variables. A third of the
    plan JSON, and the interpreter's time grows with its input."""
    keep = ("address", "mode", "type", "name", "module_address", "index", "provider_name")
    changes = []
    for rc in plan.get("resource_changes", []):
        ch = rc.get("change", {})
        changes.append(
            {k: rc[k] for k in keep if k in rc}
            | {"change": {k: ch.get(k) for k in ("actions", "after", "after_unknown")}}
        )
    return {"resource_changes": changes, "variables": plan.get("variables", {})}


def evaluate(plan: dict[str, Any], policies: list[Policy]) -> list[str]:
    """All deny messages, sorted, each prefixed with its policy package."""
    from regopy import Interpreter, RegoError

    rego = Interpreter()
    try:
        for p in policies:
            rego.add_module(p.path.name, p.source)
        rego.set_input_term(json.dumps(slim(plan)))
    except RegoError as exc:
        raise PolicyError(f"policy does not compile: {_first_line(exc)}") from None
    denies: list[str] = []
    for pkg in sorted({p.package for p in policies}):
        try:
            text = str(rego.query(f"x := data.{pkg}.deny")).strip()
        except RegoError as exc:
            raise PolicyError(f"policy {pkg} failed: {_first_line(exc)}") from None
        out = json.loads(text) if text.startswith("{") else {}  # undefined (no deny rule): no output
        for msg in out.get("bindings", {}).get("x", []) or []:
            denies.append(f"[{pkg.rsplit('.', 1)[-1]}] {msg}")
    return sorted(denies)


def evaluate_file(plan_json: Path, policy_dir: Path) -> list[str]:
    return evaluate(json.loads(plan_json.read_text()), load_policies(policy_dir))
