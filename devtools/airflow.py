"""Run Apache Airflow 3.1.8 from the project's Airflow venv (.venv-airflow) as plain processes.

Tests and the local stack share these helpers; settings come from images/airflow/airflow.env, the same file the
images use (so the FAB auth manager too: users come from ``entrypoint.sh migrate`` with AIRFLOW_ADMIN_*/AIRFLOW_CI_*,
see images/airflow/platform_users.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_VENV = Path(os.environ.get("AIRFLOW_VENV", REPO / ".venv-airflow"))
AIRFLOW_ENV_FILE = REPO / "images" / "airflow" / "airflow.env"


PLATFORM_LIB = REPO / "images" / "airflow"  # what the image copies to /opt/airflow/lib (on its PYTHONPATH)


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
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "False",
            "PATH": f"{AIRFLOW_VENV / 'bin'}:{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(PLATFORM_LIB),  # the image's /opt/airflow/lib: the executor, local settings
        }
    )
    env.update(extra or {})
    home.mkdir(parents=True, exist_ok=True)
    Path(env["AIRFLOW__CORE__DAGS_FOLDER"]).mkdir(parents=True, exist_ok=True)
    return env


def db_migrate(env: dict[str, str], timeout: float = 300) -> None:
    """``airflow db migrate``: the real Airflow 3.1.8 metadata schema."""
    out = subprocess.run(
        [airflow_bin(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed ({out.returncode}): {out.stderr[-2000:]}")


# --- the image entrypoint, run here as a plain process (see docs/adr/0008-local-stack-and-config.md) -------------
ENTRYPOINT = REPO / "images" / "airflow" / "entrypoint.sh"


def entrypoint_cmd(*args: str) -> list[str]:
    return ["bash", str(ENTRYPOINT), *args]


def entrypoint_env(
    home: Path,
    *,
    db_host: str = "127.0.0.1",
    db_port: int,
    db_user: str = "postgres",
    db_password: str = "",
    db_name: str = "airflow",
    redis_host: str = "127.0.0.1",
    redis_port: int,
    api_port: int,
    jwt_secret: str,
    dags_folder: Path | None = None,
    plugins_folder: Path | None = None,
    log_bucket: str | None = None,
    aws_endpoint: str | None = None,
    extra: dict[str, str] | None = None,
    create_folders: bool = True,
) -> dict[str, str]:
    """Environment for ``images/airflow/entrypoint.sh``: the inputs an ECS task definition would give it.

    The entrypoint derives every Airflow setting from these plus images/airflow/airflow.env, exactly as in the image.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and not k.startswith("AWS_")}
    env.update(
        {
            "PATH": f"{AIRFLOW_VENV / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "AIRFLOW_PYTHON": str(AIRFLOW_VENV / "bin" / "python"),
            "AIRFLOW_ENV_FILE": str(AIRFLOW_ENV_FILE),
            "AIRFLOW_PLATFORM_LIB": str(PLATFORM_LIB),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_DB_HOST": db_host,
            "AIRFLOW_DB_PORT": str(db_port),
            "AIRFLOW_DB_USER": db_user,
            "AIRFLOW_DB_PASSWORD": db_password,
            "AIRFLOW_DB_NAME": db_name,
            "AIRFLOW_REDIS_HOST": redis_host,
            "AIRFLOW_REDIS_PORT": str(redis_port),
            "AIRFLOW_API_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW_API_HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW_JWT_SECRET": jwt_secret,
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or home / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder or home / "plugins"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if log_bucket:
        env["AIRFLOW_LOG_BUCKET"] = log_bucket
    else:
        env["AIRFLOW__LOGGING__REMOTE_LOGGING"] = "False"
    if aws_endpoint:
        env.update(
            {
                "AWS_ENDPOINT_URL": aws_endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
    env.update(extra or {})
    home.mkdir(parents=True, exist_ok=True)
    if create_folders:  # the local stack leaves them to the dagsync sidecars (DIR may be a symlink)
        for folder in (env["AIRFLOW__CORE__DAGS_FOLDER"], env["AIRFLOW__CORE__PLUGINS_FOLDER"]):
            Path(folder).mkdir(parents=True, exist_ok=True)
    return env
