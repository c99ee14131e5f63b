"""The psutil sampler: it counts the experiment's process tree, finds new processes within a few
samples (it does not scan every process on the machine each time), and forgets dead ones."""

from __future__ import annotations

import os
import subprocess
import sys

from concviz.engine.sampler import RESCAN_EVERY, Sampler

SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


def test_sampler_counts_the_tree_and_follows_it():
    root = subprocess.Popen(SLEEPER)
    children: list[subprocess.Popen] = []
    try:
        # this test process stands in for the experiment, its children for the workers
        sampler = Sampler(root_pid=os.getpid())
        first = sampler.sample()
        assert first.processes >= 2  # this process and the sleeper
        assert first.rss_bytes > 0 and first.threads >= 2
        assert len(first.per_cpu) >= 1

        children = [subprocess.Popen(SLEEPER) for _ in range(2)]
        seen = [sampler.sample().processes for _ in range(RESCAN_EVERY)]
        assert max(seen) == first.processes + 2, seen  # found within RESCAN_EVERY samples

        for c in children:
            c.kill()
            c.wait()
        after = sampler.sample().processes  # dead ones are skipped at once, before a rescan
        assert after == first.processes, (after, first.processes)
    finally:
        for p in [root, *children]:
            p.kill()
            p.wait()
