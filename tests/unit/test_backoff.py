import random

from genesys.backoff import Backoff
from genesys.errors import RateLimitedError


def test_delays_stay_under_an_exponential_ceiling_and_the_cap():
    backoff = Backoff(base=1, cap=5, rng=random.Random(1), clock=lambda: 0.0)
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [1, 2, 4, 5, 5, 5, 5, 5]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered


def test_retry_after_is_a_floor():
    backoff = Backoff(base=0.1, cap=1, clock=lambda: 0.0)
    assert backoff.next_delay(RateLimitedError("429", retry_after=12)) >= 12


def test_the_attempt_count_resets_after_a_quiet_period():
    now = [0.0]
    backoff = Backoff(base=1, cap=100, reset_after=60, clock=lambda: now[0])
    for _ in range(5):
        backoff.next_delay()
    assert backoff.attempts == 5
    now[0] = 61.0
    backoff.next_delay()
    assert backoff.attempts == 1
