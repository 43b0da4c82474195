"""The runner's config file (JSON). Example::

    {
      "endpoint_url": "http://127.0.0.1:25000",          # the emulator (moto server)
      "region": "us-east-1",
      "cluster": "acme-airflow-local-cluster",
      "state_dir": ".local/fargate",                      # relative to the config file's directory
      "interval": 1.0,                                    # poll interval, seconds
      "hosts": {"db.abc.us-east-1.rds.amazonaws.com:5432": "127.0.0.1:25432"},
      "fronts": {"acme-airflow-local-api-server:8080": "127.0.0.1:8080"},
      "images": {"local/sh": {"entrypoint": ["/bin/sh", "-c"], "cmd": ["sleep 3600"]}},
      "started_by": "local-fargate",
      "restart_backoff": [2, 60],                         # launch throttling: base and cap, seconds
      "max_stop_timeout": 120,                            # Fargate's upper limit for stopTimeout
      "trust_bundle": ".local/tls/bundle.crt"             # CA bundle for SSL_CERT_FILE (the stand-ins' CA)
    }

See devtools/fargate/translate.py for ``hosts``, ``fronts`` and ``images``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.fargate.translate import ImageSpec, image_from_config

KNOWN = {
    "endpoint_url",
    "region",
    "cluster",
    "state_dir",
    "interval",
    "hosts",
    "fronts",
    "images",
    "started_by",
    "restart_backoff",
    "max_stop_timeout",
    "trust_bundle",
}


class ConfigError(ValueError):
    """One line: what is wrong with the config file and how to fix it."""


@dataclass(frozen=True)
class RunnerConfig:
    endpoint_url: str
    cluster: str
    state_dir: Path
    region: str = "us-east-1"
    interval: float = 1.0
    hosts: dict[str, str] = field(default_factory=dict)
    fronts: dict[str, tuple[str, int]] = field(default_factory=dict)  # "service:port" -> (host, port)
    images: dict[str, ImageSpec] = field(default_factory=dict)
    started_by: str = "local-fargate"
    backoff_base: float = 2.0
    backoff_cap: float = 60.0
    max_stop_timeout: float = 120.0
    trust_bundle: Path | None = (
        None  # SSL_CERT_FILE of every container: the system CAs + the local stand-ins' CA
    )

    @classmethod
    def from_dict(cls, data: Any, base: Path = Path()) -> RunnerConfig:
        if not isinstance(data, dict):
            raise ConfigError("the config must be a JSON object")
        unknown = sorted(set(data) - KNOWN)
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}")
        for key in ("endpoint_url", "cluster", "state_dir"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ConfigError(f"{key} is required (a non-empty string)")
        if not data["endpoint_url"].startswith(("http://", "https://")):
            raise ConfigError(f"endpoint_url must be an http(s) URL, got {data['endpoint_url']!r}")
        hosts = data.get("hosts", {})
        if not isinstance(hosts, dict) or not all(isinstance(v, str) for v in hosts.values()):
            raise ConfigError('hosts must be an object {"aws-host:port": "local-host:port"}')
        for aws, local in hosts.items():
            if "://" in aws:
                if "://" not in local:
                    raise ConfigError(f"hosts[{aws!r}]: a URL origin maps to a URL origin, got {local!r}")
            elif not _host_port(aws) or not _host_port(local):
                raise ConfigError(f"hosts: {aws!r} -> {local!r} must both be host:port")
        fronts_in = data.get("fronts", {})
        if not isinstance(fronts_in, dict):
            raise ConfigError('fronts must be an object {"service:containerPort": "host:port"}')
        fronts: dict[str, tuple[str, int]] = {}
        for key, listen in fronts_in.items():
            hp = _host_port(str(listen))
            svc, _, port = str(key).rpartition(":")
            if not svc or not port.isdigit() or hp is None:
                raise ConfigError(
                    f"fronts: {key!r} -> {listen!r} must be 'service:containerPort' -> 'host:port'"
                )
            fronts[key] = hp
        images_in = data.get("images", {})
        if not isinstance(images_in, dict):
            raise ConfigError("images must be an object {repository: {entrypoint, cmd, env, ...}}")
        try:
            images = {str(k): image_from_config(str(k), v) for k, v in images_in.items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(str(exc)) from None
        backoff = data.get("restart_backoff", [2, 60])
        try:
            b_base, cap = float(backoff[0]), float(backoff[1])
            interval = float(data.get("interval", 1.0))
            max_stop = float(data.get("max_stop_timeout", 120))
        except (TypeError, ValueError, IndexError, KeyError):
            raise ConfigError(
                "interval, max_stop_timeout must be numbers; restart_backoff [base, cap]"
            ) from None
        if interval <= 0 or b_base < 0 or cap < b_base:
            raise ConfigError("interval must be > 0 and restart_backoff 0 <= base <= cap")
        bundle = data.get("trust_bundle")
        if bundle is not None and (not isinstance(bundle, str) or not bundle):
            raise ConfigError("trust_bundle must be a path (a PEM CA bundle) or absent")
        state = Path(data["state_dir"])
        return cls(
            endpoint_url=data["endpoint_url"].rstrip("/"),
            cluster=data["cluster"],
            state_dir=(state if state.is_absolute() else base / state).resolve(),
            region=str(data.get("region", "us-east-1")),
            interval=interval,
            hosts=dict(hosts),
            fronts=fronts,
            images=images,
            started_by=str(data.get("started_by", "local-fargate")),
            backoff_base=b_base,
            backoff_cap=cap,
            max_stop_timeout=max_stop,
            trust_bundle=(base / bundle).resolve() if bundle else None,
        )

    @classmethod
    def load(cls, path: Path) -> RunnerConfig:
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not JSON: {exc}") from None
        return cls.from_dict(data, path.resolve().parent)


def _host_port(value: str) -> tuple[str, int] | None:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)
