#!/usr/bin/env bash
# The data-quality ablation on GSM8K: top 20% by IFD vs a random 20% vs everything kept,
# the same LoRA recipe for the same token budget, scored on the same held-out rows.
#
# Usage: bench/ablation_gsm8k.sh [WORKDIR]   (default /tmp/quality-ablation; POOL=200 TEST=0.25
#        BUDGET=5000 EVAL=50 MAX_NEW=160 SEED=0 override the defaults below)
#
# IFD needs two forward passes of the base model per row; on 2 shared CPU cores that is too
# slow for all 7,473 rows of the file, so the rows scored are a seeded random pool of POOL
# rows of it (random.Random(SEED).sample): the pool is ingested, validated, deduplicated and
# split, every kept row of it is scored, and all three arms draw from that pool's training
# rows. POOL=7473 scores the whole file.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKDIR=${1:-/tmp/quality-ablation}
POOL=${POOL:-200}
TEST=${TEST:-0.25}
BUDGET=${BUDGET:-5000}
EVAL=${EVAL:-50}
MAX_NEW=${MAX_NEW:-160}
SEED=${SEED:-0}
DATA=../shared/data/alpaca_gsm8k_train.json
WB="env PYTHONPATH=$PWD .venv/bin/python -m workbench"
WS=$WORKDIR/ws
mkdir -p "$WORKDIR"
[ -e "$WS" ] && { echo "$WS exists: remove it or give another WORKDIR" >&2; exit 1; }

step() {  # name, command...: timestamps, load average and seconds of each step
  local name=$1; shift
  echo "== $name: $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  local start=$SECONDS
  "$@" | tee "$WORKDIR/$name.json"
  echo "== $name: $((SECONDS - start)) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
}

PYTHONPATH=$PWD .venv/bin/python - "$DATA" "$POOL" "$SEED" "$WORKDIR/pool.json" <<'EOF'
import json, random, sys
data, pool, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = json.load(open(data))
picked = sorted(random.Random(seed).sample(range(len(rows)), min(pool, len(rows))))
json.dump([rows[i] for i in picked], open(out, "w"))
print(f"pool: {len(picked)} of {len(rows)} rows (seed {seed}) -> {out}")
EOF

step ingest $WB ingest --input "$WORKDIR/pool.json" --workspace "$WS"
step validate $WB validate -w "$WS"
step dedup $WB dedup -w "$WS"
step split $WB split -w "$WS" --seed "$SEED" --validation 0 --test "$TEST"
step quality $WB quality -w "$WS"
step select $WB select -w "$WS" --formula ifd --percent 20 --note "top 20% by IFD"
TOP=$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1]))['version'])" \
      "$WORKDIR/select.json")
step ablate $WB ablate -w "$WS" --version all --version "random:20" --version "$TOP" \
     --budget-tokens "$BUDGET" --eval-size "$EVAL" --max-new-tokens "$MAX_NEW" \
     --extractor gsm8k --random-seed "$SEED" --preset configs/lora.yaml

# The same answers compared against the random arm too (no new training or generation), and
# every table as markdown: table.md in WORKDIR.
PYTHONPATH=$PWD .venv/bin/python - "$WS" "$WORKDIR/ablate.json" "$WORKDIR/select.json" \
    "$WORKDIR/table.md" <<'EOF2'
import json, sys
from pathlib import Path
from evaluation.ablation import ablation_table
from workbench.store import open_workspace
from workbench.store.evaluation import example_scores

ws_path, result, selected, out = Path(sys.argv[1]), *map(Path, sys.argv[2:])
result = json.loads(result.read_text().strip().splitlines()[-1])
selection = json.loads(selected.read_text().strip().splitlines()[-1])["selection"]
arms = result["arms"]
names = {"base": "base model", "tuned": arms[0]["label"],
         **{a["run_id"]: a["label"] for a in arms[1:]}}
with open_workspace(ws_path, create=False) as ws:
    scores = example_scores(ws, result["generate_run"])
scores = {names[s]: v for s, v in scores.items()}
top, random_arm = arms[2]["label"], arms[1]["label"]
lines = ["| arm | train rows | steps | trained tokens | final train loss |", "|---|---|---|---|---|"]
lines += [f"| {a['label']} ({a['version']}) | {a['train_rows']} | {a['steps']} | "
          f"{a['trained_tokens']:,} | {a['final_loss']:.4f} |" for a in arms]
lines += ["", f"selection: {selection['selected']} of {selection['candidates']} train rows "
          f"by {selection['formula']['text']}, {selection['skipped_similar']} skipped as too "
          f"similar, {selection['unscored']} without a score", ""]
lines += ["| metric | system | mean | baseline | baseline mean | diff | 95% interval | reading |",
          "|---|---|---|---|---|---|---|---|"]
for baseline in (arms[0]["label"], random_arm):
    subset = scores if baseline == arms[0]["label"] else {
        k: v for k, v in scores.items() if k in (random_arm, top)}
    for row in sorted(ablation_table(subset, baseline), key=lambda r: (r["metric"], r["arm"])):
        lines.append(f"| {row['metric']} | {row['arm']} | {row['mean']:.4f} | {baseline} | "
                     f"{row['baseline_mean']:.4f} | {row['diff']:+.4f} | "
                     f"[{row['low']:+.4f}, {row['high']:+.4f}] | {row['better']} (n={row['n']}) |")
Path(out).write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF2
