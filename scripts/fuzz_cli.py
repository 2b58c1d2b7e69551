#!/usr/bin/env python3
"""Fuzz the balnet command line with mutated configs (Python 3.11, standard library only).

Every case is a mutation of one of the model configs in configs/ (fields deleted or set to
huge, negative, zero, NaN-like, wrong-type or very long values, unknown keys at any depth,
truncated or random JSON). Each case runs

    balnet run CFG --backend cpu --steps 5 --out TMPDIR
    balnet theory CFG

with a timeout, and the exit is tallied:

    ok       exit 0
    config   exit 2   (a clear config error)
    runtime  exit 1   (a runtime error)
    panic    exit 101
    abort    killed by a signal (SIGABRT, SIGSEGV, ...); `oom` if it ran out of the memory
             limit (a "memory allocation ... failed" abort)
    hang     ran past the timeout; `slow` instead when the estimated work of the run (the
             network's size: model L's warm-up is not cut by --steps, model H's replicas x n)
             explains it
    other    any other exit code

Every panic, abort, oom, hang and other input is saved to OUT/findings/ with the command
and the tail of its stderr. Cases are numbered and generated deterministically from
(--seed, model, number): OUT/results.jsonl records each finished one, and a rerun with the
same OUT skips those (resumable; raise --count to go on). --jobs runs cases in parallel.

    python3 scripts/fuzz_cli.py --count 2000 --jobs 2 --out fuzz-out
    python3 scripts/fuzz_cli.py --count 100000 --jobs 16 --out fuzz-out   # resumes
    python3 scripts/fuzz_cli.py --replay fuzz-out/findings/X.json         # one input again
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import copy
import itertools
import json
import math
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["ok", "config", "runtime", "panic", "abort", "oom", "hang", "slow", "other"]
BAD = {"panic", "abort", "oom", "hang", "other"}
# Longest acceptable config-error line (the message itself is bounded to ~600 characters
# plus the file name).
MAX_MESSAGE = 1000

# Fields each model knows (and that the configs may lack), with plausible values, so that
# mutations reach the code behind optional fields too.
KNOWN = {
    "hydro": {
        "n": [2, 3, 1000, 4000, 4001, 100000, 1 << 30],
        "dt": [1e-3, 1e-4, 0.01, 0.49],
        "duration": [0.01, 1.0, 4.0],
        "steps": [1, 5, 100, 4294967294],
        "tau": [[1.0, 1.0], [0.5, 2.0], [1e-6, 1e6]],
        "nu_max": [[1.0, 1.0], [2.0, 0.5]],
        "beta": [[1.0, 1.0], [1e6, 1e6], [1e-6, 1.0]],
        "theta": [[0.0, 0.0], [1.0, -1.0]],
        "J": [[[1.0, 2.0], [2.0, 1.5]], [[1.0, 2.0], [1.0, 1.8]], [[0, 0], [0, 0]]],
        "h": [[0.6, 0.075], [1.0, 1.0], [0.0, 0.0]],
        "rates": [[0.3, 0.45], [0.1, 0.9]],
        "m": [[0.0, 0.0], [0.5, -0.5]],
        "x0_mean": [[0.0, 0.0], [3.0, -3.0]],
        "x0_sd": [[0.5, 0.5], [0.0, 0.0], [1e4, 1e4]],
        "coupling": ["independent", "shared", "pairwise"],
        "seed": [0, 1, 18446744073709551615],
        "record_every": [1, 50, 4294967295],
        "record": [["mean"], ["mean", "var", "rate", "skewness", "excess_kurtosis", "drift"], []],
        "save_state": [True, False],
        "replica": [0, 7, 4294967295],
        "replicas": [1, 2, 3, 65536],
    },
    "lif": {
        "n_e": [1, 2, 101, 1000, 16777216],
        "n_i": [1, 2, 26, 1000],
        "neuron": [{"tau_l": 20.0}, {"theta": -50.0, "v_r": -60.0}, {"tau_rp": 0.05}],
        "neuron_e": [{"tau_l": 10.0}, {"e_l": -70.0}],
        "neuron_i": [{"tau_rp": 1.0}, {"theta": -54.0}],
        "synapse": [
            {"kind": "conductance", "a": 0.009, "g": 20.0},
            {"kind": "current", "j": 0.2, "g": 5.0},
        ],
        "K": [1, 10, 50, 100, 1000],
        "gamma": [0.0, 0.25, 1.0],
        "K_X": [0, 1, 100, 4294967295],
        "nu_x": [0.0, 10.0, 25.0, 1e4],
        "connectivity": ["fixed_indegree", "annealed", "all_to_all"],
        "cv_k": [0.0, 0.2, 1.0],
        "delay": [{"kind": "one_step"}, {"kind": "uniform", "e_ms": [0.5, 2.0], "i_ms": [0.1, 1.0]}],
        "integrator": ["precise", "lumped"],
        "dt": [0.05, 0.01, 0.1, 2.0],
        "duration": [1.0, 100.0],
        "warmup": [0.0, 1.0, 200.0],
        "seed": [0, 3, 18446744073709551615],
        "v0": [{"kind": "uniform", "lo": -65.0, "hi": -55.0}, {"kind": "gaussian", "mean": -60.0, "sd": 3.0}],
        "record": [
            {"rate_bin_ms": 1.0, "vhist_bins": 100, "vhist_range": [-80.0, -55.0], "vhist_every": 20, "raster_neurons": 50},
            {"vhist_bins": 1, "vhist_every": 1, "raster_neurons": 4294967295},
        ],
    },
}

ENUM_WORDS = [
    "independent", "shared", "pairwise", "fixed_indegree", "annealed", "all_to_all",
    "precise", "lumped", "one_step", "uniform", "gaussian", "conductance", "current",
    "mean", "var", "rate", "skewness", "excess_kurtosis", "drift", "hydro", "lif", "",
]


def long_string(rng: random.Random) -> str:
    n = rng.choice([41, 1000, 100_000, 1_000_000] + ([20_000_000] if rng.random() < 0.02 else []))
    return rng.choice(["x", "é", "\\", "\"", "9"]) * n


def special_value(rng: random.Random, like=None):
    """A value that a config field should refuse, or that stresses its range."""
    choices = [
        lambda: 0, lambda: -1, lambda: -0.0, lambda: 1, lambda: 2,
        lambda: 2**32 - 1, lambda: 2**32, lambda: 2**31, lambda: 2**63, lambda: 2**64 - 1,
        lambda: 2**64, lambda: -(2**63),
        lambda: 1e300, lambda: -1e300, lambda: 1e-300, lambda: 5e-324, lambda: 1.7976931348623157e308,
        lambda: 1e6, lambda: 1e-6, lambda: 1e9, lambda: 1e18, lambda: 0.5,
        lambda: 10.0 ** rng.uniform(-320, 308.2) * rng.choice([1, -1]),
        lambda: rng.randint(-10, 10**rng.randint(1, 20)),
        lambda: "NaN", lambda: "inf", lambda: "-inf", lambda: "1e400", lambda: "",
        lambda: True, lambda: False, lambda: None,
        lambda: [], lambda: {}, lambda: [[[]]], lambda: [1], lambda: [1, 2, 3],
        lambda: {"kind": rng.choice(ENUM_WORDS)},
        lambda: rng.choice(ENUM_WORDS),
        lambda: long_string(rng),
        lambda: RawNumber("1" + "0" * rng.choice([20, 40, 300, 400, 5000])),
        lambda: RawNumber("-0." + "0" * 400 + "1"),
        lambda: RawNumber("1e" + str(rng.choice([308, 309, 400, -400, 99999]))),
    ]
    if isinstance(like, (int, float)) and not isinstance(like, bool):
        choices += [
            lambda: like * 10 ** rng.randint(-12, 12),
            lambda: -like,
            lambda: like + rng.choice([-1, 1]),
            lambda: int(like) if isinstance(like, float) else float(like),
        ] * 3
    if isinstance(like, list) and like:
        choices += [
            lambda: like[:-1], lambda: like + like, lambda: [special_value(rng) for _ in like],
            lambda: [like] * 2,
        ] * 2
    return rng.choice(choices)()


class RawNumber(str):
    """A number written verbatim into the JSON text (beyond what Python's floats print)."""


def to_json(v) -> str:
    if isinstance(v, RawNumber):
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return "1e999" if v > 0 else ("-1e999" if v < 0 else "0")
    if isinstance(v, dict):
        return "{" + ", ".join(json.dumps(k) + ": " + to_json(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(to_json(x) for x in v) + "]"
    return json.dumps(v)


def paths(v, prefix=()):
    """Every (path, value) in a JSON value (objects and arrays), the root included."""
    yield prefix, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from paths(x, prefix + (i,))


def set_at(root, path, value):
    if not path:
        return value
    node = root
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return root


def get_at(root, path):
    node = root
    for p in path:
        node = node[p]
    return node


def delete_at(root, path):
    node = root
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]


def random_json(rng: random.Random, depth=0):
    r = rng.random()
    if depth > 3 or r < 0.3:
        return special_value(rng)
    if r < 0.65:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = list(KNOWN["hydro"]) + list(KNOWN["lif"]) + ["model", "kind", "zz", ""]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def mutate(base: dict, model: str, rng: random.Random) -> str:
    """The text of one mutated config."""
    r = rng.random()
    if r < 0.02:
        return to_json(random_json(rng))
    if r < 0.04:
        doc = random_json(rng)
        if isinstance(doc, dict):
            doc["model"] = model
        return to_json(doc)
    cfg = copy.deepcopy(base)
    for _ in range(rng.choice([1, 1, 1, 1, 2, 2, 3, 4])):
        all_paths = [p for p, _ in paths(cfg) if p]
        kind = rng.random()
        if kind < 0.1 and all_paths:
            delete_at(cfg, rng.choice(all_paths))
        elif kind < 0.3 and all_paths:
            # A number scaled by 10^U(-3, 3) (a plausible but unusual value).
            nums = [p for p in all_paths if isinstance(get_at(cfg, p), (int, float))
                    and not isinstance(get_at(cfg, p), bool)]
            if nums:
                p = rng.choice(nums)
                v = get_at(cfg, p) * 10 ** rng.uniform(-3, 3)
                if isinstance(get_at(cfg, p), int) and math.isfinite(v):
                    v = round(v)
                set_at(cfg, p, v)
        elif kind < 0.45 and all_paths:
            p = rng.choice(all_paths)
            node = cfg
            for q in p:
                node = node[q]
            set_at(cfg, p, special_value(rng, node))
        elif kind < 0.75 and isinstance(cfg, dict):
            # A known field (present or not) set to a plausible or a special value.
            name = rng.choice(list(KNOWN[model]))
            v = rng.choice(KNOWN[model][name])
            v = copy.deepcopy(v) if rng.random() < 0.6 else special_value(rng, v)
            cfg[name] = v
        elif kind < 0.88:
            # An unknown key at any object of the config.
            objs = [p for p, v in paths(cfg) if isinstance(v, dict)]
            if objs:
                p = rng.choice(objs)
                node = cfg
                for q in p:
                    node = node[q]
                key = rng.choice(["bogus", "Model", "n ", "k", "kind2", "x" * rng.choice([3, 100, 100000])])
                node[key] = random_json(rng)
        else:
            # An enum word swapped in where a string is.
            strs = [p for p, v in paths(cfg) if isinstance(v, str) and p]
            if strs:
                set_at(cfg, rng.choice(strs), rng.choice(ENUM_WORDS))
    text = to_json(cfg)
    t = rng.random()
    if t < 0.03:
        text = text[: rng.randint(0, len(text))]
    elif t < 0.05:
        i = rng.randint(0, len(text))
        text = text[:i] + rng.choice(["\x00", "}", "{", ",", "\"", "\\u0000", "\ud800", "//"]) + text[i:]
    elif t < 0.06 and isinstance(cfg, dict) and cfg:
        # A duplicate key.
        k = rng.choice(list(cfg))
        text = text[:-1] + (", " if len(text) > 2 else "") + json.dumps(k) + ": 1}"
    return text


def shrink(v: dict) -> dict:
    """A small copy of a shipped config, so that unmutated runs finish well within the
    timeout (the shipped model L configs build networks of up to 5e8 synapses)."""
    v = copy.deepcopy(v)
    if v["model"] == "hydro":
        v["n"] = min(v.get("n", 10000), 10000)
    else:
        v["K"] = min(v.get("K", 1000), 50)
        for k in ("n_e", "n_i"):
            if k in v:
                v[k] = min(v[k], 1000)
        v["warmup"] = min(v.get("warmup", 200.0), 5.0)
    return v


def load_bases(config_dir: Path, small: bool) -> dict[str, list[tuple[str, dict]]]:
    """Every model config in config_dir (sweep files skipped), shrunk with `small`."""
    bases: dict[str, list[tuple[str, dict]]] = {"hydro": [], "lif": []}
    for p in sorted(config_dir.glob("*.json")):
        try:
            v = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(v, dict) and v.get("model") in bases:
            bases[v["model"]].append((p.name + ":small", shrink(v)) if small else (p.name, v))
    return bases


def num(v, default: float) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def estimated_work(text: str, cmd: str) -> float:
    """A rough count of the elementary operations of `run --steps 5` (0 if unknown, and for
    `theory`, which simulates nothing): a timeout of a run above SLOW_WORK is the network's
    size, not a hang."""
    try:
        c = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):
        return 0.0
    if cmd != "run" or not isinstance(c, dict):
        return 0.0
    if c.get("model") == "hydro":
        n = num(c.get("n"), 10000)
        per_neuron = n if c.get("coupling") == "pairwise" else 1.0
        return 2 * n * num(c.get("replicas"), 1) * 6 * per_neuron
    if c.get("model") != "lif":
        return 0.0
    k = num(c.get("K"), 1000)
    n = num(c.get("n_e"), 10 * k) + num(c.get("n_i"), 10 * k)
    dt = num(c.get("dt"), 0.05)
    gamma = num(c.get("gamma"), 0.25)
    if c.get("connectivity") == "all_to_all":
        k = n
    steps = num(c.get("warmup"), 200.0) / max(dt, 1e-12) + 5
    k_x = num(c.get("K_X"), k)
    nu_x = num(c.get("nu_x"), 25.0)
    build = n * k * (1 + gamma) if c.get("connectivity", "fixed_indegree") == "fixed_indegree" else 0
    # Per neuron and step: the update, external arrivals, recurrent arrivals at ~100 Hz.
    per_step = 1 + k_x * nu_x * dt * 1e-3 + k * (1 + gamma) * 100 * dt * 1e-3
    return build + n * steps * per_step


SLOW_WORK = 1e8


def classify(code: int | None, stderr: str, text: str = "", cmd: str = "") -> str:
    if code is None:
        return "slow" if estimated_work(text, cmd) > SLOW_WORK else "hang"
    if code == 0:
        return "ok"
    if code == 2:
        return "config"
    if code == 1:
        return "runtime"
    if code == 101:
        return "panic"
    if code < 0:
        if "memory allocation" in stderr and "failed" in stderr:
            return "oom"
        return "abort"
    return "other"


def run_one(binary: str, cmd: str, cfg_path: Path, timeout: float, mem_mb: int,
            text: str = "") -> tuple[str, int | None, float, str]:
    out_dir = tempfile.mkdtemp(prefix="balnet-fuzz-run-")
    if cmd == "run":
        args = [binary, "run", str(cfg_path), "--backend", "cpu", "--steps", "5", "--out", out_dir]
    else:
        args = [binary, "theory", str(cfg_path)]
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"), RAYON_NUM_THREADS="1")
    t0 = time.monotonic()
    try:
        # The memory limit is the harness's own (set once in main, inherited): a preexec_fn
        # would make every spawn a full fork of this process.
        if mem_mb > 0 and resource.getrlimit(resource.RLIMIT_AS)[0] != mem_mb << 20:
            resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                             start_new_session=True)
        try:
            _, err = p.communicate(timeout=timeout)
            code = p.returncode
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            _, err = p.communicate()
            code = None
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    secs = time.monotonic() - t0
    stderr = err.decode("utf-8", "replace")
    return classify(code, stderr, text, cmd), code, secs, stderr[-20000:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "balnet"))
    ap.add_argument("--configs", default=str(ROOT / "configs"))
    ap.add_argument("--models", default="hydro,lif")
    ap.add_argument("--count", type=int, default=2000, help="cases per model (a rerun skips finished ones)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per command")
    ap.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per command (0: none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--commands", default="run,theory")
    ap.add_argument("--out", default="fuzz-out")
    ap.add_argument("--no-small", action="store_true",
                    help="mutate the shipped configs as they are (by default shrunk copies: the "
                    "model L ones build up to 5e8 synapses, which alone outlasts the timeout)")
    ap.add_argument("--replay", help="run one saved finding (or config) again and print its outcome")
    a = ap.parse_args()

    commands = a.commands.split(",")
    if a.replay:
        rec = json.loads(Path(a.replay).read_text())
        text = rec["config"] if "config" in rec else Path(a.replay).read_text()
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(text)
        for cmd in ([rec["command"]] if "command" in rec else commands):
            cls, code, secs, err = run_one(a.binary, cmd, Path(f.name), a.timeout, a.memory_mb, text)
            print(f"{cmd}: {cls} (exit {code}, {secs:.2f} s)\n{err}")
        os.unlink(f.name)
        return 0

    out = Path(a.out)
    (out / "findings").mkdir(parents=True, exist_ok=True)
    cfg_dir = out / "cases"
    cfg_dir.mkdir(exist_ok=True)
    bases = load_bases(Path(a.configs), not a.no_small)
    results_path = out / "results.jsonl"
    done: dict[tuple[str, int, str], str] = {}
    if results_path.exists():
        for line in results_path.read_text().splitlines():
            try:
                r = json.loads(line)
                done[(r["model"], r["case"], r["command"])] = r["class"]
            except (json.JSONDecodeError, KeyError):
                continue
    lock = threading.Lock()
    results = open(results_path, "a")

    def case(model: str, i: int):
        rng = random.Random(f"{a.seed}-{model}-{i}")
        name, base = rng.choice(bases[model])
        text = mutate(base, model, rng)
        path = cfg_dir / f"{model}-{i}.json"
        path.write_text(text, errors="surrogatepass")
        outcome = []
        for cmd in commands:
            if (model, i, cmd) in done:
                continue
            cls, code, secs, err = run_one(a.binary, cmd, path, a.timeout, a.memory_mb, text)
            lines = err.strip().splitlines()
            rec = {"model": model, "case": i, "command": cmd, "base": name, "class": cls,
                   "exit": code, "seconds": round(secs, 3),
                   "message": (lines[-1] if lines else "")[:300]}
            # A config error must be one line of bounded length (warnings may precede it).
            errors = [ln for ln in lines if ln.startswith("error:")]
            long_msg = cls == "config" and (len(errors) != 1 or len(errors[0]) > MAX_MESSAGE)
            if long_msg:
                rec["long_message"] = True
            if cls in BAD or long_msg:
                finding = dict(rec, config=text, stderr=err)
                fp = out / "findings" / f"{model}-{i}-{cmd}-{cls}.json"
                fp.write_text(json.dumps(finding, indent=1, ensure_ascii=True))
            with lock:
                results.write(json.dumps(rec) + "\n")
                results.flush()
                done[(model, i, cmd)] = cls
            outcome.append(cls)
        path.unlink(missing_ok=True)
        return outcome

    todo = [(m, i) for m in a.models.split(",") for i in range(a.count)
            if any((m, i, c) not in done for c in commands)]
    print(f"{len(todo)} cases to run ({len(done)} results already in {results_path}); "
          f"{a.jobs} jobs, timeout {a.timeout} s", flush=True)
    t0 = time.monotonic()
    finished = 0
    # A bounded window of cases in flight (memory stays small whatever --count is).
    pending = iter(todo)
    window = 4 * a.jobs
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        futures = {ex.submit(case, m, i) for m, i in itertools.islice(pending, window)}
        try:
            while futures:
                finished_now, futures = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
                for f in finished_now:
                    f.result()
                    finished += 1
                    if finished % 1000 == 0:
                        print(f"  {finished}/{len(todo)} cases, {time.monotonic() - t0:.0f} s", flush=True)
                futures |= {ex.submit(case, m, i) for m, i in itertools.islice(pending, len(finished_now))}
        except KeyboardInterrupt:
            print("interrupted: finished cases are kept, rerun to resume", flush=True)
            for f in futures:
                f.cancel()
            raise
    results.close()

    print(f"\nexit classes over all results in {results_path} (ok 0, config 2, runtime 1, "
          "panic 101, abort = signal, oom = allocation failure, hang = timeout, "
          "slow = timeout of a large network):")
    for m in a.models.split(","):
        for c in commands:
            counts = {k: 0 for k in CLASSES}
            for (mm, i, cc), cls in done.items():
                if mm == m and cc == c and i < a.count:
                    counts[cls] += 1
            total = sum(counts.values())
            line = "  ".join(f"{k} {v}" for k, v in counts.items())
            print(f"{m:5s} {c:6s} ({total}): {line}")
    n_long = 0
    for line in results_path.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        n_long += bool(r.get("long_message")) and r["case"] < a.count
    print(f"config errors longer than one line of {MAX_MESSAGE} characters: {n_long}")
    n_bad = sum(1 for (m, i, c), cls in done.items() if cls in BAD and i < a.count) + n_long
    print(f"{n_bad} findings in {out / 'findings'}")
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
