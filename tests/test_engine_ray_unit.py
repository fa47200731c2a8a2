"""The Ray engine's driver-side pieces, without Ray: the policy order from precomputed keys,
exact clusters from keys, the Parquet shards and the one-line worker error."""

from __future__ import annotations

import pytest

from tests.planted import planted_rows


def test_order_by_keys_is_policy_order():
    from curation.dedup.primitives import order_by_keys, policy_keys, policy_order

    conversations = [r["messages"] for r in planted_rows(120)]
    findings = [i % 3 for i in range(120)]
    lengths, keys = zip(*map(policy_keys, conversations))
    for policy in ("longest", "first", "fewest_findings"):
        assert order_by_keys(list(lengths), list(keys), policy, findings) == \
            policy_order(conversations, policy, findings)


def test_exact_key_clusters_point_at_the_first_equal_key():
    from curation.dedup.exact import exact_key_clusters, exact_text_clusters, text_key
    from curation.dedup.primitives import Cluster

    assert exact_key_clusters(["a", "b", "a", "b", "c"]) == [
        Cluster(0, 0, 1.0), Cluster(1, 1, 1.0), Cluster(2, 0, 1.0), Cluster(3, 1, 1.0),
        Cluster(4, 4, 1.0)]
    texts = ["Hello  World", "hello world", "other"]
    assert exact_key_clusters([text_key(t) for t in texts]) == exact_text_clusters(texts)


def test_shards_hold_every_row_in_order(tmp_path):
    import pyarrow.parquet as pq

    from curation.engine_ray import write_shards

    records = [{"idx": i, "data": f"row {i}"} for i in range(7)]
    paths = write_shards(records, tmp_path / "shards", 3)
    assert [p.name for p in paths] == ["part-00000.parquet", "part-00001.parquet",
                                       "part-00002.parquet"]
    assert [r for p in paths for r in pq.read_table(p).to_pylist()] == records


def test_a_worker_error_is_the_workers_own_last_line():
    from curation.engine_ray import _worker_error

    inner = RuntimeError("wrapped")
    outer = RuntimeError("The actor died because of an error raised in its creation task\n"
                         "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                         "common.errors.WorkbenchError: spaCy model 'xx' is not installed")
    outer.__cause__ = inner
    assert str(_worker_error("pii", outer)) == (
        "pii failed on a Ray worker: common.errors.WorkbenchError: spaCy model 'xx' is not "
        "installed")
    assert str(_worker_error("near dedup", ValueError("bad row"))) == \
        "near dedup failed on a Ray worker: ValueError: bad row"


def test_an_unknown_engine_is_refused():
    from common.errors import StageError
    from curation.engine_ray import check_engine

    assert check_engine("ray") == "ray"
    with pytest.raises(StageError, match="--engine must be one of local, ray, not 'spark'"):
        check_engine("spark")


def test_a_ray_data_batch_error_is_the_steps_error_not_rays_wrapper():
    from curation.engine_ray import _worker_error

    # the text of the RayTaskError a Ray Data actor's failed batch arrives as
    report = ("ray::MapWorker(MapBatches(RowKeys)).submit() (pid=7, ip=127.0.0.1)\n"
              '  File "/src/curation/engine_ray.py", line 314, in __call__\n'
              "    for d in _inputs(batch)])\n"
              "ValueError: planted failure at row 128\n\n"
              "The above exception was the direct cause of the following exception:\n\n"
              "ray::MapWorker(MapBatches(RowKeys)).submit() (pid=7, ip=127.0.0.1)\n"
              "ray.exceptions.UserCodeException: UDF failed to process a data block.\n"
              "Failed to apply UDF transform after 1/1 attempts (total backoff 0.0s).")
    assert str(_worker_error("dedup keys", RuntimeError(report))) == \
        "dedup keys failed on a Ray worker: ValueError: planted failure at row 128"
    only_ray = "ray.exceptions.UserCodeException: UDF failed to process a data block."
    assert str(_worker_error("pii", RuntimeError(only_ray))) == \
        f"pii failed on a Ray worker: {only_ray}"


class Cancelled(Exception):
    pass


def _cancel(signum, frame):
    raise Cancelled()


def _ray_handler(signum, frame):  # what ray.init sets: stop Ray's processes, then exit
    raise SystemExit(1)


@pytest.fixture
def sigterm():
    import signal

    before = signal.getsignal(signal.SIGTERM)
    yield signal
    signal.signal(signal.SIGTERM, before)


def test_the_callers_sigterm_handler_is_kept_across_the_ray_start(sigterm):
    from curation.engine_ray import _caller_sigterm

    sigterm.signal(sigterm.SIGTERM, _cancel)
    with _caller_sigterm():
        sigterm.signal(sigterm.SIGTERM, _ray_handler)
    assert sigterm.getsignal(sigterm.SIGTERM) is _cancel


def test_a_sigterm_during_the_ray_start_is_the_callers_cancel(sigterm):
    from curation.engine_ray import _caller_sigterm

    sigterm.signal(sigterm.SIGTERM, _cancel)
    with pytest.raises(Cancelled):
        with _caller_sigterm():
            sigterm.signal(sigterm.SIGTERM, _ray_handler)
            _ray_handler(sigterm.SIGTERM, None)
    assert sigterm.getsignal(sigterm.SIGTERM) is _cancel


def test_without_a_handler_of_the_callers_rays_is_left(sigterm):
    from curation.engine_ray import _caller_sigterm

    sigterm.signal(sigterm.SIGTERM, sigterm.SIG_DFL)
    with _caller_sigterm():
        sigterm.signal(sigterm.SIGTERM, _ray_handler)
    assert sigterm.getsignal(sigterm.SIGTERM) is _ray_handler
