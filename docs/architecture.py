"""The architecture pictures, as code: `make diagram` renders them with `diagrams` + graphviz.

Two views of one platform, each described once as plain data below:
- docs/architecture-overview.png (OVERVIEW_*): a dozen boxes with large labels, readable at README width;
- docs/architecture.png (CLUSTERS, NODES, EDGES): every service, sidecar, endpoint and flow.
From that data we render the PNGs and write docs/architecture.model.json: each view's data plus its sha256. The
sha256 is also stamped into the view's PNG (a tEXt chunk), so tests/docs can tell whether the committed pictures
match this file without relying on byte-identical PNGs (graphviz output differs between versions). The drawn flows
follow the configuration they describe: tests/docs/test_architecture.py derives the execution-API route, the
health aggregator's probes and the VPC endpoints from infra/modules/ and fails when the pictures disagree. Edit the
data, then run `make diagram`.

    .venv/bin/python docs/architecture.py            # render both PNGs + the model json
    .venv/bin/python docs/architecture.py --check    # exit 1 if the committed files are stale
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import struct
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
PNG = DOCS / "architecture.png"
OVERVIEW_PNG = DOCS / "architecture-overview.png"
MODEL = DOCS / "architecture.model.json"
PNG_KEY = "architecture-model-sha256"

# Airflow's five roles: each ECS service runs the role's container plus a dagsync sidecar (docs/adr/0001-dag-sync.md)
AIRFLOW_ROLES = ("api-server", "scheduler", "dag-processor", "triggerer", "worker")
# The API inside the VPC, as infra/modules/compute/main.tf builds it (local.api_internal_url, <prefix> = name_prefix)
API_INTERNAL_URL = "http://api-server.<prefix>.internal:8080"
FLOW_COLOURS = {
    "dags": "#2e7d32",
    "logs": "#e65100",
    "metrics": "#1565c0",
    "control": "#455a64",
    "user": "#6a1b9a",
}


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # key of ICONS
    label: str
    cluster: str  # key of CLUSTERS ("" = top level)


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    flow: str  # key of FLOW_COLOURS
    label: str = ""
    dashed: bool = False


# cluster id -> (label, parent id)
CLUSTERS: dict[str, tuple[str, str]] = {
    "aws": ("AWS account · one region (default us-east-1)", ""),
    "vpc": ("VPC · private subnets in ≥ 2 AZs · no NAT, no internet gateway", "aws"),
    "endpoints": ("VPC endpoints (the only way out)", "vpc"),
    "ecs": ("ECS cluster (Fargate) · every service: circuit breaker + rollback", "vpc"),
    "data": ("Data stores (CMK-encrypted)", "vpc"),
    "regional": ("Regional AWS services (reached through the endpoints)", "aws"),
    **{f"svc-{r}": (f"service: {r}", "ecs") for r in AIRFLOW_ROLES},
    "platform": ("platform services", "ecs"),
}

NODES: list[Node] = [
    Node("users", "users", "Engineers / SREs\n(corporate network, VPN)", ""),
    Node("idp", "sso", "SSO identity provider\n(OIDC)", ""),
    Node("gha", "gha", "GitHub Actions\ndeploy, dag-sync\n(OIDC, no keys)", ""),
    Node(
        "alb",
        "alb",
        "internal ALB\nHTTPS, OIDC auth, idle 120 s\n/ → api-server\n/status → healthcheck",
        "vpc",
    ),
    *[Node(f"{r}", "task", f"airflow {r}", f"svc-{r}") for r in AIRFLOW_ROLES],
    *[Node(f"sync-{r}", "sidecar", "dagsync sidecar\n(:9101 metrics)", f"svc-{r}") for r in AIRFLOW_ROLES],
    Node("scaler", "task", "scaler\nqueue depth → desired workers\n(:9102)", "platform"),
    Node("healthcheck", "task", "healthcheck\n/status API + page\n(:8000)", "platform"),
    Node(
        "cloudmap",
        "cloudmap",
        "Cloud Map private DNS\napi-server.<prefix>.internal\n(A records, TTL 10 s)",
        "vpc",
    ),
    Node("rds", "rds", "RDS PostgreSQL\nmetadata DB, PITR\nMulti-AZ in prod", "data"),
    Node("redis", "redis", "ElastiCache Redis\nCelery broker\nTLS + AUTH", "data"),
    Node("efs", "efs", "EFS\naccess points:\ndags, plugins\n(+ sync status files)", "data"),
    Node("ep-s3", "endpoint", "S3 gateway endpoint", "endpoints"),
    Node(
        "ep-if",
        "endpoint",
        "interface endpoints\necr.api · ecr.dkr · logs\nmonitoring · ecs · sts\nsecretsmanager · ssm\n"
        "kms · elasticfilesystem\nevents",
        "endpoints",
    ),
    Node("s3-dags", "s3", "S3 <org>-airflow-dags\n(org-wide; <env>/ prefix)\n+ _manifest.json", "regional"),
    Node("s3-logs", "s3", "S3 task logs\n(remote logging)", "regional"),
    Node("ecr", "ecr", "ECR\nairflow, dagsync,\nservices (SHA tags)", "regional"),
    Node("cw", "cloudwatch", "CloudWatch\nmetrics, dashboard,\nalarms", "regional"),
    Node("cwlogs", "cwlogs", "CloudWatch Logs\n(service logs)", "regional"),
    Node("secrets", "secrets", "Secrets Manager,\nSSM, KMS CMK", "regional"),
    Node("ecsapi", "ecs", "ECS API\n(UpdateService,\ntask protection)", "regional"),
    Node("sns", "sns", "SNS alerts\n(alarms; EventBridge\nNAT/IGW rule)", "regional"),
]

EDGES: list[Edge] = [
    # people and the edge
    Edge("users", "alb", "user", "HTTPS"),
    Edge("alb", "idp", "user", "OIDC login", dashed=True),
    Edge("alb", "api-server", "user", "UI / REST API"),
    Edge("alb", "healthcheck", "user", "/status"),
    # DAGs: publish -> S3 -> every sidecar -> EFS (atomic whole-set) -> Airflow reads
    Edge("gha", "s3-dags", "dags", "DAGs: dagsync publish\n(changed files, manifest last)"),
    Edge("s3-dags", "ep-s3", "dags", "DAGs"),
    *[
        Edge("ep-s3", f"sync-{r}", "dags", "DAGs (LIST + GET)" if r == "scheduler" else "")
        for r in AIRFLOW_ROLES
    ],
    *[Edge(f"sync-{r}", "efs", "dags", "atomic publish" if r == "scheduler" else "") for r in AIRFLOW_ROLES],
    *[
        Edge(f"sync-{r}", r, "dags", "DAG folder\n(EFS mount)" if r == "scheduler" else "", dashed=True)
        for r in AIRFLOW_ROLES
    ],
    # core Airflow control/data paths
    *[Edge(r, "rds", "control", "metadata" if r == "scheduler" else "") for r in AIRFLOW_ROLES],
    Edge("scheduler", "redis", "control", "enqueue tasks"),
    Edge("redis", "worker", "control", "Celery"),
    # tasks reach the API by its Cloud Map name, not through the ALB (docs/adr/0011-how-tasks-reach-the-api.md)
    Edge("api-server", "cloudmap", "control", "ECS registers\ntask IPs", dashed=True),
    Edge("worker", "api-server", "control", f"execution API\n{API_INTERNAL_URL}/execution/", dashed=True),
    # logs
    Edge("worker", "ep-s3", "logs", "task logs"),
    Edge("ep-s3", "s3-logs", "logs", "logs"),
    Edge("api-server", "ep-s3", "logs", "read task logs", dashed=True),
    Edge("ep-if", "cwlogs", "logs", "service logs (awslogs)"),
    # metrics and scaling
    Edge("scaler", "redis", "metrics", "broker depth", dashed=True),
    Edge("scaler", "rds", "metrics", "queued + running", dashed=True),
    Edge("scaler", "ep-if", "metrics", "PutMetricData\nUpdateService"),
    Edge("ep-if", "cw", "metrics", "metrics"),
    Edge("ep-if", "ecsapi", "control", "desiredCount,\ntask protection"),
    Edge("cw", "sns", "metrics", "alarms"),
    # health: the probes infra/modules/compute turns on (HEALTH_PROBES); no scaler probe, ECS checks the scaler
    Edge("healthcheck", "api-server", "metrics", f"/api/v2/monitor/health\n{API_INTERNAL_URL}", dashed=True),
    Edge("healthcheck", "rds", "metrics", "SELECT 1", dashed=True),
    Edge("healthcheck", "redis", "metrics", "PING, queue depth", dashed=True),
    Edge("healthcheck", "efs", "metrics", "sync freshness", dashed=True),
    Edge(
        "healthcheck",
        "ep-if",
        "metrics",
        "DescribeServices, DescribeAlarms\nGet/PutMetricData",
        dashed=True,
    ),
    # images and secrets
    Edge("gha", "ecr", "control", "build · scan · push"),
    Edge("ecr", "ep-if", "control", "image pulls", dashed=True),
    Edge("secrets", "ep-if", "control", "secrets injected", dashed=True),
]

# What each probe of the health aggregator reaches (services/healthcheck/config.py: `<probe>_enabled`), whether or not
# infra/modules/compute turns it on (HEALTHCHECK_<PROBE>_ENABLED); tests/docs checks that exactly the enabled ones
# are drawn.
HEALTH_PROBES: dict[str, str] = {
    "airflow": "api-server",
    "redis": "redis",
    "postgres": "rds",
    "dagsync": "efs",
    "scaler": "scaler",
    "ecs": "ep-if",
    "alarms": "ep-if",
    "slo": "ep-if",
    "publish": "ep-if",
}

GRAPH_ATTR = {
    "fontsize": "28",
    "pad": "0.4",
    "nodesep": "0.9",
    "ranksep": "0.9",
    "splines": "spline",
    "fontname": "Helvetica",
    "labelloc": "t",
    "dpi": "96",
}
TITLE = "Airflow 3.1 on ECS/Fargate — NAT-free, sidecar-centric (green: DAGs · orange: logs · blue: metrics)"

# ------------------------------------------------------------------ the overview (README): few boxes, large labels
OVERVIEW_CLUSTERS: dict[str, tuple[str, str]] = {
    "aws": ("AWS account", ""),
    "vpc": ("VPC: private subnets, no NAT", "aws"),
    "ecs": ("ECS on Fargate", "vpc"),
    "data": ("data stores", "vpc"),
}

OVERVIEW_NODES: list[Node] = [
    Node("users", "users", "engineers, SREs", ""),
    Node("gha", "gha", "GitHub Actions", ""),
    Node("alb", "alb", "internal ALB\nHTTPS + SSO", "vpc"),
    Node("api-server", "task", "api-server", "ecs"),
    Node("airflow", "task", "scheduler,\ntriggerer,\ndag-processor", "ecs"),
    Node("worker", "task", "Celery\nworkers", "ecs"),
    Node("dagsync", "sidecar", "dagsync\n(sidecar of every\nAirflow task)", "ecs"),
    Node("scaler", "task", "scaler", "ecs"),
    Node("healthcheck", "task", "health\naggregator", "ecs"),
    Node("rds", "rds", "Postgres", "data"),
    Node("redis", "redis", "Redis", "data"),
    Node("efs", "efs", "EFS (DAGs)", "data"),
    Node("s3", "s3", "S3: DAGs,\ntask logs", "aws"),
    Node("awsapi", "endpoint", "VPC endpoints:\nECS, CloudWatch,\nSecrets Manager", "aws"),
]

OVERVIEW_EDGES: list[Edge] = [
    Edge("users", "alb", "user", "HTTPS"),
    Edge("alb", "api-server", "user", "UI, API"),
    Edge("alb", "healthcheck", "user", "/status"),
    Edge("gha", "s3", "dags", "publish DAGs"),
    Edge("s3", "dagsync", "dags", "DAGs"),
    Edge("dagsync", "efs", "dags", "atomic publish"),
    Edge("dagsync", "airflow", "dags", "DAG folder", dashed=True),
    Edge("airflow", "redis", "control", "tasks"),
    Edge("redis", "worker", "control", "Celery"),
    Edge("airflow", "rds", "control", "metadata"),
    Edge("worker", "api-server", "control", "execution API\n(Cloud Map name)"),
    Edge("worker", "s3", "logs", "task logs"),
    Edge("scaler", "redis", "metrics", "depth", dashed=True),
    Edge("scaler", "awsapi", "metrics", "desired workers"),
    Edge("healthcheck", "api-server", "metrics", "", dashed=True),
    Edge("healthcheck", "rds", "metrics", "probes", dashed=True),
    Edge("healthcheck", "redis", "metrics", "", dashed=True),
    Edge("healthcheck", "efs", "metrics", "", dashed=True),
    Edge("healthcheck", "awsapi", "metrics", "", dashed=True),
]

# overview node -> the nodes of the detailed view it stands for (tests/docs checks every overview edge against them)
OVERVIEW_MEMBERS: dict[str, tuple[str, ...]] = {
    "users": ("users",),
    "gha": ("gha",),
    "alb": ("alb",),
    "api-server": ("api-server",),
    "airflow": ("scheduler", "dag-processor", "triggerer"),
    "worker": ("worker",),
    "dagsync": tuple(f"sync-{r}" for r in AIRFLOW_ROLES),
    "scaler": ("scaler",),
    "healthcheck": ("healthcheck",),
    "rds": ("rds",),
    "redis": ("redis",),
    "efs": ("efs",),
    "s3": ("s3-dags", "s3-logs"),
    "awsapi": ("ep-if", "cw", "ecsapi", "secrets", "ecr", "cwlogs", "sns"),
}

OVERVIEW_GRAPH_ATTR = {
    "fontsize": "34",
    "pad": "0.3",
    "nodesep": "0.5",
    "ranksep": "0.8",
    "splines": "spline",
    "fontname": "Helvetica",
    "labelloc": "t",
    "dpi": "72",
}
OVERVIEW_TITLE = "Airflow 3.1 on ECS/Fargate (green: DAGs · orange: logs · blue: metrics, health)"


@dataclass(frozen=True)
class Style:
    direction: str
    node_fontsize: int
    edge_fontsize: int
    cluster_fontsize: int
    icon: float = 0.0  # inches: icon size, label below it in one HTML-like label (0: the diagrams defaults)


VIEWS = ("overview", "detailed")
STYLES = {"overview": Style("LR", 28, 24, 26, icon=1.1), "detailed": Style("TB", 14, 13, 15)}
PNGS = {"overview": OVERVIEW_PNG, "detailed": PNG}


def model(view: str = "detailed") -> dict[str, Any]:
    """One picture as canonical data (what its fingerprint covers)."""
    g = globals()
    prefix = "OVERVIEW_" if view == "overview" else ""
    clusters: dict[str, tuple[str, str]] = g[f"{prefix}CLUSTERS"]
    nodes: list[Node] = g[f"{prefix}NODES"]
    edges: list[Edge] = g[f"{prefix}EDGES"]
    return {
        "title": g[f"{prefix}TITLE"],
        "graph_attr": g[f"{prefix}GRAPH_ATTR"],
        "style": STYLES[view].__dict__,
        "clusters": {k: {"label": v[0], "parent": v[1]} for k, v in sorted(clusters.items())},
        "nodes": [n.__dict__ for n in sorted(nodes, key=lambda n: n.id)],
        "edges": sorted((e.__dict__ for e in edges), key=lambda e: (e["src"], e["dst"], e["label"])),
        "flows": FLOW_COLOURS,
    }


def fingerprint(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def validate(data: dict[str, Any]) -> list[str]:
    """Structural sanity: unique ids, edges between known nodes, known clusters/flows/icons."""
    problems = []
    ids = [n["id"] for n in data["nodes"]]
    if len(ids) != len(set(ids)):
        problems.append("duplicate node ids")
    for n in data["nodes"]:
        if n["cluster"] and n["cluster"] not in data["clusters"]:
            problems.append(f"node {n['id']}: unknown cluster {n['cluster']}")
        if n["kind"] not in ICON_NAMES:
            problems.append(f"node {n['id']}: unknown kind {n['kind']}")
    for e in data["edges"]:
        for end in (e["src"], e["dst"]):
            if end not in ids:
                problems.append(f"edge {e['src']}->{e['dst']}: unknown node {end}")
        if e["flow"] not in data["flows"]:
            problems.append(f"edge {e['src']}->{e['dst']}: unknown flow {e['flow']}")
    return problems


ICON_NAMES = {
    "users",
    "sso",
    "gha",
    "alb",
    "task",
    "sidecar",
    "rds",
    "redis",
    "efs",
    "endpoint",
    "s3",
    "ecr",
    "cloudwatch",
    "cwlogs",
    "secrets",
    "ecs",
    "sns",
    "cloudmap",
}


def _icons() -> dict[str, Any]:
    from diagrams.aws.compute import (
        ECR,
        ElasticContainerServiceContainer,
        ElasticContainerServiceService,
        Fargate,
    )
    from diagrams.aws.database import ElasticacheForRedis, RDSPostgresqlInstance
    from diagrams.aws.integration import SNS
    from diagrams.aws.management import Cloudwatch, CloudwatchLogs
    from diagrams.aws.network import ALB, CloudMap, Endpoint
    from diagrams.aws.security import SecretsManager, SingleSignOn
    from diagrams.aws.storage import EFS, S3
    from diagrams.onprem.ci import GithubActions
    from diagrams.onprem.client import Users

    icons = {
        "users": Users,
        "sso": SingleSignOn,
        "gha": GithubActions,
        "alb": ALB,
        "task": Fargate,
        "sidecar": ElasticContainerServiceContainer,
        "rds": RDSPostgresqlInstance,
        "redis": ElasticacheForRedis,
        "efs": EFS,
        "endpoint": Endpoint,
        "s3": S3,
        "ecr": ECR,
        "cloudwatch": Cloudwatch,
        "cwlogs": CloudwatchLogs,
        "secrets": SecretsManager,
        "ecs": ElasticContainerServiceService,
        "sns": SNS,
        "cloudmap": CloudMap,
    }
    assert set(icons) == ICON_NAMES
    return icons


def render(data: dict[str, Any], out_png: Path) -> None:
    """Render one view with diagrams/graphviz, then stamp the model's sha256 into the PNG."""
    from diagrams import Cluster, Diagram
    from diagrams import Edge as DEdge

    icons = _icons()
    style = data["style"]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "architecture"
        with Diagram(
            data["title"],
            filename=str(base),
            outformat="png",
            show=False,
            direction=style["direction"],
            graph_attr=data["graph_attr"],
            node_attr={"fontsize": str(style["node_fontsize"]), "fontname": "Helvetica"},
        ):
            made: dict[str, Any] = {}

            def node(n: dict[str, Any]) -> Any:
                cls = icons[n["kind"]]
                if not style["icon"]:
                    return cls(n["label"])
                # Icon above its label in one HTML-like label: graphviz sizes and spaces the node for both.
                size = round(style["icon"] * 72)
                icon = Path(cls._load_icon(cls)).as_posix()
                text = "<BR/>".join(html.escape(line) for line in n["label"].split("\n"))
                label = (
                    f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2"><TR><TD FIXEDSIZE="TRUE" WIDTH="{size}" '
                    f'HEIGHT="{size}"><IMG SRC="{icon}" SCALE="TRUE"/></TD></TR><TR><TD>{text}</TD></TR></TABLE>>'
                )
                return cls(label, shape="plaintext", image="", fixedsize="false", width="0", height="0")

            cluster_attr = {"fontsize": str(style["cluster_fontsize"]), "fontname": "Helvetica"}

            def build(parent: str) -> None:
                for n in data["nodes"]:
                    if n["cluster"] == parent:
                        made[n["id"]] = node(n)
                for cid, c in data["clusters"].items():
                    if c["parent"] == parent:
                        with Cluster(c["label"], graph_attr=cluster_attr):
                            build(cid)

            build("")
            for e in data["edges"]:
                attrs = {
                    "color": data["flows"][e["flow"]],
                    "fontcolor": data["flows"][e["flow"]],
                    "style": "dashed" if e["dashed"] else "solid",
                    "fontsize": str(style["edge_fontsize"]),
                }
                made[e["src"]] >> DEdge(label=e["label"], **attrs) >> made[e["dst"]]
        png = base.with_suffix(".png").read_bytes()
    out_png.write_bytes(stamp_png(png, PNG_KEY, fingerprint(data)))


