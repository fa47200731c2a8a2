#!/usr/bin/env bash
# Fine-tune or prompt? The acceptance runs: the verdict table (base, 0-shot prompt, 3-shot
# fixed, 3-shot retrieved, tuned) with paired-bootstrap intervals and the break-even figure,
# through the real CLI (`workbench pipeline --prompted ...`, then `workbench report`), each in
# a fresh workspace.
#
# Run from the repository root:  bash bench/prompted_acceptance.sh dolly|gsm8k [OUT_DIR]
#   dolly: ../shared/data/dolly15k_first25.jsonl (25 rows: a few held-out rows, minutes)
#   gsm8k: ../shared/data/alpaca_gsm8k_train.json (7,473 rows, 30 training steps, 50 test
#          prompts; CPU-heavy: about an hour on 2 loaded cores)
# OUT_DIR (default /tmp/prompted-acceptance) gets <name>/ (the workspace), <name>.prompt.txt,
# <name>.pipeline.json, <name>.report.json, <name>.table.md and <name>.log (progress, times and
# load averages). The table is printed by bench/prompted_table.py from the report's JSON.
# Both files name people (GSM8K's word problems, Dolly's contexts): Presidio finds PERSON spans
# and the privacy gate would stop training, so the pipeline runs with --redact (names become
# <PERSON> in the training text). GATE=override instead runs the pipeline without --redact
# (it stops at the gate after split and leakage), records an admin's override (the names in
# these public data sets are fictional or public figures), then runs the remaining stages one
# command each: train, generate (with the same prompted systems), score. GATE=override with
# RESUME=1 keeps a gated workspace that a first pipeline run left and starts at the override.
# REGENERATE=1 keeps a finished workspace and runs generate, score and report again (the
# same train run and greedy decoding: the same answers, the cost measured once more, e.g. on
# a quieter machine).
set -euo pipefail
name=${1:?usage: bench/prompted_acceptance.sh dolly|gsm8k [OUT_DIR]}
out=${2:-/tmp/prompted-acceptance}
root=$(cd "$(dirname "$0")/.." && pwd)
case $name in
  dolly) input=$root/../shared/data/dolly15k_first25.jsonl
         prompt="Answer the instruction accurately and concisely. When a context passage is given, base the answer on it." ;;
  gsm8k) input=$root/../shared/data/alpaca_gsm8k_train.json
         prompt="Solve the math word problem. Reason step by step, then write the final answer on its own line as: #### <number>" ;;
  *) echo "unknown run $name (dolly or gsm8k)" >&2; exit 2 ;;
esac
[ -f "$input" ] || { echo "$input not found" >&2; exit 2; }
mkdir -p "$out"
ws=$out/$name
[ "${RESUME:-0}" = 1 ] || [ "${REGENERATE:-0}" = 1 ] || rm -rf "$ws"  # a fresh workspace
printf '%s\n' "$prompt" > "$out/$name.prompt.txt"
wb() { PYTHONPATH=$root "$root/.venv/bin/python" -m workbench "$@"; }
log=$out/$name.log
stamp() { echo "$(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) $*" | tee -a "$log"; }
systems=(--prompted "0-shot prompt=$out/$name.prompt.txt,k=0"
         --prompted "3-shot fixed=$out/$name.prompt.txt,k=3,shots=fixed"
         --prompted "3-shot retrieved=$out/$name.prompt.txt,k=3,shots=retrieved")
start=$(date +%s)
if [ "${REGENERATE:-0}" = 1 ]; then
  [ -d "$ws" ] || { echo "$ws not found: run without REGENERATE first" >&2; exit 2; }
  wb generate --workspace "$ws" --eval-size 50 "${systems[@]}" > "$out/$name.generate.json" 2>> "$log"
  stamp "generate done in $(( $(date +%s) - start )) s"
  wb score --workspace "$ws" > "$out/$name.score.json" 2>> "$log"
elif [ "${RESUME:-0}" != 1 ]; then
  stamp "pipeline start: $input"
  flags=(--redact); [ "${GATE:-redact}" = override ] && flags=()
  wb pipeline --input "$input" --workspace "$ws" --max-train-steps 30 --eval-size 50 \
    "${flags[@]}" "${systems[@]}" > "$out/$name.pipeline.json" 2>> "$log"
  stamp "pipeline done in $(( $(date +%s) - start )) s"
fi
if [ "${GATE:-redact}" = override ]; then
  wb privacy-grant-admin --workspace "$ws" --name acceptance --by acceptance >> "$log"
  wb privacy-override --workspace "$ws" --who acceptance \
    --reason "public benchmark data: the names are fictional or public figures" >> "$log"
  for stage in "train --max-steps 30" "generate --eval-size 50" "score"; do
    start=$(date +%s)
    extra=(); [ "${stage%% *}" = generate ] && extra=("${systems[@]}")
    # shellcheck disable=SC2086
    wb $stage --workspace "$ws" "${extra[@]}" > "$out/$name.${stage%% *}.json" 2>> "$log"
    stamp "${stage%% *} done in $(( $(date +%s) - start )) s"
  done
fi
start=$(date +%s)
wb report --workspace "$ws" > "$out/$name.report.json" 2>> "$log"
stamp "report done in $(( $(date +%s) - start )) s"
PYTHONPATH=$root "$root/.venv/bin/python" "$root/bench/prompted_table.py" \
  < "$out/$name.report.json" | tee "$out/$name.table.md"
