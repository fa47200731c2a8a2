"""Cost per request, training cost and the fine-tune's break-even against prompting."""

from __future__ import annotations

import html
import math

import pytest

from curation.formats import Example
from evaluation.cost import (
    break_even,
    cost_report,
    cumulative_lines,
    payback_clause,
    requests_label,
    system_kinds,
    token_stats,
    training_cost,
)
from evaluation.report import render_html
from tests.prepared import admin_page, conv
from workbench.stages.report import gather
from workbench.store import evaluation as store
from workbench.store import open_workspace
from workbench.store.splits import assign_splits

SYSTEMS = ["base", "tuned", "0-shot", "3-shot"]
PROMPT_TOKENS = {"base": [30, 40, 50, 60], "tuned": [30, 40, 50, 60],
                 "0-shot": [60, 70, 80, 90], "3-shot": [500, 510, 520, 530]}
NEW_TOKENS = {"base": [10, 10, 10, 10], "tuned": [8, 8, 8, 8], "0-shot": [9, 9, 9, 9],
              "3-shot": [10, 12, 14, 16]}
SECONDS = {"base": 2.0, "tuned": 1.0, "0-shot": 2.4, "3-shot": 3.0}  # for 4 requests each
ROUGE_L = {"base": 0.2, "tuned": 0.5, "0-shot": 0.3, "3-shot": 0.4}
# two training sessions (resumed after step 2): 400 s + 200 s
TRAIN_LOG = [{"step": 1, "loss": 2.0, "tokens": 100, "elapsed_s": 200.0},
             {"step": 2, "loss": 1.8, "tokens": 100, "elapsed_s": 400.0},
             {"step": 3, "loss": 1.6, "tokens": 50, "elapsed_s": 200.0}]


def test_break_even_is_training_seconds_over_the_seconds_saved_per_request():
    assert break_even(600.0, 0.75, 0.25) == 1200.0
    assert break_even(840.0, 0.50, 0.14) == pytest.approx(2333.333, abs=1e-3)
    assert break_even(600.0, 0.25, 0.25) is None  # not faster: never pays back
    assert break_even(600.0, 0.20, 0.30) is None  # slower


def test_token_figures_are_the_mean_and_the_interpolated_95th_percentile():
    assert token_stats(PROMPT_TOKENS["3-shot"]) == {"n": 4, "mean": 515.0, "p95": 528.5}
    assert token_stats([10, 12, 14, 16, None]) == {"n": 4, "mean": 13.0, "p95": 15.7}
    assert token_stats([7]) == {"n": 1, "mean": 7.0, "p95": 7.0}
    assert token_stats([None]) == {"n": 0, "mean": None, "p95": None}


def test_training_cost_adds_the_sessions_of_a_resumed_run():
    assert training_cost(TRAIN_LOG) == {"seconds": 600.0, "cpu_seconds": None, "tokens": 250,
                                        "steps": 3, "sessions": 2}
    assert training_cost(CPU_LOG)["cpu_seconds"] == 1000.0  # 700 + 300 CPU seconds
    assert training_cost([]) is None


# the same run with the training process's CPU seconds: 2 threads busy, so about twice wall
CPU_LOG = [{**row, "cpu_s": cpu} for row, cpu in zip(TRAIN_LOG, (350.0, 700.0, 300.0))]
# CPU seconds per 4 requests; the wall seconds below differ because the load changed between
# the systems' runs: the tuned system generated on a loaded machine
CPU = {"base": 4.0, "tuned": 2.0, "0-shot": 4.8, "3-shot": 6.0}
LOADED = {**SECONDS, "tuned": 12.0}


