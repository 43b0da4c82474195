"""Run Apache Airflow 3.1.8 from the project's Airflow venv (.venv-airflow) as plain processes.

Tests and the local stack share these helpers; settings come from images/airflow/airflow.env, the same file the
images use.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_VENV = Path(os.environ.get("AIRFLOW_VENV", REPO / ".venv-airflow"))
AIRFLOW_ENV_FILE = REPO / "images" / "airflow" / "airflow.env"


def airflow_bin(tool: str = "airflow") -> str:
    path = AIRFLOW_VENV / "bin" / tool
    if not path.exists():
        raise RuntimeError(f"{path} not found: run `make airflow-venv` first")
    return str(path)


def read_env_file(path: Path = AIRFLOW_ENV_FILE) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def airflow_env(
    home: Path,
    db_url: str,
    *,
    broker_url: str = "redis://127.0.0.1:6379/0",
    api_port: int = 8080,
    dags_folder: Path | None = None,
    jwt_secret: str = "local-dev-jwt-secret-change-me",  # noqa: S107 - local stand-in only
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment for any Airflow process: the shared env file plus this deployment's values."""
    sa_url = db_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    api = f"http://127.0.0.1:{api_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(read_env_file())
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sa_url,
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sa_url,
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or home / "dags"),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
            "AIRFLOW__API__SECRET_KEY": jwt_secret,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "False",
            "PATH": f"{AIRFLOW_VENV / 'bin'}:{os.environ.get('PATH', '')}",
        }
    )
    env.update(extra or {})
    home.mkdir(parents=True, exist_ok=True)
    Path(env["AIRFLOW__CORE__DAGS_FOLDER"]).mkdir(parents=True, exist_ok=True)
    # Fixed admin password for local use, written before the first start (otherwise Airflow generates one).
    pw_file = home / "simple_auth_manager_passwords.json.generated"
    if not pw_file.exists():
        pw_file.write_text('{"admin": "admin"}')
    return env


def db_migrate(env: dict[str, str], timeout: float = 300) -> None:
    """``airflow db migrate``: the real Airflow 3.1.8 metadata schema."""
    out = subprocess.run(
        [airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed ({out.returncode}): {out.stderr[-2000:]}")
