#!/usr/bin/env bash
# The real-GPU tier (issue 9), for a machine with an NVIDIA driver, nvidia-ml-py and PyTorch with CUDA:
#   1. what the nvml-mode device plugin would advertise (`--mode nvml --list`);
#   2. the MNIST workload, 500 steps on CUDA, timed;
#   3. the emulated cluster with `--gpu real` through the article's flow with kubectl: device-plugin
#      DaemonSet -> node advertises NVML's GPU count -> the article's Job -> discovery line in its log;
#      timings printed and written to $OUT/timings.txt;
#   4. the same cluster with `--hide-gpu 0`: the node advertises one GPU fewer.
# Outputs go to $OUT (default ./gpu-real-tier-out). Every wait is bounded (TIMEOUT_S, default 300).
#
#   bash bench/gpu_real_tier.sh            # PYTHON=... KUBECTL=... override the venv's
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
KUBECTL=${KUBECTL:-.venv/bin/kubectl}
OUT=${OUT:-$PWD/gpu-real-tier-out}
TIMEOUT_S=${TIMEOUT_S:-300}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/gcrealXXXX)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { "$PYTHON" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }
record() { echo "$1" | tee -a "$OUT/timings.txt"; }
: >"$OUT/timings.txt"

echo "== 1. nvml --list"
"$PYTHON" -m gpuconf.deviceplugin --mode nvml --list --socket-dir "$WORK/plugins" | tee "$OUT/nvml-list.txt"
nvml_count=$(grep -c " GPU-" "$OUT/nvml-list.txt")
record "nvml_gpus $nvml_count"

echo "== 2. workload, 500 steps on CUDA"
t0=$(now)
timeout "$TIMEOUT_S" "$PYTHON" -m gpuconf.workload.mnist --max_steps 500 --device cuda | tee "$OUT/workload-cuda.log"
record "workload_cuda_500_steps_s $(since "$t0")"
grep -q "Creating TensorFlow device" "$OUT/workload-cuda.log"

serve() {  # serve <tag> [flags...]: start the cluster, wait (bounded) for its ready line
  local tag=$1; shift
  : >"$OUT/serve-$tag.log"  # exists before tail opens it (the background redirection may come later)
  "$PYTHON" -m gpuconf.emulator serve --kubeconfig "$WORK/kubeconfig-$tag" --gpu real "$@" \
    >"$OUT/serve-$tag.log" 2>&1 &
  SERVER_PID=$!
  timeout "$TIMEOUT_S" grep -q -m1 "ready at" <(tail -n +1 -f "$OUT/serve-$tag.log")
  export KUBECONFIG="$WORK/kubeconfig-$tag"
}
stop_serve() { kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""; }
advertise() {  # apply the article's DaemonSet and wait until the node advertises nvidia.com/gpu
  # (progress to stderr: stdout is the count alone)
  "$KUBECTL" create namespace gpu-resources >&2
  "$KUBECTL" apply -f manifests/article/nvidia-device-plugin-ds.yaml >&2
  "$KUBECTL" wait node --all --for='jsonpath={.status.capacity.nvidia\.com/gpu}' --timeout="${TIMEOUT_S}s" >&2
  "$KUBECTL" get nodes -o jsonpath='{.items[0].status.capacity.nvidia\.com/gpu}'
}

echo "== 3. emulated cluster with --gpu real, the article's flow"
t0=$(now)
serve real
record "cluster_ready_s $(since "$t0")"
t0=$(now)
advertised=$(advertise)
record "gpus_advertised_s $(since "$t0")"
record "gpus_advertised $advertised"
"$KUBECTL" get node -o json >"$OUT/node.json"
"$KUBECTL" describe node >"$OUT/describe-node.txt"
t0=$(now)
"$KUBECTL" apply -f manifests/article/samples-tf-mnist-demo.yaml
"$KUBECTL" wait job/samples-tf-mnist-demo --for=condition=complete --timeout="${TIMEOUT_S}s"
record "job_apply_to_complete_s $(since "$t0")"
"$KUBECTL" logs job/samples-tf-mnist-demo >"$OUT/job.log"
grep -m1 "Creating TensorFlow device" "$OUT/job.log" | tee "$OUT/discovery-line.txt"
# Time to discovery: the discovery line's own timestamp (local time, TensorFlow's format) - apply.
record "job_apply_to_discovery_s $("$PYTHON" -c '
import datetime, sys
stamp = open(sys.argv[1]).read()[:26]
seen = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
print(f"{seen - float(sys.argv[2]):.2f}")' "$OUT/discovery-line.txt" "$t0")"
"$KUBECTL" logs job/samples-tf-mnist-demo >"$OUT/job.log"
stop_serve

echo "== 4. --hide-gpu 0"
serve hidden --hide-gpu 0
hidden=$(advertise)
record "gpus_advertised_with_hide_gpu_0 $hidden"
stop_serve
[ "$advertised" = "$nvml_count" ] && [ "$hidden" = "$((nvml_count - 1))" ]
echo "gpu real tier: OK ($OUT)"
