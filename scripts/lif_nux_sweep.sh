#!/usr/bin/env bash
# Model L drive sweep: runs CONFIG at nu_X tau_rp in {0.01, 0.03, ..., 0.11} (tau_rp = 2 ms,
# so nu_X = 5 ... 55 Hz) and prints rate, CV and the mean-field prediction per point.
# Usage: scripts/lif_nux_sweep.sh CONFIG [OUTDIR] [extra balnet run flags...]
set -euo pipefail
config=${1:?usage: $0 CONFIG [OUTDIR] [flags]}
out=${2:-runs/$(basename "$config" .json)_sweep}
shift $(( $# >= 2 ? 2 : 1 ))
bin=${BALNET:-target/release/balnet}
mkdir -p "$out"
printf "nu_x_tau_rp\tnu_tau_rp_E\tcv_E\tnu_tau_rp_I\tcv_I\tmf_nu_tau_rp\tmf_cv\twall_s_per_sim_s\n"
for x in 0.01 0.03 0.05 0.07 0.09 0.11; do
  nu=$(python3 -c "print($x / 2e-3)")
  cfg="$out/config_$x.json"
  python3 - "$config" "$nu" "$cfg" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["nu_x"] = float(sys.argv[2]); json.dump(c, open(sys.argv[3], "w"), indent=2)
PY
  "$bin" run "$cfg" --out "$out/$x" "$@" >/dev/null
  python3 - "$out/$x/run.json" "$x" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = r["summary"]; t = r.get("theory") or {}
tau_rp = r["config"]["neuron"]["tau_rp"] * 1e-3
f = lambda v: "nan" if v is None else f"{v:.4f}"
print("\t".join([sys.argv[2], f(s["mean_rate_hz"][0] * tau_rp), f(s["mean_cv"][0]), f(s["mean_rate_hz"][1] * tau_rp), f(s["mean_cv"][1]),
                 f(t.get("rate_hz", 0) * tau_rp if t else None), f(t.get("cv") if t else None), f(r["wall_seconds_per_simulated_second"])]))
PY
done
