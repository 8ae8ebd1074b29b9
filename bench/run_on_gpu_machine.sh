#!/usr/bin/env bash
# What the project runs on the `device` tool's GPU machine (no network there: the Python packages its
# image lacks travel as wheels in .whl/, see README "Real-GPU tier"). Everything goes under $OUT:
#   1. bench/gpu_real_tier.sh: NVML plugin --list, 500 CUDA steps, the article flow with kubectl on
#      `serve --gpu real` (time to discovery), and the same with one GPU hidden;
#   2. the offline conformance suite on the real GPU(s): pytest -m offline --gpu real;
#   3. the hidden-GPU fault through the suite (--cluster kubeconfig against `serve --gpu real
#      --hide-gpu 0`): the schedulable step must fail with a clear message;
#   4. the GPU-marked self-tests.
# Each stage has its own time limit; the script goes on after a failed stage and reports every rc.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-machine-out}
STAGE_TIMEOUT_S=${STAGE_TIMEOUT_S:-240}
VM_SIZE=${VM_SIZE:-Standard_NC40ads_H100_v5}  # a one-GPU Azure size: the node's labels, not its GPU
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
chmod +x /tmp/site/bin/kubectl
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
: >"$OUT/summary.txt"
nvidia-smi -L | tee -a "$OUT/summary.txt"
python3 -c 'import torch, grpc, kubernetes; print("torch", torch.__version__, "cuda", torch.version.cuda,
  "grpcio", grpc.__version__, "kubernetes", kubernetes.__version__)' | tee -a "$OUT/summary.txt"

echo "== 1. real-GPU tier script"
OUT=$OUT/tier PYTHON=python3 KUBECTL=/tmp/site/bin/kubectl TIMEOUT_S=120 \
  timeout "$STAGE_TIMEOUT_S" bash bench/gpu_real_tier.sh >"$OUT/tier.log" 2>&1
summary "tier rc=$?"
cat "$OUT/tier/timings.txt" >>"$OUT/summary.txt" 2>/dev/null

echo "== 2. offline suite on the real GPU(s)"
start=$(date +%s.%N)
timeout "$STAGE_TIMEOUT_S" python3 -m pytest -m offline --gpu real --vm-size "$VM_SIZE" -p no:cacheprovider \
  --reports-dir="$OUT/suite" >"$OUT/suite.log" 2>&1
summary "suite rc=$? wall $(python3 -c "import time,sys;print(round(time.time()-float(sys.argv[1]),1))" "$start") s"
grep -E "^(PASS|FAIL|DOC|UNAV)|EMULATED|backend |passed|failed" "$OUT/suite.log" | cut -c1-240 >>"$OUT/summary.txt"

echo "== 3. hidden GPU through the suite"
work=$(mktemp -d /tmp/gchideXXXX)
: >"$work/serve.log"  # exists before tail opens it (the background redirection may come later)
python3 -m gpuconf.emulator serve --kubeconfig "$work/kc" --gpu real --hide-gpu 0 --vm-size "$VM_SIZE" \
  >"$work/serve.log" 2>&1 &
serve=$!
timeout 60 grep -q -m1 "ready at" <(tail -n +1 -f "$work/serve.log")
timeout "$STAGE_TIMEOUT_S" python3 -m pytest -m offline --cluster kubeconfig --kubeconfig="$work/kc" \
  --timeout-factor 0.05 -p no:cacheprovider --reports-dir="$OUT/hidden" >"$OUT/hidden.log" 2>&1
summary "hidden-gpu suite rc=$? (1 expected: the schedulable step fails)"
grep -E "^(PASS|FAIL)" "$OUT/hidden.log" | cut -c1-300 | head -8 >>"$OUT/summary.txt"
kill $serve; wait $serve

echo "== 4. GPU-marked self-tests"
timeout "$STAGE_TIMEOUT_S" python3 -m pytest tests/emulator_gpu_real -m gpu -p no:cacheprovider -q \
  >"$OUT/gpu-tests.log" 2>&1
summary "gpu tests rc=$?"
tail -3 "$OUT/gpu-tests.log" >>"$OUT/summary.txt"
cd "$OUT" && tar czf reports.tgz suite hidden tier 2>/dev/null; rm -rf suite hidden tier
cat "$OUT/summary.txt"
