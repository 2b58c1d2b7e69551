#!/usr/bin/env python3
"""Model L: the firing rate and the ISI CV against the external drive nu_X, simulation
against mean-field.

It runs a conductance-based LIF network (configs/lif_cond_k100.json by default: K = 100,
g = 20, 2 s after a 200 ms warm-up) at nu_X tau_rp = 0.01, 0.03, ..., 0.11 (tau_rp = 2 ms:
nu_X = 5 ... 55 Hz) through balnet.sweep, and draws nu tau_rp and the CV of the E and I
populations against nu_X tau_rp, with the self-consistent mean-field curve from
balnet.theory on a fine grid: the README's drive table as a figure (the same runs as
scripts/lif_nux_sweep.sh). With matplotlib installed it writes OUT/rate_cv_vs_drive.png;
without it, OUT/rate_cv_vs_drive.csv (the simulated points and the mean-field values).

    python examples/lif_rate_cv_vs_drive.py                  # the full figure (minutes)
    python examples/lif_rate_cv_vs_drive.py --small          # 3 drives, short runs (seconds)
    python examples/lif_rate_cv_vs_drive.py --config configs/lif_cond_k1000.json
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

import balnet

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "lif_cond_k100.json"))
    ap.add_argument("--small", action="store_true",
                    help="nu_X tau_rp = 0.03, 0.07, 0.11; 50 ms warm-up, 300 ms recorded")
    ap.add_argument("--backend", default="cpu", choices=["auto", "cpu", "gpu"])
    ap.add_argument("--out", default="runs/lif_rate_cv_vs_drive")
    ap.add_argument("--progress", action="store_true", help="a tqdm bar over the points")
    a = ap.parse_args(argv)

    base = json.loads(Path(a.config).read_text())
    tau_rp_ms = float(base.get("neuron", {}).get("tau_rp", 2.0))
    drives = [0.03, 0.07, 0.11] if a.small else [0.01, 0.03, 0.05, 0.07, 0.09, 0.11]
    if a.small:
        base.update(warmup=50.0, duration=300.0)
    nu_x = [round(x / (tau_rp_ms * 1e-3), 9) for x in drives]
    out = Path(a.out)
    summary = balnet.sweep(base, grid={"nu_x": nu_x}, backend=a.backend, out=out,
                           progress=a.progress)
    if (summary["status"] != "complete").any():
        raise SystemExit(f"some points did not complete: see {out}/summary.csv")
    tau = tau_rp_ms * 1e-3
    sim = pd.DataFrame({
        "nu_x_tau_rp": summary["nu_x"] * tau,
        "nu_tau_rp_E": summary["E_rate_hz"] * tau,
        "cv_E": summary["E_cv"],
        "nu_tau_rp_I": summary["I_rate_hz"] * tau,
        "cv_I": summary["I_cv"],
        "mf_nu_tau_rp": summary["theory_rate_hz"] * tau,
        "mf_cv": summary["theory_cv"],
    })
    print(sim.to_string(index=False, float_format=lambda v: f"{v:.4f}"))

    # The mean-field curve on a fine grid of drives.
    grid = np.linspace(min(drives), max(drives), 41)
    mf = []
    for x in grid:
        try:
            t = balnet.theory(base, nu_x=float(x / tau))
            mf.append((x, t["rate_hz"] * tau, t["cv"]))
        except balnet.ConfigError:
            mf.append((x, np.nan, np.nan))
    mf = pd.DataFrame(mf, columns=["nu_x_tau_rp", "mf_nu_tau_rp", "mf_cv"])

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        path = out / "rate_cv_vs_drive.csv"
        pd.concat([sim.assign(kind="simulation"), mf.assign(kind="mean-field")]).to_csv(
            path, index=False
        )
        print(f"matplotlib is not installed: wrote the figure's points to {path}")
        return path
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    # E and I often coincide: E as large open circles around the I squares.
    for pop, color, style in (("E", "tab:blue", dict(marker="o", ms=10, mfc="none")),
                              ("I", "tab:red", dict(marker="s", ms=5))):
        ax1.plot(sim["nu_x_tau_rp"], sim[f"nu_tau_rp_{pop}"], ls="none", color=color,
                 label=f"simulation {pop}", **style)
        ax2.plot(sim["nu_x_tau_rp"], sim[f"cv_{pop}"], ls="none", color=color,
                 label=f"simulation {pop}", **style)
    ax1.plot(mf["nu_x_tau_rp"], mf["mf_nu_tau_rp"], "k-", label="mean-field")
    ax2.plot(mf["nu_x_tau_rp"], mf["mf_cv"], "k-", label="mean-field")
    ax1.set_xlabel("nu_X tau_rp")
    ax1.set_ylabel("nu tau_rp")
    ax1.set_title("rate against drive")
    ax2.set_xlabel("nu_X tau_rp")
    ax2.set_ylabel("ISI CV")
    ax2.set_title("CV against drive")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
    k = base.get("K", 1000)
    fig.suptitle(f"model L, K = {k}: simulation against mean-field")
    fig.tight_layout()
    path = out / "rate_cv_vs_drive.png"
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
