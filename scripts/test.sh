#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (`.ci/run` calls this script): cargo's tests (the
# `balnet` crate and the CLI; the GPU tests twice, in the adapter's own kernel layout and in
# the gpu layout), then the Python package built from this checkout and installed into a
# virtual environment, and its pytest suite (which also compares the package against
# target/release/balnet).
#
#   scripts/test.sh               everything
#   scripts/test.sh --python      only the package: build, install, pytest
#   scripts/test.sh --long        the long tier: the #[ignore]d tests, with their assertions
#                                 (K = 1e3 spikes and CPU/GPU, the annealed mean field, the
#                                 model H convergence table), then the CLI fuzz, 1e5 cases
#                                 per model (BALNET_FUZZ_COUNT to change it)
#   PYTEST_ARGS="-k interrupt" scripts/test.sh --python
#
# Strict as CI: a check that this machine can run never skips. BALNET_REQUIRE_GPU=1 (a
# missing Vulkan adapter fails the GPU tests: install mesa-vulkan-drivers, or export
# BALNET_REQUIRE_GPU=0 to let them skip), BALNET_REQUIRE_ISA (every instruction-set level the
# CPU's flags show must be compared), BALNET_REQUIRE_MOUNT=1 where a tmpfs can be mounted (the
# full-disk test), BALNET_REQUIRE_TIMESTAMPS=1 where the adapter reports timestamp queries.
# Each can be set beforehand to override.
#
# The environment lives in target/python-venv (BALNET_VENV to move it); it sees the system's
# packages, and pip installs there whatever of pandas, tqdm, pytest, maturin and matplotlib
# (the examples' figures) is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=all
case "${1:-}" in
  --python) mode=python ;;
  --long) mode=long ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--python|--long]" >&2; exit 2 ;;
esac

# The Vulkan loader's window-system layer prints "XDG_RUNTIME_DIR is invalid or not set"
# from every test process that opens an adapter when it is unset or not a directory.
if [[ ! -d "${XDG_RUNTIME_DIR:-}" ]]; then
  export XDG_RUNTIME_DIR=/tmp
fi
export BALNET_REQUIRE_GPU="${BALNET_REQUIRE_GPU:-1}"
if [[ -z "${BALNET_REQUIRE_ISA+x}" ]]; then
  # The levels balnet's detection gives on these flags (src/device/isa.rs).
  flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
  levels=baseline
  if has avx2 fma bmi1 bmi2; then levels="avx2,$levels"; fi
  if has avx512f avx512vl avx512bw avx512dq avx2 fma bmi1 bmi2; then levels="avx512,$levels"; fi
  export BALNET_REQUIRE_ISA=$levels
fi
if [[ -z "${BALNET_REQUIRE_MOUNT+x}" ]]; then
  probe=$(mktemp -d)
  if mount -t tmpfs -o size=64k tmpfs "$probe" 2>/dev/null; then
    umount "$probe"
    export BALNET_REQUIRE_MOUNT=1
  fi
  rmdir "$probe"
fi
echo "== strict checks: BALNET_REQUIRE_GPU=$BALNET_REQUIRE_GPU BALNET_REQUIRE_ISA=$BALNET_REQUIRE_ISA BALNET_REQUIRE_MOUNT=${BALNET_REQUIRE_MOUNT:-0}"

# The CLI (the tests spawn it, and it tells whether the adapter has timestamp queries).
cargo build --release --bin balnet
if [[ -z "${BALNET_REQUIRE_TIMESTAMPS+x}" ]]; then
  # (Captured first: with pipefail, `grep -q` closing the pipe early would fail the test.)
  info=$(target/release/balnet info --json 2>/dev/null || true)
  if grep -q '"timestamp_query": *true' <<<"$info"; then
    export BALNET_REQUIRE_TIMESTAMPS=1
  fi
fi
echo "== BALNET_REQUIRE_TIMESTAMPS=${BALNET_REQUIRE_TIMESTAMPS:-0}"

if [[ $mode == long ]]; then
  t0=$SECONDS
  echo "== the long tier: every #[ignore]d test, with assertions"
  cargo test --release -- --ignored --nocapture
  echo "== the CLI fuzz: ${BALNET_FUZZ_COUNT:-100000} cases per model"
  fuzz_out=${BALNET_FUZZ_OUT:-target/fuzz-long}
  python3 scripts/fuzz_cli.py --count "${BALNET_FUZZ_COUNT:-100000}" --jobs "$(nproc)" \
    --out "$fuzz_out"
  echo "== long tier passed in $((SECONDS - t0)) s"
  exit 0
fi

if [[ $mode == all ]]; then
  echo "== cargo test --release (GPU tests in the default layout, BALNET_GPU_LAYOUT=${BALNET_GPU_LAYOUT:-auto})"
  cargo test --release
  # The GPU tests again with the kernel shapes a discrete GPU gets (workgroup reductions,
  # 64 x 4 model L blocks, 256-wide sorts), whatever the adapter; without an adapter they
  # fail (or skip, with BALNET_REQUIRE_GPU=0).
  echo "== the GPU tests again with BALNET_GPU_LAYOUT=gpu"
  # The CPU-only statistical tests of tests/hydro.rs ran in the first pass: skipped here.
  BALNET_GPU_LAYOUT=gpu cargo test --release --test hydro --test replicas --test checkpoint \
    --test lif_gpu --test rng_samplers --test math_twins --test spikes --test numerics --test kernel_times \
    -- --skip independent_matches_the_corrected_limit_cpu --skip pairwise_and_independent \
    --skip x_is_gaussian --skip shared_mode
fi

venv=${BALNET_VENV:-target/python-venv}
py=${PYTHON:-python3}
if [[ ! -x "$venv/bin/python" ]]; then
  "$py" -m venv --system-site-packages "$venv"
fi
vpy="$venv/bin/python"
"$vpy" -m pip install --quiet --disable-pip-version-check \
  "maturin>=1.16,<2" "numpy>=1.22" "pandas>=1.5" "tqdm>=4.60" "pytest>=7" "matplotlib>=3.5"
# The package exactly as `pip install .` builds it (maturin, release profile), without a
# fresh isolated build environment each time.
"$vpy" -m pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps .

set +e
BALNET_REQUIRE_CLI=1 BALNET_CLI="$PWD/target/release/balnet" \
  "$vpy" -m pytest python/tests -q ${PYTEST_ARGS:-}
rc=$?
set -e
if [[ $rc == 5 ]]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit $rc
