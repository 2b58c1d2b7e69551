"""Sweeps, progress, resume, info and selftest through the package."""

import subprocess

import numpy as np
import pandas as pd
import pytest

import balnet
from balnet._api import _CSV as CSV


def test_sweep_equals_the_cli_sweep(work, cli):
    """balnet.sweep of a base and a grid writes the CLI sweep's run directories (moments.csv
    byte for byte) and summary.csv (but for the throughput column), and the convergence
    report of a sweep over n."""
    spec = (
        '{"base": {"model": "hydro", "duration": 2.5, "record_every": 50}, '
        '"grid": {"n": [500, 1000]}, "seeds": 2, "backend": "cpu"}'
    )
    (work / "sweep.json").write_text(spec)
    subprocess.run([str(cli), "sweep", "sweep.json", "--out", "cli"], check=True,
                   capture_output=True)
    calls = []
    df = balnet.sweep({"model": "hydro", "duration": 2.5, "record_every": 50},
                      grid={"n": [500, 1000]}, seeds=2, backend="cpu", out="py",
                      progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    ref = pd.read_csv(work / "cli" / "summary.csv", dtype={"id": str}, **CSV)
    assert list(df["id"]) == ["00000", "00001", "00002", "00003"]
    assert list(df["status"]) == ["complete"] * 4
    assert list(df["n"]) == [500, 500, 1000, 1000] and list(df["seed"]) == [1, 2, 1, 2]
    pd.testing.assert_frame_equal(
        df.drop(columns="neuron_steps_per_second"),
        ref.drop(columns="neuron_steps_per_second"),
        check_exact=True,
    )
    for pid in df["id"]:
        a = (work / "cli" / "runs" / pid / "moments.csv").read_bytes()
        assert a == (work / "py" / "runs" / pid / "moments.csv").read_bytes()
    assert (work / "py" / "convergence.csv").read_bytes() == (
        work / "cli" / "convergence.csv"
    ).read_bytes()
    # The sweep file itself runs the same; a rerun skips the finished points.
    again = balnet.sweep("sweep.json", out="py")
    pd.testing.assert_frame_equal(again, df, check_exact=True)


def test_sweep_without_out_and_a_failing_point():
    with pytest.warns(balnet.BalnetWarning, match="failed"):
        df = balnet.sweep({"model": "hydro", "n": 300, "duration": 0.2},
                          grid={"dt": [0.001, 0.9]}, backend="cpu")
    assert list(df["status"]) == ["complete", "failed"]
    assert "dt" in df["error"].iloc[1]
    with pytest.raises(balnet.ConfigError, match="grid path"):
        balnet.sweep({"model": "hydro"}, grid={"nn": [1]}, backend="cpu")


def test_progress_callback_and_resume(work):
    seen = []
    r = balnet.run("configs/hydro_balanced.json", n=1000, steps=5000, backend="cpu",
                   out="ck", checkpoint_every=2000,
                   progress=lambda d, t: seen.append((d, t)))
    assert seen == [(2000, 5000), (4000, 5000), (5000, 5000)]
    full = (work / "ck" / "moments.csv").read_bytes()
    # Resuming from the checkpoint at step 4000 gives the uninterrupted run's records.
    r2 = balnet.run(resume="ck", backend="cpu")
    assert r2.status == "complete"
    assert (work / "ck" / "moments.csv").read_bytes() == full
    assert any("resumed from a checkpoint at step 4000" in w for w in r2.summary["warnings"])
    assert np.array_equal(r2.moments["var"].to_numpy(), r.moments["var"].to_numpy())
    # An exception from the callback stops the run and is raised; run.json is interrupted.
    def boom(d, t):
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        balnet.run("configs/hydro_balanced.json", n=1000, steps=9000, backend="cpu",
                   out="boom", progress=boom)
    assert balnet.Result(work / "boom", {"model": "hydro"}, False).status == "interrupted"


def test_progress_bar_with_tqdm(work, capsys):
    import tqdm  # noqa: F401  (scripts/test.sh installs it: a missing tqdm fails, not skips)
    r = balnet.run("configs/hydro_balanced.json", n=1000, steps=4000, backend="cpu",
                   progress=True)
    assert r.status == "complete"
    assert "4000/4000" in capsys.readouterr().err


def test_info_and_selftest():
    i = balnet.info()
    assert i["version"] == balnet.__version__
    assert i["isa"] in i["isa_available"]
    assert set(i["isa_available"]) <= {"avx512", "avx2", "baseline"}
    assert isinstance(i["adapters"], list)
    assert (i["no_adapter_fix"] is None) == bool(i["adapters"])
    s = balnet.selftest(backend="cpu")
    assert s["failed"] == 0 and s["passed"] == len(s["checks"]) > 5
    assert {c["backend"] for c in s["checks"]} == {"cpu"}
