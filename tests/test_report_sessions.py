"""The report (dict, HTML export) carries every rating session's statistics and design, read
from the sessions' de-randomized labels; exact numbers of small hand-made sessions."""

from __future__ import annotations

import json

import pytest

from curation.formats import Example
from evaluation.report import render_html
from tests.prepared import conv
from workbench.stages.report import gather
from workbench.store import open_workspace
from workbench.store.sessions import ratings_export

# (rater, item, label, choice as shown, is repeat): the hand-made table of
# tests/test_stats_sessions.py, whose statistics are computed there by hand.
ROWS = [("ana", 1, "tuned", "A", False), ("bo", 1, "tuned", "B", False),
        ("ana", 2, "tuned", "B", False), ("bo", 2, "base", "A", False),
        ("ana", 3, "base", "B", False), ("bo", 3, "base", "A", False),
        ("ana", 4, "tie", "tie", False), ("bo", 4, "both_bad", "both_bad", False),
        ("ana", 1, "tuned", "B", True), ("ana", 3, "tie", "tie", True)]
ROUGE_L = {(1, "base"): 0.1, (1, "tuned"): 0.5, (2, "base"): 0.3, (2, "tuned"): 0.2,
           (3, "base"): 0.4, (3, "tuned"): 0.4, (4, "base"): 0.2, (4, "tuned"): 0.3}
# three systems: a-b 2:1, b-c 2:1, a-c 4:1 → Bradley–Terry strengths ln 2, 0, −ln 2
BT_WINS = {("a", "b"): (2, 1), ("b", "c"): (2, 1), ("a", "c"): (4, 1)}


@pytest.fixture(autouse=True)
def temp_home(evaluate_cache):  # session 2's run is unscored: ROUGE-L is computed (evaluate)
    return evaluate_cache


def _left(label: str, choice: str, pair: tuple[str, str]) -> str:
    """The system shown left so that ``choice`` means ``label``."""
    if label not in pair:
        return pair[0]
    return label if choice == "A" else next(s for s in pair if s != label)


def _add_session(ws, session_id: int, run_id: str, systems: list[str], k: int, share: float,
                 items: list[tuple[int, int, str, str, bool]],
                 rows: list[tuple[str, int, str, str, bool, tuple[str, str]]]) -> None:
    ws.con.execute("INSERT INTO rating_sessions(id, name, run_id, systems, k, repeat_share, "
                   "guidelines, seed) VALUES (?, ?, ?, ?, ?, ?, '', 7)",
                   [session_id, f"session {session_id}", run_id, json.dumps(systems), k, share])
    ws.insert("session_items", [
        {"session_id": session_id, "item_no": no, "example_id": example, "first_system": a,
         "second_system": b, "auto_tie": auto} for no, example, a, b, auto in items])
    raters = sorted({r[0] for r in rows})
    ws.insert("session_raters", [{"id": f"{session_id}-{r}", "session_id": session_id,
                                  "name": r, "token_hash": f"{session_id}-{r}"} for r in raters])
    positions: dict[str, int] = {}
    for rater, item, label, choice, repeat, pair in rows:
        position = positions[rater] = positions.get(rater, -1) + 1
        left = _left(label, choice, pair)
        right = next(s for s in pair if s != left)
        ws.insert("assignments", [{"session_id": session_id, "rater_id": f"{session_id}-{rater}",
                                   "position": position, "item_no": item, "left_system": left,
                                   "right_system": right, "is_repeat": repeat}])
        ws.insert("session_ratings", [{"session_id": session_id,
                                       "rater_id": f"{session_id}-{rater}", "position": position,
                                       "item_no": item, "choice": choice, "label": label}])


