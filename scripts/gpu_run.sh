#!/usr/bin/env bash
# The paper pipeline in steps that fit a 15-minute GPU lease (two commands of at most 10
# minutes, no internet, a few files brought back; docs/gpu.md has the plan). Run the steps in
# order; each resumes where the last stopped and skips what is done, so a killed step is
# simply run again.
#
#   bash scripts/gpu_run.sh STEP [KEY=VALUE ...]
#
# Steps: setup (corpus), calibrate (measure throughput, fix the step budget), train (run again
# until it says finished), probes (eval, caches, probes, figures), interventions (cases, sweep,
# report), bundle (summary.json, report.tar.gz, bf16 weight parts into OUT), all (every step,
# training resumed until finished: the CPU dry run).
# Keys: PRESET (paper), OUT (the folder brought back; default $OUT, else WORK/out), WORK
# (data/gpu), TRAIN_MINUTES (per train call, 9), BUDGET_MINUTES (all training; paper: 5),
# CALIBRATE_STEPS (timed steps, 120), MAX_STEPS (a cap on the calibrated steps), CALL_STEPS
# (training steps per train call: a fixed number of resumes, whatever the machine's speed),
# WORKERS (corpus processes; all cores), TRAIN_ARGS, PROBES_ARGS, INTERVENTIONS_ARGS (key=value).
# docs/gpu.md gives the 15-minute plan, the expected time of each call and how to join the bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

STEP=${1:?usage: bash scripts/gpu_run.sh STEP [KEY=VALUE ...]  (steps: setup calibrate train probes interventions bundle all)}
shift
for setting in "$@"; do
    case $setting in
        *=*) declare "${setting%%=*}=${setting#*=}" ;;
        *) echo "error: expected KEY=VALUE, got '$setting'" >&2; exit 2 ;;
    esac
done
PRESET=${PRESET:-paper}
WORK=${WORK:-data/gpu}
OUT=${OUT:-$WORK/out}
TRAIN_MINUTES=${TRAIN_MINUTES:-9}
CALIBRATE_STEPS=${CALIBRATE_STEPS:-120}
MAX_STEPS=${MAX_STEPS:-0}
CALL_STEPS=${CALL_STEPS:-}
WORKERS=${WORKERS:-$(nproc)}
TRAIN_ARGS=${TRAIN_ARGS:-}
PROBES_ARGS=${PROBES_ARGS:-}
INTERVENTIONS_ARGS=${INTERVENTIONS_ARGS:-}
if [ -z "${BUDGET_MINUTES:-}" ] && [ "$PRESET" = paper ]; then BUDGET_MINUTES=5; fi
BUDGET_MINUTES=${BUDGET_MINUTES:-}

# no install, nothing fetched: the repository itself is the package
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
GAMES=$WORK/games-$PRESET.h5
RUN=$WORK/runs/$PRESET
REPORT=$WORK/reports/$PRESET
OVERRIDES=$WORK/train-overrides-$PRESET.txt
size() { $PY -m probes.stages size "$1" "$2" "$PRESET"; }
stage() { $PY scripts/run_stage.py "$1" --run "$RUN" --report "$REPORT" --games "$GAMES" --cases "$WORK/cases-$PRESET.h5" --preset "$PRESET" --no-progress "${@:2}"; }
say() { echo "== gpu_run $STEP: $*"; }

setup() {
    $PY -c "import torch, numpy, numba, h5py, sklearn, matplotlib, tqdm; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    mkdir -p "$WORK"
    if [ ! -f "$GAMES" ]; then
        n=$($PY -c "from othello.training.config import preset; print(preset('$PRESET').n_games)")
        $PY scripts/make_games.py --n "$n" --seed 0 --workers "$WORKERS" --out "$GAMES" --no-progress
    fi
    say "corpus $GAMES ready"
}