# ------------------------------------------------------------------ PNG tEXt chunk (stdlib only)
def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        ctype = png[pos + 4 : pos + 8]
        out.append((ctype, png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def stamp_png(png: bytes, key: str, value: str) -> bytes:
    chunks = [(t, d) for t, d in _chunks(png) if not (t == b"tEXt" and d.split(b"\0", 1)[0] == key.encode())]
    text = key.encode() + b"\0" + value.encode()
    chunks.insert(len(chunks) - 1, (b"tEXt", text))  # before IEND
    body = b"".join(
        struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
        for t, d in chunks
    )
    return b"\x89PNG\r\n\x1a\n" + body


def png_text(png: bytes) -> dict[str, str]:
    return {
        d.split(b"\0", 1)[0].decode(): d.split(b"\0", 1)[1].decode() for t, d in _chunks(png) if t == b"tEXt"
    }


def committed_models(model_path: Path = MODEL) -> dict[str, Any]:
    """view -> {"sha256", "model"} as committed in docs/architecture.model.json."""
    views: dict[str, Any] = json.loads(model_path.read_text())["views"]
    return views


def stale_reasons(pngs: dict[str, Path] | None = None, model_path: Path = MODEL) -> list[str]:
    pngs = {**PNGS, **(pngs or {})}
    reasons = []
    committed = committed_models(model_path) if model_path.exists() else None
    if committed is None:
        reasons.append(f"{model_path.name} is missing")
    for view in VIEWS:
        data = model(view)
        want = fingerprint(data)
        if committed is not None:
            got = committed.get(view, {})
            if got.get("sha256") != want or got.get("model") != data:
                reasons.append(f"{model_path.name} ({view}) does not match docs/architecture.py")
        png_path = pngs[view]
        if not png_path.exists():
            reasons.append(f"{png_path.name} is missing")
        elif png_text(png_path.read_bytes()).get(PNG_KEY) != want:
            reasons.append(f"{png_path.name} was rendered from another version of docs/architecture.py")
    return reasons


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render docs/architecture*.png from this file.")
    parser.add_argument(
        "--check", action="store_true", help="only check that the committed files are current"
    )
    args = parser.parse_args(argv)
    models = {view: model(view) for view in VIEWS}
    problems = [f"{view}: {p}" for view, data in models.items() for p in validate(data)]
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        return 2
    if args.check:
        reasons = stale_reasons()
        for r in reasons:
            print(f"stale: {r}; run `make diagram`", file=sys.stderr)
        return 1 if reasons else 0
    for view, data in models.items():
        render(data, PNGS[view])
        print(f"wrote {PNGS[view].relative_to(DOCS.parent)} (model sha256 {fingerprint(data)[:12]})")
    views = {view: {"sha256": fingerprint(data), "model": data} for view, data in models.items()}
    MODEL.write_text(json.dumps({"views": views}, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {MODEL.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
