"""The Ray engine equals the local one: each curation step on a local Ray with 2 worker
processes (one Ray session for the module), on 300 planted rows (tests/planted.py). And a
Ray run as a job (the Run page's stage job) shows its batches as the job's progress, ends
cancelled without leftover Ray processes or workspace changes when cancelled mid-batch, and
fails with the worker's one-line error: each of these three jobs starts its own local Ray.

Ray's processes talk over 127.0.0.1, so this module allows sockets (pytest-socket). Marked
slow: each step starts its actors (new worker processes that import the step's libraries),
a few minutes for the module on the shared 2-core machine.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import psutil
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


def test_the_cli_shows_each_ray_step_s_progress(planted_ws, ray_options, caplog):
    import json
    import logging

    from typer.testing import CliRunner

    from workbench.cli import app

    caplog.set_level(logging.INFO, logger="workbench.pipeline")
    result = CliRunner().invoke(app, ["dedup", "-w", str(planted_ws), "--engine", "ray",
                                      "--no-semantic"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["exact_duplicates"], summary["near_duplicates"]) == (30, 23)
    lines = [r.getMessage() for r in caplog.records if r.name == "workbench.pipeline"]
    # every row's keys, then the near level on the 270 exact representatives
    for step, rows in (("dedup keys", 300), ("near dedup", 270)):
        steps = [int(m[1]) for line in lines if (m := re.fullmatch(
            rf"\[dedup\] (\d+)/{rows} {step} on Ray: \1/{rows} rows \(\d+ s\)", line))]
        assert steps and steps == sorted(set(steps)) and steps[-1] == rows, lines


# -- Ray runs as jobs: what the Run page starts (a "stage" job, workbench.stages.background) --
# Each job below starts its own local Ray in the job's process (about 20 s here). The batches
# are gated by tests/ray_gate/sitecustomize.py, which the job and its Ray workers load.

GATE = Path(__file__).with_name("ray_gate")
CANCEL_BOUND_S = 60  # from the SIGTERM to the job's final state
EXIT_BOUND_S = 20  # from the final state to the last of the job's processes gone
SNAPSHOT = {"dup_clusters": "SELECT example_id, level, representative_id, similarity "
                            "FROM dup_clusters ORDER BY ALL",
            "findings": "SELECT step, example_id, code, severity, message FROM findings "
                        "ORDER BY ALL",
            "pii_spans": "SELECT example_id, message_index, start_char, end_char FROM pii_spans "
                         "ORDER BY ALL",
            "runs": "SELECT id, kind, state FROM runs ORDER BY id"}


def _snapshot(ws) -> dict:
    return {name: _table(ws, sql) for name, sql in SNAPSHOT.items()}


def _gate(gate_dir, monkeypatch, mode: str, hold_from: int = 10**9) -> None:
    """Jobs started from now on load the batch gate: batches reaching row ``hold_from``
    wait for ``gate_dir/release`` (hold) or raise ValueError (fail)."""
    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(GATE), str(root), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("WORKBENCH_TEST_RAY_GATE", str(gate_dir))
    monkeypatch.setenv("WORKBENCH_TEST_RAY_HOLD_FROM", str(hold_from))
    monkeypatch.setenv("WORKBENCH_TEST_RAY_GATE_MODE", mode)


def _start_gated_job(ws, stage: str, gate_dir, monkeypatch, mode: str = "hold",
                     hold_from: int = 10**9):
    """Start the Run page's stage job of ``stage`` on Ray (64-row batches) with the gate."""
    from workbench.jobs import runner as jobs

    _gate(gate_dir, monkeypatch, mode, hold_from)
    options = {"input": "", "workspace": str(ws), "engine": "ray", "ray_batch_size": 64}
    job = jobs.new_job(ws / "artifacts" / "jobs", "stage", {"stage": stage, "options": options},
                       name=stage)
    jobs.start(job)
    return job


class Watch:
    """The job's process tree (the job, its local Ray's GCS, raylet, workers) seen so far."""

    def __init__(self, job):
        from workbench.jobs import runner as jobs

        self.job, self.pid = job, jobs.read_json(job / "status.json")["pid"]
        self.procs: dict[int, psutil.Process] = {self.pid: psutil.Process(self.pid)}
        self.names: set[str] = set()

    def look(self) -> None:
        try:
            found = self.procs[self.pid].children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for proc in found:
            self.procs.setdefault(proc.pid, proc)
            try:
                self.names.add(proc.name())
            except psutil.NoSuchProcess:
                pass

    def until(self, done, limit_s: float) -> bool:
        """Look every 0.1 s until ``done()`` or ``limit_s`` seconds passed; returns done()."""
        end = time.monotonic() + limit_s
        while not done() and time.monotonic() < end:
            self.look()
            time.sleep(0.1)
        return done()

    def running(self) -> list[str]:
        from workbench.jobs import runner as jobs

        jobs.status(self.job)  # reaps the job's process (our child)
        alive = []
        for proc in self.procs.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{proc.pid} {proc.name()}")
            except psutil.NoSuchProcess:
                pass
        return alive


def _state(job) -> str:
    from workbench.jobs import runner as jobs

    return jobs.status(job)["state"]