calibrate() {
    if [ -f "$OVERRIDES" ]; then say "already calibrated: $(cat "$OVERRIDES")"; return; fi
    if [ -z "$BUDGET_MINUTES" ]; then : > "$OVERRIDES"; say "no budget: the preset's steps"; return; fi
    scratch=$WORK/calibration
    rm -rf "$scratch"
    $PY scripts/train.py --preset "$PRESET" --games "$GAMES" --out "$scratch" --no-progress \
        max_steps="$CALIBRATE_STEPS" log_every=10 eval_every=1000000 checkpoint_every=1000000 \
        $TRAIN_ARGS > /dev/null
    $PY - "$scratch/metrics.jsonl" "$BUDGET_MINUTES" "$PRESET" "$OVERRIDES" "$MAX_STEPS" <<'EOF'
import json, sys
from othello.training.config import preset
lines = [json.loads(x) for x in open(sys.argv[1]) if "tokens_per_s" in x][2:]  # skip warm-up
if not lines:
    sys.exit("error: calibration logged too few steps (CALIBRATE_STEPS >= 30)")
tokens_per_s = sum(x["tokens_per_s"] for x in lines) / len(lines)
cfg = preset(sys.argv[3])
steps_per_s = tokens_per_s / (cfg.batch_size * cfg.model.n_ctx)
# the evaluations and checkpoints take a few percent; keep a margin for them
steps = int(0.92 * steps_per_s * 60 * float(sys.argv[2]) / 100) * 100
mfu = [x["mfu"] for x in lines if "mfu" in x]
wait = sum(x["data_wait_share"] for x in lines) / len(lines)
print(f"{tokens_per_s:,.0f} tokens/s, {steps_per_s:.1f} steps/s, data wait {100 * wait:.1f}%"
      + (f", MFU {100 * sum(mfu) / len(mfu):.1f}%" if mfu else "")
      + f"; {steps:,} steps in {sys.argv[2]} minutes (preset: {cfg.max_steps:,})")
cap = int(sys.argv[5]) or cfg.max_steps  # MAX_STEPS, else the preset's
open(sys.argv[4], "w").write(f"max_steps={max(min(100, cap), min(steps, cap))}\n")
EOF
    rm -rf "$scratch"
    say "training will run $(cat "$OVERRIDES")"
}

train() {
    [ -f "$OVERRIDES" ] || { echo "error: run the calibrate step first" >&2; exit 1; }
    # shellcheck disable=SC2046
    $PY scripts/train.py --preset "$PRESET" --games "$GAMES" --out "$RUN" --resume --no-progress \
        --max-minutes "$TRAIN_MINUTES" ${CALL_STEPS:+--call-steps "$CALL_STEPS"} $(cat "$OVERRIDES") \
        $TRAIN_ARGS | tail -n 1 > "$WORK/train-status.json"
    if $PY -c "import json,sys; sys.exit(0 if json.load(open('$WORK/train-status.json'))['finished'] else 1)"; then
        touch "$RUN/finished"
        say "training finished: $(cat "$WORK/train-status.json")"
    else
        say "training continues: run this step again ($(cat "$WORK/train-status.json"))"
    fi
}

probes() {
    [ -f "$RUN/finished" ] || { echo "error: training has not finished; run the train step" >&2; exit 1; }
    [ -f "$RUN/eval/eval.json" ] || $PY scripts/evaluate.py --run "$RUN" --games "$GAMES" --out "$RUN/eval"
    n=$(size probes games)
    [ -f "$RUN/acts.h5" ] || $PY scripts/cache.py --run "$RUN" --games "$GAMES" --out "$RUN/acts.h5" --n-games "$n" --no-progress
    [ -f "$RUN/control/acts.h5" ] || $PY scripts/cache.py --run "$RUN" --games "$GAMES" --out "$RUN/control/acts.h5" --n-games "$n" --control --no-progress
    # shellcheck disable=SC2086
    [ -f "$RUN/probes/metrics.json" ] || stage probes $PROBES_ARGS
    say "probes done"
}

interventions() {
    [ -f "$RUN/probes/metrics.json" ] || { echo "error: run the probes step first" >&2; exit 1; }
    cases=$WORK/cases-$PRESET.h5
    [ -f "$cases" ] || $PY scripts/make_intervention_set.py --games "$GAMES" --out "$cases" \
        --n-cases "$(size interventions sweep.n_cases)" \
        --tune-cases "$(size interventions sweep.tune_cases)" --seed 0
    # shellcheck disable=SC2086
    [ -f "$REPORT/interventions/metrics.json" ] || stage interventions $INTERVENTIONS_ARGS
    $PY scripts/report.py --run "$RUN" --out "$REPORT"
}

bundle() {
    $PY scripts/bundle.py make --run "$RUN" --report "$REPORT" --out "$OUT"
    say "bring back every file in $OUT; join with: python scripts/bundle.py join --bundle DIR --out data/runs/$PRESET"
}

case $STEP in
    setup | calibrate | train | probes | interventions | bundle) "$STEP" ;;
    all)
        setup
        calibrate
        until [ -f "$RUN/finished" ]; do train; done
        probes
        interventions
        bundle
        ;;
    *) echo "error: unknown step '$STEP'" >&2; exit 2 ;;
esac
