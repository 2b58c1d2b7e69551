#!/usr/bin/env python3
"""Run balnet and a peer implementation back to back and print the ratio.

    python3 peers/compare.py model-h [--n N] [--steps S] [--small]
    python3 peers/compare.py model-l [--config CONFIG] [--duration MS] [--small]
    python3 peers/compare.py all [--small]
    python3 peers/compare.py model-l-rates [--config CONFIG] [--seeds S] [--small]

The balnet binary is $BALNET (default target/release/balnet under the repository root).
Commands run from the repository root; run directories go to a temporary directory that is
removed afterwards (--keep keeps it and prints its path).

model-h: `$BALNET run configs/hydro_balanced.json --backend cpu --n N --steps S --out TMP`
  (its run.json's neuron_steps_per_second) against peers/numpy_hydro.py at the same n and
  steps. Default n = 1e6, 200 steps (balnet's target size); --small: n = 1e4, 200 steps.
model-l: `$BALNET run CONFIG --backend cpu --steps DURATION/dt --out TMP` (run.json's
  wall_seconds_per_simulated_second, warm-up included, and summary) against
  peers/brian2_lif.py --config CONFIG with the same warm-up (the config's) and duration.
  Default configs/lif_cond_k1000.json, 500 ms after the 200 ms warm-up; --small:
  configs/lif_cond_k100.json (a = 9e-3) on N_E = N_I = 2000 (written to a temporary config
  for both), 300 ms after the warm-up.

model-l-rates: the same network as one discrete process on both sides, over seeds 1..S
  (default 4): balnet's `lumped` integrator with a uniform delay of (Brian2's delay + dt)
  for E and I, against peers/brian2_lif.py --arrivals simultaneous (a step's recurrent
  pulses counted by Brian2's synapses, applied in the next step with the external count,
  after the leak and before the threshold, by the exact simultaneous update) with a
  refractory period one dt longer (Brian2 holds a neuron round(tau_rp/dt) - 1 steps after
  the step of its spike, balnet's lumped scheme round(tau_rp/dt)). Brian2's own
  schedule (recurrent pulses after the threshold, serially) is a different O(dt)
  discretisation: at dt = 0.05 ms its rate is about 3% lower (docs/validation.md). Prints
  per-seed rates and CVs, the means +- standard errors and Welch's t of each difference.

CPU seconds: balnet's are the whole process (getrusage(RUSAGE_CHILDREN) delta: network
build, stepping, writing its outputs); Brian2's are the network run's alone, measured inside
its C++ main (the whole peer process, with code generation and the g++ compilation, is
printed beside them for information). Ratios are peer / balnet for times (how many times
longer the peer takes) and balnet / peer for throughputs, so > 1 means balnet is faster.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "peers")


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, env=None, echo=True):
    """Run cmd from the repository root; return (stdout, wall s, child CPU s)."""
    if echo:
        print("$ " + " ".join(cmd), flush=True)
    c0, w0 = child_cpu(), time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    wall, cpu = time.perf_counter() - w0, child_cpu() - c0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
        raise SystemExit(f"command failed with exit code {p.returncode}: {' '.join(cmd)}")
    return p.stdout, wall, cpu


def last_json(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit("peer printed no JSON line")


def balnet_env(args):
    env = dict(os.environ)
    if args.balnet_threads:
        env["RAYON_NUM_THREADS"] = str(args.balnet_threads)
    return env


def model_h(args, bal, tmp):
    n = args.n or (10000 if args.small else 1000000)
    steps = args.steps or 200
    out_dir = os.path.join(tmp, "balnet_h")
    so, wall, cpu = run([bal, "run", "configs/hydro_balanced.json", "--backend", "cpu",
                         "--n", str(n), "--steps", str(steps), "--seed", str(args.seed),
                         "--out", out_dir], env=balnet_env(args))
    line = [l for l in so.splitlines() if "neuron-steps/s" in l]
    print("  balnet: " + (line[0] if line else "(no neuron-steps/s line)"))
    with open(os.path.join(out_dir, "run.json")) as fh:
        rj = json.load(fh)
    b_nss = rj["neuron_steps_per_second"]
    b_late = {p["population"]: p["rate"]["simulated"] for p in rj.get("late_time", [])}
    so2, wall2, cpu2 = run([sys.executable, os.path.join(PEERS, "numpy_hydro.py"), "--n", str(n),
                            "--steps", str(steps), "--seed", str(args.seed),
                            "--record-every", str(rj["config"]["record_every"])])
    pj = last_json(so2)
    print("  numpy:  " + [l for l in so2.splitlines() if "neuron-steps/s" in l][0])
    p_nss = pj["neuron_steps_per_second"]
    res = {"model": "H", "n": n, "steps": steps, "balnet_backend": rj["backend"],
           "balnet_neuron_steps_per_second": b_nss, "numpy_neuron_steps_per_second": p_nss,
           "ratio_balnet_over_numpy": b_nss / p_nss,
           "balnet_stepping_seconds": rj["stepping_seconds"],
           "numpy_stepping_seconds": pj["stepping_seconds"],
           "balnet_process_wall_seconds": wall, "balnet_process_cpu_seconds": cpu,
           "numpy_process_wall_seconds": wall2, "numpy_process_cpu_seconds": cpu2,
           "balnet_late_rate": b_late,
           "numpy_late_rate": {k: v["rate"] for k, v in pj["late_time"].items()},
           "numpy_late_window": pj["late_window"]}
    print()
    print(f"model H, independent, n = {n} per population, {steps} steps")
    print(f"  {'':24s} {'balnet':>14s} {'numpy':>14s}")
    print(f"  {'neuron-steps/s':24s} {b_nss:14.3e} {p_nss:14.3e}")
    print(f"  {'stepping s':24s} {rj['stepping_seconds']:14.3f} {pj['stepping_seconds']:14.3f}")
    print(f"  {'process wall / CPU s':24s} {wall:6.2f} / {cpu:5.2f} {wall2:6.2f} / {cpu2:5.2f}")
    if b_late:
        print(f"  {'late E / I rate':24s} {b_late['E']:.5f}/{b_late['I']:.5f} "
              f"{pj['late_time']['E']['rate']:.5f}/{pj['late_time']['I']['rate']:.5f}"
              f"  (balnet t >= 2; numpy {pj['late_window']})")
    print(f"  balnet / numpy throughput: {b_nss / p_nss:.1f}x  (balnet: {rj['backend']}; "
          "numpy: one thread)")
    return res


def model_l_config(args, tmp):
    """The model L network of --config / --small: (config, its path for balnet and the peer,
    its name, recorded ms). --small without --config: configs/lif_cond_k100.json on
    N_E = N_I = 2000, written to a temporary config."""
    cfg_path = args.config or ("configs/lif_cond_k100.json" if args.small
                               else "configs/lif_cond_k1000.json")
    cfg_name = cfg_path
    with open(os.path.join(ROOT, cfg_path)) as fh:
        cfg = json.load(fh)
    if args.small and not args.config:
        cfg_name += " with n_e = n_i = 2000"
        cfg["n_e"] = cfg["n_i"] = 2000
        cfg_path = os.path.join(tmp, "lif_cond_k100_n2000.json")
        with open(cfg_path, "w") as fh:
            json.dump(cfg, fh, indent=2)
    duration = args.duration or (300.0 if args.small else 500.0)
    return cfg, cfg_path, cfg_name, duration


def model_l(args, bal, tmp):
    cfg, cfg_path, cfg_name, duration = model_l_config(args, tmp)
    dt = cfg.get("dt", 0.05)
    warmup = cfg.get("warmup", 200.0)
    steps = int(round(duration / dt))
    out_dir = os.path.join(tmp, "balnet_l")
    so, wall, cpu = run([bal, "run", cfg_path, "--backend", "cpu", "--steps", str(steps),
                         "--seed", str(args.seed), "--out", out_dir], env=balnet_env(args))
    for l in so.splitlines():
        if "wall s per simulated s" in l or l.startswith("network:"):
            print("  balnet: " + l)
    with open(os.path.join(out_dir, "run.json")) as fh:
        rj = json.load(fh)
    sim_s = (warmup + duration) / 1000.0
    b_rtf = rj["wall_seconds_per_simulated_second"]
    b_cpu = cpu / sim_s
    sm = rj["summary"]
    cmd = [sys.executable, os.path.join(PEERS, "brian2_lif.py"), "--config", cfg_path,
           "--duration", str(duration), "--seed", str(args.seed),
           "--threads", str(args.brian2_threads), "--build-dir", os.path.join(tmp, "brian2")]
    so2, wall2, cpu2 = run(cmd)
    pj = last_json(so2)
    for l in so2.splitlines():
        if l.startswith(("connectivity", "RTF")):
            print("  brian2: " + l)
    p_rtf = pj["wall_seconds_per_simulated_second"]
    p_cpu = pj["cpu_seconds_per_simulated_second"]
    pe, pi = pj["populations"]["E"], pj["populations"]["I"]
    res = {"model": "L", "config": cfg_name,
           "n_e": rj["n_e"], "n_i": rj["n_i"], "K": rj["k_e"], "synapses": rj["synapses"],
           "warmup_ms": warmup, "duration_ms": duration, "balnet_backend": rj["backend"],
           "balnet_integrator": cfg.get("integrator", "precise"),
           "balnet_wall_s_per_sim_s": b_rtf, "brian2_wall_s_per_sim_s": p_rtf,
           "ratio_wall_brian2_over_balnet": p_rtf / b_rtf,
           "balnet_cpu_s_per_sim_s_process": b_cpu, "brian2_cpu_s_per_sim_s_loop": p_cpu,
           "ratio_cpu_brian2_over_balnet": p_cpu / b_cpu,
           "balnet_process_wall_seconds": wall, "balnet_process_cpu_seconds": cpu,
           "brian2_process_wall_seconds": wall2, "brian2_process_cpu_seconds": cpu2,
           "brian2_threads": args.brian2_threads,
           "balnet_rate_hz": sm["mean_rate_hz"], "balnet_cv": sm["mean_cv"],
           "brian2_rate_hz": [pe["rate_hz"], pi["rate_hz"]],
           "brian2_cv": [pe["mean_cv"], pi["mean_cv"]]}
    print()
    print(f"model L, conductance-based fixed in-degree, {rj['n_e']} + {rj['n_i']} neurons, "
          f"K = {rj['k_e']}, {rj['synapses']} synapses, {warmup:g} ms warm-up + {duration:g} ms")
    print(f"  {'':34s} {'balnet':>12s} {'Brian2':>12s} {'Brian2/balnet':>14s}")
    print(f"  {'wall s per simulated s':34s} {b_rtf:12.2f} {p_rtf:12.2f} {p_rtf / b_rtf:14.2f}")
    print(f"  {'CPU s per simulated s':34s} {b_cpu:12.2f} {p_cpu:12.2f} {p_cpu / b_cpu:14.2f}")
    print(f"  {'E rate (Hz)':34s} {sm['mean_rate_hz'][0]:12.2f} {pe['rate_hz']:12.2f}")
    print(f"  {'E mean ISI CV':34s} {sm['mean_cv'][0]:12.3f} {pe['mean_cv']:12.3f}")
    print(f"  {'I rate (Hz)':34s} {sm['mean_rate_hz'][1]:12.2f} {pi['rate_hz']:12.2f}")
    print(f"  balnet: {rj['backend']}, {res['balnet_integrator']} integrator, CPU = whole "
          f"process; Brian2: {args.brian2_threads} thread(s), CPU = network run only "
          f"(whole peer process {wall2:.1f} s wall, {cpu2:.1f} s CPU incl. compilation)")
    return res


def mean_se(xs):
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, float("nan")
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return m, (var / len(xs)) ** 0.5


def model_l_rates(args, bal, tmp):
    cfg, cfg_path, cfg_name, duration = model_l_config(args, tmp)
    if cfg.get("delay", {"kind": "one_step"}).get("kind") != "one_step":
        raise SystemExit(f"{cfg_name}: model-l-rates takes a config with one-step delays "
                         "(the delay is set here)")
    dt = cfg.get("dt", 0.05)
    delay = args.delay
    steps_delay = delay / dt
    if abs(steps_delay - round(steps_delay)) > 1e-9 or round(steps_delay) < 1:
        raise SystemExit(f"--delay {delay} ms: must be a whole number (>= 1) of dt = {dt} ms")
    bcfg = dict(cfg)
    bcfg["integrator"] = "lumped"
    bcfg["duration"] = duration
    d_bal = delay + dt
    bcfg["delay"] = {"kind": "uniform", "e_ms": [d_bal, d_bal], "i_ms": [d_bal, d_bal]}
    bcfg_path = os.path.join(tmp, "balnet_lumped.json")
    with open(bcfg_path, "w") as fh:
        json.dump(bcfg, fh, indent=2)
    # Brian2 holds a neuron for the steps after its spike's step while t - lastspike <
    # tau_rp, i.e. round(tau_rp / dt) - 1 steps, and its spike happens at the end of that
    # step; balnet's lumped scheme holds round(tau_rp / dt) steps (exactly tau_rp from the
    # spike). One step more on Brian2's side makes the two the same.
    tau_rp = cfg.get("neuron", {}).get("tau_rp", 2.0)
    tau_rp_peer = tau_rp + dt
    rows = []
    for seed in range(1, args.seeds + 1):
        out_dir = os.path.join(tmp, f"balnet_l_{seed}")
        run([bal, "run", bcfg_path, "--backend", "cpu", "--seed", str(seed), "--out", out_dir],
            env=balnet_env(args))
        with open(os.path.join(out_dir, "run.json")) as fh:
            sm = json.load(fh)["summary"]
        so2, _, _ = run([sys.executable, os.path.join(PEERS, "brian2_lif.py"), "--config",
                         cfg_path, "--duration", str(duration), "--seed", str(seed),
                         "--delay", str(delay), "--arrivals", "simultaneous",
                         "--tau-rp", str(tau_rp_peer),
                         "--build-dir", os.path.join(tmp, f"brian2_{seed}")])
        pj = last_json(so2)
        pe, pi = pj["populations"]["E"], pj["populations"]["I"]
        row = {"seed": seed, "balnet_rate_hz": sm["mean_rate_hz"], "balnet_cv": sm["mean_cv"],
               "brian2_rate_hz": [pe["rate_hz"], pi["rate_hz"]],
               "brian2_cv": [pe["mean_cv"], pi["mean_cv"]]}
        rows.append(row)
        print(f"  seed {seed}: E rate {row['balnet_rate_hz'][0]:.3f} / "
              f"{row['brian2_rate_hz'][0]:.3f} Hz, I rate {row['balnet_rate_hz'][1]:.3f} / "
              f"{row['brian2_rate_hz'][1]:.3f} Hz, E CV {row['balnet_cv'][0]:.4f} / "
              f"{row['brian2_cv'][0]:.4f} (balnet / Brian2)", flush=True)
    print()
    print(f"model L, {cfg_name}, lumped scheme on both sides, Brian2 delay {delay:g} ms = "
          f"balnet delay {d_bal:g} ms, Brian2 tau_rp {tau_rp_peer:g} ms = balnet {tau_rp:g} ms, "
          f"{cfg.get('warmup', 200.0):g} ms warm-up + {duration:g} ms, "
          f"seeds 1-{args.seeds}")
    print(f"  {'':14s} {'balnet':>18s} {'Brian2':>18s} {'Welch t':>8s}")
    res = {"model": "L-rates", "config": cfg_name, "seeds": args.seeds,
           "brian2_delay_ms": delay, "balnet_delay_ms": d_bal, "duration_ms": duration,
           "brian2_tau_rp_ms": tau_rp_peer, "balnet_tau_rp_ms": tau_rp,
           "rows": rows}
    worst = 0.0
    for key, label, pop in (("rate_hz", "E rate (Hz)", 0), ("rate_hz", "I rate (Hz)", 1),
                            ("cv", "E mean CV", 0), ("cv", "I mean CV", 1)):
        b = mean_se([r["balnet_" + key][pop] for r in rows])
        q = mean_se([r["brian2_" + key][pop] for r in rows])
        t = (b[0] - q[0]) / (b[1] ** 2 + q[1] ** 2) ** 0.5 if args.seeds > 1 else float("nan")
        worst = max(worst, abs(t)) if t == t else worst
        print(f"  {label:14s} {b[0]:9.4f} +- {b[1]:6.4f} {q[0]:9.4f} +- {q[1]:6.4f} {t:8.2f}")
        res[f"{label}"] = {"balnet": b, "brian2": q, "welch_t": t}
    if args.seeds > 1:
        print(f"  largest |t| = {worst:.2f} "
              f"({'within' if worst < 3 else 'beyond'} 3 standard errors)")
    res["largest_abs_t"] = worst
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("which", choices=["model-h", "model-l", "all", "model-l-rates"])
    p.add_argument("--small", action="store_true",
                   help="small sizes: the whole comparison in about a minute")
    p.add_argument("--n", type=int, help="model H: neurons per population")
    p.add_argument("--steps", type=int, help="model H: steps (default 200)")
    p.add_argument("--config", help="model L: balnet config (relative to the repository root)")
    p.add_argument("--duration", type=float, help="model L: recorded ms after the warm-up")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seeds", type=int, default=4, help="model-l-rates: seeds 1..SEEDS")
    p.add_argument("--delay", type=float, default=0.1,
                   help="model-l-rates: Brian2's recurrent delay in ms (default 0.1)")
    p.add_argument("--brian2-threads", type=int, default=1)
    p.add_argument("--balnet-threads", type=int,
                   help="RAYON_NUM_THREADS for balnet (default: unset, all cores)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)

    bal = os.environ.get("BALNET", os.path.join(ROOT, "target", "release", "balnet"))
    if not os.path.isabs(bal):
        bal = os.path.join(ROOT, bal)
    if not os.access(bal, os.X_OK):
        raise SystemExit(f"balnet binary not found: {bal} (set BALNET)")
    print(f"balnet: {bal}")
    tmp = tempfile.mkdtemp(prefix="balnet_compare_")
    results = []
    try:
        if args.which in ("model-h", "all"):
            results.append(model_h(args, bal, tmp))
            print()
        if args.which in ("model-l", "all"):
            results.append(model_l(args, bal, tmp))
        if args.which == "model-l-rates":
            if args.seeds < 1:
                raise SystemExit(f"--seeds {args.seeds}: must be >= 1")
            results.append(model_l_rates(args, bal, tmp))
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"compare": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
