"""Model H through the package: the science (the corrected large-n limit), the DataFrames
against the files, and bit equality with the command line."""

import json
import math
import subprocess

import numpy as np
import pandas as pd
import pytest

import balnet
from balnet._api import _CSV as CSV

CONFIG = "configs/hydro_balanced.json"


def test_n_1e4_matches_the_corrected_limit(work):
    """Six independent networks (replicas) at n = 1e4: the late-time (t >= 2) averages of
    rate, mean and variance against limit + coefficient / sqrt(n) + the scheme's O(dt)
    offset, with tests/hydro.rs's acceptance: |mean - corrected| within the family's
    Student-t bound times the replicas' standard error (5 degrees of freedom, two-sided
    1e-3 over the 6 checks: 10.05) plus the O(1/n) allowance 2 max(1, |c1|) / n. What it
    catches: the first-order correction of the rates missing (delta / sqrt(n) = 4.2e-3 and
    7.2e-3 against a window of about 2.5e-4: power 1); its negative control, the limit
    itself as the prediction, is rejected below. (The finer biases, v1 without
    self-exclusion and k1 x 0.7, are tests/hydro.rs's, with 64 seeds.)"""
    n = 10_000
    r = balnet.run(CONFIG, n=n, backend="cpu", seed=40, replicas=6)
    assert r.status == "complete"
    lt = r.late_time
    assert sorted(lt["replica"].unique()) == list(range(6))
    sn = math.sqrt(n)
    bound = 10.05
    checked = 0
    for (pop, q), g in lt.groupby(["population", "quantity"]):
        sim = g["simulated"].to_numpy()
        mean, se = sim.mean(), sim.std(ddof=1) / math.sqrt(len(sim))
        limit = g["limit"].iloc[0]
        corrected = g["corrected_at_dt"].iloc[0]
        coefficient = g["first_order_coefficient"].iloc[0]
        # corrected = limit + coefficient / sqrt(n) + dt offset, as the theory defines it.
        offset = corrected - g["corrected"].iloc[0]
        assert corrected == pytest.approx(
            limit + coefficient / sn + offset, rel=1e-12, abs=1e-12
        )
        window = bound * se + 2.0 * max(1.0, abs(coefficient)) / n
        assert abs(mean - corrected) < window, \
            f"{pop} {q}: {mean} ± {se} vs corrected {corrected} (window {window:.2e})"
        if q == "rate":
            # Negative control: without the first-order correction the rate is rejected.
            assert abs(mean - (limit + offset)) > window, f"{pop}: the limit passed"
        checked += 1
    assert checked == 6
    # The balanced rates are the config's targets, and the finite-n correction of the rates
    # is seen: the simulated rates sit nearer the corrected value than the limit.
    for pop, target in (("E", 0.3), ("I", 0.45)):
        g = lt[(lt["population"] == pop) & (lt["quantity"] == "rate")]
        assert g["limit"].iloc[0] == pytest.approx(target, abs=1e-9)
        m = g["simulated"].mean()
        assert abs(m - g["corrected_at_dt"].iloc[0]) < abs(m - g["limit"].iloc[0])


