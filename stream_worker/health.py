"""Container health check: ``python -m stream_worker.health``. Healthy = fresh state, every shard live, writes ok."""

from __future__ import annotations

import json
import os
import sys
import time


def check(path: str, max_age: float, now: float | None = None) -> tuple[bool, str]:
    try:
        with open(path) as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return False, f"no readable health state at {path}"
    age = (now or time.time()) - float(state.get("ts", 0))
    if age > max_age:
        return False, f"health state is {age:.0f} s old"
    dead = sorted(shard for shard, live in state.get("live", {}).items() if live < 1)
    if dead or not state.get("live"):
        return False, f"shards without a live socket: {', '.join(dead) or 'all'}"
    if not state.get("writes_ok", False):
        return False, "event writes are failing"
    return True, "healthy"


def main() -> int:
    path = os.environ.get("HEALTH_FILE", "/tmp/stream-worker-health.json")  # noqa: S108 - container scratch
    ok, why = check(path, float(os.environ.get("HEALTH_MAX_AGE", "30")))
    print(why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
