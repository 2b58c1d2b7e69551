#!/usr/bin/env python3
"""Model L's conductance-based fixed-in-degree network in Brian2 (C++ standalone): a yardstick.

The network of configs/lif_cond_k1000.json, written as a Brian2 user would write it:

- N_E = N_I = 10 K neurons (K = 1000: 1e4 + 1e4), identical LIF neurons: tau_L = 20 ms,
  E_L = -80 mV, threshold theta = -55 mV (spike when v >= theta), reset V_r = -65 mV,
  refractory tau_rp = 2 ms (v held at V_r, arriving input discarded), exact leak
  (`method='exact'`: v <- E_L + (v - E_L) e^{-dt/tau_L}). v(0) ~ uniform[V_r, theta), as
  balnet's default v0.
- Fixed in-degree: every neuron receives K inputs from E and round(gamma K) = 250 from I,
  partners drawn uniformly without replacement and without self-connections (NumPy,
  default_rng(seed), handed to Synapses.connect(i=..., j=...)); recurrent delay 0.1 ms
  (one homogeneous, scalar delay).
- Delta conductances, applied exactly: an E spike does v <- E_E + (v - E_E) e^{-a}, an I
  spike v <- E_I + (v - E_I) e^{-g a} (E_E = 0, E_I = -75 mV, a = 2e-3, g = 20). Spikes
  arriving in the same step are applied one after another (Brian2's serial synapse loop),
  which is the exact solution for pulses arriving in that order; it differs from balnet's
  simultaneous update only at O(a^2 n_E n_I) per step (see --arrivals below).
- External input: K_X = K independent Poisson sources at nu_X = 25 Hz per neuron. Their
  superposition is one Poisson process of rate K_X nu_X, so the number of arrivals in a step
  is exactly Poisson(K_X nu_X dt), and k excitatory pulses of strength a arriving together
  compose exactly to v <- E_E + (v - E_E) e^{-a k}. So each step, after the leak and before
  the threshold, a `run_regularly` operation does
      v = E_E + (v - E_E) * exp(-a * poisson(K_X nu_X dt) * int(not_refractory))
  with Brian2's own exact Poisson sampler (multiplication method below 10, PTRS above).
  Brian2's PoissonInput was not used: it draws Binomial(K_X, nu_X dt) per step, i.e. at
  most one spike per source per step, whose variance K_X p (1 - p) is 0.125% short of the
  Poisson's at p = nu_X dt = 1.25e-3; the poisson() form is exact and costs the same.

Order within a Brian2 step (its default schedule): leak (groups) -> external arrivals
(before_thresholds) -> threshold -> recurrent arrivals of the spikes from 0.1 ms earlier
(synapses) -> reset. This is a clock-driven, per-step integration, but not balnet's
`lumped` one: the recurrent pulses land after the threshold and the next step's leak comes
before the next threshold, so the threshold sees V one leak later than in balnet (about
0.06 mV lower near threshold at dt = 0.05 ms); and a neuron is held round(tau_rp/dt) - 1
steps after the step of its spike (balnet: round(tau_rp/dt), exactly tau_rp from the spike).
Both are O(dt) effects; at K = 1e3 this schedule fires about 2.5% less than balnet's
`lumped` scheme at the same delay, and 3% less than `precise` (docs/validation.md, "Model L
against Brian2").

--arrivals simultaneous runs balnet's lumped scheme instead: the synapses only count their
pulses (n_e, n_i), and in the next step, after the leak and before the threshold, one
`run_regularly` applies those counts and the step's Poisson(K_X nu_X dt) external count by
the exact simultaneous update (discarded when refractory). With --tau-rp tau_rp + dt that is
balnet's `lumped` integrator with a delay one step longer than Brian2's (the recurrent
counts wait one step); `compare.py model-l-rates` runs the two side by side over seeds.
The order of the pulses within a step (serial E then I, or simultaneous) made no measurable
difference (4 seeds each, means 45.77 and 45.72 Hz).

Timing: the simulation (warm-up + recorded window) is ONE Brian2 run(). Its wall time
(clock_gettime(CLOCK_MONOTONIC)) and CPU time (std::clock(): process CPU, all threads) are
measured around that run inside the C++ main, with code injected by device.insert_code; they
exclude code generation, compilation, loading the static arrays and building the synapses.
(Brian2's own device._last_run_time is std::clock()/threads without OpenMP, i.e. CPU time,
not wall time; it is reported as brian2_last_run_time.) RTF = loop wall seconds / simulated
seconds, warm-up included (as balnet's wall_seconds_per_simulated_second).

Statistics over the recorded window [warm-up, warm-up + duration): mean rate per population
(spikes / (N duration)), and the mean ISI CV over neurons with >= 3 spikes in the window
(as balnet's run.json summary). Last line of output: one JSON object with all figures.

Options: defaults are the K = 1e3 network; --config takes the fields of a balnet model L
config (K, gamma, K_X, nu_x, synapse.a/g, dt, warmup, duration, n_e, n_i, neuron, seed;
only the fixed_indegree conductance network with one-step delays is supported here), and
explicit options override it. --duration defaults to 500 ms (not the config's) unless
given. --threads 1 (default) builds plain single-threaded code (openmp_threads = 0);
--threads T > 1 builds with OpenMP on T threads.
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np

DEFAULTS = dict(K=1000, gamma=0.25, K_X=None, nu_x=25.0, a=0.002, g=20.0, n_e=None, n_i=None,
                dt=0.05, delay=0.1, warmup=200.0, duration=500.0, seed=1,
                tau_l=20.0, e_l=-80.0, e_e=0.0, e_i=-75.0, theta=-55.0, v_r=-65.0, tau_rp=2.0)


UNITS = dict(nu_x=" Hz", dt=" ms", delay=" ms", warmup=" ms", duration=" ms (recorded)",
             tau_l=" ms", e_l=" mV", e_e=" mV", e_i=" mV", theta=" mV", v_r=" mV", tau_rp=" ms")


def from_balnet_config(path):
    """The fields of a balnet model L config that this script understands."""
    with open(path) as fh:
        c = json.load(fh)
    if c.get("model") != "lif":
        raise SystemExit(f"{path}: not a model L config (model = {c.get('model')!r})")
    bad = []
    if c.get("connectivity", "fixed_indegree") != "fixed_indegree":
        bad.append("connectivity")
    syn = c.get("synapse", {})
    if syn.get("kind", "conductance") != "conductance":
        bad.append("synapse.kind")
    if c.get("delay", {"kind": "one_step"}).get("kind") != "one_step":
        bad.append("delay")
    if c.get("cv_k", 0) != 0:
        bad.append("cv_k")
    if "neuron_e" in c or "neuron_i" in c:
        bad.append("neuron_e/neuron_i")
    if bad:
        raise SystemExit(f"{path}: not supported by this peer: {', '.join(bad)}")
    out = {}
    for k in ("K", "gamma", "K_X", "nu_x", "n_e", "n_i", "dt", "warmup", "duration", "seed"):
        if k in c:
            out[k] = c[k]
    for k in ("a", "g"):
        if k in syn:
            out[k] = syn[k]
    for k, v in c.get("neuron", {}).items():
        if k in DEFAULTS:
            out[k] = v
    return out


def fixed_indegree(rng, n_pre, n_post, k, pre_offset_in_post):
    """Presynaptic partners: for each of n_post targets, k distinct sources out of n_pre,
    without self-connections. Sources j of the presynaptic group are neurons
    pre_offset_in_post + j of the target group (None: no overlap, so no self-exclusion)."""
    pre = np.empty(n_post * k, dtype=np.int32)
    post = np.repeat(np.arange(n_post, dtype=np.int32), k)
    for t in range(n_post):
        own = None
        if pre_offset_in_post is not None:
            own = t - pre_offset_in_post
            if not (0 <= own < n_pre):
                own = None
        if own is None:
            s = rng.choice(n_pre, size=k, replace=False)
        else:  # draw from n_pre - 1 sources and skip the neuron itself
            s = rng.choice(n_pre - 1, size=k, replace=False)
            s[s >= own] += 1
        pre[t * k:(t + 1) * k] = s
    return pre, post


def isi_cv(i, t, n):
    """Mean ISI CV over neurons with >= 3 spikes, and how many there are (i, t: spikes)."""
    order = np.lexsort((t, i))
    i, t = i[order], t[order]
    same = i[1:] == i[:-1]
    isi = np.diff(t)[same]
    owner = i[1:][same]
    cnt = np.bincount(owner, minlength=n)          # ISIs per neuron
    s1 = np.bincount(owner, weights=isi, minlength=n)
    s2 = np.bincount(owner, weights=isi * isi, minlength=n)
    ok = cnt >= 2                                   # >= 3 spikes
    if not ok.any():
        return float("nan"), 0
    m = s1[ok] / cnt[ok]
    var = np.maximum(s2[ok] / cnt[ok] - m * m, 0.0)  # 1/n normalisation
    return float(np.mean(np.sqrt(var) / m)), int(ok.sum())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="a balnet model L config to take parameters from")
    for k, dflt in DEFAULTS.items():
        typ = int if k in ("K", "K_X", "n_e", "n_i", "seed") else float
        p.add_argument("--" + k.replace("_", "-"), dest=k, type=typ, default=None,
                       help="default " + ({"n_e": "10 K", "n_i": "10 K", "K_X": "K"}.get(k)
                                          or f"{dflt}") + UNITS.get(k, ""))
    p.add_argument("--threads", type=int, default=1, help="1: no OpenMP (default); T > 1: OpenMP")
    p.add_argument("--arrivals", choices=("serial", "simultaneous"), default="serial",
                   help="serial (default): each pulse applied on its own, in Brian2's order "
                   "(leak, external, threshold, then recurrent E, then recurrent I); "
                   "simultaneous: the recurrent pulses counted by the synapses and applied in "
                   "the next step with that step's external count, after the leak and before "
                   "the threshold, by the exact simultaneous update: balnet's lumped scheme "
                   "with a delay one step longer")
    p.add_argument("--build-dir", help="Brian2 project directory, kept (default: a temporary "
                   "directory, removed at the end)")
    opt = p.parse_args(argv)

    par = dict(DEFAULTS)
    if opt.config:
        par.update(from_balnet_config(opt.config))
        par["duration"] = DEFAULTS["duration"]  # the config's 2 s only when asked: --duration
    for k in DEFAULTS:
        if getattr(opt, k) is not None:
            par[k] = getattr(opt, k)
    K = int(par["K"])
    K_I = int(round(par["gamma"] * K))
    K_X = int(par["K_X"]) if par["K_X"] is not None else K
    N_E = int(par["n_e"]) if par["n_e"] is not None else 10 * K
    N_I = int(par["n_i"]) if par["n_i"] is not None else 10 * K
    if not (K < N_E and K_I < N_I):
        p.error(f"need K < n_e and round(gamma K) < n_i (K = {K}, K_I = {K_I}, "
                f"n_e = {N_E}, n_i = {N_I})")
    N = N_E + N_I
    build_dir = opt.build_dir or tempfile.mkdtemp(prefix="brian2_lif_")

    t_start = time.perf_counter()
    import brian2 as b2
    from brian2 import ms, mV, Hz

    b2.set_device("cpp_standalone", directory=build_dir, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = opt.threads if opt.threads > 1 else 0
    b2.defaultclock.dt = par["dt"] * ms
    b2.seed(int(par["seed"]))

    ns = dict(tau_L=par["tau_l"] * ms, E_L=par["e_l"] * mV, E_E=par["e_e"] * mV,
              E_I=par["e_i"] * mV, theta=par["theta"] * mV, V_r=par["v_r"] * mV,
              a=par["a"], ga=par["g"] * par["a"],
              lam_X=K_X * par["nu_x"] * Hz * par["dt"] * ms)
    simultaneous = opt.arrivals == "simultaneous"
    eqs = "dv/dt = (E_L - v) / tau_L : volt (unless refractory)"
    if simultaneous:
        eqs += "\nn_e : 1\nn_i : 1"  # this step's recurrent arrivals, counted by the synapses
    G = b2.NeuronGroup(N, eqs, threshold="v >= theta", reset="v = V_r",
                       refractory=par["tau_rp"] * ms, method="exact", namespace=ns, name="lif")
    G.v = "V_r + (theta - V_r) * rand()"
    if simultaneous:
        # after the leak, before the threshold: the recurrent counts of the last step's
        # synapses and this step's external count applied at once,
        # v <- v_inf + (v - v_inf) e^{-(a n_x + g a n_i)}, discarded when refractory
        G.run_regularly("""n_x = n_e + poisson(lam_X)
