"""The local stack's configuration: ports and names, persisted in ``<state>/stack.json``.

Everything about how the platform's processes run comes from the IaC (infra/envs/local) through the local Fargate
runner (devtools/fargate); this file only says where the local stand-ins listen. ``make local`` uses fixed default
ports; tests pass ``ports="auto"`` (free loopback ports, chosen once and saved so later ``status``/``down`` calls find
them). See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from devtools.servers import free_port

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_STATE_DIR = REPO / ".local"

# Fixed ports for `make local` only (tests use free ports). Override with LOCAL_<NAME>_PORT.
# postgres/redis: the local RDS and ElastiCache; api/healthcheck/scaler: the runner's fronts (the ALB's and
# Cloud Map's stand-ins) of those ECS services.
DEFAULT_PORTS: dict[str, int] = {
    "postgres": 25432,
    "redis": 26379,
    "moto": 25000,
    "api": 8080,
    "healthcheck": 8000,
    "scaler": 9102,
}


@dataclass
class StackConfig:
    state_dir: Path
    ports: dict[str, int]
    org: str = "acme"
    env: str = "local"
    infra_dir: Path = (
        REPO / "infra"
    )  # tests use a private copy (infractl writes .infra/ and .terraform/ there)
    dag_source: Path = REPO / "dags"
    tf_vars: dict[str, str] = field(default_factory=dict)  # `infra --var NAME=VALUE`: settings of envs/local
    runner_interval: float = 1.0
    migrate_timeout: float = 900.0

    # --- names (the IaC's: <org>-airflow-<env>-<component>) ---------------------------------------------------
    @property
    def name_prefix(self) -> str:
        return f"{self.org}-airflow-{self.env}"

    @property
    def cluster(self) -> str:
        return f"{self.name_prefix}-cluster"

    def service(self, component: str) -> str:
        return f"{self.name_prefix}-{component}"

    @property
    def worker_service(self) -> str:
        return self.service("worker")

    @property
    def dags_bucket(self) -> str:
        return f"{self.org}-airflow-dags"  # infra/bootstrap/dags.tf

    @property
    def dags_prefix(self) -> str:
        return f"{self.env}/"

    # --- layout ---------------------------------------------------------------------------------------------
    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    @property
    def pg_socket_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def runner_dir(self) -> Path:
        return self.state_dir / "fargate"

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['moto']}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def healthcheck_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['healthcheck']}"

    @property
    def scaler_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['scaler']}"

    # --- persistence ----------------------------------------------------------------------------------------
    @property
    def file(self) -> Path:
        return self.state_dir / "stack.json"

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.file)

    @classmethod
    def load(cls, state_dir: Path) -> StackConfig:
        data = json.loads((state_dir / "stack.json").read_text())
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        for key in ("state_dir", "dag_source", "infra_dir"):
            if key in data:
                data[key] = Path(data[key])
        return cls(**data)

    @classmethod
    def load_or_create(cls, state_dir: Path, ports: str = "default", **overrides: object) -> StackConfig:
        """Saved config if there is one (overrides applied on top), else a new one."""
        state_dir = state_dir.resolve()
        unknown = sorted(
            set(overrides) - {f.name for f in fields(cls)} | ({"state_dir", "ports"} & set(overrides))
        )
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; see devtools/localstack/config.py")
        for key in ("dag_source", "infra_dir"):
            if key in overrides:
                overrides[key] = Path(str(overrides[key]))
        if (state_dir / "stack.json").exists():
            cfg = cls.load(state_dir)
            for key, value in overrides.items():
                setattr(cfg, key, value)
        else:
            cfg = cls(state_dir=state_dir, ports=choose_ports(ports), **overrides)  # type: ignore[arg-type]
        cfg.save()
        return cfg


def choose_ports(mode: str) -> dict[str, int]:
    if mode == "auto":
        return {name: free_port() for name in DEFAULT_PORTS}
    if mode != "default":
        raise ValueError(f"ports must be 'default' or 'auto', got {mode!r}")
    ports = dict(DEFAULT_PORTS)
    for name in ports:
        env = f"LOCAL_{name.upper()}_PORT"
        if os.environ.get(env):
            try:
                ports[name] = int(os.environ[env])
            except ValueError:
                raise ValueError(f"{env} must be a port number, got {os.environ[env]!r}") from None
    return ports
