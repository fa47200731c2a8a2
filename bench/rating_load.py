"""Load: 20 simulated raters submitting 50 ratings each at once, through the app's code path.

Run as: python bench/rating_load.py [--quick] [--raters 20] [--ratings 50] [--think-ms 200]

Each rater is a thread, as each browser session is a script thread in the Streamlit server.
A step does what views/rate.py does on a click: one workspace action to show the next item
(``sessions.screen``: session, progress, next item) and one to store the answer (submit), each through the
connection helper the pages use (``shared_workspace``: one connection per process, a cursor
per action). Baseline, measured in the same run: the same load with a connection opened and
closed per action (``open_workspace``).
Runs: no pause between clicks (worst case) for both modes, then the shared mode with a
random reading pause (uniform, mean ``--think-ms``) before each click, as people rate.
Checks: exactly raters × ratings stored, no duplicate (rater, position), every rater done.
Prints ONE JSON object on the last line: p50/p95/max time to show the next item (ms) per mode,
ratings stored, errors, and p95 baseline / p95 shared.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.sessions import SessionDesign  # noqa: E402
from workbench.store import open_workspace  # noqa: E402
from workbench.store import sessions as ss  # noqa: E402
from workbench.store.pool import close_all, shared_workspace  # noqa: E402


def build(root: Path, raters: int, ratings: int) -> dict[str, str]:
    """A workspace whose session gives each rater exactly ``ratings`` items (k = 2)."""
    n_items = raters * ratings // 2
    with open_workspace(root) as ws:
        ws.add_run("gen", "generate", None, "", {})
        ws.finish_run("gen", "succeeded", {})
        ws.insert("generations", [
            {"run_id": "gen", "example_id": e, "system": s, "reference": f"ref {e}",
             "prompt": json.dumps([{"role": "user", "content": f"Question {e}?"}]),
             "output": f"{s} says {e} " + "lorem ipsum " * 40}
            for e in range(1, n_items + 1) for s in ("base", "tuned")])
        made = ss.create_session(ws, "load", "gen", SessionDesign(k=2),
                                 [f"rater{i:02d}" for i in range(raters)], seed=0)
        return {name: ss.login(ws, token)["rater_id"] for name, token in made["tokens"].items()}


def rater_loop(opener, root: Path, rater_id: str, think_s: float, times: list, errors: list,
               start: threading.Barrier) -> None:
    rng = random.Random(rater_id)
    start.wait()
    while True:
        if think_s:  # a person reads both answers before clicking: uniform 0..2× the mean
            time.sleep(rng.uniform(0, 2 * think_s))
        t0 = time.perf_counter()
        try:
            with opener(root) as ws:  # what the page does to show the next item
                item = ss.screen(ws, rater_id)["item"]
        except Exception as exc:  # noqa: BLE001 - counted and reported, not hidden
            errors.append(f"show: {type(exc).__name__}: {exc}"[:200])
            continue
        times.append(time.perf_counter() - t0)
        if item is None:
            return
        try:
            with opener(root) as ws:
                ss.submit(ws, rater_id, item["position"], "A", None, 3, None)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"submit: {type(exc).__name__}: {exc}"[:200])
        if len(errors) > 50:
            return


def measure(mode: str, raters: int, ratings: int, think_s: float = 0.0) -> dict:
    opener = shared_workspace if mode == "shared" else open_workspace
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        ids = build(root, raters, ratings)
        times: list[float] = []
        errors: list[str] = []
        barrier = threading.Barrier(len(ids))
        threads = [threading.Thread(target=rater_loop, args=(opener, root, rid, think_s, times,
                                                              errors, barrier))
                   for rid in ids.values()]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        close_all()
        with open_workspace(root) as ws:
            stored, distinct, per_rater = ws.row("""
                SELECT count(*), count(DISTINCT (rater_id, position)),
                       min(n) FILTER (WHERE true) FROM session_ratings,
                       (SELECT min(c) AS n FROM (SELECT count(*) AS c FROM session_ratings
                                                 GROUP BY rater_id))""")
        ms = sorted(t * 1000 for t in times)
        return {"stored": stored, "duplicates": stored - distinct, "min_per_rater": per_rater,
                "errors": len(errors), "first_errors": errors[:3], "wall_s": round(wall, 2),
                "next_item_ms": {"p50": round(statistics.median(ms), 1),
                                 "p95": round(ms[int(0.95 * (len(ms) - 1))], 1),
                                 "max": round(ms[-1], 1)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 raters × 10 ratings")
    parser.add_argument("--raters", type=int, default=20)
    parser.add_argument("--ratings", type=int, default=50)
    parser.add_argument("--think-ms", type=float, default=200.0,
                        help="mean pause before each click in the 'shared_think' run")
    args = parser.parse_args()
    ratings = 10 if args.quick else args.ratings
    result = {"raters": args.raters, "ratings_each": ratings,
              "expected": args.raters * ratings, "think_ms": args.think_ms}
    # no pause at all (every rater clicks the moment the item shows: the worst case), first
    # per-action open (the baseline), then the shared connection; then with reading pauses
    pause = args.think_ms / 1000
    for mode, opener_name, think in (("per_action_open", "open", 0.0), ("shared", "shared", 0.0),
                                     ("per_action_open_think", "open", pause),
                                     ("shared_think", "shared", pause)):
        result[mode] = measure(opener_name, args.raters, ratings, think)
        print(mode, json.dumps(result[mode]), file=sys.stderr)
    shared, base = result["shared"], result["per_action_open"]
    result["ok"] = all(result[m]["stored"] == result["expected"] and result[m]["duplicates"] == 0
                       and result[m]["errors"] == 0 for m in ("shared", "shared_think"))
    result["p95_under_300ms"] = {m: result[m]["next_item_ms"]["p95"] < 300
                                 for m in ("shared", "shared_think")}
    result["p95_ratio_baseline_over_shared"] = round(
        base["next_item_ms"]["p95"] / max(shared["next_item_ms"]["p95"], 1e-9), 2)
    result["p95_ratio_baseline_over_shared_think"] = round(
        result["per_action_open_think"]["next_item_ms"]["p95"]
        / max(result["shared_think"]["next_item_ms"]["p95"], 1e-9), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
