#!/usr/bin/env python3
"""Model H (`independent` coupling) in plain vectorised NumPy: a performance yardstick for balnet.

This is the scheme of docs/models.md (model H scheme), written the way a Python user would
write it, with no tricks beyond vectorising over neurons. Per step, from the state at the
start of the step:

  1. Lambda_b = sum_{j in b} f_b(x_j) for b = E, I, with the logistic
     f_b(x) = nu_max / (1 + exp(-beta (x - theta))).
  2. For neuron k of population a: lam_E = dt (Lambda_E - [a=E] f_E(x_k)),
     lam_I = dt (Lambda_I - [a=I] f_I(x_k)); N_E ~ Poisson(lam_E), N_I ~ Poisson(lam_I),
     drawn for the whole population with ONE rng.poisson call of shape (n, 2).
  3. x <- x e^{-dt/tau} + tau (1 - e^{-dt/tau}) (sqrt(n) h_a + m_a)
          + (J_aE N_E - J_aI N_I) / sqrt(n).

Parameters are model H's defaults (docs/models.md; those of configs/hydro_balanced.json): tau = 1,
nu_max = 1, beta = 1, theta = 0, m = 0, J = [[1, 2], [2, 1.5]], target rates
r = (0.3, 0.45), h = -J_s r with J_s = [[J_EE, -J_EI], [J_IE, -J_II]] (h = (0.6, 0.075)),
x(0) ~ N(0, 0.5^2). Random numbers: numpy.random.default_rng(seed) (PCG64), so the stream
is not balnet's Philox stream; results agree with balnet in distribution, not bit for bit.

Records: every --record-every steps (and at the last step) the population rate Lambda/n
(= mean f(x)), mean and variance (1/n normalisation) of x, from the state at that time, as
balnet's moments.csv does. Late-time figures are averages over the records with
t >= --late-t (default 2, balnet's LATE_T); when the run is shorter than that, over the
records of its second half (and the output says so).

Throughput: neuron-steps/s = 2 n steps / wall seconds of the stepping loop (records
included, start-up -- imports, allocation, the initial state -- excluded), as balnet's
run.json defines it.

Check against theory (`balnet theory configs/hydro_balanced.json --n 10000`: limit rates
(0.3, 0.45), first-order coefficients delta = (0.418, 0.722), so E rate 0.30418 and I rate
0.45722 at n = 1e4; balnet's run.json adds the scheme's dt offset and averages the
time-dependent theory over the late window t in [2, 4], giving 0.30404 / 0.45700, means
-1.00502 / -0.21229 and variances 1.06152 / 1.12259). Observed on 2026-12-01 with
`python3 peers/numpy_hydro.py --n 10000 --steps 4000 --seed S` (T = 4, window t in [2, 4],
41 records):

  seed  E rate   I rate   E mean    I mean    E var   I var
  1     0.30403  0.45685  -1.00498  -0.21422  1.0608  1.1503
  2     0.30413  0.45692  -1.00491  -0.21235  1.0638  1.1227
  3     0.30410  0.45696  -1.00451  -0.21289  1.0603  1.1265
  4     0.30406  0.45690  -1.00269  -0.21237  1.0517  1.1210
  5     0.30414  0.45686  -1.00405  -0.21257  1.0608  1.1189
  6     0.30411  0.45686  -1.00252  -0.21311  1.0547  1.1229
  7     0.30416  0.45692  -1.00350  -0.21304  1.0570  1.1279

As (sim - limit) sqrt(n), mean +- standard error over the 7 seeds, against balnet's own
16-seed row at n = 1e4 in its README's convergence table, and the prediction
(coefficient + dt offset):

  E rate 0.410 +- 0.002 (balnet 0.408 +- 0.003; predicted 0.404)
  I rate 0.690 +- 0.002 (balnet 0.691 +- 0.003; predicted 0.700)
  E mean 2.146 +- 0.038 (balnet 2.095 +- 0.045; predicted 2.032)
  I mean 3.347 +- 0.024 (balnet 3.400 +- 0.020; predicted 3.412)
  E var  1.211 +- 0.159 (balnet 1.249 +- 0.330; predicted 1.522)
  I var  2.488 +- 0.402 (balnet 2.262 +- 0.181; predicted 2.029)

So the E rate is 0.30 + 0.41/sqrt(n) and the I rate 0.45 + 0.69/sqrt(n), as balnet
simulates them (balnet's I rate sits the same 0.01 below the first-order prediction: the
O(1/n) terms), and every moment agrees with balnet's within 2 combined standard errors.
"""

import argparse
import json
import math
import sys
import time

import numpy as np


