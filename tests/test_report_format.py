"""Numbers, summaries, lineage and file names as people read them; the ETA of a training run."""

from datetime import date

import pytest

from curation.export import export_bytes, file_name
from evaluation import formatting as f
from training.eta import duration, eta_seconds, step_times


@pytest.mark.parametrize(("value", "text"), [
    (None, "–"), (float("nan"), "–"), (True, "yes"), (12345, "12,345"), (0.0, "0"),
    (1234.5, "1,234"), (143.87, "143.9"), (86.3172, "86.32"), (3.76349, "3.76"),
    (0.1052631578947368, "0.105"), (-0.4583333, "-0.458"), (1.2e-07, "1.2e-07")])
def test_a_number_gets_the_digits_its_size_needs(value, text):
    assert f.number(value) == text


def test_differences_rates_and_p_values():
    assert [f.signed(0.8321), f.signed(-2.15), f.signed(73.108), f.signed(0.0)] == [
        "+0.832", "-2.150", "+73.11", "+0.000"]
    assert [f.share(0.862), f.share(1.0), f.share(None)] == ["86%", "100%", "–"]
    assert [f.p_value(1.19e-07), f.p_value(0.0432), f.p_value(1.0)] == [
        "< 0.001", "0.043", "1.000"]
    assert f.interval(-0.5625, -0.375) == "-0.562 to -0.375"


def test_a_score_summary_prints_no_dict_and_no_long_float():
    summary = {"run_id": "score-1", "metrics": {"base": {"rougeL": 0.105263}},
               "all_metrics": {"base": {"rouge1": 0.10526315789473684}},
               "extractor": "none", "extractor_choice": "none (switched off)",
               "rouge_tokenizer": "unicode", "examples": 12, "seconds": 1.23456,
               "empty_after_tokenization": {"base": {"references": 0}}}
    assert f.summary_line(summary) == ("extractor none · extractor choice none (switched off) "
                                       "· rouge tokenizer unicode · examples 12 · seconds 1.23")


def test_lineage_becomes_readable_rows():
    lineage = {"tuned": {"train_run": "train-1", "steps": 4, "lineage": {
        "dataset_version": "3f9c2a1b7d6e", "train_config": {"lora_rank": 8,
                                                            "learning_rate": 0.0002},
        "target_modules": ["q_proj", "v_proj"], "libraries": {}}}}
    assert f.flat_rows(lineage) == [
        ("tuned › train run", "train-1"), ("tuned › steps", "4"),
        ("tuned › lineage › dataset version", "3f9c2a1b7d6e"),
        ("tuned › lineage › train config › lora rank", "8"),
        ("tuned › lineage › train config › learning rate", "2.0e-04"),
        ("tuned › lineage › target modules", "q_proj, v_proj"),
        ("tuned › lineage › libraries", "–")]


def test_export_file_names_carry_workspace_date_version_and_format():
    assert f.report_file_name("demo", date(2026, 12, 4)) == "report-demo-2026-12-04.html"
    assert f.report_file_name("../my ws", date(2026, 1, 2), "csv") == "report-my-ws-2026-01-02.csv"
    assert [file_name("abc123", fmt) for fmt in ("openai", "alpaca", "sharegpt", "parquet")] == [
        "abc123-openai.jsonl", "abc123-alpaca.json", "abc123-sharegpt.json",
        "abc123-parquet.parquet"]


def test_the_download_bytes_are_the_file_export_writes(tmp_path):
    from curation.export import export

    rows = [{"messages": [{"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello"}], "meta": {"k": 1}}]
    data, made = export_bytes(rows, "openai")
    export(rows, "openai", tmp_path / "x.jsonl")
    assert data == (tmp_path / "x.jsonl").read_bytes()
    assert data.decode() == ('{"messages": [{"role": "user", "content": "Hi"}, {"role": '
                             '"assistant", "content": "Hello"}], "k": 1}\n')
    assert made == {"format": "openai", "written": 1, "skipped": []}


# -- ETA ------------------------------------------------------------------------------------
def log(*elapsed, total=10):
    return [{"step": s, "total": total, "elapsed_s": e} for s, e in enumerate(elapsed, 1)]


def test_no_eta_until_two_step_times_are_measured():
    assert eta_seconds([]) is None
    assert eta_seconds(log(5.0)) is None  # the first step carries the start-up
    assert eta_seconds(log(5.0, 7.0)) is None  # one measured step
    assert eta_seconds(log(5.0, 7.0, 9.0)) == 14.0  # 2 s a step × 7 steps left


def test_the_eta_counts_down_between_steps_and_follows_the_recent_pace():
    assert eta_seconds(log(5.0, 7.0, 9.0), since_last_s=3.0) == 11.0
    assert eta_seconds(log(5.0, 7.0, 9.0), since_last_s=60.0) == 0.0
    slow_then_fast = log(1.0, *[1.0 + 10 * k for k in range(1, 12)], total=40)
    slow_then_fast += [{"step": 13 + k, "total": 40, "elapsed_s": 112.0 + k} for k in range(10)]
    assert step_times(slow_then_fast)[-10:] == [1.0] * 10
    assert eta_seconds(slow_then_fast) == 18.0  # the last 10 step times (1 s) × 18 steps left


def test_a_resumed_run_does_not_count_the_restart_as_a_step():
    records = log(5.0, 7.0, 9.0) + [{"step": 4, "total": 10, "elapsed_s": 3.0},
                                    {"step": 5, "total": 10, "elapsed_s": 5.0}]
    assert step_times(records) == [2.0, 2.0, 2.0]


def test_durations_read_as_minutes_and_seconds():
    assert [duration(65), duration(42.4), duration(3725), duration(None)] == [
        "1m05s", "42s", "1h02m", "–"]
