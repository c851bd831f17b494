#!/usr/bin/env bash
# The GPU path, checked in one call (<= 8 min on one GPU). Run from the repository root:
#
#     bash benchmarks/gpu_check.sh            # PYTHON=path/to/python to choose the interpreter
#
# 1. the CUDA-only tests (harness amp/channels_last, the precision choice on CUDA)
# 2. grading every solution notebook on CUDA: each must get its full score, as on the CPU
# 3. bench_train_step.py on CUDA: plain fp32, course fp32, fast path (bf16 autocast + channels_last),
#    fp16 autocast, fp32 channels_last, at 256 and 128 px
# 4. steps/s of the full 256 px recipe (python -m course_utils.train, paper-size models, batch 1, the
#    harness's default precision) and the ETA of 200 epochs of the 400 facades (80,000 steps)
# It ends with a summary to paste into an issue. Without CUDA it says so and exits 0.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA device visible to $PYTHON; nothing to check (skipped)"
    exit 0
fi

OUT="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
SUMMARY="$OUT/summary.txt"
status=0
note() { echo "$*" | tee -a "$SUMMARY"; }
stage() { echo; echo "=== $* ($(date +%T))"; }

note "gpu_check $(date -u +%FT%TZ) on $("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda, "| native bf16:", torch.cuda.is_bf16_supported(including_emulation=False))')"
note "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

stage "1/4 CUDA-only tests"
if COURSE_FAST=1 timeout 120 "$PYTHON" -m pytest tests/test_training.py tests/test_precision.py -q -k cuda -rs \
        >"$OUT/tests.txt" 2>&1; then
    note "CUDA tests: $(tail -n 1 "$OUT/tests.txt")"
else
    status=1; tail -n 30 "$OUT/tests.txt"; note "CUDA tests FAILED: $(tail -n 1 "$OUT/tests.txt")"
fi

stage "2/4 grading the solutions on CUDA (fast mode)"
if timeout 240 "$PYTHON" -m course_utils.grade solutions --json >"$OUT/grade.json" 2>"$OUT/grade.err"; then
    "$PYTHON" - "$OUT/grade.json" <<'EOF' | tee -a "$SUMMARY"
import json, sys
report = json.load(open(sys.argv[1]))
lost = {name: nb["score"] for name, nb in report["notebooks"].items() if nb["score"] != nb["max_score"]}
print(f"grading on CUDA: {report['score']:g} / {report['max_score']:g} points over {len(report['notebooks'])} "
      f"notebooks" + (f"; NOT full score: {lost}" if lost else " (full score, as on the CPU)"))
sys.exit(1 if lost else 0)
EOF
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
    status=1; tail -n 20 "$OUT/grade.err"; note "grading on CUDA FAILED (see above)"
fi

stage "3/4 bench_train_step.py on CUDA"
if timeout 150 "$PYTHON" benchmarks/bench_train_step.py --steps 20 --warmup 5 --no-data >"$OUT/bench.txt" 2>&1; then
    cat "$OUT/bench.txt"
    grep -E "^(matmul peak|course|plain|speedup|[0-9]+x[0-9]+)" "$OUT/bench.txt" >>"$SUMMARY"
else
    status=1; tail -n 20 "$OUT/bench.txt"; note "bench_train_step FAILED"
fi

stage "4/4 the full 256 px recipe: steps/s and the ETA of 200 epochs"
RUN="$OUT/run"
ARGS=(--synthetic --run-dir "$RUN" --no-evaluate --checkpoint-every 100000 --sample-every 100000)
if timeout 150 "$PYTHON" -m course_utils.train "${ARGS[@]}" --steps 30 >"$OUT/warm.txt" 2>&1; then
    start=$(date +%s.%N)
    if timeout 120 "$PYTHON" -m course_utils.train "${ARGS[@]}" --steps 230 >"$OUT/timed.txt" 2>&1; then
        end=$(date +%s.%N)
        "$PYTHON" - "$start" "$end" <<'EOF' | tee -a "$SUMMARY"
import sys
seconds = float(sys.argv[2]) - float(sys.argv[1])  # 200 steps, plus a process start and a checkpoint load
rate = 200 / seconds
eta = 80_000 / rate
print(f"full recipe (256 px, G 54.4 M, batch 1, default precision): {rate:.1f} steps/s (a conservative figure: "
      f"includes start-up); 200 epochs = 80,000 steps: ETA {eta / 3600:.1f} h on this GPU, "
      f"about {eta / 3600 / 4:.1f} h with torchrun on 4 such GPUs")
EOF
        grep -h "training step:" "$OUT/warm.txt" | head -n 1 | tee -a "$SUMMARY"
    else
        status=1; tail -n 20 "$OUT/timed.txt"; note "timed training run FAILED or took over 120 s"
    fi
else
    status=1; tail -n 20 "$OUT/warm.txt"; note "training run FAILED"
fi

echo; echo "=== summary (paste this) ==="
cat "$SUMMARY"
echo "gpu_check: $([ $status -eq 0 ] && echo OK || echo FAILED); logs in $OUT"
exit $status