def test_moments_frame_is_moments_csv(work):
    """The DataFrame holds exactly the numbers of moments.csv (parsed back to the same
    bits), and its late-time averages are run.json's."""
    r = balnet.run(CONFIG, n=2000, backend="cpu", duration=3.0, out="run")
    df = r.moments
    csv = pd.read_csv("run/moments.csv", **CSV)
    assert list(df.columns) == list(csv.columns) == [
        "t", "step", "population", "mean", "var", "rate", "skewness", "excess_kurtosis", "drift"
    ]
    assert len(df) == len(csv) == 2 * (3000 // 50 + 1)
    for c in df.columns:
        a, b = df[c].to_numpy(), csv[c].to_numpy()
        if a.dtype.kind == "f":
            assert np.array_equal(a.view(np.uint64), b.view(np.uint64)), c
        else:
            assert (a == b).all(), c
    late = r.late_time.set_index(["population", "quantity"])["simulated"]
    for pop in ("E", "I"):
        g = df[(df["population"] == pop) & (df["t"] >= 2.0 - 1e-9)]
        assert g["rate"].mean() == pytest.approx(late[(pop, "rate")], rel=1e-12)
        assert g["mean"].mean() == pytest.approx(late[(pop, "mean")], rel=1e-12)
    th = r.theory
    assert set(th["population"]) == {"E", "I"}
    assert {"mu", "var", "rate", "mean_pred"} <= set(th.columns)
    assert r.summary["config"]["n"] == 2000 and r.backend.startswith("cpu")


def test_replicas_frame_has_a_replica_column(work):
    r = balnet.run(CONFIG, n=1000, backend="cpu", duration=0.5, replicas=3, replica=2)
    df = r.moments
    assert list(df.columns[:2]) == ["replica", "t"]
    assert sorted(df["replica"].unique()) == [2, 3, 4]
    for k in (2, 3, 4):
        csv = pd.read_csv(r.path / f"replica_{k}" / "moments.csv", **CSV)
        mine = df[df["replica"] == k].drop(columns="replica").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, csv, check_exact=True)
    # Different replicas are different networks.
    a = df[df["replica"] == 2]["var"].to_numpy()
    b = df[df["replica"] == 3]["var"].to_numpy()
    assert not np.array_equal(a[2:], b[2:])


def _files(d):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())


def _run_json_without_timings(path):
    v = json.loads(path.read_text())
    for k in ("setup_seconds", "stepping_seconds", "neuron_steps_per_second",
              "network_build_seconds", "simulated_per_wall",
              "wall_seconds_per_simulated_second", "synaptic_events_per_second"):
        v.pop(k, None)
    return v


def test_cli_and_package_give_the_same_bits(work, cli):
    """`balnet run` and balnet.run on one config and seed write the same files: moments.csv,
    theory.csv, state.npy and moments.png byte for byte, run.json equal but for timings; and
    Result.save writes that directory again."""
    subprocess.run(
        [str(cli), "run", CONFIG, "--n", "10000", "--seed", "7", "--backend", "cpu",
         "--out", "cli"],
        check=True, capture_output=True, text=True,
    )
    r = balnet.run(CONFIG, n=10000, seed=7, backend="cpu")
    saved = r.save(work / "saved")
    cli_dir = work / "cli"
    assert _files(cli_dir) == _files(saved)
    assert "moments.csv" in _files(saved)
    for f in _files(cli_dir):
        if f == "run.json":
            assert _run_json_without_timings(cli_dir / f) == _run_json_without_timings(saved / f)
        else:
            assert (cli_dir / f).read_bytes() == (saved / f).read_bytes(), f
    csv = pd.read_csv(cli_dir / "moments.csv", **CSV)
    pd.testing.assert_frame_equal(r.moments, csv, check_exact=True)


def test_theory_matches_the_cli(work, cli):
    """balnet.theory is `balnet theory`: the same steady state and coefficients (the CLI
    prints them to 6 and 5 decimals) and the same theory.csv."""
    out = subprocess.run(
        [str(cli), "theory", CONFIG, "--n", "10000", "--out", "cli"],
        check=True, capture_output=True, text=True,
    ).stdout
    t = balnet.theory(CONFIG, n=10000, out="py")
    assert (work / "cli" / "theory.csv").read_bytes() == (work / "py" / "theory.csv").read_bytes()
    for line in out.splitlines()[:2]:
        pop = line[0]
        fields = dict(
            kv.strip().rsplit(" ", 1)
            for part in line[3:].split(";")[:2]
            for kv in part.replace("first-order coefficients", "").split(",")
        )
        for k, col in (("rate", "rate"), ("mean", "mu"), ("var", "var")):
            assert f"{t.loc[pop, col]:.6f}" == fields[k]
        for k in ("delta", "m1", "v1", "k1"):
            assert f"{t.loc[pop, k]:.5f}" == fields[k]
    assert t.loc["E", "rate"] == pytest.approx(0.3, abs=1e-12)
    assert t.loc["I", "rate"] == pytest.approx(0.45, abs=1e-12)
    assert t.loc["E", "rate_pred"] == pytest.approx(
        t.loc["E", "rate"] + t.loc["E", "delta"] / 100.0, rel=1e-15
    )
