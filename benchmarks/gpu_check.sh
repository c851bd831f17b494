#!/usr/bin/env bash
# The GPU path, checked in one call (<= 8 min on one GPU). Run from the repository root:
#
#     bash benchmarks/gpu_check.sh            # PYTHON=path/to/python to choose the interpreter
#
# 1. the CUDA-only tests (harness amp/channels_last, the precision choice on CUDA)
# 2. grading every solution notebook on CUDA: each must get its full score, as on the CPU
# 3. bench_train_step.py on CUDA: plain fp32, course fp32, the harness's default (fp32, TF32 convolutions),
#    bf16 and fp16 autocast + channels_last, fp32 channels_last: batch 1 at 256 and 128 px, batch 16 at 256
# 4. steps/s of the full 256 px recipe (python -m course_utils.train, paper-size models, batch 1) in the
#    harness's default precision and in the other one (fp32 / bf16), without start-up, and the ETA of
#    200 epochs of the 400 facades (80,000 steps)
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
stage() { echo; echo "=== $* ($(date +%T), ${SECONDS}s in)"; }

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
JOBS="${GRADE_JOBS:-$(( $(nproc) >= 8 ? 4 : 1 ))}"  # kernels at once; each gets nproc/JOBS threads
grade_start=$SECONDS
if timeout 240 "$PYTHON" -m course_utils.grade solutions --json --jobs "$JOBS" >"$OUT/grade.json" 2>"$OUT/grade.err"; then
    "$PYTHON" - "$OUT/grade.json" "$JOBS" <<'EOF' | tee -a "$SUMMARY"
import json, sys
report = json.load(open(sys.argv[1]))
lost = {name: nb["score"] for name, nb in report["notebooks"].items() if nb["score"] != nb["max_score"]}
print(f"grading on CUDA ({sys.argv[2]} at once): {report['score']:g} / {report['max_score']:g} points over {len(report['notebooks'])} "
      f"notebooks" + (f"; NOT full score: {lost}" if lost else " (full score, as on the CPU)"))
sys.exit(1 if lost else 0)
EOF
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    note "grading took $((SECONDS - grade_start)) s"
else
    status=1; tail -n 20 "$OUT/grade.err"; note "grading on CUDA FAILED (see above)"
fi

stage "3/4 bench_train_step.py on CUDA: batch 1 (the paper's) at 256 and 128 px, batch 16 at 256 px"
if timeout 100 "$PYTHON" benchmarks/bench_train_step.py --steps 20 --warmup 5 --no-data >"$OUT/bench.txt" 2>&1 &&
        timeout 100 "$PYTHON" benchmarks/bench_train_step.py --sizes 256 --batch 16 --steps 10 --warmup 3 --no-data \
            >"$OUT/bench16.txt" 2>&1; then
    cat "$OUT/bench.txt" "$OUT/bench16.txt"
    grep -h -E "^(matmul peak|course|plain|speedup|[0-9]+x[0-9]+)" "$OUT/bench.txt" "$OUT/bench16.txt" >>"$SUMMARY"
else
    status=1; tail -n 20 "$OUT/bench.txt" "$OUT/bench16.txt"; note "bench_train_step FAILED"
fi

stage "4/4 the full 256 px recipe: steps/s and the ETA of 200 epochs"
# Each precision trains 30 and then 530 steps from scratch (python -m course_utils.train, synthetic facades,
# paper-size models, batch 1): the difference of the two wall times is 500 steps without the start-up.
if ! timeout 300 "$PYTHON" - "$PYTHON" "$OUT" <<'EOF' | tee -a "$SUMMARY"; then status=1; note "training runs FAILED"; fi
import re, subprocess, sys, time
python, out = sys.argv[1], sys.argv[2]
log = open(f"{out}/train.txt", "w")
base = [python, "-m", "course_utils.train", "--synthetic", "--run-dir", f"{out}/run", "--no-evaluate", "--restart",
        "--checkpoint-every", "100000", "--sample-every", "100000"]


def wall(steps, flag):
    start = time.perf_counter()
    log.write(f"\n$ {' '.join(base)} --steps {steps} {flag}\n")
    log.flush()
    subprocess.run(base + ["--steps", str(steps)] + ([flag] if flag else []), check=True, stdout=log,
                   stderr=subprocess.STDOUT, timeout=120)
    return time.perf_counter() - start


wall(30, "")  # writes the synthetic data set, warms the caches
default = re.findall(r"training step: (.*)", open(f"{out}/train.txt").read())[-1]
for label, flag in (("default", ""), ("fp32", "--fp32"), ("bf16", "--bf16")):
    if label != "default" and (label == "bf16") == default.startswith("fast path"):
        continue  # the default already is this precision
    rate = 500 / (wall(530, flag) - wall(30, flag))
    eta = 80_000 / rate
    print(f"full recipe, {label} ({default if label == 'default' else flag}): {rate:.1f} steps/s without start-up; "
          f"200 epochs = 80,000 steps: ETA {eta / 3600:.1f} h on this GPU")
EOF

note "gpu_check took ${SECONDS} s"
echo; echo "=== summary (paste this) ==="
cat "$SUMMARY"
echo "gpu_check: $([ $status -eq 0 ] && echo OK || echo FAILED); logs in $OUT"
exit $status
