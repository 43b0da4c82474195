"""The runner's declared translation table (devtools/fargate/translate.py) and its config file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devtools.fargate.config import ConfigError, RunnerConfig
from devtools.fargate.translate import (
    PROJECT_IMAGES,
    ImageSpec,
    Rewriter,
    docker_argv,
    match_image,
    parse_dockerfile,
    parse_secret_ref,
    paths_table,
    project_image,
    repository,
    select_json_key,
)

REPO = Path(__file__).resolve().parents[2]


def test_dockerfile_final_stage() -> None:
    text = """
ARG BASE=python:3.11
FROM ${BASE} AS build
ENV IGNORED=1
ENTRYPOINT ["nope"]
FROM ${BASE}
ARG UID=5
ENV A=1 \\
    B="two words" \\
    PATH=/opt/x/bin:$PATH
ENV LEGACY value with spaces
COPY --from=build /opt/x /opt/x
COPY --chmod=0755 images/x/run.sh /usr/local/bin/x-run
COPY a.txt b.txt /etc/x/
USER ${UID}
WORKDIR /opt/x
ENTRYPOINT ["x-run"]
CMD ["serve", "--port", "1"]
"""
    st = parse_dockerfile(text)
    assert st["entrypoint"] == ("x-run",) and st["cmd"] == ("serve", "--port", "1")
    env = st["env"]
    assert isinstance(env, dict)
    assert env["A"] == "1" and env["B"] == "two words" and env["LEGACY"] == "value with spaces"
    assert env["PATH"] == "/opt/x/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert "IGNORED" not in env
    assert st["user"] == "5" and st["workdir"] == "/opt/x"
    assert st["copies"] == [
        ("images/x/run.sh", "/usr/local/bin/x-run"),
        ("a.txt", "/etc/x/"),
        ("b.txt", "/etc/x/"),
    ]
    assert parse_dockerfile('FROM x\nENTRYPOINT ["a"]\n')["cmd"] == ()
    assert parse_dockerfile("FROM x\nCMD sleep 1\n")["cmd"] == ("/bin/sh", "-c", "sleep 1")


@pytest.mark.parametrize("suffix", sorted(PROJECT_IMAGES))
def test_project_images_from_their_dockerfiles(suffix: str) -> None:
    """Every repo COPY of the final stage is mapped to an existing file; the venvs exist in the checkout."""
    spec = project_image(suffix, PROJECT_IMAGES[suffix])
    assert spec.entrypoint and spec.cmd
    text = (REPO / PROJECT_IMAGES[suffix].dockerfile).read_text()
    final = text[text.rindex("\nFROM ") :]
    for m in re.finditer(r"^COPY (?!.*--from)(?:--\S+ )*(\S+) (\S+)$", final, re.M):
        src, dest = m.groups()
        assert str(REPO / src) in {*spec.paths.values(), *spec.executables.values()}, (src, dest)
    for local in [*spec.paths.values(), *spec.executables.values()]:
        assert Path(local).exists(), local
    # the entrypoint is one of the image's own programs, reached through its shim
    assert any(Path(p).name == spec.entrypoint[0] for p in spec.executables)


def test_airflow_image_table() -> None:
    spec = project_image("-airflow-airflow", PROJECT_IMAGES["-airflow-airflow"])
    assert spec.env["AIRFLOW_HOME"] == "/opt/airflow"
    assert spec.executables["/usr/local/bin/airflow-entrypoint"].endswith("images/airflow/entrypoint.sh")
    assert spec.paths["/opt/airflow/venv"].endswith(".venv-airflow")
    assert spec.paths["/opt/airflow/airflow.env"].endswith("images/airflow/airflow.env")
    assert set(spec.implicit_ports.values()) == {8793, 8794, 8974}
    assert "/opt/airflow" in spec.writable and "/tmp" in spec.writable


def test_image_matching() -> None:
    a, b = ImageSpec("a"), ImageSpec("b")
    images = {"-airflow-airflow": a, "local/sh": b}
    assert (
        repository("1.dkr.ecr.us-east-1.amazonaws.com/acme-airflow-airflow:1.2@sha256:ab")
        == "acme-airflow-airflow"
    )
    assert match_image("1.dkr.ecr.us-east-1.amazonaws.com/acme-airflow-airflow:1.2", images) is a
    assert match_image("local/sh", images) is b
    assert match_image("acme-airflow-dagsync:1", images) is None


def test_docker_argv_rules() -> None:
    img = ImageSpec("x", entrypoint=("ep",), cmd=("default",))
    assert docker_argv(img, None, None) == ["ep", "default"]
    assert docker_argv(img, None, ["run"]) == ["ep", "run"]
    assert docker_argv(img, ["/bin/sh", "-c"], None) == ["/bin/sh", "-c"]  # entryPoint drops CMD
    assert docker_argv(img, ["/bin/sh", "-c"], ["echo"]) == ["/bin/sh", "-c", "echo"]


def test_rewriter_hosts_ports_paths() -> None:
    rw = Rewriter(
        hosts={
            "db.x.rds.amazonaws.com:5432": "127.0.0.1:25432",
            "master.y.cache.amazonaws.com:6379": "127.0.0.1:26379",
            "https://api.internal.example.com": "http://127.0.0.1:8080",
        },
        ports={8080: 40001, 8974: 40002},
        exact_ports=frozenset({8080}),
        paths=paths_table(
            [
                ("/opt/airflow", "/s/home"),
                ("/opt/airflow/venv", "/r/.venv-airflow"),
                ("/opt/airflow/shared", "/s/efs"),
            ]
        ),
    )
    env = rw.env(
        {
            "AIRFLOW_DB_HOST": "db.x.rds.amazonaws.com",
            "AIRFLOW_DB_PORT": "5432",
            "SCALER_DB_HOST": "db.x.rds.amazonaws.com",
            "SCALER_DB_PORT": "5433",  # not the mapped AWS port: left alone
            "URL": "rediss://:tok@master.y.cache.amazonaws.com:6379/0",
            "API": "https://api.internal.example.com/execution/",
            "PORT": "8080",
            "OTHER_NUMBER": "8974",  # implicit port, not a portMapping: not exact-rewritten
            "PATH": "/opt/airflow/venv/bin:/usr/bin",
            "DAGS": "/opt/airflow/shared/dags",
            "S3": "s3://b/opt/airflow",
            "PROBE": "python -c x http://127.0.0.1:8974/health",
            "PREFIXLIKE": "/opt/airflowx",
        }
    )
    assert env["AIRFLOW_DB_HOST"] == "127.0.0.1" and env["AIRFLOW_DB_PORT"] == "25432"
    assert env["SCALER_DB_HOST"] == "127.0.0.1" and env["SCALER_DB_PORT"] == "5433"
    assert env["URL"] == "rediss://:tok@127.0.0.1:26379/0"
    assert env["API"] == "http://127.0.0.1:8080/execution/"  # a mapped host keeps its local port
    assert env["PORT"] == "40001" and env["OTHER_NUMBER"] == "8974"
    assert env["PATH"] == "/r/.venv-airflow/bin:/usr/bin"
    assert env["DAGS"] == "/s/efs/dags" and env["S3"] == "s3://b/opt/airflow"
    assert env["PROBE"] == "python -c x http://127.0.0.1:40002/health"
    assert env["PREFIXLIKE"] == "/opt/airflowx"
    assert rw.arg("8080") == "40001" and rw.arg("--dest=/opt/airflow/shared/x") == "--dest=/s/efs/x"
    assert (
        rw.text("0.0.0.0:8080 localhost:8080 10.0.0.1:8080") == "0.0.0.0:40001 localhost:40001 10.0.0.1:8080"
    )


def test_rewriter_secret_values() -> None:
    rw = Rewriter(
        hosts={
            "db.x.rds.amazonaws.com:5432": "127.0.0.1:25432",
            "r.cache.amazonaws.com:6379": "127.0.0.1:26379",
        },
        ports={6379: 40000},
        paths=[("/tmp", "/local/tmp")],
    )
    assert (
        rw.secret("pw/tmp 127.0.0.1:6379") == "pw/tmp 127.0.0.1:6379"
    )  # no port or path rewriting in secrets
    assert rw.text("x /tmp 127.0.0.1:6379") == "x /local/tmp 127.0.0.1:40000"
    rds = json.dumps(
        {"username": "u", "password": "p:5432", "host": "db.x.rds.amazonaws.com", "port": 5432, "dbname": "a"}
    )
    out = json.loads(rw.secret(rds))
    assert out == {"username": "u", "password": "p:5432", "host": "127.0.0.1", "port": 25432, "dbname": "a"}
    other_port = json.loads(rw.secret(json.dumps({"host": "db.x.rds.amazonaws.com", "port": "6000"})))
    assert other_port == {"host": "127.0.0.1", "port": "6000"}
    assert rw.secret("rediss://:tok@r.cache.amazonaws.com:6379/0") == "rediss://:tok@127.0.0.1:26379/0"
    assert rw.secret("plain") == "plain" and rw.secret("[1, 2]") == "[1, 2]"
    nested = json.loads(rw.secret(json.dumps({"url": "postgresql://db.x.rds.amazonaws.com:5432/a", "n": 1})))
    assert nested == {"url": "postgresql://127.0.0.1:25432/a", "n": 1}


def test_secret_refs() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf"
    assert parse_secret_ref(arn).secret_id == arn and parse_secret_ref(arn).json_key == ""
    r = parse_secret_ref(f"{arn}:password:AWSPREVIOUS:")
    assert (r.kind, r.secret_id, r.json_key, r.version_stage, r.version_id) == (
        "asm",
        arn,
        "password",
        "AWSPREVIOUS",
        "",
    )
    r = parse_secret_ref(f"{arn}:::v-1")
    assert r.version_id == "v-1" and r.json_key == ""
    assert parse_secret_ref("arn:aws:ssm:us-east-1:1:parameter/a/b").secret_id == "/a/b"
    assert parse_secret_ref("arn:aws:ssm:us-east-1:1:parameter/flat").secret_id == "flat"
    assert parse_secret_ref("plain-name").kind == "ssm"
    with pytest.raises(ValueError, match="only secretsmanager and ssm"):
        parse_secret_ref("arn:aws:s3:::bucket")
    assert select_json_key('{"a": "x", "n": 5}', "a") == "x"
    assert select_json_key('{"a": "x", "n": 5}', "n") == "5"
    assert select_json_key('{"a": "x"}', "b") is None and select_json_key("not json", "a") is None


def test_config_errors(tmp_path: Path) -> None:
    good = {"endpoint_url": "http://127.0.0.1:1", "cluster": "c", "state_dir": "st"}
    cfg = RunnerConfig.from_dict(good, tmp_path)
    assert cfg.state_dir == (tmp_path / "st").resolve() and cfg.interval == 1.0
    for bad, msg in [
        ({**good, "nope": 1}, "unknown key"),
        ({**good, "cluster": ""}, "cluster is required"),
        ({**good, "endpoint_url": "127.0.0.1:1"}, "http"),
        ({**good, "hosts": {"a": "b"}}, "host:port"),
        ({**good, "fronts": {"svc": "127.0.0.1:1"}}, "service:containerPort"),
        ({**good, "images": {"x": {"entrypoint": "sh"}}}, "list of strings"),
        ({**good, "images": {"x": {"bogus": 1}}}, "unknown key"),
        ({**good, "restart_backoff": [5, 1]}, "restart_backoff"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            RunnerConfig.from_dict(bad, tmp_path)
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        RunnerConfig.load(tmp_path / "c.json")
    (tmp_path / "c.json").write_text(json.dumps({**good, "fronts": {"web:8080": "127.0.0.1:18080"}}))
    assert RunnerConfig.load(tmp_path / "c.json").fronts == {"web:8080": ("127.0.0.1", 18080)}


def test_can_execute_and_resolve_user() -> None:
    import os
    import shutil
    import tempfile

    from devtools.fargate.runner import can_execute, resolve_user

    assert resolve_user("0") == (0, 0) and resolve_user("65534:65534") == (65534, 65534)
    assert resolve_user("root:0") == (0, 0) and resolve_user("no-such-user-here") is None
    assert can_execute(65534, 65534, "/usr/bin/id") == ""
    base = Path(tempfile.mkdtemp(prefix="fg-exec-", dir="/tmp"))  # world-searchable parents
    try:
        os.chmod(base, 0o755)
        closed = base / "closed"
        closed.mkdir(mode=0o700)
        prog = closed / "prog"
        prog.write_text("#!/bin/sh\nexit 0\n")
        prog.chmod(0o755)
        assert can_execute(65534, 65534, str(prog)) == f"{closed} is not searchable by uid 65534"
        os.chmod(closed, 0o755)
        assert can_execute(65534, 65534, str(prog)) == ""
        script = base / "script"  # its #! interpreter must be runnable too
        script.write_text(f"#!{prog}\n")
        script.chmod(0o755)
        assert can_execute(65534, 65534, str(script)) == ""
        prog.chmod(0o700)
        assert can_execute(65534, 65534, str(script)) == f"{prog} is not executable by uid 65534"
        link = base / "link"  # a symlink into a closed dir (a venv whose python links into a home-directory pyenv)
        os.chmod(closed, 0o700)
        link.symlink_to(prog)
        assert can_execute(65534, 65534, str(link)) == f"{closed} is not searchable by uid 65534"
    finally:
        shutil.rmtree(base)
