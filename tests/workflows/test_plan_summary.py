"""scripts/plan_summary.py: addresses and actions only, never attribute values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from scripts.plan_summary import classify, summarize

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-password-value"

PLAN = {
    "format_version": "1.2",
    "resource_changes": [
        {
            "address": "module.data.aws_db_instance.this",
            "change": {"actions": ["delete", "create"], "after": {"password": SECRET}},
        },
        {"address": "module.network.aws_vpc.this", "change": {"actions": ["no-op"]}},
        {"address": "module.compute.aws_ecs_service.worker", "change": {"actions": ["update"]}},
        {"address": "aws_s3_bucket.logs", "change": {"actions": ["create"], "after": {"bucket": SECRET}}},
        {"address": "aws_nat_gateway.x", "change": {"actions": ["delete"]}},
    ],
}


def test_summary_lists_addresses_by_action_and_never_values(tmp_path: Path) -> None:
    out = summarize(PLAN, "dev")
    assert out.startswith("### infra plan (dev)")
    assert "**1 to delete, 1 to replace, 1 to create, 1 to update**" in out
    assert "`module.data.aws_db_instance.this`" in out and "aws_vpc" not in out
    assert "destroys or replaces" in out
    assert SECRET not in out
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN))
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts/plan_summary.py"), str(path), "--env", "dev"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout == out


def test_no_changes() -> None:
    assert "**no changes**" in summarize({"format_version": "1.2", "resource_changes": []})


def test_not_a_plan_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts/plan_summary.py"), str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "tofu show -json" in proc.stderr


@given(st.lists(st.sampled_from(["create", "delete", "update", "read", "no-op"]), max_size=3))
def test_classify_is_total(actions: list[str]) -> None:
    kind = classify(actions)
    assert kind in {None, "create", "delete", "update", "read", "replace"}
    assert (kind is None) == (set(actions) <= {"no-op"})
