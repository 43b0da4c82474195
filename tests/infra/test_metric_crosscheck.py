"""Every CloudWatch alarm and dashboard widget names a metric somebody emits (issue 12, docs/slo.md).

Emitters are read from the code, not from a list typed here:
- the scaler: the figure names of ``Scaler._publish`` (parsed from services/scaler/runner.py) run through the real
  ``scaler.cloudwatch.metric_data``; namespace = ``ScalerSettings``' default;
- the health aggregator: the real ``healthcheck.publish.metric_data`` over a snapshot built by the real ``assess``
  interpreters (dagsync sidecars, the scheduler); namespace = ``Settings``' default;
- the dag-sync workflow's wait script: ``scripts/wait_dag_visible.py``'s ``metric_data`` and namespace;
- the dagsync sidecars: the log metric filters in the plan itself (metric + namespace, no dimensions).
AWS services publish the rest; ``AWS_PUBLISHED`` lists the dimension sets AWS documents for the metrics used.

The dev plan leaves dimension maps holding a not-yet-created resource's ID (the ALB's ARN suffix) and the whole
dashboard body unknown. Those are checked on the module's example, planned with every input known.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.servers import start_moto

from .conftest import REPO, copy_infra, tf_binary, tf_env

pytestmark = pytest.mark.slow

Ref = tuple[str, str, frozenset[str]]  # namespace, metric, dimension names
UNKNOWN = frozenset({"<unknown>"})

AWS_PUBLISHED: dict[str, dict[str, list[set[str]]]] = {
    "AWS/ApplicationELB": {
        "RequestCount": [{"LoadBalancer"}, {"LoadBalancer", "TargetGroup"}],
        "HTTPCode_ELB_5XX_Count": [{"LoadBalancer"}],
        "HTTPCode_Target_5XX_Count": [{"LoadBalancer"}, {"LoadBalancer", "TargetGroup"}],
        "TargetResponseTime": [{"LoadBalancer"}, {"LoadBalancer", "TargetGroup"}],
        "HealthyHostCount": [{"LoadBalancer", "TargetGroup"}],
        "UnHealthyHostCount": [{"LoadBalancer", "TargetGroup"}],
    },
    "AWS/RDS": {
        m: [{"DBInstanceIdentifier"}]
        for m in ("CPUUtilization", "FreeStorageSpace", "FreeableMemory", "DatabaseConnections")
    },
    "AWS/ElastiCache": {
        m: [{"CacheClusterId"}, {"CacheClusterId", "CacheNodeId"}]
        for m in ("EngineCPUUtilization", "DatabaseMemoryUsagePercentage")
    },
    "ECS/ContainerInsights": {
        m: [{"ClusterName", "ServiceName"}] for m in ("RunningTaskCount", "DesiredTaskCount")
    },
    "AWS/PrivateLinkEndpoints": {
        "BytesProcessed": [{"VPC Id", "VPC Endpoint Id", "Endpoint Type", "Service Name"}],
    },
}


# --- emitters from the code ---------------------------------------------------------------------------------------
def _dict_keys(node: ast.AST) -> set[str]:
    return {
        k.value for k in getattr(node, "keys", []) if isinstance(k, ast.Constant) and isinstance(k.value, str)
    }


def scaler_figures() -> tuple[set[str], set[str]]:
    """(figures on {env, service}, per-queue figures) as ``Scaler._publish`` builds them."""
    tree = ast.parse((REPO / "services/scaler/runner.py").read_text())
    fn = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_publish")
    figures: set[str] = set()
    per_queue: set[str] = set()
    for node in ast.walk(fn):
        target = getattr(node, "target", None) or (getattr(node, "targets", None) or [None])[0]
        name = getattr(target, "id", None)
        value = getattr(node, "value", None)
        if name == "figures" and isinstance(value, ast.Dict):
            figures |= _dict_keys(value)
        if name == "per_queue" and isinstance(value, ast.DictComp):
            per_queue |= _dict_keys(value.value)
    assert {"QueuedTasks", "TasksStarted", "ScaleUps"} <= figures and "TaskStartLatencyP95" in per_queue
    return figures, per_queue


def _refs(namespace: str, data: list[dict[str, Any]]) -> set[Ref]:
    return {(namespace, d["MetricName"], frozenset(x["Name"] for x in d.get("Dimensions", []))) for d in data}


def emitted(plan: dict[str, Any]) -> set[Ref]:
    from healthcheck.assess import airflow_health, dagsync
    from healthcheck.config import Settings
    from healthcheck.model import ComponentResult, Snapshot, Status
    from healthcheck.publish import metric_data as health_data
    from scaler.cloudwatch import metric_data as scaler_data
    from scaler.config import ScalerSettings

    figures, per_queue = scaler_figures()
    scaler = scaler_data(
        dict.fromkeys(figures, 1.0), "dev", "w", 0.0, {"default": dict.fromkeys(per_queue, 1.0)}
    )
    now = time.time()
    comps = [
        dagsync([("a.json", {"sidecar_id": "a", "last_success": now, "last_attempt": now})], now=now,
                max_age=300, forget_after=0, latency_ms=1, where="x"),
        *airflow_health({"scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2026-01-01T00:00:00Z"}},
                        ["scheduler"], now=now, latency_ms=1),
        ComponentResult("redis", Status.OK, 1, "", now),
    ]  # fmt: skip
    health = health_data(Snapshot(Status.OK, now, {c.name: c for c in comps}), "dev")
    spec = importlib.util.spec_from_file_location("wait_dag_visible", REPO / "scripts/wait_dag_visible.py")
    assert spec and spec.loader
    wait = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = wait  # dataclasses look their module up
    spec.loader.exec_module(wait)
    out = (
        _refs(str(ScalerSettings.model_fields["cw_namespace"].default), scaler)
        | _refs(str(Settings.model_fields["publish_namespace"].default), health)
        | _refs(wait.METRIC_NAMESPACE, wait.metric_data(1.0, 60, "dev") + wait.metric_data(None, 60, "dev"))
    )
    for r in resources(plan, "aws_cloudwatch_log_metric_filter"):
        for t in r["values"]["metric_transformation"]:
            out.add((t["namespace"], t["name"], frozenset(t.get("dimensions") or {})))
    return out


def accepted(ref: Ref, emitters: set[Ref]) -> bool:
    ns, metric, dims = ref
    if ns in AWS_PUBLISHED:
        sets = AWS_PUBLISHED[ns].get(metric, [])
        return bool(sets) and (dims == UNKNOWN or any(dims == s for s in sets))
    return any(e[0] == ns and e[1] == metric and (dims == UNKNOWN or e[2] == dims) for e in emitters)


# --- what the plan names ---------------------------------------------------------------------------------------
def resources(plan: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    def walk(m: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield from m.get("resources", [])
        for c in m.get("child_modules", []):
            yield from walk(c)

    return [r for r in walk(plan["planned_values"]["root_module"]) if r["type"] == rtype]


def unknown_dims(plan: dict[str, Any]) -> dict[str, Any]:
    return {c["address"]: c["change"]["after_unknown"] for c in plan["resource_changes"]}


def alarm_refs(plan: dict[str, Any]) -> dict[str, list[Ref]]:
    unknown = unknown_dims(plan)
    out: dict[str, list[Ref]] = {}
    for r in resources(plan, "aws_cloudwatch_metric_alarm"):
        v, u = r["values"], unknown.get(r["address"], {})
        refs = []
        if v.get("metric_name"):
            dims = UNKNOWN if u.get("dimensions") is True else frozenset(v.get("dimensions") or {})
            refs.append((v["namespace"], v["metric_name"], dims))
        for i, q in enumerate(v.get("metric_query") or []):
            for j, m in enumerate(q.get("metric") or []):
                mu = ((u.get("metric_query") or [{}] * (i + 1))[i].get("metric") or [{}] * (j + 1))[j]
                dims = UNKNOWN if mu.get("dimensions") is True else frozenset(m.get("dimensions") or {})
                refs.append((m["namespace"], m["metric_name"], dims))
        out[v["alarm_name"]] = refs
    return out


SEARCH = re.compile(r"SEARCH\('\{([^}]*)\}\s+MetricName=\"([^\"]+)\"")


def dashboard_refs(body: dict[str, Any]) -> list[tuple[str, Ref]]:
    out = []
    for w in body["widgets"]:
        if w["type"] != "metric":
            continue
        title = w["properties"]["title"]
        for entry in w["properties"]["metrics"]:
            head = [e for e in entry if not isinstance(e, dict)]
            if not head:  # an expression: SEARCH names its schema; plain math refers to the ids above
                expr = entry[0]["expression"]
                for schema, metric in SEARCH.findall(expr):
                    ns, *dims = [s.strip() for s in schema.split(",")]
                    out.append((title, (ns, metric, frozenset(dims))))
                continue
            ns, metric, rest = head[0], head[1], head[2:]
            out.append((title, (ns, metric, frozenset(rest[0::2]))))
    return out


# --- the dev plan -------------------------------------------------------------------------------------------------
def test_every_alarm_of_the_dev_plan_reads_an_emitted_metric(dev_plan: dict[str, Any]) -> None:
    emitters = emitted(dev_plan)
    refs = alarm_refs(dev_plan)
    assert len(refs) > 40
    silent = [(name, ref) for name, rs in refs.items() for ref in rs if not accepted(ref, emitters)]
    assert not silent, f"alarms on metrics nobody emits (namespace, metric, dimensions): {silent}"
    for name, rs in refs.items():
        assert rs, f"{name}: names no metric"


def test_slo_alarms_page_through_composites_and_alarms_link_runbooks(dev_plan: dict[str, Any]) -> None:
    """Two window alarms (no actions) per SLO and pair; one composite per pair (long AND short) pages."""
    alarms = {
        r["values"]["alarm_name"]: r["values"] for r in resources(dev_plan, "aws_cloudwatch_metric_alarm")
    }
    composites = {
        r["values"]["alarm_name"]: r["values"] for r in resources(dev_plan, "aws_cloudwatch_composite_alarm")
    }
    slo_windows = {n: a for n, a in alarms.items() if "-slo-" in n}
    assert len(composites) == 10  # 4 SLOs x 2 pairs + 2 SLOs x 1 pair
    assert_composites_pair_windows(composites, slo_windows)
    assert all(not a["alarm_actions"] for a in slo_windows.values())
    unknown = unknown_dims(dev_plan)
    for r in resources(dev_plan, "aws_cloudwatch_composite_alarm"):
        assert unknown[r["address"]].get("alarm_actions"), f"{r['address']}: notifies nobody"
    # Every alarm links its runbook (RDS health has none: it points at capacity, not at a procedure).
    for name, a in {**composites, **{n: a for n, a in alarms.items() if "-rds-" not in n}}.items():
        m = re.search(r"Runbook: (docs/runbooks/[a-z0-9-]+\.md)", a["alarm_description"])
        assert m and (REPO / m.group(1)).is_file(), f"{name}: no runbook link in {a['alarm_description']!r}"
    # The sync-stale alarm reads the worst sidecar of this env, not an env-less sum (issue 11).
    stale = alarms[next(n for n in alarms if n.endswith("dagsync-stale"))]
    assert stale["metric_name"] == "DagSyncWorstAge" and stale["dimensions"] == {"Env": "dev"}
    assert stale["statistic"] == "Maximum" and stale["treat_missing_data"] == "breaching"


# --- the module's example: every value known ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    base = tmp_path_factory.mktemp("obs-example")
    moto = start_moto(base / "moto")
    try:
        ex = copy_infra(base / "infra") / "modules" / "observability" / "examples" / "complete"
        services = ("sts", "cloudwatch", "sns", "events", "budgets", "logs")
        endpoints = "".join(f'    {svc} = "{moto.url}"\n' for svc in services)
        (ex / "provider_override.tf").write_text(
            'provider "aws" {\n  access_key = "test"\n  secret_key = "test"\n  skip_credentials_validation = true\n'
            f"  skip_metadata_api_check = true\n  max_retries = 3\n  endpoints {{\n{endpoints}  }}\n}}\n"
        )
        (ex / "moto_url").write_text(moto.url)
        env = tf_env()
        r = subprocess.run([tf_binary(), "init", "-backend=false", "-no-color"], cwd=ex, env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        yield ex, env
    finally:
        moto.stop()


def plan_json(ex: Path, env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    r = subprocess.run([tf_binary(), "plan", "-no-color", "-input=false", "-out=plan.bin", *extra], cwd=ex, env=env,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    if r.returncode != 0:
        return r.returncode, None, r.stdout + r.stderr
    show = subprocess.run([tf_binary(), "show", "-json", "plan.bin"], cwd=ex, env=env, capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    return 0, json.loads(show.stdout), r.stdout


def assert_composites_pair_windows(composites: dict[str, Any], windows: dict[str, Any]) -> None:
    for name, c in composites.items():
        rule_names = re.findall(r'ALARM\("([^"]+)"\)', c["alarm_rule"])
        assert len(rule_names) == 2 and " AND " in c["alarm_rule"], name
        assert all(n in windows for n in rule_names), (name, rule_names)
        assert re.search(r"Runbook: docs/runbooks/[a-z0-9-]+\.md", c["alarm_description"]), name
    assert not composites or len(windows) == 2 * len(composites)


def test_example_dashboard_alarms_and_slo_spec(example_dir: tuple[Path, dict[str, str]]) -> None:
    """Every metric known and emitted; the composites page and the dashboard lists them."""
    from healthcheck.slo import parse_spec

    ex, env = example_dir
    code, plan, out = plan_json(ex, env)
    assert code == 0 and plan is not None, out[-3000:]
    windows = {
        r["values"]["alarm_name"]: r["values"]
        for r in resources(plan, "aws_cloudwatch_metric_alarm")
        if "-slo-" in r["values"]["alarm_name"]
    }
    composites = {
        r["values"]["alarm_name"]: r["values"] for r in resources(plan, "aws_cloudwatch_composite_alarm")
    }
    assert len(composites) == 10
    assert_composites_pair_windows(composites, windows)
    emitters = emitted(plan)
    (dash,) = resources(plan, "aws_cloudwatch_dashboard")
    body = json.loads(dash["values"]["dashboard_body"])
    widgets = dashboard_refs(body)
    assert len(widgets) > 25
    silent = [(title, ref) for title, ref in widgets if not accepted(ref, emitters)]
    assert not silent, f"dashboard widgets on metrics nobody emits: {silent}"
    alarms = alarm_refs(plan)
    silent_alarms = [(n, ref) for n, rs in alarms.items() for ref in rs if not accepted(ref, emitters)]
    assert not silent_alarms and all(ref[2] != UNKNOWN for rs in alarms.values() for ref in rs), silent_alarms
    # the SLO alarm widget lists exactly the paging alarms
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert sorted(a.rsplit(":", 1)[1] for a in alarm_widget["properties"]["alarms"]) == sorted(composites)

    # The health aggregator's spec names the same metrics as the burn-rate alarms.
    spec = parse_spec(plan["planned_values"]["outputs"]["slo_spec"]["value"])
    assert {s.name for s in spec.slos} == {
        "dag-freshness", "dag-publish", "task-start", "worker-scale-up", "scheduler-liveness", "api-availability"
    }  # fmt: skip
    for s in spec.slos:
        for ref in (*s.total, *s.bad):
            r = (ref.namespace, ref.metric, frozenset(k for k, _ in ref.dimensions))
            assert accepted(r, emitters), (s.name, r)
            windows = [n for n, rs in alarms.items() if f"-slo-{s.name}-" in n]
            assert len(windows) == 2 * len(s.pairs), (s.name, windows)
            assert all(r in alarms[n] for n in windows), (s.name, r)
        assert (REPO / s.runbook).is_file(), s.runbook
    assert plan["planned_values"]["outputs"]["alarm_topic_warning"]["value"].startswith(
        "WARNING: the alarm topic"
    )


def test_prod_without_a_subscriber_fails_the_plan(example_dir: tuple[Path, dict[str, str]]) -> None:
    ex, env = example_dir
    override = ex / "main_override.tf"
    try:
        override.write_text('module "observability" {\n  require_alarm_subscriber = true\n}\n')
        code, _, out = plan_json(ex, env)
        assert code != 0 and "the alarm topic has no subscriber" in out, out[-2000:]
        override.write_text(
            'module "observability" {\n  require_alarm_subscriber = true\n'
            '  alarm_endpoints = [{ protocol = "https", endpoint = "https://events.example.com/hook" }]\n}\n'
        )
        code, plan, out = plan_json(ex, env)
        assert code == 0 and plan is not None, out[-2000:]
        assert plan["planned_values"]["outputs"]["alarm_topic_warning"]["value"] == ""
        subs = resources(plan, "aws_sns_topic_subscription")
        assert [s["values"]["protocol"] for s in subs] == ["https"]
    finally:
        override.unlink(missing_ok=True)


def test_the_check_refuses_what_nobody_emits() -> None:
    """The cross-check can fail: a misspelt metric, a missing or extra dimension, an unknown namespace."""
    emitters = emitted({"planned_values": {"root_module": {}}})
    ok = [
        ("Airflow/Scaler", "TasksStarted", frozenset({"env", "service"})),
        ("Airflow/Scaler", "TaskStartLatencyP95", frozenset({"env", "service", "queue"})),
        ("AirflowPlatform/Health", "DagSyncWorstAge", frozenset({"Env"})),
        ("Airflow/DagSync", "DagPublishesLate", frozenset({"Env"})),
        ("AWS/ApplicationELB", "RequestCount", frozenset({"LoadBalancer"})),
    ]
    bad = [
        ("Airflow/Scaler", "TaskStarted", frozenset({"env", "service"})),
        ("Airflow/Scaler", "TasksStarted", frozenset({"env"})),
        ("AirflowPlatform/Health", "DagSyncWorstAge", frozenset({"Env", "Sidecar"})),
        ("AirflowPlatform/Health", "DagSyncWorstAge", frozenset()),
        ("Airflow/Other", "TasksStarted", frozenset({"env", "service"})),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", frozenset({"LoadBalancer", "TargetGroup"})),
    ]
    assert all(accepted(r, emitters) for r in ok)
    assert not any(accepted(r, emitters) for r in bad)


def test_example_applies_on_the_emulator_and_replans_clean(example_dir: tuple[Path, dict[str, str]]) -> None:
    """The burn-rate alarms (metric math), composites and the dashboard apply on the patched moto server, and a
    second plan has no changes. Runs last: it leaves no state behind (destroy)."""
    import boto3

    ex, env = example_dir
    url = (ex / "moto_url").read_text()
    kw = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    boto3.client("logs", **kw).create_log_group(logGroupName="/ecs/acme-airflow-example/scheduler")

    def tf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tf_binary(), *args, "-no-color", "-input=false"], cwd=ex, env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    try:
        r = tf("apply", "-auto-approve")
        assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
        again = tf("plan", "-detailed-exitcode")
        assert again.returncode == 0, again.stdout[-4000:]  # 2 = changes
        cw = boto3.client("cloudwatch", **kw)
        composites = cw.describe_alarms(
            AlarmNamePrefix="acme-airflow-example-slo-", AlarmTypes=["CompositeAlarm"]
        )
        assert len(composites["CompositeAlarms"]) == 10
        body = json.loads(cw.get_dashboard(DashboardName="acme-airflow-example-overview")["DashboardBody"])
        assert body["widgets"][0]["type"] == "alarm" and len(body["widgets"][0]["properties"]["alarms"]) == 10
    finally:
        gone = tf("destroy", "-auto-approve")
    assert gone.returncode == 0, (gone.stdout + gone.stderr)[-3000:]
