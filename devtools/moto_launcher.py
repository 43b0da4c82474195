"""Start the moto server with the project's patches for calls stock moto lacks (devtools/moto_patches/)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

from devtools import moto_patches


def apply_patches() -> list[str]:
    applied = []
    for mod in sorted(pkgutil.iter_modules(moto_patches.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{moto_patches.__name__}.{mod.name}")
        module.apply()
        applied.append(mod.name)
    return applied


def main() -> None:
    applied = apply_patches()
    print(f"moto patches applied: {', '.join(applied) or 'none'}", flush=True)
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
