"""The HTML status page: one self-contained document (no external assets), auto refreshing."""

from __future__ import annotations

import html
from functools import cache
from importlib.resources import files
from string import Template

from .aggregate import Rule
from .assess import ago
from .model import Snapshot, iso


@cache
def _template() -> Template:
    return Template(files(__package__).joinpath("page.html").read_text(encoding="utf-8"))


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def summary(snap: Snapshot, now: float) -> dict[str, str]:
    """The three headline figures: last DAG sync age, queue depth, workers running / desired."""
    comps = snap.components
    sync = "n/a"
    if "dagsync" in comps:
        age = comps["dagsync"].facts.get("newest_sync_age_s")
        sync = "never" if age is None else f"{ago(age + (now - comps['dagsync'].checked_at))} ago"
    queue = "n/a"
    if "redis" in comps and "queue_depth" in comps["redis"].facts:
        f = comps["redis"].facts
        queue = f"{f['queue_depth']} (unacked {f['unacked']})"
    workers = "n/a"
    if "ecs" in comps and "workers" in comps["ecs"].facts:
        w = comps["ecs"].facts["workers"]
        workers = f"{w['running']} / {w['desired']}"
    elif "scaler" in comps and comps["scaler"].facts.get("desired") is not None:
        f = comps["scaler"].facts
        current = f.get("current")
        workers = f"{'?' if current is None else current} / {f['desired']}"
    return {"sync_age": sync, "queue_depth": queue, "workers": workers}


def slo_table(snap: Snapshot) -> str:
    """The SLO states of the slo probe (docs/slo.md), or nothing when it is off."""
    slo = snap.components.get("slo")
    states = slo.facts.get("slos") if slo is not None else None
    if not states:
        return ""
    rows = []
    for name, st in sorted(states.items()):
        rates = ", ".join(f"{w} {r:g}x" for w, r in st["burn_rates"].items())
        rows.append(
            f'    <tr data-slo="{_e(name)}" data-state="{_e(st["state"])}"><td class="name">{_e(name)}</td>'
            f'<td><span class="badge {_e(st["state"])}">{_e(st["state"].replace("_", " "))}</span></td>'
            f'<td class="num">{st["objective"] * 100:g}%</td>'
            f'<td class="num">{st["budget_remaining"] * 100:.1f}%</td>'
            f'<td class="detail">{_e(rates)}</td><td class="detail">{_e(st["runbook"])}</td></tr>'
        )
    head = "<tr><th>SLO</th><th>State</th><th>Objective</th><th>Budget left</th><th>Burn rates</th><th>Runbook</th></tr>"
    return (
        f'<table id="slos">\n  <thead>{head}</thead>\n  <tbody>\n'
        + "\n".join(rows)
        + "\n  </tbody>\n</table>"
    )


def render(snap: Snapshot, rule: Rule, now: float, refresh: int) -> str:
    rows = []
    for name, c in sorted(snap.components.items()):
        st = c.status.value
        rows.append(
            f'    <tr class="row-{st}" data-component="{_e(name)}" data-status="{st}">'
            f'<td class="name">{_e(name)}</td>'
            f'<td><span class="badge {st}">{st}</span></td>'
            f"<td>{rule.role_of(name).value}</td>"
            f'<td class="num">{c.latency_ms:.1f} ms</td>'
            f'<td class="detail">{_e(c.detail)}</td>'
            f'<td class="num">{_e(ago(now - c.checked_at))} ago</td></tr>'
        )
    if not rows:
        rows.append('    <tr><td colspan="6">no probes enabled</td></tr>')
    return _template().substitute(
        refresh=int(refresh),
        overall=snap.status.value,
        overall_upper=snap.status.value.upper(),
        checked_at=_e(iso(snap.checked_at)),
        checked_ago=_e(ago(now - snap.checked_at)),
        rows="\n".join(rows),
        slos=slo_table(snap),
        rule=_e(rule.describe()),
        **{k: _e(v) for k, v in summary(snap, now).items()},
    )
