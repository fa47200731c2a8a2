"""A process that used the app's shared workspace connection exits cleanly, even when its
exit meets the linger timer that closes the connection.

Run as: pytest -m e2e tests/e2e/test_exit.py
With the timer as a daemon thread, 7 of 40 such exits aborted (exit 134, "terminate called
... FATAL: exception not rethrown"): the timer closed DuckDB while the interpreter finalized.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.helpers import ROOT

pytestmark = pytest.mark.e2e

SCRIPT = """
import sys, time
from workbench.store import open_workspace, pool
root = sys.argv[1]
with open_workspace(root):
    pass
pool.LINGER_S = 0.5
with pool.shared_workspace(root) as ws:
    ws.scalar("SELECT 1")
time.sleep(float(sys.argv[2]))  # exit about when the timer closes the connection
"""


def test_exits_that_meet_the_linger_timer_all_end_with_status_0(tmp_path):
    codes = []
    for i in range(20):
        delay = 0.497 + 0.0003 * i  # 0.497 .. 0.5027 s around the 0.5 s timer
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "ws"), str(delay)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                              env={"PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
                                   "PATH": "/usr/bin:/bin"})
        codes.append((done.returncode, done.stderr.strip()[-200:]))
    assert [c for c in codes if c[0] != 0] == []
