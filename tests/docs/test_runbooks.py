"""docs/runbooks/: every required runbook exists, is step by step, and its commands are real.

"Real" is checked against the real parts, not a list typed here:
- `dagsync|scaler|healthcheck ...` lines are parsed by the services' own argparse parsers;
- `aws <service> <operation> --flags` are checked against botocore's service models (operations, waiters and
  input members) for the API commands, and a short list of awscli's high-level commands (s3 ls/cp, logs tail);
- metric names (`dagsync_*`, `healthcheck_*`, `scaler_*`, the scaler's CloudWatch metrics) must exist in the
  services' code, and alarm names must be ones `infra/modules/observability` creates.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import botocore.session
import pytest

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "docs" / "runbooks"
REQUIRED = {
    "dag-not-appearing.md": "DAG not appearing",
    "sync-stale.md": "sync stale",
    "workers-not-scaling.md": "workers not scaling / stuck at zero",
    "scheduler-down.md": "scheduler down",
    "rds-restore.md": "RDS restore (PITR and snapshot)",
    "redis-failover.md": "Redis failover",
    "rds-failover.md": "RDS failover or outage",
    "rollback-deploy.md": "rolling back a deploy",
    "nat-alarm.md": "the NAT alarm fired",
    "rotate-secrets.md": "rotating secrets",
    "cost-spike.md": "a cost spike",
}
FENCE = re.compile(r"```(?:bash|sh)?\n(.*?)```", re.DOTALL)


def code_lines(text: str) -> list[str]:
    """Shell lines from fenced blocks, with backslash continuations joined."""
    out: list[str] = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        out += [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return out


def unnest(line: str) -> list[str]:
    """Split `$( ... )` substitutions out of a line: the outer line (each replaced by X) plus each inner one."""
    out, depth, start, outer, inner = [], 0, 0, [], []
    i = 0
    while i < len(line):
        if line.startswith("$(", i):
            if depth == 0:
                start = i + 2
            depth += 1
            i += 2
            continue
        if line[i] == ")" and depth:
            depth -= 1
            if depth == 0:
                inner.append(line[start:i])
                outer.append("X")
            i += 1
            continue
        if depth == 0:
            outer.append(line[i])
        i += 1
    out.append("".join(outer))
    for sub in inner:
        out += unnest(sub)
    return out


def commands(line: str, prog: str) -> list[str]:
    """Each `prog ...` invocation in a shell line (substitutions, pipes, &&, ;, xargs split off)."""
    found = []
    for piece in unnest(line):
        for part in re.split(r"\|\||&&|\||;|\bxargs(?: -r)?\b|\bdo\b|\bthen\b", piece):
            part = part.split(" #", 1)[0].strip()
            words = part.split()
            if words[:1] == ["oneoff"]:  # oneoff SERVICE CONTAINER CMD...: the command starts at CMD
                part = " ".join(words[3:])
            m = re.match(rf"(?:[A-Za-z_]+=\S+\s+)*{re.escape(prog)}\s+(.*)$", part)
            if m:
                found.append(m.group(1).strip())
    return found


def all_runbooks() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(RUNBOOKS.glob("*.md")) if p.name != "README.md"}


# ------------------------------------------------------------------ structure
def test_every_required_runbook_exists_and_is_indexed() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    for name in REQUIRED:
        assert (RUNBOOKS / name).is_file(), f"runbook for {REQUIRED[name]} missing: docs/runbooks/{name}"
        assert f"]({name})" in index, f"{name} not linked from docs/runbooks/README.md"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_runbook_is_step_by_step_with_commands_and_signals(name: str) -> None:
    text = (RUNBOOKS / name).read_text()
    assert text.startswith("# Runbook: ")
    assert "**What leads here**" in text, "say which alarms/metrics lead here"
    steps = text.split("## Steps", 1)
    assert len(steps) == 2, "needs a '## Steps' section"
    numbered = re.findall(r"^\d+[a-z]?\. \*\*", steps[1], re.MULTILINE)
    assert len(numbered) >= 4, f"{name}: only {len(numbered)} numbered steps"
    assert "## Verify" in text
    lines = code_lines(steps[1])
    assert len(lines) >= 5, f"{name}: too few commands"
    assert any(re.search(r"\b(aws|dagsync|scaler|healthcheck|curl|infra|oneoff)\b", ln) for ln in lines)
    lead = text.split("**What leads here**", 1)[1].split("\n\n", 1)[0] + text.split("## Steps")[0]
    assert re.search(r"\$P-[a-z]|[a-z]+_[a-z_]+_(total|seconds|status|depth)|`[A-Z][a-zA-Z]+`", lead), (
        f"{name}: name the alarm or metric that leads here"
    )


def test_links_between_docs_resolve() -> None:
    for name, text in {**all_runbooks(), "README.md": (RUNBOOKS / "README.md").read_text()}.items():
        for target in re.findall(r"\]\(([^)#\s]+\.md)\)", text):
            path = (RUNBOOKS / target).resolve()
            agreed_adr = re.match(r"\.\./adr/\d{4}-", target)  # ADRs land in parallel; the index lists them
            assert path.exists() or agreed_adr, f"{name} links {target}, which does not exist"


# ------------------------------------------------------------------ the project's own CLIs
def _parsers() -> dict[str, Callable[[list[str]], object]]:
    from dagsync.cli import _parser as dagsync_parser
    from healthcheck.cli import parse_args as healthcheck_parse
    from scaler.cli import parser as scaler_parser

    return {
        "dagsync": dagsync_parser().parse_args,
        "scaler": scaler_parser().parse_args,
        "healthcheck": healthcheck_parse,
    }


def inline_code(text: str) -> list[str]:
    return [m for m in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", FENCE.sub("", text))]


def test_project_cli_invocations_parse() -> None:
    parsers = _parsers()
    checked = 0
    for name, text in all_runbooks().items():
        for line in code_lines(text) + inline_code(text):
            for prog, parser in parsers.items():
                for args in commands(line, prog):
                    argv = [a for a in shlex.split(args.split(" >")[0].split(" 2>")[0]) if a != "\\"]
                    err = io.StringIO()
                    with contextlib.redirect_stderr(err):
                        try:
                            parser(argv)
                        except SystemExit as exc:
                            pytest.fail(
                                f"{name}: `{prog} {args}` does not parse ({exc.code}): {err.getvalue()}"
                            )
                    checked += 1
    assert checked >= 8  # dagsync check/publish, scaler decide, healthcheck status, ...


def test_infra_cli_invocations_use_the_agreed_verbs() -> None:
    from infractl.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    verbs = set(sub.choices)  # the CLI's own subcommands (services/infractl/cli.py)
    assert {"init", "plan", "apply", "destroy", "migrate"} <= verbs
    for name, text in all_runbooks().items():
        for line in code_lines(text):
            for args in commands(line, "infra"):
                verb = args.split()[0]
                assert verb in verbs, f"{name}: `infra {args}` is not a subcommand of the infra CLI"


# ------------------------------------------------------------------ aws cli commands against botocore's models
HIGH_LEVEL = {("s3", "ls"), ("s3", "cp"), ("s3", "sync"), ("logs", "tail")}
GLOBAL_FLAGS = {
    "query",
    "output",
    "region",
    "profile",
    "max-items",
    "starting-token",
    "page-size",
    "no-paginate",
    "no-cli-pager",
    "cli-input-json",
    "debug",
    "endpoint-url",
}
HIGH_LEVEL_FLAGS = {"since", "follow", "format", "filter-pattern", "log-stream-name-prefix", "recursive"}
CLI_SERVICE = {"s3api": "s3", "logs": "logs"}
RENAMED = {
    ("ecs", "tasks"): "tasks",
    ("elasticache", "auth-token-update-strategy"): "AuthTokenUpdateStrategy",
}


def _norm(s: str) -> str:
    return s.replace("-", "").lower()


def test_aws_cli_commands_exist_in_botocore() -> None:
    session = botocore.session.get_session()
    services = set(session.get_available_services())
    checked = 0
    for name, text in all_runbooks().items():
        for line in code_lines(text):
            for args in commands(line, "aws"):
                words = args.split()
                if len(words) < 2:
                    continue
                svc, op = words[0], words[1]
                flags = [w[2:].split("=")[0] for w in words[2:] if w.startswith("--")]
                where = f"{name}: `aws {svc} {op}`"
                if (svc, op) in HIGH_LEVEL:
                    for f in flags:
                        assert f in HIGH_LEVEL_FLAGS | GLOBAL_FLAGS, f"{where}: unknown option --{f}"
                    checked += 1
                    continue
                bsvc = CLI_SERVICE.get(svc, svc)
                assert bsvc in services, f"{where}: no such service"
                model = session.get_service_model(bsvc)
                if op == "wait":
                    waiters = {_norm(w): w for w in session.get_waiter_model(bsvc).waiter_names}
                    assert _norm(words[2]) in waiters, f"{where} {words[2]}: no waiter"
                    waiter = waiters[_norm(words[2])]
                    op_model = model.operation_model(
                        session.get_waiter_model(bsvc).get_waiter(waiter).operation
                    )
                    flags = [w[2:] for w in words[3:] if w.startswith("--")]
                else:
                    ops = {_norm(o): o for o in model.operation_names}
                    assert _norm(op) in ops, f"{where}: no such operation"
                    op_model = model.operation_model(ops[_norm(op)])
                members = {_norm(m) for m in (op_model.input_shape.members if op_model.input_shape else {})}
                for f in flags:
                    base = f[3:] if f.startswith("no-") else f
                    if f in GLOBAL_FLAGS or _norm(base) in members or _norm(f) in members:
                        continue
                    pytest.fail(f"{where}: --{f} is not an input of {op_model.name}")
                checked += 1
    assert checked >= 40


# ------------------------------------------------------------------ metric and alarm names are the real ones
def _known_metrics() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "services").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r"\"((?:dagsync|healthcheck|scaler)_[a-z_]+)\"", text))
        names |= set(re.findall(r"\"([A-Z][A-Za-z]+)\": d\.", text))  # scaler CloudWatch figures
        names |= set(re.findall(r"\"MetricName\": \"([A-Za-z]+)\"", text))
    return names


def test_metric_names_exist_in_the_services() -> None:
    known = _known_metrics()
    assert {"QueuedTasks", "dagsync_last_success_timestamp_seconds"} <= known
    for name, text in {**all_runbooks(), "README.md": ""}.items():
        for metric in re.findall(r"\b((?:dagsync|healthcheck|scaler)_[a-z_]+[a-z])\b", text):
            if metric.endswith(
                (
                    "_total",
                    "_seconds",
                    "_keys",
                    "_failures",
                    "_depth",
                    "_count",
                    "_status",
                    "_unacked",
                    "_info",
                    "_listed",
                )
            ):
                base = re.sub(r"_total$", "", metric)
                assert metric in known or base in known or f"{metric}_total" in known, f"{name}: {metric}"


def _alarm_patterns() -> list[re.Pattern[str]]:
    pats = []
    for tf in (REPO / "infra").rglob("*.tf"):
        for tmpl in re.findall(r"\$\{var\.name_prefix\}-([^\"]+)\"", tf.read_text()):
            pats.append(re.compile("^" + re.sub(r"\\\$\\\{[^}]*\\\}", "[a-z0-9-]+", re.escape(tmpl)) + "$"))
    return pats


def test_alarm_names_are_the_ones_infra_creates() -> None:
    pats = _alarm_patterns()
    assert pats, "infra/ declares no named resources"
    for name, text in all_runbooks().items():
        for token in re.findall(r"\$P-([a-z0-9<>-]+)", text):
            t = re.sub(r"<[a-z-]+>", "x", token).rstrip("-")
            if not re.search(
                r"(stale|down|high|low|5xx|max|errors|below-desired|unhealthy|bytes|created|monthly)", t
            ):
                continue  # service names, secrets, ...: checked by hand
            assert any(p.match(t) for p in pats), f"{name}: alarm $P-{token} is not created by infra/"
