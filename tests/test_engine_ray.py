"""The Ray engine equals the local one: each curation step on a local Ray with 2 worker
processes (one Ray session for the module), on 300 planted rows (tests/planted.py).

Ray's processes talk over 127.0.0.1, so this module allows sockets (pytest-socket). Marked
slow: each step starts its actors (new worker processes that import the step's libraries),
a few minutes for the module on the shared 2-core machine.
"""

from __future__ import annotations

import pytest

from tests.planted import planted_rows, write_planted

pytestmark = [pytest.mark.enable_socket, pytest.mark.slow]

ROWS = 300


@pytest.fixture(scope="module")
def ray_options():
    from curation.engine_ray import RayOptions, ray_session

    with ray_session(RayOptions(num_cpus=2, concurrency=2, batch_size=64)) as options:
        yield options


@pytest.fixture(scope="module")
def planted_ws(tmp_path_factory):
    from workbench.stages.curation import ingest

    root = tmp_path_factory.mktemp("ray")
    ws = root / "ws"
    summary = ingest(ws, str(write_planted(root / "planted.jsonl", ROWS)))
    assert summary["examples"] == ROWS
    return ws


def _table(ws, sql: str) -> list[tuple]:
    from workbench.store import open_workspace

    with open_workspace(ws, create=False) as store:
        return [tuple(r.values()) for r in store.query(sql)]


def test_validate_equals_local(planted_ws, ray_options):
    from workbench.stages.curation import validate

    findings = ("SELECT example_id, code, severity, message, message_index FROM findings "
                "WHERE step = 'validate' ORDER BY ALL")
    tokens = ("SELECT example_id, n_tokens, trainable_tokens, openai_tokens FROM example_tokens "
              "ORDER BY example_id")
    local = validate(planted_ws)
    local_rows = _table(planted_ws, findings), _table(planted_ws, tokens)
    remote = validate(planted_ws, engine="ray", ray=ray_options)
    assert remote == local
    assert (_table(planted_ws, findings), _table(planted_ws, tokens)) == local_rows
    # planted: rows 25, 75, ... have no assistant turn (and copies of them)
    without = sum(all(m["role"] != "assistant" for m in r["messages"])
                  for r in planted_rows(ROWS))
    assert without >= 6
    assert local["by_code"]["missing_assistant"] == without
    assert len(local_rows[1]) == ROWS


def test_dedup_exact_and_near_equal_local(planted_ws, ray_options):
    from curation.dedup import DedupPlan
    from workbench.stages.curation import dedup

    clusters = ("SELECT example_id, level, representative_id, similarity FROM dup_clusters "
                "ORDER BY level, example_id")
    plan = DedupPlan()
    plan.semantic.semantic = False
    local = dedup(planted_ws, plan=plan)
    local_rows = _table(planted_ws, clusters)
    remote = dedup(planted_ws, plan=plan, engine="ray", ray=ray_options)
    assert remote == local
    assert _table(planted_ws, clusters) == local_rows
    # planted: 29 shouted copies (rows 10, 20, ..., 290) and 29 near copies (13, ..., 293).
    # Exact: the 29 and row 133, a near copy of row 63 that replaced the word row 63 had
    # already replaced. Near: 23 of the other 28 estimate a Jaccard >= 0.8 (seed 0).
    assert local["exact_duplicates"] == 30
    assert local["near_duplicates"] == 23


def test_dedup_policy_fewest_findings_equals_local(planted_ws, ray_options):
    from curation.dedup import DedupPlan
    from workbench.stages.curation import dedup

    clusters = ("SELECT example_id, level, representative_id FROM dup_clusters "
                "ORDER BY level, example_id")
    plan = DedupPlan(policy="fewest_findings")
    plan.semantic.semantic = False
    plan.exact.scope = plan.near.scope = "prompt"
    dedup(planted_ws, plan=plan)
    local_rows = _table(planted_ws, clusters)
    dedup(planted_ws, plan=plan, engine="ray", ray=ray_options)
    assert _table(planted_ws, clusters) == local_rows


