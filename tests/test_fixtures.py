"""The fixtures really start the servers, and stopping by PID really stops them."""

from __future__ import annotations

import socket
import subprocess

import boto3
import redis

from devtools.servers import start_postgres, start_redis


def test_moto_speaks_s3_over_http(aws_env: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env)
    s3.create_bucket(Bucket="fixture-check")
    s3.put_object(Bucket="fixture-check", Key="k", Body=b"v")
    assert s3.get_object(Bucket="fixture-check", Key="k")["Body"].read() == b"v"


def test_redis_roundtrip(redis_server) -> None:
    r = redis.Redis.from_url(redis_server.url)
    r.rpush("default", "m1")
    assert r.llen("default") == 1
    r.delete("default")


def test_postgres_answers_select_1(postgres_server) -> None:
    out = subprocess.run(
        ["psql", postgres_server.url, "-Atc", "SELECT 1"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1"


def test_stop_by_pid_frees_the_port(tmp_path) -> None:
    server = start_redis(tmp_path)
    assert server.alive()
    server.stop()
    assert not server.alive()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", server.port)) != 0


def test_postgres_in_a_nested_root_only_dir(tmp_path) -> None:
    """pytest's tmp dirs are root-only (0700); the cluster still starts there, run as its own user and group."""
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    server = start_postgres(nested)
    try:
        out = subprocess.run(
            ["psql", server.url, "-Atc", "SELECT 1"], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "1"
    finally:
        server.stop()
    assert not server.alive()