def logistic(x, nu_max, beta, theta):
    return nu_max / (1.0 + np.exp(-beta * (x - theta)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10000, help="neurons per population (default 1e4)")
    p.add_argument("--steps", type=int, default=4000, help="number of steps (default 4000)")
    p.add_argument("--dt", type=float, default=1e-3, help="time step (default 1e-3)")
    p.add_argument("--seed", type=int, default=1, help="seed of numpy.random.default_rng")
    p.add_argument("--record-every", type=int, default=50, help="record every this many steps")
    p.add_argument("--late-t", type=float, default=2.0,
                   help="late-time window starts here (default 2, balnet's LATE_T)")
    a = p.parse_args(argv)
    if a.n < 2 or a.steps < 1 or a.record_every < 1 or not (0 < a.dt):
        p.error("need n >= 2, steps >= 1, record-every >= 1, dt > 0")

    # --- parameters (model H defaults), index 0 = E, 1 = I ------------------------------
    n, dt = a.n, a.dt
    tau = np.array([1.0, 1.0])
    nu_max = np.array([1.0, 1.0])
    beta = np.array([1.0, 1.0])
    theta = np.array([0.0, 0.0])
    m = np.array([0.0, 0.0])
    J = np.array([[1.0, 2.0], [2.0, 1.5]])            # [[J_EE, J_EI], [J_IE, J_II]]
    r = np.array([0.3, 0.45])                         # target balanced rates
    J_s = np.array([[J[0, 0], -J[0, 1]], [J[1, 0], -J[1, 1]]])
    h = -J_s @ r                                      # (0.6, 0.075)
    sqrt_n = math.sqrt(n)
    decay = np.exp(-dt / tau)
    drive = tau * (1.0 - decay) * (sqrt_n * h + m)    # per-step deterministic increment

    # --- start-up (excluded from the timing) --------------------------------------------
    t_setup = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    x = [rng.normal(0.0, 0.5, n), rng.normal(0.0, 0.5, n)]   # x(0) ~ N(0, 0.5^2)
    lam = [np.empty((n, 2)), np.empty((n, 2))]
    records = []  # (t, step, [rate_E, rate_I], [mean_E, mean_I], [var_E, var_I])

    def record(step, f):
        records.append((step * dt, step,
                        [f[0].sum() / n, f[1].sum() / n],
                        [x[0].mean(), x[1].mean()],
                        [x[0].var(), x[1].var()]))

    f = [logistic(x[b], nu_max[b], beta[b], theta[b]) for b in (0, 1)]
    setup_s = time.perf_counter() - t_setup

    # --- stepping loop (timed) ----------------------------------------------------------
    t0 = time.perf_counter()
    for step in range(a.steps):
        # 1. reduction, from the state at the start of the step
        f = [logistic(x[b], nu_max[b], beta[b], theta[b]) for b in (0, 1)]
        if step % a.record_every == 0:
            record(step, f)
        Lam = [f[0].sum(), f[1].sum()]
        new_x = []
        for pop in (0, 1):
            # 2. per-neuron Poisson means, without the neuron's own term; one draw per pop
            L = lam[pop]
            L[:, 0] = Lam[0]
            L[:, 1] = Lam[1]
            L[:, pop] -= f[pop]
            L *= dt
            np.maximum(L, 0.0, out=L)  # guards -0.0-ish rounding only; Lambda >= f_k
            counts = rng.poisson(L)    # shape (n, 2): N_E, N_I for every neuron of pop
            # 3. exact leak, drive, jumps
            new_x.append(x[pop] * decay[pop] + drive[pop]
                         + (J[pop, 0] * counts[:, 0] - J[pop, 1] * counts[:, 1]) / sqrt_n)
        x = new_x
    f = [logistic(x[b], nu_max[b], beta[b], theta[b]) for b in (0, 1)]
    record(a.steps, f)
    loop_s = time.perf_counter() - t0
    nss = 2.0 * n * a.steps / loop_s

    # --- late-time averages -------------------------------------------------------------
    T = a.steps * dt
    late_t = a.late_t
    window = "t >= %g" % late_t
    if T < late_t:
        late_t = T / 2
        window = "t >= %g (second half; run shorter than --late-t)" % late_t
    late = [rec for rec in records if rec[0] >= late_t - 1e-9]
    if not np.all(np.isfinite([v for rec in late for q in rec[2:] for v in q])):
        print("non-finite moments", file=sys.stderr)
        return 1
    avg = lambda k, b: float(np.mean([rec[k][b] for rec in late]))

    print("numpy_hydro: numpy %s, n = %d per population, %d steps of dt = %g (T = %g), seed %d"
          % (np.__version__, n, a.steps, dt, T, a.seed))
    print("setup %.3f s, stepping %.3f s, %.3e neuron-steps/s" % (setup_s, loop_s, nss))
    out = {"peer": "numpy_hydro", "numpy": np.__version__, "n": n, "steps": a.steps, "dt": dt,
           "seed": a.seed, "setup_seconds": setup_s, "stepping_seconds": loop_s,
           "neuron_steps_per_second": nss, "late_window": window, "late_records": len(late),
           "late_time": {}}
    for b, name in enumerate("EI"):
        rate, mean, var = avg(2, b), avg(3, b), avg(4, b)
        print("%s (%s, %d records): rate %.5f ((rate - r) sqrt(n) = %.3f), mean %.5f, var %.5f"
              % (name, window, len(late), rate, (rate - r[b]) * sqrt_n, mean, var))
        out["late_time"][name] = {"rate": rate, "mean": mean, "var": var,
                                  "rate_err_x_sqrt_n": (rate - r[b]) * sqrt_n}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
