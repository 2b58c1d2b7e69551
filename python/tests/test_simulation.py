"""balnet.Simulation: a network stepped in process, in stages, with the drive changed
between them; stages against the mean-field theory of each, and runs in parts against one
run of the whole, bit for bit (and against balnet.run's files)."""

import os

import numpy as np
import pandas as pd
import pytest

import balnet
from balnet._api import _CSV as CSV
from test_lif import ANNEALED as TEST_LIF_ANNEALED

# The annealed network of test_lif.py (the mean-field assumption itself, K = 1e3).
ANNEALED = dict(TEST_LIF_ANNEALED, warmup=100.0, duration=200.0, seed=5)

# A quenched K = 100 network with every spike of a few neurons recorded.
SMALL = {
    "model": "lif",
    "K": 100,
    "gamma": 0.25,
    "synapse": {"kind": "conductance", "a": 0.009, "g": 20.0},
    "nu_x": 25.0,
    "connectivity": "fixed_indegree",
    "dt": 0.05,
    "warmup": 50.0,
    "duration": 450.0,
    "seed": 7,
    "record": {"spikes": {"E": [0, 20], "I": [0, 10]}},
}


def backends():
    """The CPU, and the GPU adapter when there is one (BALNET_REQUIRE_GPU=1 makes a missing
    one a failure, as in the Rust suite)."""
    out = ["cpu"]
    if balnet.info()["adapters"]:
        out.append("gpu")
    elif os.environ.get("BALNET_REQUIRE_GPU") == "1":
        out.append(pytest.param("gpu", marks=pytest.mark.xfail(strict=True, reason="no adapter")))
    return out


def follows(rates: pd.DataFrame, theory: dict, tol: float) -> bool:
    """Whether both populations' mean rate over `rates` is within `tol` (relative) of the
    theory's rate."""
    return all(
        abs(rates[c].mean() - theory["rate_hz"]) < tol * theory["rate_hz"]
        for c in ("rate_e_hz", "rate_i_hz")
    )


def test_stages_follow_the_mean_field_of_each_drive():
    # 200 ms at nu_x = 25 Hz, then 200 ms more at 15 Hz, in one network (no warm-up: the
    # first 50 ms of each stage are its transient and are left out of its window).
    cfg = dict(ANNEALED, warmup=0.0)
    sim = balnet.Simulation(cfg, backend="cpu")
    th1 = balnet.theory(cfg)
    th2 = balnet.theory(dict(cfg, nu_x=15.0))
    assert sim.run(200.0) == "complete"
    assert sim.theory == pytest.approx(th1, rel=1e-12)
    sim.set_nu_x(15.0)
    assert sim.config["nu_x"] == 15.0
    # The simulation's own prediction now is the new drive's.
    assert sim.theory == pytest.approx(th2, rel=1e-12)
    assert sim.run(200.0) == "complete"
    assert sim.t == pytest.approx(400.0)
    r = sim.rates
    assert r["t_ms"].iloc[-1] == pytest.approx(399.0)
    # The population relaxes within a few effective membrane time constants (~3 ms here)
    # from the initial state and after the change; 50 ms is left to it.
    stage1 = r[(r["t_ms"] >= 50.0) & (r["t_ms"] < 200.0)]
    stage2 = r[r["t_ms"] >= 250.0]
    # Tolerance 6%: this network sits 2-3% above the diffusion approximation at both drives
    # (measured over 800 ms, seeds 5 and 6: +1.9 to +3.1%), and a 150 ms window's mean
    # scatters by about 2% around that (these windows, seeds 5-8: -0.6 to +4.2%). A 10%
    # error in the drive moves the rate by about 15-25%, so it fails; the two stages'
    # predictions differ by about 60%, so a change that did not take effect fails:
    assert abs(th1["rate_hz"] - th2["rate_hz"]) > 0.2 * th1["rate_hz"], (th1, th2)
    assert follows(stage1, th1, 0.06), (stage1.mean(), th1)
    assert follows(stage2, th2, 0.06), (stage2.mean(), th2)
    # Negative controls: each stage against the other stage's prediction, and against a 10%
    # stronger drive's, must fail.
    assert not follows(stage1, th2, 0.06)
    assert not follows(stage2, th1, 0.06)
    assert not follows(stage2, balnet.theory(dict(cfg, nu_x=16.5)), 0.06)


def test_a_bad_drive_is_refused_and_changes_nothing():
    sim = balnet.Simulation(SMALL, backend="cpu")
    with pytest.raises(balnet.ConfigError, match="nu_x = -1"):
        sim.set_nu_x(-1.0)
    assert sim.config["nu_x"] == 25.0
    with pytest.raises(balnet.ConfigError, match="duration"):
        sim.run(-5.0)
    assert sim.steps_done == 0


def _records(sim):
    return {
        "rates": sim.rates,
        "neurons": sim.neurons,
        "raster": sim.raster,
        "spikes": sim.spikes,
        "state": sim.state,
    }


