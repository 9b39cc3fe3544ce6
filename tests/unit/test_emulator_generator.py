"""The emulator's event generator: its rate, and the pause that lets a run stop publishing while what it
published is still delivered."""

from __future__ import annotations

from emulator.config import EmulatorConfig
from emulator.faults import apply_fault
from emulator.state import GenesysState

TOPIC = "v2.users.alice.presence"


def test_paused_events_stop_the_generator_for_the_seconds_given_and_no_credit_piles_up():
    """Given a generator at 10 events/s on a subscribed topic, when events are paused for 5 s, then nothing is
    published in those 5 s, and after them the generator goes on at its rate without a burst for the pause."""
    now = [1_000.0]
    state = GenesysState(EmulatorConfig(event_rate=10, seed=1), clock=lambda: now[0])
    state.interest[TOPIC] = None

    def run(ticks: int) -> int:
        before = len(state.events)
        for _ in range(ticks):
            now[0] += 0.1
            state.tick(0.1)
        return len(state.events) - before

    assert run(20) == 20
    assert apply_fault(state, {"type": "pause_events", "seconds": 5}) == {"type": "pause_events", "affected": 1}
    assert run(49) == 0  # its last tick lands on the pause's end
    assert run(21) in (20, 21, 22)  # the rate again (a tick's rounding either side), not the 50 the pause held back
