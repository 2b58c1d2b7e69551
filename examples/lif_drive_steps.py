#!/usr/bin/env python3
"""Model L: the population rate across a staircase of external drives, in one network.

One balnet.Simulation is built once and run stage by stage; before each stage the
external rate nu_X steps up (Simulation.set_nu_x), the network and its state carry over,
and the rate bins accumulate. The figure draws the E and I population rates (10 ms running
mean over the 1 ms bins) against time, with each stage's self-consistent mean-field rate as
a horizontal segment: the network relaxes to each new balanced state within a few
milliseconds. With matplotlib installed it writes OUT/drive_steps.png; without it,
OUT/drive_steps.csv (per stage: nu_X, the simulated rates after a 50 ms transient, and the
mean-field rate).

    python examples/lif_drive_steps.py             # K = 1000 annealed, 5 stages of 400 ms
    python examples/lif_drive_steps.py --small     # 3 stages of 150 ms (seconds)
    python examples/lif_drive_steps.py --config configs/lif_cond_k100.json --backend gpu
"""

import argparse
import json
from pathlib import Path

import pandas as pd

import balnet

ROOT = Path(__file__).resolve().parents[1]

# The mean-field assumption itself (annealed inputs, K = 1e3): the stages should sit on the
# theory within its diffusion-approximation error (a few per cent).
DEFAULT = {
    "model": "lif",
    "K": 1000,
    "gamma": 0.25,
    "synapse": {"kind": "conductance", "a": 0.002, "g": 20.0},
    "connectivity": "annealed",
    "n_e": 4000,
    "n_i": 4000,
    "dt": 0.05,
    "warmup": 50.0,
    "seed": 1,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="a model L config (default: K = 1000, annealed)")
    ap.add_argument("--small", action="store_true", help="3 stages of 150 ms")
    ap.add_argument("--backend", default="cpu", choices=["auto", "cpu", "gpu"])
    ap.add_argument("--out", default="runs/lif_drive_steps")
    a = ap.parse_args(argv)

    config = json.loads(Path(a.config).read_text()) if a.config else dict(DEFAULT)
    drives = [10.0, 20.0, 30.0] if a.small else [10.0, 15.0, 20.0, 25.0, 30.0]
    stage_ms = 150.0 if a.small else 400.0
    config["nu_x"] = drives[0]
    sim = balnet.Simulation(config, backend=a.backend)
    warmup = float(sim.config["warmup"])
    rows, t0 = [], 0.0
    for k, nu_x in enumerate(drives):
        if k > 0:
            sim.set_nu_x(nu_x)
        status = sim.run(stage_ms + (warmup if k == 0 else 0.0))
        if status != "complete":
            raise SystemExit(f"stage {k} ({nu_x} Hz): {status}: {sim.failure}")
        th = sim.theory or {"rate_hz": float("nan")}
        rates = sim.rates
        settled = rates[(rates["t_ms"] >= t0 + 50.0) & (rates["t_ms"] < t0 + stage_ms)]
        rows.append({
            "stage": k,
            "nu_x_hz": nu_x,
            "t0_ms": t0,
            "t1_ms": t0 + stage_ms,
            "rate_e_hz": settled["rate_e_hz"].mean(),
            "rate_i_hz": settled["rate_i_hz"].mean(),
            "theory_rate_hz": th["rate_hz"],
        })
        t0 += stage_ms
    stages = pd.DataFrame(rows)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stages.to_csv(out / "drive_steps.csv", index=False)
    print(stages.to_string(index=False))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib missing: wrote {out / 'drive_steps.csv'}")
        return
    rates = sim.rates
    smooth = rates[["rate_e_hz", "rate_i_hz"]].rolling(10, center=True, min_periods=1).mean()
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(rates["t_ms"], smooth["rate_e_hz"], color="tab:red", lw=1, label="E (10 ms mean)")
    ax.plot(rates["t_ms"], smooth["rate_i_hz"], color="tab:blue", lw=1, label="I (10 ms mean)")
    for r in rows:
        ax.hlines(r["theory_rate_hz"], r["t0_ms"], r["t1_ms"], color="k", lw=2,
                  label="mean field" if r["stage"] == 0 else None)
        ax.text(r["t0_ms"] + 5, 0.97, f"nu_X = {r['nu_x_hz']:g} Hz", fontsize=8, va="top",
                transform=ax.get_xaxis_transform())
    ax.set_xlabel("time after the warm-up (ms)")
    ax.set_ylabel("population rate (Hz)")
    ax.set_title(f"one network, drive stepped up (K = {sim.config['K']}, "
                 f"{sim.config['connectivity']}, {sim.backend})")
    top = float(smooth.max().max())
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "drive_steps.png", dpi=120)
    print(f"wrote {out / 'drive_steps.png'}")


if __name__ == "__main__":
    main()