def test_semantic_pairs_at_least_99_percent_of_local(planted_ws, ray_options):
    from curation.dedup import DedupPlan
    from workbench.stages.curation import dedup

    pairs = ("SELECT example_id, representative_id FROM dup_clusters WHERE level = 'semantic' "
             "AND example_id <> representative_id")
    plan = DedupPlan()
    plan.semantic.backend = "onnx"
    plan.semantic.threshold = 0.9
    dedup(planted_ws, plan=plan)
    local = set(_table(planted_ws, pairs))
    # a fresh workspace cache would hide the workers' vectors: embed everything on Ray
    from workbench.store import open_workspace

    with open_workspace(planted_ws) as store:
        store.con.execute("DELETE FROM embedding_cache")
    remote_summary = dedup(planted_ws, plan=plan, engine="ray", ray=ray_options)
    remote = set(_table(planted_ws, pairs))
    assert remote_summary["embedded_texts"] > 0
    assert len(local) > 0
    assert len(local & remote) >= 0.99 * len(local)


def test_pii_spans_equal_local(planted_ws, ray_options):
    from workbench.stages.curation import pii

    spans = ("SELECT example_id, message_index, entity_type, start_char, end_char, score, "
             "region, region_assumed FROM pii_spans ORDER BY ALL")
    local = pii(planted_ws)
    local_rows = _table(planted_ws, spans)
    remote = pii(planted_ws, engine="ray", ray=ray_options)
    assert remote == local
    assert _table(planted_ws, spans) == local_rows
    # planted: rows 4, 13, 22, ... (i % 9 == 4, not overwritten by a copy) carry an e-mail
    assert local["by_entity"]["EMAIL_ADDRESS"] >= 25


def test_quality_heuristics_equal_local(planted_ws, ray_options):
    from curation.quality import QualityConfig
    from workbench.stages.quality import quality

    signals = ("SELECT example_id, prompt_chars, answer_chars, length_ratio, "
               "dup_ngram_fraction, non_alnum_share FROM quality_signals ORDER BY example_id")
    config = QualityConfig(model=False)
    local = quality(planted_ws, config)
    local_rows = _table(planted_ws, signals)
    remote = quality(planted_ws, config, engine="ray", ray=ray_options)
    assert {k: v for k, v in remote.items() if k != "run_id"} == \
        {k: v for k, v in local.items() if k != "run_id"}
    assert _table(planted_ws, signals) == local_rows
    assert len(local_rows) == local["rows"] > 0


def test_a_worker_lacking_the_model_is_one_message(ray_options):
    from common.errors import StageError
    from curation.engine_ray import pii_on_ray
    from curation.pii import PiiConfig

    config = PiiConfig(spacy_model="xx_no_such_model")
    with pytest.raises(StageError, match=r"^pii failed on a Ray worker: .*xx_no_such_model"):
        pii_on_ray([[{"role": "user", "content": "Hi"}]], config, ray_options)


def test_a_local_ray_talks_on_loopback_only():
    import ray

    assert ray.is_initialized()  # the module's session, started by curation.engine_ray._init
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert ray.util.get_node_ip_address() == "127.0.0.1"


def test_an_address_that_does_not_answer_is_one_message():
    import ray

    from common.errors import StageError
    from curation.engine_ray import RayOptions, _init

    assert ray.is_initialized()  # the module's session: _init is tried in a child process
    import subprocess
    import sys

    code = ("from curation.engine_ray import RayOptions, _init\n"
            "from common.errors import StageError\n"
            "try:\n    _init(RayOptions(address='127.0.0.1:9'))\n"
            "except StageError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.startswith("Ray at 127.0.0.1:9 does not answer: "), out.stderr[-2000:]
    assert RayOptions and _init and StageError


def test_an_unknown_engine_is_refused(planted_ws):
    from common.errors import StageError
    from workbench.stages.curation import pii

    with pytest.raises(StageError, match="--engine must be one of local, ray, not 'spark'"):
        pii(planted_ws, engine="spark")