def _progress_lines(job) -> list[tuple[int, int, str]]:
    """(step, total, message) of each progress update the job logged (workbench.jobs.Reporter)."""
    text = (job / "log.txt").read_text()
    return [(int(m[1]), int(m[2]), m[3])
            for m in re.finditer(r" INFO (\d+)/(\d+) (.*)$", text, re.MULTILINE)]


def test_a_ray_job_reports_its_batches_as_the_jobs_progress(planted_ws, tmp_path, monkeypatch):
    from workbench.jobs import runner as jobs

    job = _start_gated_job(planted_ws, "validate", tmp_path, monkeypatch)
    watch = Watch(job)
    assert watch.until(lambda: _state(job) in jobs.FINAL, 600), jobs.log_tail(job)
    assert _state(job) == "succeeded", jobs.status(job)
    lines = _progress_lines(job)
    assert lines[0] == (0, 1, "validate") and lines[-1] == (1, 1, "done")
    batches = lines[1:-1]
    # 300 rows in 64-row batches: the job's step is the rows done so far, 300 at the end
    assert len(batches) >= 3
    assert [step for step, _, _ in batches] == sorted({step for step, _, _ in batches})
    assert batches[-1][0] == 300 and {total for _, total, _ in batches} == {300}
    for step, _, message in batches:
        assert re.fullmatch(rf"validate: validate on Ray: {step}/300 rows \(\d+ s\)", message)
    assert jobs.progress(job)["message"] == "done"
    assert "raylet" in watch.names
    assert watch.until(lambda: not watch.running(), EXIT_BOUND_S), watch.running()


def test_a_cancel_while_ray_batches_run_stops_the_job_and_its_ray(planted_ws, tmp_path,
                                                                  monkeypatch):
    from curation.dedup import DedupPlan
    from tests.prepared import admin_page
    from workbench.jobs import runner as jobs
    from workbench.stages.curation import dedup

    plan = DedupPlan()
    plan.semantic.semantic = False
    dedup(planted_ws, plan=plan)  # the clusters a partial run would overwrite
    before = _snapshot(planted_ws)
    assert before["dup_clusters"]
    _gate(tmp_path, monkeypatch, "hold", hold_from=150)
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(planted_ws))
    # started and cancelled as a person does it on the Run page
    at = admin_page("views/run.py")
    at.selectbox(key="stage").select("dedup").run()
    at.radio(key="engine").set_value("ray").run()
    jobs_dir = planted_ws / "artifacts" / "jobs"
    known = set(jobs_dir.glob("*"))
    at.button(key="start").click().run()
    assert not at.exception, at.exception
    (job,) = set(jobs_dir.glob("*")) - known
    assert jobs.read_json(job / "config.json")["options"]["engine"] == "ray"
    watch = Watch(job)
    assert watch.until(lambda: any(tmp_path.glob("held-*")), 600), jobs.log_tail(job)
    watch.look()
    assert _state(job) == "running"
    at.run()
    at.button(key=f"cancel_{job.name}").click().run()
    assert watch.until(lambda: _state(job) in jobs.FINAL, CANCEL_BOUND_S), jobs.log_tail(job)
    assert _state(job) == "cancelled", jobs.status(job)
    assert {"raylet", "gcs_server"} <= watch.names
    assert any(name.startswith("ray::MapWorker") for name in watch.names)
    assert watch.until(lambda: not watch.running(), EXIT_BOUND_S), watch.running()
    assert _snapshot(planted_ws) == before
    assert (job / "log.txt").is_file()


def test_a_step_failing_on_a_ray_worker_fails_the_job_with_one_line(planted_ws, tmp_path,
                                                                     monkeypatch):
    from workbench.jobs import runner as jobs

    before = _snapshot(planted_ws)
    job = _start_gated_job(planted_ws, "dedup", tmp_path, monkeypatch, mode="fail",
                           hold_from=150)
    watch = Watch(job)
    assert watch.until(lambda: _state(job) in jobs.FINAL, 600), jobs.log_tail(job)
    state = jobs.status(job)
    assert state["state"] == "failed"
    assert re.fullmatch(r"StageError: dedup keys failed on a Ray worker: "
                        r"ValueError: planted failure at row \d+", state["error"]), state
    # the log keeps the worker's own traceback (Ray's report) above the one-line error
    log = (job / "log.txt").read_text()
    assert 'raise ValueError(f"planted failure at row {idx[0]}")' in log
    assert log.rstrip().endswith(state["error"].replace("StageError", "common.errors.StageError"))
    assert watch.until(lambda: not watch.running(), EXIT_BOUND_S), watch.running()
    assert _snapshot(planted_ws) == before


def test_a_few_hundred_rows_are_cut_into_one_batch_per_actor(ray_options):
    """The default batch (512 rows) is cut to an equal share per actor: 300 rows on 2 actors
    come back as two batches of 150, so each actor can take one (which actor takes which is
    Ray's scheduling), not as one batch that leaves the other actor idle."""
    from dataclasses import replace

    from curation.engine_ray import _inputs, _result, map_rows

    class Echo:
        def __call__(self, batch):
            return _result(batch, [text.encode() for text in _inputs(batch)])

    records = [{"idx": i, "data": str(i)} for i in range(ROWS)]
    steps = []
    out = map_rows("echo", records, Echo, {}, replace(ray_options, batch_size=512),
                   on_progress=lambda p: steps.append(p["step"]))
    assert out == [str(i).encode() for i in range(ROWS)]
    assert steps == [150, 300]
