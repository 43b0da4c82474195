"""Airflow's local-settings hook in the platform image (/opt/airflow/lib is on PYTHONPATH).

Airflow imports it in every process before it builds its engines (airflow.settings.initialize). It only installs
the metadata-DB password refresh of platform_db_auth.py; see docs/adr/0014-db-secret-rotation.md.
"""

from __future__ import annotations

import platform_db_auth

# Airflow copies every public name of this module into airflow.settings: export none.
__all__: list[str] = []

platform_db_auth.install()