def _same(a: dict, b: dict) -> bool:
    """Bit equality of every record (NaN CVs equal)."""
    for k in a:
        x, y = a[k], b[k]
        if list(x.columns) != list(y.columns) or len(x) != len(y):
            return False
        for c in x.columns:
            u, v = x[c].to_numpy(), y[c].to_numpy()
            if u.dtype.kind == "f":
                if not np.array_equal(u.view(np.uint8), v.view(np.uint8)):
                    return False
            elif not np.array_equal(u, v):
                return False
    return True


@pytest.mark.parametrize("backend", backends())
def test_runs_in_parts_equal_one_run_of_the_sum(backend, work):
    parts = balnet.Simulation(SMALL, backend=backend)
    for d in (150.0, 0.0, 200.0, 150.0):  # 500 ms in parts, a zero-length one included
        assert parts.run(d) == "complete"
    whole = balnet.Simulation(SMALL, backend=backend)
    assert whole.run(500.0) == "complete"
    a, b = _records(parts), _records(whole)
    assert len(a["spikes"]) > 100 and len(a["raster"]) > 100
    assert _same(a, b)
    # Negative control: the same parts with the drive nudged by 1% in the middle differ.
    nudged = balnet.Simulation(SMALL, backend=backend)
    nudged.run(250.0)
    nudged.set_nu_x(25.25)
    nudged.run(250.0)
    assert not _same(a, _records(nudged))
    # And they are the numbers balnet.run writes for the same config (rates.csv, the spike
    # files), on the same backend.
    r = balnet.run(SMALL, backend=backend, out="run")
    files = pd.read_csv("run/rates.csv", **CSV)
    assert _same({"rates": a["rates"]}, {"rates": files})
    assert _same({"spikes": a["spikes"]}, {"spikes": r.spikes})
    assert np.array_equal(a["neurons"]["rate_hz"].to_numpy(), r.neurons["rate_hz"].to_numpy())


def test_checkpoint_and_restore_continue_bit_for_bit(work):
    sim = balnet.Simulation(SMALL, backend="cpu")
    sim.run(200.0)
    sim.checkpoint("ck.bin")
    sim.run(300.0)
    later = _records(sim)
    back = balnet.Simulation.from_checkpoint("ck.bin")
    assert back.steps_done == 4000
    back.run(300.0)
    assert _same(later, _records(back))
    # restore() on the first simulation goes back to the checkpoint.
    sim.restore("ck.bin")
    assert sim.steps_done == 4000
    sim.run(300.0)
    assert _same(later, _records(sim))
    # Another network's checkpoint is refused.
    other = balnet.Simulation(dict(SMALL, seed=8), backend="cpu")
    with pytest.raises(balnet.ConfigError, match="checkpoint"):
        other.restore("ck.bin")


def test_model_h_steps_and_reads_its_state(work):
    sim = balnet.Simulation("configs/hydro_balanced.json", backend="cpu", n=2000)
    sim.run(0.5)
    sim.run(0.5)
    whole = balnet.Simulation("configs/hydro_balanced.json", backend="cpu", n=2000)
    whole.run(1.0)
    assert sim.steps_done == whole.steps_done == 1000
    assert np.array_equal(sim.state, whole.state)
    assert len(sim.state) == 4000
    pd.testing.assert_frame_equal(sim.moments, whole.moments)
    with pytest.raises(balnet.ConfigError, match="model L"):
        sim.set_nu_x(10.0)


def test_model_h_drive_change_moves_the_balanced_rates(work):
    # Balance pins the population rates to the drive: r = -J_s^{-1} h, so `rates` is the
    # drive's own parametrisation. After the change the rates relax to the new balanced
    # values on the leak time scale (tau = 1): the window t in [4, 5] is 2 to 3 time units
    # after it. Tolerance 0.03: the n = 2000 network's finite-n offset (delta / sqrt(n), about
    # 0.01 at these rates: docs/validation.md) plus the window's sampling spread (the rate is
    # a population mean over 2000 neurons, about 0.005). The old and new rates differ by
    # 0.1 and 0.15, so a change that did not take effect fails; the negative control checks
    # the same window against the old rates.
    sim = balnet.Simulation("configs/hydro_balanced.json", backend="cpu", n=2000)
    sim.run(2.0)
    sim.set_drive(rates=[0.2, 0.3])
    assert sim.config["rates"] == [0.2, 0.3] and sim.config["h"] is None
    sim.run(3.0)
    m = sim.moments
    late = m[m["t"] >= 4.0].groupby("population")["rate"].mean()
    assert abs(late["E"] - 0.2) < 0.03 and abs(late["I"] - 0.3) < 0.03, late
    assert abs(late["E"] - 0.3) > 0.03 and abs(late["I"] - 0.45) > 0.03
    with pytest.raises(balnet.ConfigError, match="exactly one"):
        sim.set_drive()
    with pytest.raises(balnet.ConfigError, match="rates"):
        sim.set_drive(rates=[0.3, 1.5])
    assert sim.config["rates"] == [0.2, 0.3]
