import json
import subprocess
import sys

import pytest

from workbench.demo import DEMO_DATA, DEMO_PROMPTED, build_demo
from common.errors import InputError


def test_demo_refuses_a_folder_that_is_not_a_workspace_and_leaves_it_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not a workspace"):
        build_demo(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_is_skipped_when_the_workspace_exists(tmp_path):
    (tmp_path / "workspace.duckdb").write_bytes(b"")
    assert build_demo(tmp_path)["built"] is False


def test_demo_data_has_64_lines_with_one_malformed():
    lines = DEMO_DATA.read_text().split("\n")[:-1]
    assert len(lines) == 64 and lines[35].startswith('{"messages": [{"role": "user"')


# Six held-out rows: ROUGE-L (unicode tokens) of base and tuned against the reference
REFERENCES = {1: "the cat sat on the mat", 2: "paris is the capital of france",
              3: "water boils at one hundred degrees", 4: "two plus two is four",
              5: "same answer here", 6: " ".join(f"w{i}" for i in range(20))}
OUTPUTS = {1: ("a dog", "the cat sat on the mat"),                  # 0 vs 1: tuned
           2: ("paris is the capital of france", "paris"),          # 1 vs 2/7: base
           3: ("water boils at one hundred", REFERENCES[3]),        # 10/11 vs 1: tuned
           4: ("two plus two is four.", "two plus two is four!"),   # 1 vs 1: tie
           5: ("same", "same"),                                     # identical: auto tie
           6: (" ".join(f"w{i}" for i in range(19)), REFERENCES[6])}  # 38/39 vs 1: 0.026


@pytest.fixture
def scored(tmp_path, evaluate_cache):
    from tests.prepared import generated_workspace
    from workbench.stages.evaluation import score

    root = generated_workspace(tmp_path / "ws", REFERENCES, OUTPUTS)
    score(root)
    return root


def test_the_scripted_session_prefers_the_higher_rouge_l_and_says_it_is_scripted(scored):
    from evaluation.report import render_html
    from workbench.demo_ratings import rate_demo_session
    from workbench.stages.report import gather as report
    from workbench.store import open_workspace
    from workbench.store import sessions as ss

    made = rate_demo_session(scored)
    # 5 items shown (one identical pair tied automatically) × 2 raters, plus 2 repeats each
    assert made == {"session_id": 1, "name": "demo (scripted ratings)", "items": 5,
                    "auto_ties": 1, "ratings": 14}
    with open_workspace(scored) as ws:
        raters = [r["name"] for r in ss.rater_progress(ws, 1)]
        labels: dict[str, list[str]] = {}
        for r in sorted(ss.raw_ratings(ws, 1), key=lambda r: r["example_id"]):
            if not r["is_repeat"]:
                labels.setdefault(r["rater_id"], []).append(r["label"])
        assert ss.session(ws, 1)["guidelines"].startswith("**Scripted demo ratings, not made")
    assert raters == ["demo-rater-1", "demo-rater-2"]
    # rater 2 calls 0.026 apart (row 6) a tie; rater 1 ties only equal scores (row 4)
    assert sorted(labels.values(), key=lambda labels: labels.count("tie")) == [
        ["tuned", "base", "tuned", "tie", "tuned"], ["tuned", "base", "tuned", "tie", "tie"]]
    result = report(scored, n_boot=20)
    pair = result["sessions"][0]["pairs"][0]
    # wins 3 + 2, losses 1 + 1, ties 1 + 2 + the automatic one: (5 + 4/2) / 11
    assert (pair["wins"], pair["losses"], pair["ties"], pair["n"]) == (5, 2, 4, 11)
    # ROUGE-L tuned − base: (1 − 5/7 + 1/11 + 0 + 0 + 1/39) / 6 = +0.067
    assert result["verdict"] == (
        "No clear difference between tuned and base on ROUGE-L: +0.067 (95% CI -0.238 to "
        "+0.515, n=6); scripted demo raters (not people) show no clear preference: tuned won "
        "64% of pairs (95% CI 35-85%, n=11). Too few held-out rows and ratings for a firm "
        "conclusion.")
    assert f'<p class="verdict"><b>Verdict</b> · {result["verdict"]}</p>' in render_html(result)
    printed = subprocess.run([sys.executable, "-m", "workbench", "report", "-w", str(scored)],
                             capture_output=True, text=True, timeout=300)
    assert json.loads(printed.stdout)["verdict"] == result["verdict"], printed.stderr


@pytest.mark.parametrize("differing, expected", [
    (3, {"session_id": 1, "name": "demo (scripted ratings)", "items": 3, "auto_ties": 3,
         "ratings": 4}),  # 3 items < 2 raters × k = 2: demo-rater-1 alone, + 1 repeat
    (0, {"session_id": None, "name": "demo (scripted ratings)", "reason": "the session has 0 "
         "items but 1 raters × k = 1 needs at least 1: rate more examples"})])
def test_a_demo_with_few_differing_answers_gets_one_rater_or_no_session(
        tmp_path, evaluate_cache, differing, expected):
    from tests.prepared import generated_workspace
    from workbench.demo_ratings import rate_demo_session
    from workbench.stages.evaluation import score

    outputs = {i: ("same", "same" if i > differing else "other") for i in range(1, 7)}
    root = generated_workspace(tmp_path / "ws", {i: "same" for i in range(1, 7)}, outputs)
    score(root)
    assert rate_demo_session(root) == expected


def test_a_version_is_not_labelled_trained_before_a_run_trained_on_it(tmp_path):
    from tests.prepared import prepare_workspace
    from workbench.store import open_workspace
    from workbench.store.versions import list_versions, record_version

    root = prepare_workspace(tmp_path / "ws")
    with open_workspace(root) as ws:
        vid = record_version(ws, 1)  # what the privacy gate and training record first
        row = list_versions(ws).set_index("id").loc[vid]
    assert (row["note"], row["train_runs"]) == ("split rows", 0)


@pytest.mark.slow
def test_the_demo_ends_in_a_trained_run_scores_a_rated_session_and_a_verdict(tmp_path):
    from workbench.stages.privacy import gate
    from workbench.store import open_workspace
    from workbench.store.versions import list_versions

    summary = build_demo(tmp_path / "demo", max_train_steps=2)
    assert summary["built"] is True and summary["train"]["steps"] == 2
    assert set(summary["metrics"]) == {"base", "tuned", DEMO_PROMPTED["name"]}
    assert summary["session"]["name"] == "demo (scripted ratings)"
    assert summary["session"]["ratings"] > 0
    # three-way: the fine-tune is weighed against the prompt, with the scripted ratings
    assert f"({DEMO_PROMPTED['name']})" in summary["verdict"] or (
        f"'{DEMO_PROMPTED['name']}'" in summary["verdict"])
    assert " scripted demo ratings (not people)" in summary["verdict"]
    assert summary["verdict"].endswith("for a firm conclusion.")
    privacy = gate(tmp_path / "demo")
    assert privacy["passes"] is True and privacy["unreviewed"] == 0
    assert privacy["dataset_version"] == summary["train"]["dataset_version"]
    with open_workspace(tmp_path / "demo") as ws:
        versions = list_versions(ws).set_index("id")
    assert versions.loc[summary["train"]["dataset_version"], "train_runs"] == 1
