#!/usr/bin/env bash
# The whole test suite, as CI runs it: cargo's tests (the `balnet` crate and the CLI; the GPU
# tests twice, in the adapter's own kernel layout and in the gpu layout), then the
# Python package built from this checkout and installed into a virtual environment, and its
# pytest suite (which also compares the package against target/release/balnet).
#
#   scripts/test.sh               everything
#   scripts/test.sh --python      only the package: build, install, pytest
#   PYTEST_ARGS="-k interrupt" scripts/test.sh --python
#
# The environment lives in target/python-venv (BALNET_VENV to move it); it sees the system's
# packages, and pip installs there whatever of pandas, tqdm, pytest, maturin and matplotlib
# (the examples' figures) is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python_only=0
[[ "${1:-}" == "--python" ]] && python_only=1

if [[ $python_only == 0 ]]; then
  echo "== cargo test --release (GPU tests in the default layout, BALNET_GPU_LAYOUT=${BALNET_GPU_LAYOUT:-auto})"
  cargo test --release
  # The GPU tests again with the kernel shapes a discrete GPU gets (workgroup reductions,
  # 64 x 4 model L blocks, 256-wide sorts), whatever the adapter; without an adapter they
  # skip (or fail, with BALNET_REQUIRE_GPU=1).
  echo "== the GPU tests again with BALNET_GPU_LAYOUT=gpu"
  BALNET_GPU_LAYOUT=gpu cargo test --release --test hydro --test replicas --test checkpoint \
    --test lif_gpu --test rng_samplers --test math_twins --test spikes --test numerics --test kernel_times
fi
# The CLI the Python tests compare against (cargo test builds it too; this is a no-op then).
cargo build --release --bin balnet

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
