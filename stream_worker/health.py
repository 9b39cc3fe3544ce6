"""The health state, written by the worker and read by the container health check, in one place.

Healthy means the process, its event loop and its writer are alive: the loop rewrites the state every second, so a
stale file is a stuck loop or a dead process, and a writer that stopped dispatching never comes back (the process
exits non-zero too, so ECS replaces it). Sockets and DynamoDB writes are reported in the state for people to read, but
they never make the task unhealthy: a restart cures neither a Genesys outage nor a DynamoDB one, and killing the
task would drop the events it holds. They have their own metrics and alarms.

``python -m stream_worker.health`` exits 0 when healthy, 1 otherwise, and prints why.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field

DEFAULT_FILE = "/tmp/stream-worker-health.json"  # noqa: S108 - the container's own scratch space
DEFAULT_MAX_AGE = 30.0
WRITE_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class HealthState:
    ts: float
    live: dict[str, int] = field(default_factory=dict)  # live sockets per shard, for people
    writes_failing_for: float = 0.0  # seconds, for people
    waiting_for_token: list[str] = field(default_factory=list)  # orgs whose token secret holds no usable token
    writer_stopped: bool = False  # the writer's dispatcher ended: nothing is stored any more

    def write(self, path: str) -> None:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as handle:
            json.dump(asdict(self), handle)
        os.replace(tmp, path)  # atomic: the checker never reads half a file

    @classmethod
    def read(cls, path: str) -> HealthState:
        with open(path) as handle:
            data = json.load(handle)
        return cls(
            ts=float(data["ts"]),
            live={str(k): int(v) for k, v in dict(data.get("live", {})).items()},
            writes_failing_for=float(data.get("writes_failing_for", 0.0)),
            waiting_for_token=[str(o) for o in data.get("waiting_for_token", [])],
            writer_stopped=bool(data.get("writer_stopped", False)),
        )


def check(path: str, max_age: float = DEFAULT_MAX_AGE, now: float | None = None) -> tuple[bool, str]:
    try:
        state = HealthState.read(path)
    except (OSError, ValueError, KeyError, TypeError):
        return False, f"no readable health state at {path}"
    age = (time.time() if now is None else now) - state.ts
    if age > max_age:
        return False, f"health state is {age:.0f} s old: the event loop is stuck or the process is gone"
    if state.writer_stopped:
        return False, "the event writer stopped: nothing is being stored"
    notes = [f"live sockets {sum(state.live.values())}"]
    if state.writes_failing_for:
        notes.append(f"writes failing for {state.writes_failing_for:.0f} s (alarmed, not a health failure)")
    if state.waiting_for_token:
        notes.append(f"waiting for a token: {', '.join(state.waiting_for_token)}")
    return True, "healthy: " + "; ".join(notes)


def main() -> int:
    ok, why = check(
        os.environ.get("HEALTH_FILE", DEFAULT_FILE), float(os.environ.get("HEALTH_MAX_AGE", DEFAULT_MAX_AGE))
    )
    print(why)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
