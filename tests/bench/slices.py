"""A variant and its baseline measured in slices, taking turns, each in its own process.

On a shared machine the pace moves by a tenth or more from one five-second run to the next, in either direction,
so two variants run one after the other compare the machine's moments as much as the code (the same raw put, run
six times in a row, spread over ±10%). Here both processes start, warm up and wait; then each is told to do one
slice of its work (half a second or so) and report its CPU and wall time, in turn: A B B A A B B A ..., so drift in
the machine's pace touches both sides alike. A round's figure is the sum of its slices.

The child reads ``go`` or ``end`` on stdin and answers each slice with one ``slice {json}`` line on stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import IO, Any

READY, SLICE = "ready", "slice "


class Commands:
    """The child's side: wait for the word before each slice, then report the slice's figures."""

    def __init__(self, count: int | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> None:
        self._left = count  # None: slices as the parent says; n: n slices at once (a single run)
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._told_ready = False
        self.results: list[dict[str, float]] = []

    def next(self) -> bool:
        """Blocks until the next slice may start; False when there is none."""
        if self._left is not None:
            self._left -= 1
            return self._left >= 0
        if not self._told_ready:
            self._told_ready = True
            self._say(READY)
        return self._stdin.readline().strip() == "go"

    def report(self, figures: dict[str, float]) -> None:
        self.results.append(figures)
        if self._left is None:
            self._say(SLICE + json.dumps(figures))

    def _say(self, line: str) -> None:
        self._stdout.write(line + "\n")
        self._stdout.flush()


class Child:
    """The parent's side of one sliced child process."""

    def __init__(self, name: str, params: dict[str, Any], stack: ExitStack) -> None:
        self.name = name
        self._errors = stack.enter_context(tempfile.TemporaryFile("w+"))  # noqa: SIM115 (the stack closes it)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench", "--child", name, "--params", json.dumps(params), "--sliced"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
        )
        stack.callback(self._end)

    def ready(self) -> None:
        self._read(READY)

    def slice(self) -> dict[str, float]:
        assert self._process.stdin is not None
        self._process.stdin.write("go\n")
        self._process.stdin.flush()
        figures: dict[str, float] = json.loads(self._read(SLICE)[len(SLICE) :])
        return figures

    def _read(self, prefix: str) -> str:
        assert self._process.stdout is not None
        while line := self._process.stdout.readline():
            if line.startswith(prefix):
                return line.strip()
        self._errors.seek(0)
        raise RuntimeError(f"bench child {self.name} ended before '{prefix.strip()}':\n{self._errors.read()[-3000:]}")

    def _end(self) -> None:
        try:
            if self._process.poll() is None and self._process.stdin is not None:
                self._process.stdin.write("end\n")
                self._process.stdin.close()
            self._process.wait(60)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()


def slice_figures(events: int, cpu: float, wall: float) -> dict[str, float]:
    """What a slice reports: its events, and the CPU and wall seconds they took."""
    return {"events": events, "cpu_s": cpu, "wall_s": wall}


def turns(slices: int) -> list[int]:
    """Which of two variants goes in each turn: 0 1 1 0 0 1 1 0 ..., so a drift in pace that is steady over a
    round weighs on both alike (each pair of turns starts with the side that went second before)."""
    order: list[int] = []
    for pair in range(slices):
        order += [0, 1] if pair % 2 == 0 else [1, 0]
    return order


def totals(results: Sequence[dict[str, float]]) -> dict[str, float]:
    """A round's figures from its slices: the events, the CPU and wall time summed (the per-event figures are
    taken from the sums, not averaged over slices)."""
    keys = results[0].keys()
    return {key: sum(result[key] for result in results) for key in keys}


@contextmanager
def started(*children: tuple[str, dict[str, Any]]) -> Iterator[list[Child]]:
    """The children started and warmed up, each waiting for its first slice (the warm-ups overlap; no slice is
    measured until every child is ready)."""
    with ExitStack() as stack:
        running = [Child(name, params, stack) for name, params in children]
        for child in running:
            child.ready()
        yield running


def interleaved(
    a: tuple[str, dict[str, Any]], b: tuple[str, dict[str, Any]], slices: int
) -> tuple[dict[str, float], ...]:
    """One round: ``slices`` slices of each variant, taking turns; each variant's summed figures."""
    with started(a, b) as children:
        results: list[list[dict[str, float]]] = [[], []]
        for which in turns(slices):
            results[which].append(children[which].slice())
    return totals(results[0]), totals(results[1])
