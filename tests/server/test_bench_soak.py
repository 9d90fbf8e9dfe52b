"""The soak mode's measurements in bench/server_load.py: process tree, RSS, CPU and the slope."""

import os
import subprocess
import sys
import time

import pytest

from bench.server_load import _cpu_seconds, _rss_mb, _tree, slope_mb_per_min


def test_slope_is_megabytes_per_minute_by_least_squares():
    assert slope_mb_per_min([(t, 100 + t / 10) for t in range(0, 130, 10)]) == pytest.approx(6.0)
    assert slope_mb_per_min([(0, 50.0), (10, 52.0), (20, 50.0), (30, 52.0)]) == pytest.approx(2.4)
    assert slope_mb_per_min([(0, 80.0)]) == 0.0


def test_tree_rss_and_cpu_cover_child_processes():
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(64 << 20); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while _rss_mb([child.pid]) < 60 and time.monotonic() < deadline:  # bounded: until it holds its 64 MB
            time.sleep(0.05)
        pids = _tree(os.getpid())
        assert child.pid in pids and pids[0] == os.getpid()
        assert _rss_mb([child.pid]) >= 60
        assert _rss_mb(pids) >= _rss_mb([child.pid]) + _rss_mb([os.getpid()]) - 1
        assert _cpu_seconds([os.getpid()]) > 0
        assert _rss_mb([2 ** 22 + 12345]) == 0 and _cpu_seconds([2 ** 22 + 12345]) == 0  # gone: ignored
    finally:
        child.kill()
        child.wait()