def test_with_cpu_seconds_everywhere_the_break_even_does_not_move_with_the_load():
    requests = {name: {"prompt_tokens": PROMPT_TOKENS[name], "new_tokens": NEW_TOKENS[name],
                       "requests": 4, "seconds": LOADED[name], "cpu_seconds": CPU[name]}
                for name in SYSTEMS}
    kinds, metrics = system_kinds(SYSTEMS, ["tuned"]), {
        name: {"rougeL": value} for name, value in ROUGE_L.items()}
    cost = cost_report(requests, kinds, {"tuned": training_cost(CPU_LOG)}, metrics)
    tuned = cost["systems"]["tuned"]
    assert cost["basis"] == "CPU seconds" and cost["rule"].startswith("Seconds are CPU seconds")
    # 1000 CPU s / (1.5 − 0.5 CPU s per request) = 1000 requests; wall time would say never
    assert (tuned["seconds_per_request"], tuned["wall_seconds_per_request"]) == (0.5, 3.0)
    assert (tuned["training_seconds"], tuned["training_wall_seconds"]) == (1000.0, 600.0)
    assert (tuned["break_even"], tuned["payback_requests"]) == (1000.0, 1000)
    assert payback_clause(cost) == ("it pays back its 17 minutes of CPU time in training "
                                    "after 1,000 requests.")
    # one system without CPU time: the whole report falls back to wall seconds
    del requests["0-shot"]["cpu_seconds"]
    wall = cost_report(requests, kinds, {"tuned": training_cost(CPU_LOG)}, metrics)
    assert wall["basis"] == "wall seconds" and "stretches these" in wall["rule"]
    assert wall["systems"]["tuned"]["break_even"] is None  # 3.0 s vs 0.75 s: not faster


def test_request_counts_read_to_two_significant_figures():
    assert [requests_label(n) for n in (2334, 1200, 7, 12_345)] == [
        "~2,300", "1,200", "7", "~12,000"]


def hand_made(seconds: dict[str, float] = SECONDS) -> dict:
    requests = {name: {"prompt_tokens": PROMPT_TOKENS[name], "new_tokens": NEW_TOKENS[name],
                       "requests": 4, "seconds": seconds[name], "batch_size": 4,
                       "device": "cpu, 2 threads"} for name in SYSTEMS}
    return cost_report(requests, system_kinds(SYSTEMS, ["tuned"]),
                       {"tuned": training_cost(TRAIN_LOG)},
                       {name: {"rougeL": value} for name, value in ROUGE_L.items()})


def test_cost_report_compares_the_tuned_system_with_the_best_prompted_one():
    cost = hand_made()
    assert cost["best_prompted"] == "3-shot"  # ROUGE-L 0.4 > 0.3, though slower than 0-shot
    assert {name: row["kind"] for name, row in cost["systems"].items()} == {
        "base": "base", "tuned": "tuned", "0-shot": "prompted", "3-shot": "prompted"}
    assert {name: row["seconds_per_request"] for name, row in cost["systems"].items()} == {
        "base": 0.5, "tuned": 0.25, "0-shot": 0.6, "3-shot": 0.75}
    tuned = cost["systems"]["tuned"]
    assert (tuned["training_seconds"], tuned["training_tokens"]) == (600.0, 250)
    assert (tuned["break_even"], tuned["payback_requests"]) == (1200.0, 1200)
    assert cost["systems"]["3-shot"]["break_even"] is None  # only tuned systems pay back
    assert payback_clause(cost) == "it pays back its 10 minutes of training after 1,200 requests."
    # against another prompted system, named by the verdict: 600 / (0.6 − 0.25) = 1714.3
    assert payback_clause(cost, against="0-shot") == (
        "it pays back its 10 minutes of training after ~1,700 requests.")
    lines = cumulative_lines(cost)
    assert lines["tuned"] == [(0, 600.0), (2400, 1200.0)]  # twice the break-even
    assert lines["3-shot"] == [(0, 0.0), (2400, 1800.0)]


def test_a_tuned_system_that_is_not_faster_never_pays_back():
    cost = hand_made({**SECONDS, "tuned": 3.2})  # 0.8 s per request vs 0.75
    assert cost["systems"]["tuned"]["break_even"] is None
    assert cost["systems"]["tuned"]["payback_requests"] is None
    assert payback_clause(cost) == (
        "it does not pay back its 10 minutes of training in speed: it is not faster per "
        "request than '3-shot' (0.80 s vs 0.75 s).")


def test_without_a_prompted_system_or_timings_there_is_no_clause():
    requests = {name: {"prompt_tokens": PROMPT_TOKENS[name], "new_tokens": NEW_TOKENS[name],
                       "requests": 4, "seconds": SECONDS[name]} for name in ("base", "tuned")}
    cost = cost_report(requests, system_kinds(["base", "tuned"], ["tuned"]),
                       {"tuned": training_cost(TRAIN_LOG)})
    assert cost["best_prompted"] is None and payback_clause(cost) is None
    assert cost["systems"]["tuned"]["break_even"] is None
    assert payback_clause(None) is None


