"""Scale-out benchmark: each curation step on the local engine vs on Ray Data, same machine.

Run as: python bench/scale.py [--quick] [--rows N] [--steps exact,near,...] [--cpus 2]

--quick: 2,000 rows, steps exact, near and quality (each Ray step costs ~15-40 s of actor
start-up on the shared 2-core machine, so every step would not fit in two minutes).

Data: ``tests.planted.planted_rows(N)`` (default 100,000; --quick 2,000): chat rows of
random words with planted exact copies (1 in 10), near copies (1 in 10), PII (e-mail, phone,
name: 1 in 9) and invalid rows (no assistant turn, empty answer).

Steps, each timed local then Ray, on the same rows:
- exact: ``dedup_levels`` with only the exact level vs ``dedup_levels_on_ray`` (keys on Ray);
- near: only the near level (MinHash signatures on Ray, bands and leader rule on the driver);
- semantic: only the semantic level (``--backend``, default onnx: embeddings on Ray,
  HNSW leader clusters on the driver); equality = share of the local pairs Ray also finds;
- pii: ``scan_messages`` with the stage's processes vs ``pii_on_ray``;
- validate: token counts (tokenizer + OpenAI count) per row vs ``measure_on_ray``;
- quality: ``heuristics`` per row vs ``heuristics_on_ray``.

Ray is a local Ray started here with ``--cpus`` CPUs (default 2, the machine's cores) and as
many actors; its start-up is timed once, apart from the steps. Per step: local_s, ray_s,
overhead_s = ray_s - local_s, overhead_pct = overhead_s / local_s, equal (exact, near, pii,
validate, quality: identical results; semantic: pairs_share ≥ 0.99), and the driver's peak
RSS during each side (psutil, sampled every 50 ms: the driver only, not Ray's workers).

Progress and one JSON line per step go to stderr; the last stdout line is one JSON object
with every figure and the load average (1, 5, 15 min) at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STEPS = ("exact", "near", "quality", "validate", "pii", "semantic")


class PeakRss:
    """Peak resident memory of this process (MiB) while the ``with`` block runs."""

    def __enter__(self):
        import psutil

        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.05)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        self.mib = round(self.peak / 2**20)


def timed(run):
    """(result, seconds, driver peak MiB) of ``run()``."""
    with PeakRss() as rss:
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
    return result, seconds, rss.mib


def plans(step: str, backend: str):
    from curation.dedup import DedupPlan

    plan = DedupPlan()
    plan.exact.enabled, plan.near.enabled = step == "exact", step == "near"
    plan.semantic.semantic = step == "semantic"
    plan.semantic.backend = backend
    return plan


def local_and_ray(step: str, conversations: list, options, backend: str):
    """(local callable, Ray callable, compare(local, ray) -> (equal, detail))."""
    from curation import engine_ray as er
    from curation.dedup import dedup_levels

    if step in ("exact", "near", "semantic"):
        plan = plans(step, backend)

        def same(a, b):
            if step != "semantic":
                return a == b, {"duplicates": sum(c.index != c.representative
                                                  for c in a.get(step, []))}
            pairs = {(c.index, c.representative) for c in a.get(step, [])
                     if c.index != c.representative}
            theirs = {(c.index, c.representative) for c in b.get(step, [])
                      if c.index != c.representative}
            share = len(pairs & theirs) / len(pairs) if pairs else 1.0
            return share >= 0.99, {"pairs_local": len(pairs), "pairs_ray": len(theirs),
                                   "pairs_share": round(share, 4)}

        return (lambda: dedup_levels(conversations, plan),
                lambda: er.dedup_levels_on_ray(conversations, plan, options), same)
    if step == "pii":
        from curation.pii import PiiConfig, scan_messages, stage_processes

        config = PiiConfig()
        return (lambda: scan_messages(conversations, config, stage_processes()),
                lambda: er.pii_on_ray(conversations, config, options),
                lambda a, b: (a == b, {"spans": len(a)}))
    if step == "validate":
        from curation.cost import num_tokens_from_messages
        from curation.validate import measure_tokens
        from training.config import MAX_SEQ_LEN
        from training.model import ensure_base_model, load_tokenizer

        model_dir = ensure_base_model("embedded")

        def local():
            tokenizer = load_tokenizer(model_dir)
            out = []
            for m in conversations:
                n, trainable = measure_tokens(tokenizer, m, MAX_SEQ_LEN)
                error = str(trainable) if isinstance(trainable, ValueError) else None
                out.append({"n_tokens": n, "trainable": None if error else trainable,
                            "error": error, "openai": num_tokens_from_messages(m)})
            return out

        return (local, lambda: er.measure_on_ray(conversations, model_dir, MAX_SEQ_LEN,
                                                 options),
                lambda a, b: (a == b, {"rows": len(a)}))
    if step == "quality":
        from curation.quality import heuristics

        return (lambda: [heuristics(m, 3) for m in conversations],
                lambda: er.heuristics_on_ray(conversations, 3, options),
                lambda a, b: (a == b, {"rows": len(a)}))
    raise SystemExit(f"unknown step {step!r}; choose from {', '.join(STEPS)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2,000 rows; steps exact, near, quality")
    parser.add_argument("--rows", type=int, default=None, help="rows (default 100,000)")
    parser.add_argument("--steps", default=None, help=f"default {','.join(STEPS)}")
    parser.add_argument("--cpus", type=int, default=2, help="local Ray CPUs and actors")
    parser.add_argument("--backend", default="onnx", help="semantic encoder backend")
    args = parser.parse_args()
    rows = args.rows or (2000 if args.quick else 100_000)
    steps = args.steps or ("exact,near,quality" if args.quick else ",".join(STEPS))
    load_start = os.getloadavg()

    from curation.engine_ray import RayOptions, ray_session
    from tests.planted import planted_rows

    conversations = [r["messages"] for r in planted_rows(rows)]
    figures = {"rows": rows, "cpus": args.cpus, "os_cpus": os.cpu_count(), "steps": {}}
    start = time.perf_counter()
    with ray_session(RayOptions(num_cpus=args.cpus, concurrency=args.cpus)) as options:
        figures["ray_start_s"] = round(time.perf_counter() - start, 2)
        for step in steps.split(","):
            local, remote, compare = local_and_ray(step, conversations, options, args.backend)
            print(f"[{step}] local ...", file=sys.stderr, flush=True)
            a, local_s, local_mib = timed(local)
            print(f"[{step}] ray ...", file=sys.stderr, flush=True)
            b, ray_s, ray_mib = timed(remote)
            equal, detail = compare(a, b)
            figures["steps"][step] = result = {
                "local_s": round(local_s, 2), "ray_s": round(ray_s, 2),
                "overhead_s": round(ray_s - local_s, 2),
                "overhead_pct": round(100 * (ray_s - local_s) / local_s, 1) if local_s else None,
                "equal": equal, **detail,
                "driver_peak_mib_local": local_mib, "driver_peak_mib_ray": ray_mib}
            print(json.dumps({step: result}), file=sys.stderr, flush=True)
    figures["load_average_start"] = [round(x, 2) for x in load_start]
    figures["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["note"] = ("shared 2-core machine, other engineers' jobs running: absolute "
                       "seconds are noisy")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
