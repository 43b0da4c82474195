"""terraform-docs style Inputs/Outputs tables for a module README, generated from variables.tf and outputs.tf.

The tables sit between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->`; tests/infra fail when they are stale.
A small scanner for `terraform fmt`-formatted HCL (blocks of `name = expression` attributes), no HCL library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
_BLOCK = re.compile(r'^(variable|output)\s+"([^"]+)"\s*\{\s*$', re.MULTILINE)
_ATTR = re.compile(r"^  ([a-z_]+)\s*=\s*(.*)$")


@dataclass
class Block:
    kind: str
    name: str
    attrs: dict[str, str]


def _block_body(text: str, start: int) -> tuple[str, int]:
    depth, i = 1, start
    in_str = False
    while i < len(text) and depth:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "#":
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
            continue
        elif c in "{[(":
            depth += 1
        elif c in "}])":
            depth -= 1
        i += 1
    return text[start : i - 1], i


def _attrs(body: str) -> dict[str, str]:
    """Top-level attributes of a block body (nested blocks such as `validation {}` are skipped)."""
    attrs: dict[str, str] = {}
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        m = _ATTR.match(lines[i])
        if not m:
            i += 1
            continue
        key, value = m.group(1), m.group(2)
        depth = sum(value.count(c) for c in "{[(") - sum(value.count(c) for c in "}])")
        i += 1
        while depth > 0 and i < len(lines):
            value += "\n" + lines[i]
            depth += sum(lines[i].count(c) for c in "{[(") - sum(lines[i].count(c) for c in "}])")
            i += 1
        attrs[key] = value.strip()
    return attrs


def parse_blocks(text: str) -> list[Block]:
    blocks = []
    for m in _BLOCK.finditer(text):
        body, _ = _block_body(text, m.end())
        blocks.append(Block(m.group(1), m.group(2), _attrs(body)))
    return blocks


def _string(expr: str | None) -> str:
    if not expr:
        return ""
    expr = expr.strip()
    if expr.startswith('"') and expr.endswith('"'):
        return expr[1:-1].replace('\\"', '"')
    return expr


def _code(expr: str) -> str:
    one_line = re.sub(r"\s+", " ", expr.strip())
    return "`" + one_line.replace("|", "\\|") + "`"


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text).replace("|", "\\|").strip()


def render_tables(module_dir: Path) -> str:
    variables = parse_blocks((module_dir / "variables.tf").read_text())
    outputs = parse_blocks((module_dir / "outputs.tf").read_text())
    lines = [
        "## Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for v in sorted(variables, key=lambda b: b.name):
        has_default = "default" in v.attrs
        lines.append(
            f'| <a name="input_{v.name}"></a> [{v.name}](#input_{v.name}) '
            f"| {_cell(_string(v.attrs.get('description')))} "
            f"| {_code(v.attrs.get('type', 'any'))} "
            f"| {_code(v.attrs['default']) if has_default else 'n/a'} "
            f"| {'no' if has_default else 'yes'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    for o in sorted(outputs, key=lambda b: b.name):
        lines.append(
            f'| <a name="output_{o.name}"></a> [{o.name}](#output_{o.name}) '
            f"| {_cell(_string(o.attrs.get('description')))} |"
        )
    return "\n".join(lines)


def updated_readme(readme: str, tables: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"README lacks the {BEGIN} / {END} markers")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{tables}\n{END}{tail}"


def sync(module_dir: Path, check: bool = False) -> bool:
    """Regenerate the README tables; True if the README changed (or, with check, would change)."""
    readme = module_dir / "README.md"
    old = readme.read_text()
    new = updated_readme(old, render_tables(module_dir))
    if new != old and not check:
        readme.write_text(new)
    return new != old


def variable_default(module_dir: Path, name: str) -> str | None:
    for v in parse_blocks((module_dir / "variables.tf").read_text()):
        if v.name == name:
            return v.attrs.get("default")
    return None