@pytest.fixture
def rated(tmp_path):
    root = tmp_path / "ws"
    with open_workspace(root) as ws:
        dataset_id = ws.add_dataset("t.jsonl", "t.jsonl", "openai",
                                    [Example(i, conv(f"Q{i}?", f"A{i}.")) for i in range(1, 6)],
                                    [])
        for run_id, systems in (("gen-1", ("base", "tuned")), ("gen-2", ("a", "b", "c"))):
            ws.add_run(run_id, "generate", dataset_id, "", {})
            ws.finish_run(run_id, "succeeded", {"prompts": 5})
            ws.insert("generations", [
                {"run_id": run_id, "example_id": e, "system": s, "prompt": "[]",
                 "reference": f"A{e}.", "output": "same" if e == 5 else f"{s} {e}"}
                for e in range(1, 6) for s in systems])
        ws.insert("example_scores", [
            {"run_id": "gen-1", "example_id": e, "system": s, "metric": "rougeL", "value": v}
            for (e, s), v in ROUGE_L.items()])
        pair = ("base", "tuned")
        _add_session(ws, 1, "gen-1", list(pair), 2, 0.25,
                     [(i, i, *pair, i == 5) for i in range(1, 6)],
                     [(*row, pair) for row in ROWS])
        items, rows = [], []
        for (first, second), (first_wins, second_wins) in BT_WINS.items():
            for label in [first] * first_wins + [second] * second_wins:
                items.append((len(items) + 1, 1, first, second, False))
                rows.append(("cy", len(items), label, "A", False, (first, second)))
        _add_session(ws, 2, "gen-2", ["a", "b", "c"], 1, 0.0, items, rows)
    return root


def cells(*values) -> str:
    return "".join(f"<td>{v}</td>" for v in values)


def test_report_lists_every_session_with_its_statistics_and_design(rated):
    sessions = gather(rated, n_boot=20)["sessions"]
    assert [s["session"]["id"] for s in sessions] == [1, 2]
    first = sessions[0]
    (pair,) = first["pairs"]
    assert (pair["wins"], pair["ties"], pair["losses"], pair["both_bad"], pair["auto_ties"],
            pair["n"], pair["win_rate"]) == (3, 2, 3, 1, 1, 8, 0.5)
    # ana on item 1: tuned shown left once; every other showing has base (first) on the left
    assert first["design"] == {
        "systems": ["base", "tuned"], "k": 2, "repeat_share": 0.25, "raters": 2,
        "revoked_raters": 0, "items": 4, "auto_ties": 1, "assignments": 10, "repeats": 2,
        "first_system_left_share": 0.8, "randomisation": first["design"]["randomisation"]}
    assert sessions[1]["bradley_terry"] is not None and first["bradley_terry"] is None


def test_html_export_holds_the_exact_session_numbers(rated):
    page = render_html(gather(rated, n_boot=20))
    # win/tie/loss, win rate (3 + ½·2) / 8 = 0.5, Wilson 95% 0.5 ∓ 0.284784, sign test 3-3: 1
    assert cells("tuned vs base", 3, 2, 3, 1, 1, 8, "0.5", "0.2152", "0.7848", "1") in page
    # 4 items by 2 raters; Cohen 1/3, Fleiss 3/11, Krippendorff 4/11; left won 3 of 7 (p = 1);
    # 2 repeat pairs, one consistent
    assert cells(4, 2, "0.3333", "0.2727", "0.3636", 3, 4, "0.4286", "1", 2, "0.5") in page
    # design: base, tuned; k 2; 25% repeats; 2 raters, none revoked; 4 items shown, 1 auto
    # tie; 10 showings, 2 repeats; base left on 8 of 10
    assert cells("base, tuned", 2, "0.25", 2, 0, 4, 1, 10, 2, "0.8") in page
    # ROUGE-L vs the verdicts: 7 judgments, 6 decisive, half agree, 2 metric ties
    assert cells("ROUGE-L", 7, 6, "0.5", 2) in page
    # the three-system session: Bradley–Terry strengths ln 2 and −ln 2 around b
    assert "<td>a</td><td>0.6931</td>" in page and "<td>c</td><td>-0.6931</td>" in page
    assert page.count("<h3>Session ") == 2 and "Randomisation: item order" in page
    assert "https://" not in page and "http://" not in page


def test_html_export_without_sessions_says_how_to_get_ratings(tmp_path):
    root = tmp_path / "ws"
    with open_workspace(root) as ws:
        ws.add_dataset("t.jsonl", "t.jsonl", "openai", [Example(1, conv("Q?", "A."))], [])
    assert "No rating session yet" in render_html(gather(root))


def test_ratings_csv_is_the_sessions_derandomized_ratings(rated):
    with open_workspace(rated) as ws:
        frame = ratings_export(ws, "gen-1")
    assert len(frame) == 10 and frame["session_id"].unique().tolist() == [1]
    first = frame.iloc[0]
    assert (first["rater"], first["item_no"], first["position"], first["left_system"],
            first["choice"], first["label"]) == ("ana", 1, 0, "tuned", "A", "tuned")
    assert frame["is_repeat"].sum() == 2
