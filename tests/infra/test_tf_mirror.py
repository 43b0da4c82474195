"""The offline provider mirror (infra/tf-cli.hcl) is opt-in: INFRA_TF_MIRROR=1 on this project's test and CI
machines; a user's `infra`/`make dev` keeps the normal registry and their own CLI config."""

from __future__ import annotations

from pathlib import Path

import pytest
from infractl import tf
from infractl.paths import InfraError

from .conftest import INFRA, tf_env


def test_no_mirror_by_default(tmp_path: Path) -> None:
    env = tf.tf_env({"PATH": "/usr/bin", "TF_PLUGIN_CACHE_DIR": str(tmp_path)})
    assert "TF_CLI_CONFIG_FILE" not in env
    own = tmp_path / "my.tfrc"
    env = tf.tf_env({"TF_CLI_CONFIG_FILE": str(own), "TF_PLUGIN_CACHE_DIR": str(tmp_path)})
    assert env["TF_CLI_CONFIG_FILE"] == str(own)  # the user's own config is left alone
    env = tf.tf_env({"INFRA_TF_MIRROR": "0", "TF_PLUGIN_CACHE_DIR": str(tmp_path)})
    assert "TF_CLI_CONFIG_FILE" not in env


def test_mirror_when_opted_in(tmp_path: Path) -> None:
    env = tf.tf_env({"INFRA_TF_MIRROR": "1", "TF_PLUGIN_CACHE_DIR": str(tmp_path)})
    assert Path(env["TF_CLI_CONFIG_FILE"]).resolve() == (INFRA / "tf-cli.hcl").resolve()
    assert "/opt/tf-plugins" in Path(env["TF_CLI_CONFIG_FILE"]).read_text()
    with pytest.raises(InfraError, match="INFRA_TF_MIRROR"):
        tf.tf_env({"INFRA_TF_MIRROR": "maybe", "TF_PLUGIN_CACHE_DIR": str(tmp_path)})


def test_the_tests_opt_in() -> None:
    assert tf_env()["INFRA_TF_MIRROR"] == "1"


def test_analyzer_override_only_when_the_env_declares_it(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('variable "other" {}\n')
    text = tf.write_override(tmp_path, "http://127.0.0.1:1", tmp_path / "s").read_text()  # type: ignore[union-attr]
    assert "enable_access_analyzer" not in text  # an override of an undeclared variable is an error
    (tmp_path / "variables.tf").write_text('variable "enable_access_analyzer" {\n  type = bool\n}\n')
    text = tf.write_override(tmp_path, "http://127.0.0.1:1", tmp_path / "s").read_text()  # type: ignore[union-attr]
    assert 'variable "enable_access_analyzer"' in text
