"""Pairwise judge on a rated session: time per judge request and the calibration it reaches.

Run as: python bench/judge.py --workspace workspaces/demo [--session N] [--judge-model DIR]
        python bench/judge.py --workspace workspaces/demo --quick   (the demo: under 2 min)

Runs ``workbench.stages.judge.judge`` (a ``judge`` job in a child process, as ``workbench
judge`` does) with the embedded SmolLM2-135M-Instruct unless ``--judge-model`` names another
folder, on the newest session unless ``--session`` names one. Figures: requests (two per
item, both orders), seconds of answering (model loading excluded, as the job measures) and per
request, unparsed answers, items with a verdict, the calibration's kappas and alphas, and its
line. ``--quick`` uses 100 bootstrap resamples instead of 500 (the judging is the same). The
last line is one JSON object with every figure and the 1/5/15-minute load average at the start
and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--session", type=int)
    parser.add_argument("--judge-model")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    from workbench.stages.judge import judge
    from workbench.store import open_workspace
    from workbench.store.sessions import sessions

    with open_workspace(args.workspace, create=False) as ws:
        session_id = args.session or sessions(ws)[0]["id"]
    load_start = os.getloadavg()
    start = time.perf_counter()
    report = judge(Path(args.workspace), session_id, model_dir=args.judge_model,
                   n_boot=100 if args.quick else 500)
    wall = time.perf_counter() - start
    with open_workspace(args.workspace, create=False) as ws:
        seconds = ws.latest_run("judge")["summary"]["seconds"]
    cal = report["calibration"]
    figures = {
        "session": session_id, "judge": report["judge"], "items": report["items"],
        "requests": 2 * report["items"], "answer_seconds": seconds,
        "seconds_per_request": round(seconds / (2 * report["items"]), 3),
        "wall_seconds": round(wall, 1), "unparsed_answers": report["unparsed"]["answers"],
        "items_with_verdict": report["verdicts"],
        "position_consistency": report["position_consistency"]["rate"],
        **{name: {k: cal[name][k] for k in ("value", "low", "high")}
           for name in ("judge_kappa", "human_kappa", "alpha_humans", "alpha_with_judge")},
        "calibration_items": cal["items"], "line": cal["line"], "reason": cal["reason"],
        "win_rates": [{k: p[k] for k in ("system", "other", "win_rate", "lc_win_rate")}
                      for p in report["win_rates"]],
        "load_average_start": load_start, "load_average_end": os.getloadavg()}
    print(f"{report['judge']}: {figures['requests']} requests in {seconds} s answering "
          f"({figures['seconds_per_request']} s each); {figures['unparsed_answers']} unparsed; "
          f"{cal['line']} ({cal['reason']}); load {load_start[0]:.1f} → "
          f"{figures['load_average_end'][0]:.1f} (machine shared with other work)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
