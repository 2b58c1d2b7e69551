#!/usr/bin/env bash
# One command for the first time a real GPU is at hand (at most about 8 minutes on an
# H100/H200-class GPU): builds, prints the adapter, runs the self-test and the GPU test targets
# in the `gpu` kernel layout, the throughput benches (model H at n = 1e6, 1e7, 1e8 in both
# coupling modes, 1024 replicas of n = 1e3, model L at K = 1e3) and a short model L run of the
# paper-size K = 1e4 network (N_E = N_I = 1e5, 2.5e9 synapses), and writes everything into one
# results file. The GPU bench rows and the short run's run.json (gpu.kernel_times) carry the
# device time per dispatch kind from timestamp queries where the adapter has them.
#
#   scripts/device_check.sh [--small] [RESULTS]
#
# --small: the same steps at sizes a software device (lavapipe) finishes in a few minutes
# (model H n = 1e4, 1e5; 64 replicas; model L K = 1e3 bench skipped, the K = 1e4 run replaced
# by the K = 100 config); the GPU test targets are then the fast ones only.
# RESULTS defaults to device_check_<host>_<UTC time>.txt in the current directory.
set -u -o pipefail

small=0
out=""
for a in "$@"; do
    case "$a" in
        --small) small=1 ;;
        -h|--help) sed -n 2,14p "$0"; exit 0 ;;
        -*) echo "device_check.sh: unknown option $a (allowed: --small, RESULTS)" >&2; exit 2 ;;
        *) out="$a" ;;
    esac
done
cd "$(dirname "$0")/.."
out="${out:-device_check_$(hostname)_$(date -u +%Y%m%dT%H%M%SZ).txt}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" BALNET_REQUIRE_GPU=1
: > "$out"
failed=()

# Runs a titled step, its output appended to the results file (and shown), timed.
step() {
    local title="$1"; shift
    echo "=== $title" | tee -a "$out"
    echo "\$ $*" >> "$out"
    local t0=$SECONDS
    "$@" 2>&1 | tee -a "$out"
    local rc=${PIPESTATUS[0]}
    echo "--- $title: exit $rc, $((SECONDS - t0)) s" | tee -a "$out"
    [ "$rc" -eq 0 ] || failed+=("$title")
}

echo "balnet device check, $(date -u), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')" | tee -a "$out"
command -v nvidia-smi >/dev/null && step "nvidia-smi" nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
step "build" cargo build --release --benches --tests
bin=target/release/balnet
step "balnet info" "$bin" info
step "selftest --backend gpu" "$bin" selftest --backend gpu

if [ "$small" -eq 1 ]; then
    step "GPU tests, gpu layout" env BALNET_GPU_LAYOUT=gpu cargo test --release \
        --test rng_samplers --test math_twins --test checkpoint --test kernel_times
    step "hydro_throughput" cargo bench --bench hydro_throughput -- gpu independent shared n=1e4,1e5 steps=200
    step "replica_throughput" cargo bench --bench replica_throughput -- gpu n=1000 replicas=64 steps=200 sequential=4
    run_cfg=configs/lif_cond_k100.json
else
    step "GPU tests, gpu layout" env BALNET_GPU_LAYOUT=gpu cargo test --release \
        --test hydro --test replicas --test checkpoint --test lif_gpu --test rng_samplers --test math_twins \
        --test kernel_times
    step "hydro_throughput" cargo bench --bench hydro_throughput -- gpu independent shared n=1e6,1e7,1e8 steps=1000
    step "replica_throughput" cargo bench --bench replica_throughput -- gpu n=1000 replicas=1024 steps=1000 sequential=16
    step "lif_throughput K = 1e3" cargo bench --bench lif_throughput -- gpu k1e3
    run_cfg=configs/lif_cond_k10000_paper.json
fi

# A short model L run (10 ms warm-up, 50 ms recorded) of run_cfg; its run.json is appended.
tmpdir=$(mktemp -d)
sed -e 's/"warmup": [0-9.]*/"warmup": 10.0/' -e 's/"duration": [0-9.]*/"duration": 50.0/' \
    "$run_cfg" > "$tmpdir/short.json"
step "model L short run ($run_cfg, dry run)" "$bin" run "$tmpdir/short.json" --dry-run
step "model L short run ($run_cfg)" "$bin" run "$tmpdir/short.json" --backend gpu --out "$tmpdir/run"
if [ -f "$tmpdir/run/run.json" ]; then
    echo "=== run.json of the short run" >> "$out"
    cat "$tmpdir/run/run.json" >> "$out"
fi
rm -rf "$tmpdir"

echo "=== summary" | tee -a "$out"
if [ ${#failed[@]} -eq 0 ]; then
    echo "every step passed; results in $out" | tee -a "$out"
else
    echo "failed: ${failed[*]}; results in $out" | tee -a "$out"
    exit 1
fi
