"""The demo's rating session, rated by a script so the Sessions and Report pages have an example.

Run as: ``rate_demo_session(Path("workspaces/demo"))`` after generate and score.

The session is made and rated through the same store functions as a real one
(``create_session``, ``login`` with the invite token, ``screen``, ``submit``: what the Rate
page calls), so its statistics come out of the same code. Its name and guidelines say the
ratings are scripted, and its raters are named ``demo-rater-N``. A scripted rater is as blind
as a person: it sees the two answers of its next item (left and right, as drawn for it) and
prefers the one with the higher stored ROUGE-L against the reference; each rater has its own
tie margin, so the agreement statistics have something to show. Everything is deterministic:
the order and sides come from ``seed``, the choices from the scores.
"""

from __future__ import annotations

from pathlib import Path

from evaluation.sessions import SessionDesign
from evaluation.verdict import SCRIPTED_MARK
from workbench.store import evaluation as scores_store
from workbench.store import open_workspace
from workbench.store import sessions as ss

SESSION_NAME = f"demo {SCRIPTED_MARK}"
# rater name -> ROUGE-L difference below which that rater calls a tie
RATERS = {"demo-rater-1": 0.0, "demo-rater-2": 0.05}
GUIDELINES = ("**Scripted demo ratings, not made by people.** Each demo rater prefers the "
              "answer with the higher ROUGE-L against the reference answer; demo-rater-2 calls "
              "a tie when the two are less than 0.05 apart. Create a new session on the "
              "Sessions page for real blind ratings.")
METRIC = "rougeL"


def scripted_choice(left: float | None, right: float | None, margin: float) -> str:
    """"A" (left better), "B" or "tie" for two answers' scores; a missing score is a tie.

    >>> scripted_choice(0.4, 0.2, 0.0), scripted_choice(0.2, 0.22, 0.05)
    ('A', 'tie')
    """
    if left is None or right is None or abs(left - right) <= margin:
        return "tie"
    return "A" if left > right else "B"


def _scores_by_texts(ws, run_id: str) -> dict[tuple[str, str], tuple[float, float]]:
    """{(output shown left, output shown right): (its score, the other's)} for every pair
    of systems of every example: what a blind rater can look up from the two texts."""
    outputs: dict[int, dict[str, str]] = {}
    for row in scores_store.generations(ws, run_id):
        outputs.setdefault(row["example_id"], {})[row["system"]] = row["output"]
    per_system = scores_store.example_scores(ws, run_id)
    out = {}
    for example_id, by_system in outputs.items():
        for a, text_a in by_system.items():
            for b, text_b in by_system.items():
                if a != b:
                    out.setdefault((text_a, text_b), (
                        per_system.get(a, {}).get(METRIC, {}).get(example_id),
                        per_system.get(b, {}).get(METRIC, {}).get(example_id)))
    return out


def _create(ws, run_id: str, seed: int, systems: tuple[str, ...]) -> dict:
    """The session over ``systems`` with both raters on every item, or with demo-rater-1
    alone when there are fewer shown items (outputs that differ) than raters × k;
    RatingError when none differs."""
    def create(raters: list[str]) -> dict:
        design = SessionDesign(systems=systems, k=len(raters), repeat_share=0.25,
                               guidelines=GUIDELINES)
        return ss.create_session(ws, SESSION_NAME, run_id, design, raters, seed=seed,
                                 actor="demo")

    try:
        return create(list(RATERS))
    except ss.RatingError:
        return create(list(RATERS)[:1])


def rate_demo_session(workspace: Path, seed: int = 0) -> dict:
    """Create the demo's session over the latest generate run (every pair of its systems,
    2 raters per item, a quarter of the items repeated; one rater when fewer than 4 pairs of outputs
    differ) and rate every item of every rater by script.

    Returns ``{"session_id", "name", "items", "auto_ties", "ratings"}``, or ``{"session_id":
    None, "name", "reason"}`` when no pair can be shown (every base and tuned output is the
    same: all tied automatically). Raises StageError when there is no generate run.
    """
    with open_workspace(workspace) as ws:
        run = ws.require_run("generate")
        run_id = run["id"]
        systems = tuple((run.get("config") or {}).get("systems") or ("base", "tuned"))
        try:
            made = _create(ws, run_id, seed, systems)
        except ss.RatingError as exc:
            return {"session_id": None, "name": SESSION_NAME, "reason": str(exc)}
        lookup = _scores_by_texts(ws, run_id)
        ratings = 0
        for name, token in made["tokens"].items():
            rater_id = ss.login(ws, token)["rater_id"]
            while (item := ss.screen(ws, rater_id)["item"]) is not None:
                left, right = lookup.get((item["left_output"], item["right_output"]),
                                         (None, None))
                ss.submit(ws, rater_id, item["position"],
                          scripted_choice(left, right, RATERS[name]),
                          reason="scripted: higher ROUGE-L against the reference")
                ratings += 1
    return {"session_id": made["session_id"], "name": SESSION_NAME, "items": made["items"],
            "auto_ties": made["auto_ties"], "ratings": ratings}
