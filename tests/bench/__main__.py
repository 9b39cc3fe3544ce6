"""`make bench`: every figure against a baseline measured in the same run, printed as one table and written to
``.bench/results.json``. See the README's Benchmarks section for what each baseline is and why."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tests.bench import harness

CHILDREN: dict[str, str] = {
    "pipeline_bare": "tests.bench.pipeline:bare",
    "pipeline_worker": "tests.bench.pipeline:worker",
}


def child(name: str, params: dict[str, Any]) -> dict[str, Any]:
    import importlib

    module, function = CHILDREN[name].split(":")
    result: dict[str, Any] = getattr(importlib.import_module(module), function)(**params)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--params", default="{}")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    harness.quiet()
    if args.child:
        print(json.dumps(child(args.child, json.loads(args.params))))
        return 0
    for size in (500, 2000):
        for _ in range(3):
            print(
                size,
                harness.run_child("pipeline_bare", events=20000, size=size),
                harness.run_child("pipeline_worker", events=20000, size=size),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
