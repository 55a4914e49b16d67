"""The screening benchmark's peak-RSS figure is its own process's, not its parent's."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and ru_maxrss semantics are Linux's")
def test_peak_rss_of_a_child_does_not_inherit_the_parents_high_water_mark():
    # ru_maxrss keeps the pre-exec address space's peak (the parent's at fork): a benchmark started
    # from a 1.2 GB bench process reported 1.3 GB for a screener that peaks near 365 MB.
    ballast = bytearray(400 * 1024 * 1024)  # touched: resident in this (parent) process
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    out = subprocess.run([sys.executable, "-c", "from stockbot.strategies.equity.bench import _rss_mb; print(_rss_mb())"],
                         capture_output=True, text=True, check=True)
    del ballast
    assert float(out.stdout.strip()) < 300
