"""Times the query CLI accepts."""

from __future__ import annotations

import argparse

import pytest

from bridge_cli.main import parse_time


def test_cli_times_accept_iso_epoch_now_and_ages():
    assert parse_time("2026-11-28T10:00:00Z") == 1795860000.0
    assert parse_time("1795860000") == 1795860000.0
    assert parse_time("now", now=100.0) == 100.0
    assert parse_time("90m", now=10_000.0) == 10_000.0 - 5400
    assert parse_time("2d", now=200_000.0) == 200_000.0 - 172_800
    with pytest.raises(argparse.ArgumentTypeError, match="not a time"):
        parse_time("yesterday")
