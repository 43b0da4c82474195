#!/usr/bin/env python3
"""DAG parse gate for CI (dag-sync workflow): load a folder through Airflow's own DagBag.

Run it with the Airflow venv's python (Airflow 3.1.8 pinned by images/airflow/constraints.txt):
    .venv-airflow/bin/python scripts/check_dagbag.py dags [--ids-out FILE]
Exit 0: no import errors and at least one DAG (their ids go to --ids-out, one per line).
Exit 1: import errors (each printed as `file: error`) or no DAG at all. Exit 2: bad usage.
See docs/adr/0010-ci-cd.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="DAG folder to parse, e.g. dags")
    parser.add_argument("--ids-out", help="write the DAG ids here, one per line")
    args = parser.parse_args(argv)

    folder = Path(args.folder)
    if not folder.is_dir():
        print(
            f"error: DAG folder {folder} does not exist; pass the folder that holds the DAG files",
            file=sys.stderr,
        )
        return 2
    # A throwaway AIRFLOW_HOME unless the caller set one: parsing needs no DB and must not touch ~/airflow.
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="dagbag-home-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sys.dont_write_bytecode = True  # keep __pycache__ out of the folder that gets published

    try:
        from airflow.models.dagbag import DagBag
    except ImportError:
        print(
            "error: Airflow is not importable; run this with .venv-airflow/bin/python (make airflow-venv)",
            file=sys.stderr,
        )
        return 2

    bag = DagBag(dag_folder=str(folder), include_examples=False, safe_mode=False)
    if bag.import_errors:
        for path, err in sorted(bag.import_errors.items()):
            first = str(err).strip().splitlines()[-1] if str(err).strip() else "import error"
            print(f"{path}: {first}", file=sys.stderr)
        print(
            f"DagBag: {len(bag.import_errors)} file(s) failed to import; fix them before publishing",
            file=sys.stderr,
        )
        return 1
    if not bag.dags:
        print(f"DagBag: no DAG found in {folder}; nothing to publish", file=sys.stderr)
        return 1
    ids = sorted(bag.dags)
    if args.ids_out:
        Path(args.ids_out).write_text("".join(f"{i}\n" for i in ids))
    print(f"DagBag: {len(ids)} DAG(s) parsed with no import errors: {', '.join(ids)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
