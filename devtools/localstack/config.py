"""The local stack's configuration: ports, intervals and names, persisted in ``<state>/stack.json``.

``make local`` uses fixed default ports; tests pass ``ports="auto"`` (free loopback ports, chosen once and saved
so later ``status``/``down`` calls find them). See docs/adr/0008-local-stack-and-config.md.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from devtools.servers import free_port

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT_STATE_DIR = REPO / ".local"

# Fixed ports for `make local` only (tests use free ports). Override with LOCAL_<NAME>_PORT.
DEFAULT_PORTS: dict[str, int] = {
    "postgres": 25432,
    "redis": 26379,
    "moto": 25000,
    "api": 8080,
    "healthcheck": 8000,
    "scaler": 9102,
    "dagsync_dags": 9101,
    "dagsync_plugins": 9103,
    "scheduler_health": 8974,
    "triggerer_log": 8794,
}


@dataclass
class StackConfig:
    state_dir: Path
    ports: dict[str, int]
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    bucket: str = "airflow-local"
    dags_prefix: str = "dags/"
    plugins_prefix: str = "plugins/"
    cluster: str = "airflow-local"
    worker_service: str = "airflow-worker"
    worker_family: str = "airflow-worker"
    worker_concurrency: int = 4
    min_workers: int = 0
    max_workers: int = 2
    scaler_interval: float = 5.0
    scaler_cooldown: float = 60.0
    scaler_schedule: str = ""  # empty = always active (scaler/schedule.py syntax)
    scaler_active_min: int = 0  # min workers inside the schedule's active hours
    dagsync_interval: float = 5.0
    reconcile_interval: float = 1.0
    worker_stop_timeout: float = 120.0  # Fargate's maximum stopTimeout: SIGKILL after this
    dag_source: Path = REPO / "dags"
    plugins_source: Path | None = None
    airflow_extra_env: dict[str, str] = field(default_factory=dict)

    # --- layout ---------------------------------------------------------------------------------------------
    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def dags_dir(self) -> Path:
        return self.state_dir / "airflow" / "dags"

    @property
    def plugins_dir(self) -> Path:
        return self.state_dir / "airflow" / "plugins"

    def dagsync_state(self, dest: Path) -> Path:
        return dest.parent / f".dagsync-{dest.name}"  # the dagsync contract's default

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['moto']}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def db_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports['postgres']}/airflow"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports['redis']}/0"

    # --- persistence ----------------------------------------------------------------------------------------
    @property
    def file(self) -> Path:
        return self.state_dir / "stack.json"

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in data.items()}
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.chmod(tmp, 0o600)  # holds the local JWT secret
        tmp.replace(self.file)

    @classmethod
    def load(cls, state_dir: Path) -> StackConfig:
        data = json.loads((state_dir / "stack.json").read_text())
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        for key in ("state_dir", "dag_source"):
            data[key] = Path(data[key])
        if data.get("plugins_source"):
            data["plugins_source"] = Path(data["plugins_source"])
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
