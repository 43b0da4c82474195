"""Publish-to-visible latency of a new DAG on the whole local stack (`make bench-e2e`).

The stack is `make local`'s: infra/envs/local applied to the emulator, its task definitions run by the local Fargate
runner. `--intervals default` measures the settings ECS uses (the task definitions as they are); a number sets the
sidecars' DAGSYNC_INTERVAL through the env's own `extra_environment` input. For each: bring up a stack on free
ports, then N times (default 20) write a new DAG file into the published folder, `dagsync publish` it, and time
until the DAG appears in `GET /api/v2/dags`. A random pause before each publish puts it at a random phase of the
sidecar's cycle. Prints p50/p95/max (target: p95 <= 10 s with the ECS defaults) and writes a JSON summary.

    .venv/bin/python bench/e2e/bench_publish_latency.py [--intervals default,30] [--publishes 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from dagsync.config import Settings  # noqa: E402
from devtools.infra_copy import copy_infra  # noqa: E402
from devtools.localstack.client import AirflowClient  # noqa: E402
from devtools.localstack.config import StackConfig  # noqa: E402
from devtools.localstack.stack import login  # noqa: E402

DAG_SRC = """
from airflow.sdk import DAG, task

with DAG(dag_id="{dag_id}", schedule=None, catchup=False, tags=["bench"]):

    @task
    def hello() -> str:
        return "hello"

    hello()
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# services/dagsync/config.py's default, which the task definitions keep
DEFAULT_INTERVAL: float = Settings.model_fields["interval"].default


def run_interval(interval: float | None, publishes: int, seed: int) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    os.chmod(root, 0o755)  # Postgres runs as `postgres` when we are root
    source = root / "dags"
    shutil.copytree(REPO / "dags", source)
    infra = root / "infra"
    copy_infra(infra)
    state = root / "state"
    cli = [sys.executable, "-m", "devtools.localstack", "--state-dir", str(state)]
    tf_vars = {}
    if interval is not None:
        tf_vars["extra_environment"] = json.dumps({"dagsync": {"DAGSYNC_INTERVAL": str(interval)}})
    overrides = {"dag_source": str(source), "infra_dir": str(infra), "tf_vars": tf_vars}
    label = "default" if interval is None else f"{interval:g}s"
    interval = DEFAULT_INTERVAL if interval is None else interval
    rng = random.Random(seed)
    latencies: list[float] = []
    try:
        print(f"--- dagsync interval {label}: starting a local stack (make local's deploy path)", flush=True)
        up = subprocess.run(
            [*cli, "up", "--ports", "auto", "--config", json.dumps(overrides)], cwd=REPO, text=True
        )
        if up.returncode != 0:
            raise SystemExit("local stack did not come up")
        cfg = StackConfig.load(state)
        user, password = login(cfg)  # the FAB admin from the emulator's secret (infra/modules/compute/auth.tf)
        api = AirflowClient(cfg.api_url, username=user, password=password)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ENDPOINT_URL=cfg.aws_url,
            AWS_ACCESS_KEY_ID="t",
            AWS_SECRET_ACCESS_KEY="t",
            AWS_REGION="us-east-1",
        )
        dagsync = str(Path(sys.executable).parent / "dagsync")
        dest = f"s3://{cfg.dags_bucket}/{cfg.dags_prefix}"
        for i in range(publishes):
            time.sleep(rng.uniform(0, interval))  # a random phase of the sidecar's cycle
            dag_id = f"bench_{label.replace('.', '_')}_{i:02d}"
            (source / f"{dag_id}.py").write_text(DAG_SRC.format(dag_id=dag_id))
            t0 = time.monotonic()
            subprocess.run(
                [dagsync, "publish", "--source", str(source), "--dest", dest],
                env=env,
                check=True,
                capture_output=True,
            )
            while dag_id not in api.dag_ids():
                if time.monotonic() - t0 > 300:
                    raise SystemExit(f"{dag_id} not visible after 300 s")
                time.sleep(0.25)
            latencies.append(time.monotonic() - t0)
            print(f"  publish {i + 1:2}/{publishes}: {latencies[-1]:5.1f} s", flush=True)
        api.close()
    finally:
        subprocess.run([*cli, "down"], cwd=REPO, capture_output=True, text=True)
        shutil.rmtree(root, ignore_errors=True)
    return {
        "interval": label,
        "interval_s": interval,
        "publishes": len(latencies),
        "p50_s": round(statistics.median(latencies), 2),
        "p95_s": round(pct(latencies, 0.95), 2),
        "max_s": round(max(latencies), 2),
        "min_s": round(min(latencies), 2),
        "mean_s": round(statistics.fmean(latencies), 2),
        "latencies_s": [round(x, 2) for x in latencies],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--intervals",
        default="default,30",
        help="comma-separated: 'default' (the task definitions) or seconds",
    )
    parser.add_argument("--publishes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the summary here too")
    args = parser.parse_args()
    results = []
    for x in [x for x in args.intervals.split(",") if x.strip()]:
        x = x.strip()
        results.append(run_interval(None if x == "default" else float(x), args.publishes, args.seed))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "latencies_s"}), flush=True)
        if args.json:  # after each interval, so a later failure loses nothing
            args.json.write_text(json.dumps(results, indent=2))
    print("\n| dagsync interval | publishes | p50 | p95 | max | target |")
    print("|---|---|---|---|---|---|")
    for r in results:
        target = (
            "p95 <= 10 s: " + ("met" if float(r["p95_s"]) <= 10 else "MISSED")  # type: ignore[arg-type]
            if r["interval"] == "default"
            else "-"
        )
        print(
            f"| {r['interval']} | {r['publishes']} | {r['p50_s']} s | {r['p95_s']} s | {r['max_s']} s | {target} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
