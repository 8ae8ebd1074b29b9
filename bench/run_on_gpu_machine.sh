#!/usr/bin/env bash
# What the project runs on the `device` tool's GPU machine (no network there: the Python packages the
# image lacks travel as wheels in .whl/, see README "Real-GPU tier"). Writes everything under $OUT.
#   1. bench/gpu_real_tier.sh: NVML plugin --list, 500 CUDA steps, the article flow with kubectl on
#      `serve --gpu real`, and the same with one GPU hidden;
#   2. the offline conformance suite on the real GPU(s): pytest -m offline --gpu real;
#   3. the hidden-GPU fault through the suite (--cluster kubeconfig against `serve --gpu real --hide-gpu 0`):
#      the schedulable step must fail with a clear message;
#   4. the GPU-marked self-tests.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-machine-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
chmod +x /tmp/site/bin/kubectl
nvidia-smi -L | tee "$OUT/nvidia-smi.txt"

echo "== 1. real-GPU tier script"
OUT=$OUT/tier PYTHON=python3 KUBECTL=/tmp/site/bin/kubectl bash bench/gpu_real_tier.sh > "$OUT/tier.log" 2>&1
echo "tier rc=$?"; cat "$OUT/tier/timings.txt"

echo "== 2. offline suite on the real GPU(s)"
start=$(date +%s.%N)
python3 -m pytest -m offline --gpu real --vm-size Standard_NC40ads_H100_v5 -p no:cacheprovider \
  --reports-dir="$OUT/suite" > "$OUT/suite.log" 2>&1
echo "suite rc=$? wall $(python3 -c "import time,sys;print(round(time.time()-float(sys.argv[1]),1))" "$start") s"
tail -25 "$OUT/suite.log"

echo "== 3. hidden GPU through the suite"
work=$(mktemp -d /tmp/gchideXXXX)
python3 -m gpuconf.emulator serve --kubeconfig "$work/kc" --gpu real --hide-gpu 0 \
  --vm-size Standard_NC40ads_H100_v5 > "$work/serve.log" 2>&1 &
serve=$!
for _ in $(seq 200); do grep -q ready "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
python3 -m pytest -m offline --cluster kubeconfig --kubeconfig="$work/kc" -p no:cacheprovider \
  --reports-dir="$OUT/hidden" > "$OUT/hidden.log" 2>&1
echo "hidden-gpu suite rc=$? (non-zero expected)"
grep -E "^(FAIL|PASS)|advertises|Capacity" "$OUT/hidden.log" | head -12
kill $serve; wait $serve

echo "== 4. GPU-marked self-tests"
python3 -m pytest tests/emulator_gpu_real -m gpu -p no:cacheprovider -q > "$OUT/gpu-tests.log" 2>&1
echo "gpu tests rc=$?"; tail -3 "$OUT/gpu-tests.log"
cd "$OUT" && tar czf reports.tgz suite hidden tier 2>/dev/null; rm -rf suite hidden tier
