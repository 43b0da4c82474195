"""A small Airflow REST API client for the local stack (e2e tests, benchmarks): JWT login, DAGs, runs, TIs."""

from __future__ import annotations

import time
from typing import Any

import httpx


class AirflowClient:
    def __init__(self, base_url: str, username: str = "admin", password: str = "admin") -> None:  # noqa: S107
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=30)
        self.username, self.password = username, password
        self.token: str | None = None

    def login(self) -> None:
        resp = self.http.post("/auth/token", json={"username": self.username, "password": self.password})
        resp.raise_for_status()
        self.token = resp.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method: str, path: str, **kw: Any) -> Any:
        if self.token is None:
            self.login()
        resp = self.http.request(method, path, **kw)
        if resp.status_code == 401:  # token expired
            self.login()
            resp = self.http.request(method, path, **kw)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def dag_ids(self) -> set[str]:
        data = self.request("GET", "/api/v2/dags", params={"limit": 1000})
        return {d["dag_id"] for d in data["dags"]}

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None
    ) -> str:
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        return str(self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        data = self.request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100}
        )
        return list(data["task_instances"])

    def wait_run(
        self, dag_id: str, run_id: str, timeout: float, states: tuple[str, ...] = ("success", "failed")
    ) -> str:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in states:
                return state
            time.sleep(1)
        raise TimeoutError(f"{dag_id}/{run_id} still {state!r} after {timeout:.0f}s")

    def close(self) -> None:
        self.http.close()
