#!/usr/bin/env python3
"""The model H convergence study: the late-time distance of the simulated rate, mean and
variance to the large-n limit against n, beside the first-order prediction
coefficient / sqrt(n) (plus the scheme's O(dt) offset).

It runs the sweep of configs/sweep_convergence.json (the default experiment,
configs/hydro_balanced.json, at n = 1e3 ... 1e6 with 4 seeds each on the CPU: about ten
minutes on two cores) through balnet.sweep, reads the convergence report the sweep writes
(OUT/convergence.csv) and draws |sim - limit| against n on log-log axes with
|coefficient| / sqrt(n) dashed: the figure of the README's convergence study. With
matplotlib installed it writes OUT/convergence_figure.png; without it,
OUT/convergence_figure.csv with the plotted points.

    python examples/convergence.py                 # the full study
    python examples/convergence.py --small         # n = 1e3, 3e3, 1e4 with 2 seeds (seconds)
    python examples/convergence.py --n 1000 10000 --seeds 3 --out runs/conv
"""

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

import balnet

ROOT = Path(__file__).resolve().parents[1]
QUANTITIES = ("rate", "mean", "var")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="n = 1e3, 3e3, 1e4 with 2 seeds")
    ap.add_argument("--n", type=float, nargs="+", help="network sizes (per population)")
    ap.add_argument("--seeds", type=int, help="seeds per size")
    ap.add_argument("--backend", default="cpu", choices=["auto", "cpu", "gpu"])
    ap.add_argument("--out", default="runs/convergence_example", help="output directory")
    ap.add_argument("--progress", action="store_true", help="a tqdm bar over the points")
    a = ap.parse_args(argv)

    out = Path(a.out)
    if a.n is None and a.seeds is None and not a.small:
        # The README's study, exactly: the sweep file.
        summary = balnet.sweep(
            ROOT / "configs" / "sweep_convergence.json",
            backend=a.backend, out=out, progress=a.progress,
        )
    else:
        ns = [int(x) for x in (a.n or ([1000, 3000, 10000] if a.small else [1000, 10000]))]
        summary = balnet.sweep(
            ROOT / "configs" / "hydro_balanced.json",
            grid={"n": ns},
            seeds=a.seeds or 2,
            backend=a.backend,
            out=out,
            progress=a.progress,
        )
    failed = summary[summary["status"] != "complete"]
    if len(failed):
        sys.exit(f"{len(failed)} sweep points did not complete: see {out}/summary.csv")

    conv = pd.read_csv(out / "convergence.csv")
    print("(sim - limit) x sqrt(n) ± standard error over seeds (prediction = coefficient + "
          "dt offset x sqrt(n))")
    for n, g in conv.groupby("n"):
        cells = []
        for pop in ("E", "I"):
            for q in QUANTITIES:
                r = g[(g["population"] == pop) & (g["quantity"] == q)].iloc[0]
                cells.append(
                    f"{pop} {q} {r['error_x_sqrt_n']:.3f} ± {r['error_x_sqrt_n_se']:.3f} "
                    f"({r['prediction_x_sqrt_n']:.3f})"
                )
        print(f"n = {n:.0e}: " + "; ".join(cells))

    # The plotted points: |mean error| with its standard error, and the n^{-1/2} lines.
    fig_rows = conv.assign(
        abs_error=conv["error"].abs(),
        coefficient_over_sqrt_n=conv["coefficient"].abs() / conv["n"].map(math.sqrt),
        prediction_over_sqrt_n=conv["prediction_x_sqrt_n"].abs() / conv["n"].map(math.sqrt),
    )[["n", "seeds", "population", "quantity", "abs_error", "error_se",
       "coefficient_over_sqrt_n", "prediction_over_sqrt_n"]]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        path = out / "convergence_figure.csv"
        fig_rows.to_csv(path, index=False)
        print(f"matplotlib is not installed: wrote the figure's points to {path}")
        return path
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, q in zip(axes, QUANTITIES):
        for pop, color in (("E", "tab:blue"), ("I", "tab:red")):
            g = fig_rows[(fig_rows["population"] == pop) & (fig_rows["quantity"] == q)]
            ax.errorbar(g["n"], g["abs_error"], yerr=g["error_se"].fillna(0.0), fmt="o",
                        color=color, capsize=3, label=f"{pop} |sim - limit|")
            ax.plot(g["n"], g["coefficient_over_sqrt_n"], "--", color=color,
                    label=f"{pop} |coefficient| / sqrt(n)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n per population")
        ax.set_ylabel("|error|")
        ax.set_title(f"{q}: late-time error against the limit")
        ax.legend(fontsize=7)
    fig.suptitle("model H convergence to the large-n limit")
    fig.tight_layout()
    path = out / "convergence_figure.png"
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
