"""The app's shared connection: one per process, a cursor per action, closed when idle."""

import threading
import time

import pytest

from workbench.errors import StageError
from workbench.store import open_workspace, pool


def test_concurrent_actions_share_one_connection_and_it_closes_when_idle(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(pool, "LINGER_S", 0.05)
    with open_workspace(tmp_path / "ws") as ws:
        ws.con.execute("CREATE TABLE t(thread INTEGER PRIMARY KEY)")
    inside = threading.Barrier(4)

    def action(i):
        with pool.shared_workspace(tmp_path / "ws") as ws:
            inside.wait(5)  # all four actions hold a cursor at the same time
            ws.con.execute("INSERT INTO t VALUES (?)", [i])

    threads = [threading.Thread(target=action, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    root = (tmp_path / "ws").resolve()
    assert root in pool._open
    time.sleep(0.3)
    assert root not in pool._open  # idle: the file is free for the CLI again
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.scalar("SELECT count(*) FROM t") == 4


def test_a_folder_without_a_workspace_is_refused(tmp_path):
    with pytest.raises(StageError, match="no workspace here"):
        with pool.shared_workspace(tmp_path):
            pass
