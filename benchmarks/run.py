"""Run benchmarks: ``python benchmarks/run.py [NAME ...]`` (all when no name is given).

Each ``benchmarks/<name>.py`` (not starting with ``_``) exposes ``main()``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem != "run")


def main(argv: list[str]) -> int:
    names = argv or discover()
    if not names:
        print("no benchmarks yet")
        return 0
    sys.path.insert(0, str(HERE))
    failed = []
    for name in names:
        path = HERE / f"{name}.py"
        if not path.exists():
            print(f"unknown benchmark '{name}'; known: {', '.join(discover())}")
            return 2
        spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print(f"== {name}")
        t0 = time.perf_counter()
        try:
            mod.main()
        except Exception as exc:  # noqa: BLE001 - report and continue with the others
            print(f"benchmark {name} failed: {exc!r}")
            failed.append(name)
        print(f"== {name} done in {time.perf_counter() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
