"""Pure parts of `infra`: binary choice, the emulated override, README table generation, plan slimming."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from infractl import gate, tf, tfdocs
from infractl.paths import InfraError


def _exe(d: Path, name: str) -> Path:
    p = d / name
    p.write_text("#!/bin/sh\nexit 0\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return p


def test_pick_binary_prefers_tofu_then_terraform(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="neither `tofu` nor `terraform`"):
        tf.pick_binary({"PATH": str(tmp_path)})
    terraform = _exe(tmp_path, "terraform")
    assert tf.pick_binary({"PATH": str(tmp_path)}) == str(terraform)
    tofu = _exe(tmp_path, "tofu")
    assert tf.pick_binary({"PATH": str(tmp_path)}) == str(tofu)
    assert tf.pick_binary({"PATH": str(tmp_path), "INFRA_TF_BIN": "terraform"}) == str(terraform)
    with pytest.raises(InfraError, match="INFRA_TF_BIN"):
        tf.pick_binary({"PATH": str(tmp_path), "INFRA_TF_BIN": "nope"})


def test_override_points_every_endpoint_at_the_emulator(tmp_path: Path) -> None:
    text = tf.override_text("http://127.0.0.1:5555", tmp_path / "s.tfstate")
    for name in tf.EMULATED_ENDPOINTS:
        assert f"{name} " in text
    assert text.count('"http://127.0.0.1:5555"') == len(tf.EMULATED_ENDPOINTS)
    for flag in ("skip_credentials_validation", "skip_metadata_api_check", "skip_region_validation",
                 "s3_use_path_style", "max_retries"):  # fmt: skip
        assert flag in text
    assert f'path = "{tmp_path / "s.tfstate"}"' in text
    assert 'variable "enable_access_analyzer"' in text


def test_write_override_removes_it_for_real_runs(tmp_path: Path) -> None:
    path = tf.write_override(tmp_path, "http://127.0.0.1:1", tmp_path / "x")
    assert path is not None and path.exists()
    assert tf.write_override(tmp_path, None, tmp_path / "x") is None
    assert not (tmp_path / tf.OVERRIDE_NAME).exists()


HCL = """variable "plain" {
  description = "A \\"quoted\\" | piped description."
  type        = string
}

variable "obj" {
  description = "Object with defaults."
  type = object({
    a = number
    b = optional(string, "x")
  })
  default = {
    a = 1
  }

  validation {
    condition     = var.obj.a > 0
    error_message = "a must be positive."
  }
}
"""


def test_tfdocs_parses_multiline_types_and_skips_nested_blocks(tmp_path: Path) -> None:
    (tmp_path / "variables.tf").write_text(HCL)
    (tmp_path / "outputs.tf").write_text('output "o" {\n  description = "Out."\n  value       = 1\n}\n')
    tables = tfdocs.render_tables(tmp_path)
    assert '| A "quoted" \\| piped description. | `string` | n/a | yes |' in tables
    assert '| `object({ a = number b = optional(string, "x") })` | `{ a = 1 }` | no |' in tables
    assert "condition" not in tables
    assert "[o](#output_o) | Out. |" in tables
    with pytest.raises(ValueError, match="markers"):
        tfdocs.updated_readme("# no markers\n", tables)
    readme = f"# m\n\n{tfdocs.BEGIN}\nold\n{tfdocs.END}\ntail\n"
    new = tfdocs.updated_readme(readme, tables)
    assert new.endswith(f"{tfdocs.END}\ntail\n") and "old" not in new
    assert tfdocs.updated_readme(new, tables) == new


@given(
    st.lists(st.sampled_from(["create", "update", "delete", "no-op"]), min_size=1, max_size=2), st.booleans()
)
def test_slim_keeps_what_policies_read(actions: list[str], extra: bool) -> None:
    rc = {"address": "a.b", "mode": "managed", "type": "a", "name": "b",
          "change": {"actions": actions, "before": {"x": 1}, "after": {"y": 2}, "after_unknown": {}}}  # fmt: skip
    plan = {
        "resource_changes": [rc],
        "variables": {"public_demo": {"value": extra}},
        "planned_values": {"big": 1},
    }
    s = gate.slim(plan)
    assert set(s) == {"resource_changes", "variables"}
    assert s["resource_changes"][0]["change"] == {"actions": actions, "after": {"y": 2}, "after_unknown": {}}
    assert s["variables"]["public_demo"]["value"] is extra


def test_env_unchanged_by_helpers() -> None:
    before = dict(os.environ)
    tf.override_text("http://x", Path("/tmp/s"))
    assert dict(os.environ) == before