def cost_workspace(root):
    """4 test rows, a train run with a resumed step log, and a generate run of base, tuned and
    two prompted systems with recorded prompt tokens, timings and ROUGE-L."""
    with open_workspace(root) as ws:
        dataset_id = ws.add_dataset("t.jsonl", "t.jsonl", "openai", [
            Example(i, conv(f"Q{i}?", f"A{i}.")) for i in range(1, 5)], [])
        assign_splits(ws, dataset_id, 0, (0.0, 0.0, 1.0))
        ws.add_run("train-1", "train", dataset_id, "", {"train": {}})
        ws.finish_run("train-1", "succeeded", {"adapter": str(root / "adapter"), "steps": 3})
        ws.insert("train_log", [{"run_id": "train-1", **row} for row in TRAIN_LOG])
        ws.add_run("gen-1", "generate", dataset_id, "", {
            "systems": {"base": None, "tuned": "<adapter>", "0-shot": None, "3-shot": None},
            "system_runs": {"tuned": "train-1"}, "train_run": "train-1"})
        ws.finish_run("gen-1", "succeeded", {"decoding": "greedy", "prompts": 4})
        ws.insert("generations", [
            {"run_id": "gen-1", "example_id": i + 1, "system": name, "prompt": "[]",
             "reference": f"A{i + 1}.", "output": "x", "new_tokens": NEW_TOKENS[name][i],
             "prompt_tokens": PROMPT_TOKENS[name][i]} for name in SYSTEMS for i in range(4)])
        store.save_timings(ws, "gen-1", [
            {"system": name, "requests": 4, "seconds": SECONDS[name], "batch_size": 4,
             "device": "cpu, 2 threads"} for name in SYSTEMS])
        store.replace_scores(ws, "gen-1", {name: {"rougeL": value}
                                           for name, value in ROUGE_L.items()}, [])
    return root


def test_gather_reports_the_cost_of_every_system_and_the_break_even(tmp_path):
    report = gather(cost_workspace(tmp_path / "ws"))
    cost = report["cost"]
    assert cost["run_id"] == "gen-1" and cost["device"] == "cpu, 2 threads"
    assert cost["best_prompted"] == "3-shot" and cost["batch_size"] == 4
    assert cost["systems"]["3-shot"]["prompt_tokens"] == {"n": 4, "mean": 515.0, "p95": 528.5}
    assert cost["systems"]["3-shot"]["new_tokens"] == {"n": 4, "mean": 13.0, "p95": 15.7}
    assert cost["systems"]["tuned"]["prompt_tokens"] == {"n": 4, "mean": 45.0, "p95": 58.5}
    assert cost["systems"]["tuned"]["training_seconds"] == 600.0
    assert cost["systems"]["tuned"]["payback_requests"] == 1200
    assert cost["payback"] == "it pays back its 10 minutes of training after 1,200 requests."
    page = render_html(report)
    assert "<h2>Cost per request (generate run gen-1)</h2>" in page
    assert "<td>3-shot</td><td>prompted</td><td>4</td><td>515</td><td>528.5</td>" in page
    assert "<td>1200</td></tr>" in page  # the tuned row's break-even cell
    section = page.split("<h2>Cost per request")[1].split("<h2>")[0]
    assert section.count("data:image/png;base64,") == 1  # the cumulative-cost plot
    assert html.escape("tuned against '3-shot': it pays back its 10 minutes of training "
                       "after 1,200 requests.") in section


def test_a_run_generated_before_timings_falls_back_to_its_summary_seconds(tmp_path):
    root = cost_workspace(tmp_path / "ws")
    with open_workspace(root) as ws:
        ws.con.execute("DELETE FROM generation_timings")
        ws.finish_run("gen-1", "succeeded", {"prompts": 4, "seconds": {"tuned": 2.0,
                                                                        "3-shot": 4.0}})
    cost = gather(root)["cost"]
    assert cost["systems"]["tuned"]["seconds_per_request"] == 0.5
    assert cost["systems"]["base"]["seconds_per_request"] is None
    assert cost["systems"]["tuned"]["payback_requests"] == math.ceil(600 / (1.0 - 0.5))


def test_report_page_shows_the_cost_table_and_the_pay_back_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(cost_workspace(tmp_path / "ws")))
    at = admin_page("views/report.py")
    assert not at.exception
    table = next(d.value for d in at.dataframe if "break-even (requests)" in d.value.columns)
    assert list(table["system"]) == SYSTEMS
    assert list(table["break-even (requests)"].fillna(0)) == [0, 1200, 0, 0]
    assert any(t.value == ("tuned against '3-shot': it pays back its 10 minutes of "
                           "training after 1,200 requests.") for t in at.text)
