"""Import a module of the Airflow image's /opt/airflow/lib (images/airflow) from its file, for the tests that run its
pure parts in the test venv (no Airflow needed)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from devtools.airflow import PLATFORM_LIB


def load_platform_module(filename: str, name: str) -> ModuleType:
    """``images/airflow/<filename>`` as module ``name`` (registered in sys.modules: dataclasses resolve annotations
    through it)."""
    spec = importlib.util.spec_from_file_location(name, PLATFORM_LIB / filename)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