g_s = a * n_x + ga * n_i
v_inf = (a * n_x * E_E + ga * n_i * E_I) / (g_s + int(g_s == 0))
v = v_inf + (v - v_inf) * exp(-g_s * int(not_refractory))
n_e = 0
n_i = 0""", when="before_thresholds", name="arrivals")
    else:
        # external Poisson input: exact count per step, exact jump (see the module docstring)
        G.run_regularly("v = E_E + (v - E_E) * exp(-a * poisson(lam_X) * int(not_refractory))",
                        when="before_thresholds", name="external")

    # connectivity (NumPy; sources of E synapses are G[:N_E], of I synapses G[N_E:])
    t_conn = time.perf_counter()
    rng = np.random.default_rng(int(par["seed"]))
    pre_e, post_e = fixed_indegree(rng, N_E, N, K, 0)
    pre_i, post_i = fixed_indegree(rng, N_I, N, K_I, N_E)
    conn_s = time.perf_counter() - t_conn
    delay = par["delay"] * ms
    on_e = "v_post = E_E + (v_post - E_E) * exp(-a * int(not_refractory_post))"
    on_i = "v_post = E_I + (v_post - E_I) * exp(-ga * int(not_refractory_post))"
    if simultaneous:
        on_e, on_i = "n_e_post += 1", "n_i_post += 1"
    S_E = b2.Synapses(G[:N_E], G, namespace=ns, delay=delay, name="syn_e", on_pre=on_e)
    S_E.connect(i=pre_e, j=post_e)
    S_I = b2.Synapses(G[N_E:], G, namespace=ns, delay=delay, name="syn_i", on_pre=on_i)
    S_I.connect(i=pre_i, j=post_i)
    n_syn = len(pre_e) + len(pre_i)
    del pre_e, post_e, pre_i, post_i
    M = b2.SpikeMonitor(G, name="spikes")

    # wall and CPU time of the network run itself, measured inside the C++ main (Brian2's own
    # last_run_time is std::clock()-based, i.e. CPU time, when built without OpenMP)
    b2.device.insert_code(
        "before_network_run",
        "struct timespec _peer_w0; clock_gettime(CLOCK_MONOTONIC, &_peer_w0); "
        "std::clock_t _peer_c0 = std::clock();")
    b2.device.insert_code(
        "after_network_run",
        "{ struct timespec _w1; clock_gettime(CLOCK_MONOTONIC, &_w1); "
        'std::ofstream _f(brian::results_dir + "peer_loop_times.txt"); '
        "_f << (_w1.tv_sec - _peer_w0.tv_sec) + 1e-9 * (_w1.tv_nsec - _peer_w0.tv_nsec) << ' ' "
        "<< double(std::clock() - _peer_c0) / CLOCKS_PER_SEC << std::endl; }")

    T_ms = par["warmup"] + par["duration"]
    b2.run(T_ms * ms, namespace={})  # every group carries its own namespace (ns)
    t_build = time.perf_counter()
    b2.device.build(directory=build_dir, compile=True, run=False, with_output=False)
    build_s = time.perf_counter() - t_build
    t_run = time.perf_counter()
    b2.device.run(with_output=False)
    binary_s = time.perf_counter() - t_run
    brian_run_time = float(b2.device._last_run_time)
    with open(os.path.join(b2.device.results_dir, "peer_loop_times.txt")) as fh:
        loop_wall, loop_cpu = (float(v) for v in fh.read().split())

    # statistics over the recorded window
    t = np.asarray(M.t / ms)
    i = np.asarray(M.i[:]).astype(np.int64)
    rec = t >= par["warmup"] - 1e-9
    t, i = t[rec], i[rec]
    dur_s = par["duration"] / 1000.0
    sim_s = T_ms / 1000.0
    pops = {}
    for name, lo, hi in (("E", 0, N_E), ("I", N_E, N)):
        sel = (i >= lo) & (i < hi)
        cv, ncv = isi_cv(i[sel] - lo, t[sel], hi - lo)
        pops[name] = {"rate_hz": float(sel.sum() / ((hi - lo) * dur_s)), "mean_cv": cv,
                      "neurons_with_cv": ncv, "spikes": int(sel.sum())}

    out = {"peer": "brian2_lif", "brian2": b2.__version__, "threads": opt.threads,
           "n_e": N_E, "n_i": N_I, "K": K, "K_I": K_I, "K_X": K_X, "a": par["a"], "g": par["g"],
           "nu_x": par["nu_x"], "dt_ms": par["dt"], "delay_ms": par["delay"],
           "arrivals": opt.arrivals,
           "warmup_ms": par["warmup"], "duration_ms": par["duration"], "seed": int(par["seed"]),
           "synapses": n_syn, "connectivity_seconds": conn_s, "build_seconds": build_s,
           "binary_seconds": binary_s, "loop_wall_seconds": loop_wall,
           "loop_cpu_seconds": loop_cpu, "brian2_last_run_time": brian_run_time,
           "simulated_seconds": sim_s,
           "wall_seconds_per_simulated_second": loop_wall / sim_s,
           "cpu_seconds_per_simulated_second": loop_cpu / sim_s,
           "total_seconds": time.perf_counter() - t_start,
           "build_dir": build_dir if opt.build_dir else None,
           "populations": pops}
    print(f"brian2_lif: Brian2 {b2.__version__} C++ standalone, {opt.threads} thread(s); "
          f"{N_E} + {N_I} neurons, K = {K}, K_I = {K_I}, K_X = {K_X}, {n_syn} synapses; "
          f"dt = {par['dt']} ms, {par['warmup']:g} ms warm-up + {par['duration']:g} ms")
    print(f"connectivity {conn_s:.1f} s, codegen + compile {build_s:.1f} s, "
          f"binary {binary_s:.1f} s (of which the network run {loop_wall:.2f} s wall, "
          f"{loop_cpu:.2f} s CPU)")
    print(f"RTF {loop_wall / sim_s:.2f} wall s per simulated s, "
          f"{loop_cpu / sim_s:.2f} CPU s per simulated s")
    for name, q in pops.items():
        print(f"{name}: rate {q['rate_hz']:.3f} Hz, mean CV {q['mean_cv']:.4f} "
              f"({q['neurons_with_cv']} neurons with >= 3 spikes)")
    print(json.dumps(out))
    if not opt.build_dir:  # a temporary project (static arrays: ~8 bytes per synapse)
        shutil.rmtree(build_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
