"""The app's shared connection: one per process, a cursor per action, closed when idle."""

import threading
import time

import pytest

from common.errors import StageError
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


def test_two_script_runs_creating_the_same_version_at_once_both_get_it(tmp_path):
    """Streamlit starts a rerun before the run it replaces has stopped, so two runs of the
    Privacy page can version the same rows at once; both must get the one version (the
    second used to die on DuckDB's duplicate-key conflict, a crash in the browser)."""
    from curation.formats import Example
    from tests.prepared import conv
    from workbench.store.versions import create_version, edit_message

    with open_workspace(tmp_path / "ws") as ws:
        ws.add_dataset("d.jsonl", "d.jsonl", "openai",
                       [Example(i + 1, conv(f"Q{i}?", f"A{i}."), {}) for i in range(30)], [])
    for attempt in range(8):  # a new content (so a new version id) each round
        with pool.shared_workspace(tmp_path / "ws") as ws:
            edit_message(ws, 1, 1, 1, f"Answer, take {attempt}.", "ana", "test")
        both = threading.Barrier(2)
        results, errors = [], []

        def run(both=both, results=results, errors=errors):
            try:
                with pool.shared_workspace(tmp_path / "ws") as ws:
                    both.wait(5)
                    results.append(create_version(ws, 1, "privacy review"))
            except Exception as exc:  # noqa: BLE001 - the assertion below names it
                errors.append(repr(exc))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len({r["id"] for r in results}) == 1
        assert sorted(r["created"] for r in results) == [False, True]
        with pool.shared_workspace(tmp_path / "ws") as ws:
            assert ws.scalar("SELECT count(*) FROM version_rows WHERE version_id = ?",
                             [results[0]["id"]]) == 30


def test_the_linger_timer_is_not_a_daemon_so_exit_waits_for_the_close(tmp_path, monkeypatch):
    """A daemon timer closing DuckDB while the interpreter finalized aborted the process
    (exit 134, "FATAL: exception not rethrown") in 7 of 40 exits timed to meet it."""
    monkeypatch.setattr(pool, "LINGER_S", 0.05)
    with open_workspace(tmp_path / "ws"):
        pass
    with pool.shared_workspace(tmp_path / "ws"):
        pass
    timer = pool._open[(tmp_path / "ws").resolve()]["timer"]
    assert timer.daemon is False
    timer.join(5)
    assert (tmp_path / "ws").resolve() not in pool._open
