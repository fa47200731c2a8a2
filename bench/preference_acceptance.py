"""Preference loop end to end on a workspace: a scripted blind session, pairs, DPO, re-check.

Run as: python bench/preference_acceptance.py --workspace /tmp/pref-demo [--quick]
        python bench/preference_acceptance.py --workspace ws-gsm8k --items 40 --steps 20

The workspace needs a generate run of base against a LoRA train run ("tuned"), as
``workbench demo`` or ``workbench pipeline`` leave one. Each step calls the functions the app
and the CLI call:

1. a blind session of tuned vs base (``workbench.store.sessions.create_session``, as
   ``workbench session-create``), two raters on every item, no repeats;
2. both raters rate every item through ``login`` / ``screen`` / ``submit`` (the Rate page's
   calls), by a deterministic rule that sees only what a rater sees (the prompt and the two
   answers, left and right as drawn) plus the reference answer:
   the better answer is the one whose final answer is right (``--answer gsm8k``, or
   ``auto`` when every reference ends with ``#### N``: ``evaluation.extract.
   detect_extractor``; an answer's number is ``gsm8k_answer``: the number after ``####``,
   else the last number), then the one with the higher ROUGE-L F against the
   reference (``workbench.session_statistics.rouge_scores``, what ``session-stats --rouge``
   uses). Equal → "tie"; both ROUGE-L 0 and neither right → "both_bad".
   ``bench-rater-1`` applies the rule as is. ``bench-rater-2`` calls a tie when the two
   answers are equally right and less than 0.02 ROUGE-L apart, and picks the other answer on
   every item whose number is a multiple of 4 (a fixed quarter), so the raters' agreement is
   not trivially 1;
3. pairs exported in TRL's format (``workbench.stages.preferences.export``, as ``workbench
   preferences --format trl``) and read back (``read_pairs``);
4. DPO with LoRA on the embedded model from the exported file
   (``workbench.stages.preferences.train``, as ``workbench train-preferences --preferences``;
   a job in a child process; the privacy gate scans the file's answers and prompts, and
   ``--accept-answer-pii`` lets findings through as the CLI flag does), reward accuracy read
   from the run: its first and last logged
   steps (TRL's ``rewards/accuracies`` on the step's batch; the first is 0 because the
   policy starts equal to its reference) and after training on all its training pairs;
5. the re-check session (``workbench.stages.preferences.recheck``, as ``workbench recheck``):
   a new generate run of the DPO run against the base and a blind session of the two.

Prints each stage's seconds and the load average (the machine may be shared), then one JSON
object with every figure on the last line. ``--quick``: at most 8 items, 8 DPO steps, 8
re-check prompts of at most 32 new tokens. Set ``WORKBENCH_MODEL_CACHE`` to a private folder
when other processes use the embedded model.
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

RATERS = ("bench-rater-1", "bench-rater-2")
FLIP_EVERY = 4  # bench-rater-2 picks the other answer on items numbered a multiple of this
TIE_MARGIN = 0.02  # bench-rater-2's ROUGE-L difference below which two answers tie


def _generate_run(ws, wanted: str | None) -> dict:
    """The generate run to rate: ``wanted``, or the newest succeeded one whose "tuned" system
    is a LoRA train run (a re-check's generate run has a preference run there)."""
    from workbench.store import evaluation as scores_store
    from workbench.store import preferences as pstore

    runs = scores_store.succeeded_runs(ws, "generate")
    for run in runs:
        tuned = (run["config"].get("system_runs") or {}).get("tuned")
        if wanted is not None and run["id"] != wanted:
            continue
        if wanted is not None or (tuned and (pstore.run_record(ws, tuned) or {}).get(
                "kind") == "train"):
            return run
    raise SystemExit(f"no succeeded generate run {wanted or 'of base against a train run'} "
                     "in this workspace: run `workbench pipeline` (or `workbench demo`)")


def _judgements(ws, session_id: int, gsm8k: bool) -> dict:
    """{(left text, right text): (left key, right key)} for every shown pair of answers, a key
    being (final answer right, ROUGE-L F); the first example wins when two share a pair."""
    from evaluation.extract import gsm8k_answer
    from workbench.session_statistics import rouge_scores
    from workbench.store import sessions as ss

    rouge = rouge_scores(ws, session_id)["rougeL"]
    outputs: dict[int, dict[str, str]] = {}
    refs: dict[int, str] = {}
    for row in ss.session_outputs(ws, session_id):
        outputs.setdefault(row["example_id"], {})[row["system"]] = row["output"]
        refs[row["example_id"]] = row["reference"] or ""

    def key(example_id: int, system: str) -> tuple[bool, float]:
        wanted = gsm8k_answer(refs[example_id]) if gsm8k else None
        right = wanted is not None and gsm8k_answer(outputs[example_id][system]) == wanted
        return right, float(rouge[(example_id, system)] or 0.0)

    lookup: dict = {}
    for example_id, by_system in outputs.items():
        for a in by_system:
            for b in by_system:
                if a != b:
                    lookup.setdefault((by_system[a], by_system[b]),
                                      (key(example_id, a), key(example_id, b)))
    return lookup


def choose(rater: str, item_no: int, left: tuple[bool, float], right: tuple[bool, float]
           ) -> str:
    """The scripted rater's answer: "A" (left better), "B", "tie" or "both_bad" (see the
    module docstring)."""
    if not left[0] and not right[0] and left[1] == 0.0 and right[1] == 0.0:
        return "both_bad"
    margin = TIE_MARGIN if rater == RATERS[1] else 0.0
    if left[0] == right[0] and abs(left[1] - right[1]) <= margin:
        return "tie"
    better = "A" if left > right else "B"
    if rater == RATERS[1] and item_no % FLIP_EVERY == 0:
        return "B" if better == "A" else "A"
    return better


def rate(workspace: Path, run: dict, items: int | None, seed: int, answer: str = "auto"
         ) -> dict:
    """Create the session and rate every item of both raters; its figures."""
    from evaluation.extract import detect_extractor
    from evaluation.sessions import SessionDesign
    from evaluation.verdict import SCRIPTED_MARK
    from workbench.store import evaluation as scores_store
    from workbench.store import open_workspace
    from workbench.store import sessions as ss

    with open_workspace(workspace) as ws:
        rows = scores_store.generations(ws, run["id"])
        example_ids = sorted({r["example_id"] for r in rows})[:items]
        gsm8k = answer == "gsm8k" or answer == "auto" and detect_extractor(
            [r["reference"] or "" for r in rows if r["example_id"] in set(example_ids)]
        ) == "gsm8k"
        design = SessionDesign(systems=("base", "tuned"), k=len(RATERS), repeat_share=0.0,
                               guidelines="Scripted ratings (bench/preference_acceptance.py): "
                                          "the right final answer, then the higher ROUGE-L.")
        made = ss.create_session(ws, f"preference acceptance {SCRIPTED_MARK}", run["id"],
                                 design, list(RATERS), example_ids=example_ids, seed=seed,
                                 actor="bench")
        lookup = _judgements(ws, made["session_id"], gsm8k)
        labels: dict[str, dict[str, int]] = {}
        for name, token in made["tokens"].items():
            rater_id = ss.login(ws, token)["rater_id"]
            while (item := ss.screen(ws, rater_id)["item"]) is not None:
                left, right = lookup[(item["left_output"], item["right_output"])]
                choice = choose(name, item["item_no"], left, right)
                ss.submit(ws, rater_id, item["position"], choice,
                          reason="scripted: right answer, then higher ROUGE-L")
                labels.setdefault(name, {}).setdefault(choice, 0)
                labels[name][choice] += 1
    return {"session_id": made["session_id"], "items": made["items"],
            "auto_ties": made["auto_ties"], "rule": "gsm8k answer, then ROUGE-L" if gsm8k
            else "ROUGE-L", "choices": labels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--run", help="Generate run to rate (default: the newest of base "
                                      "against a train run).")
    parser.add_argument("--items", type=int, help="Rate the first N examples (default all).")
    parser.add_argument("--steps", type=int, default=16, help="DPO optimizer steps.")
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--recheck-size", type=int, help="Re-check prompts (default: as "
                                                        "many as the rated generate run).")
    parser.add_argument("--recheck-tokens", type=int, help="Re-check max_new_tokens "
                                                          "(default: the rated run's).")
    parser.add_argument("--answer", choices=("auto", "gsm8k", "none"), default="auto",
                        help="Compare final answers first: gsm8k always, none never, auto "
                             "when every reference ends with '#### N'.")
    parser.add_argument("--accept-answer-pii", action="store_true",
                        help="Train although the PII detector finds something in the pairs' "
                             "texts (as `train-preferences --accept-answer-pii`; GSM8K's "
                             "word problems name people). The findings' counts are printed.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.items = min(args.items or 8, 8)
        args.steps = min(args.steps, 8)
        args.recheck_size = min(args.recheck_size or 8, 8)
        args.recheck_tokens = min(args.recheck_tokens or 32, 32)

    from training.config import TrainConfig
    from workbench.session_statistics import statistics
    from workbench.stages import preferences as stage
    from workbench.store import open_workspace

    workspace = Path(args.workspace).resolve()
    load_start = os.getloadavg()
    seconds: dict[str, float] = {}

    def timed(name, fn, *a, **kw):
        start = time.perf_counter()
        out = fn(*a, **kw)
        seconds[name] = round(time.perf_counter() - start, 2)
        print(f"[{name}] {seconds[name]} s", flush=True)
        return out

    with open_workspace(workspace, create=False) as ws:
        run = _generate_run(ws, args.run)
    rated = timed("session_and_rating", rate, workspace, run, args.items, args.seed,
                  args.answer)
    session_id = rated["session_id"]
    with open_workspace(workspace, create=False) as ws:
        stats = timed("statistics", statistics, ws, session_id, n_boot=50)
    out_dir = workspace / "artifacts" / "preference_acceptance"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"pairs-session{session_id}.jsonl"
    exported = timed("export", stage.export, workspace, [session_id], "trl", str(out),
                     overwrite=True, cwd=False)
    read_back = timed("read_back", stage.read_pairs, workspace, str(out))
    config = TrainConfig(method="dpo", base_model="embedded", max_steps=args.steps,
                         learning_rate=args.learning_rate, beta=args.beta,
                         batch_size=args.batch_size, warmup_steps=0, lora_dropout=0.0,
                         checkpoint_every=0, seed=args.seed)
    trained = timed("dpo", stage.train, workspace, config, preferences=str(out),
                    accept_answer_pii=args.accept_answer_pii)
    with open_workspace(workspace, create=False) as ws:
        from workbench.store import preferences as pstore

        dpo_run = pstore.run_record(ws, trained["run_id"])
        log = stage.live_log(dpo_run["dir"])
    answer_pii = dpo_run["config"]["lineage"]["privacy"]["answers"]
    recheck = timed("recheck", stage.recheck, workspace, trained["run_id"],
                    eval_size=args.recheck_size, max_new_tokens=args.recheck_tokens,
                    seed=args.seed)
    agreement = stats["agreement"]
    figures = {
        "workspace": str(workspace), "generate_run": run["id"], "rule": rated["rule"],
        "session_id": session_id, "items": rated["items"], "auto_ties": rated["auto_ties"],
        "choices": rated["choices"], "cohen_kappa": agreement["cohen_kappa"],
        "krippendorff_alpha": agreement["krippendorff_alpha"],
        "pairs": exported["pairs"], "left_out": {k: v for k, v in exported["counts"].items()
                                                 if k not in ("items", "pairs")},
        "read_back_pairs": len(read_back), "export": exported["out"],
        "pii_in_pair_texts": {k: answer_pii[k] for k in ("findings", "by_entity", "pairs",
                                                          "accepted")},
        "dpo_run": trained["run_id"], "steps": trained["steps"],
        "learning_rate": args.learning_rate, "beta": args.beta,
        "batch_size": args.batch_size, "first_loss": trained["first_loss"],
        "final_loss": trained["final_loss"],
        "reward_accuracy_first_step": log[0].get("reward_accuracy") if log else None,
        "reward_accuracy_last_step": log[-1].get("reward_accuracy") if log else None,
        "reward_accuracy": trained["reward_accuracy"],
        "reward_margin": trained["reward_margin"],
        "recheck_session_id": recheck["session_id"], "recheck_items": recheck["items"],
        "recheck_auto_ties": recheck["auto_ties"], "recheck_generate_run":
            recheck["generate_run"], "seconds": seconds,
        "total_seconds": round(sum(seconds.values()), 1),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "quick": args.quick}
    print(f"pairs {figures['pairs']} (left out {figures['left_out']}), read back "
          f"{figures['read_back_pairs']}; DPO {figures['steps']} steps: reward accuracy "
          f"{figures['reward_accuracy_first_step']} (step 1) -> "
          f"{figures['reward_accuracy_last_step']} (last step) -> "
          f"{figures['reward_accuracy']} (all training pairs after), margin "
          f"{figures['reward_margin']}; re-check session {figures['recheck_session_id']} "
          f"({figures['recheck_items']} items)")
    print(f"load average start {figures['load_average_start']} end "
          f"{figures['load_average_end']} (the machine is shared)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
