#!/usr/bin/env python3
"""Digests of the outputs of one `balnet` binary, for checking that a refactor changes no
number: every config in configs/ on the CPU and on the GPU adapter (shortened with --steps),
the sweep example, and a run interrupted by SIGINT and resumed from its checkpoint.

    scripts/output_digest.py BIN WORKDIR > digest.txt
    diff <(scripts/output_digest.py /tmp/balnet_before /tmp/a) \
         <(scripts/output_digest.py target/release/balnet /tmp/b)

Each line is `case file sha256`. run.json is compared without its timings (every key that
holds seconds or a per-second rate, and the GPU's kernel times), which differ run to run;
summary.csv without its timing columns; the figures (*.png) are listed apart, as `png`, since
a change of their drawing is a change of presentation, not of a number, and so are
checkpoint files (`ckpt`; a resumed run's last one depends on where the run was
interrupted, which depends on the machine's speed). A case that fails prints its exit
status instead.

`--resume-from DIR` resumes copies of the interrupted runs another binary left in DIR (its
WORKDIR), so that a checkpoint written before a change is shown to resume after it.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMING = ("seconds", "per_second", "per_wall", "kernel_times")

# (name, config, extra args, backends). Steps are chosen so that every case runs in seconds
# on two cores and on lavapipe; model L's warm-up (200 ms = 4000 steps) comes on top.
CASES = [
    ("hydro_balanced", "hydro_balanced.json", ["--steps", "400"], ["cpu", "gpu"]),
    ("hydro_near_singular", "hydro_near_singular.json", ["--steps", "400"], ["cpu", "gpu"]),
    ("hydro_n1e7", "hydro_n1e7.json", ["--steps", "20"], ["cpu", "gpu"]),
    ("lif_cond_k100", "lif_cond_k100.json", ["--steps", "2000"], ["cpu", "gpu"]),
    ("lif_cond_k1000", "lif_cond_k1000.json", ["--steps", "400"], ["cpu", "gpu"]),
    ("lif_current_k1000", "lif_current_k1000.json", ["--steps", "400"], ["cpu", "gpu"]),
    ("lif_cond_k10000", "lif_cond_k10000.json", ["--steps", "20"], ["cpu"]),
]
# Too large to run here (2e9 synapses, or 1e6-neuron sweep points): their dry-run output.
DRY = [
    ("lif_cond_k10000_paper", ["run", "configs/lif_cond_k10000_paper.json", "--dry-run"]),
    ("sweep_convergence", ["sweep", "configs/sweep_convergence.json", "--dry-run"]),
    ("sweep_convergence_large", ["sweep", "configs/sweep_convergence_large.json", "--dry-run"]),
]
RESUME = [
    ("resume_lif", "lif_cond_k100.json", ["--steps", "20000"]),
    ("resume_hydro", "hydro_balanced.json", ["--n", "300000", "--steps", "4000"]),
]


def strip_timing(v):
    if isinstance(v, dict):
        return {k: strip_timing(x) for k, x in v.items() if not any(t in k for t in TIMING)}
    if isinstance(v, list):
        return [strip_timing(x) for x in v]
    return v


def digest_dir(case, d):
    for p in sorted(Path(d).rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(d)
        if p.name == "run.json":
            v = strip_timing(json.loads(p.read_text()))
            if isinstance(v, dict) and isinstance(v.get("warnings"), list):
                # Where a resumed run was interrupted depends on the machine's timing.
                v["warnings"] = [w for w in v["warnings"] if "resumed from a checkpoint" not in w]
            data = json.dumps(v, sort_keys=True).encode()
        elif p.name == "summary.csv":
            rows = [r.split(",") for r in p.read_text().splitlines()]
            keep = [i for i, c in enumerate(rows[0]) if not any(t in c for t in TIMING)]
            data = "\n".join(",".join(r[i] for i in keep) for r in rows).encode()
        else:
            data = p.read_bytes()
        # The last checkpoint of a resumed run depends on where it was interrupted.
        tag = {".png": "png", ".bin": "ckpt"}.get(p.suffix, "file")
        print(f"{case} {tag} {rel} {hashlib.sha256(data).hexdigest()[:16]}")


def run(bin_, args, **kw):
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    return subprocess.run([bin_, *args], cwd=ROOT, env=env, capture_output=True, text=True, **kw)


def interrupted_run(bin_, cfg, extra, out):
    """A run stopped by SIGINT once its first checkpoint exists."""
    env = dict(os.environ, XDG_RUNTIME_DIR="/tmp")
    args = [bin_, "run", f"configs/{cfg}", "--backend", "cpu", "--out", str(out),
            "--checkpoint-every", "500", *extra]
    p = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    while p.poll() is None and not (out / "checkpoint.bin").exists():
        time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    return p.wait()


def main():
    argv = sys.argv[1:]
    resume_from = None
    if "--resume-from" in argv:
        i = argv.index("--resume-from")
        resume_from = Path(argv[i + 1])
        del argv[i : i + 2]
    bin_, work = os.path.abspath(argv[0]), Path(argv[1])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name, cfg, extra, backends in CASES:
        for b in backends:
            out = work / f"{name}-{b}"
            r = run(bin_, ["run", f"configs/{cfg}", "--backend", b, "--out", str(out), *extra])
            if r.returncode != 0:
                print(f"{name}-{b} exit {r.returncode}: {r.stderr.strip()[-200:]}")
            digest_dir(f"{name}-{b}", out)
    for name, args in DRY:
        r = run(bin_, args)
        print(f"{name} stdout {hashlib.sha256(r.stdout.encode()).hexdigest()[:16]} exit {r.returncode}")
    out = work / "sweep_example"
    r = run(bin_, ["sweep", "configs/sweep_example.json", "--out", str(out)])
    print(f"sweep_example exit {r.returncode}")
    digest_dir("sweep_example", out)
    for name, cfg, extra in RESUME:
        out = work / name
        code = interrupted_run(bin_, cfg, extra, out)
        shutil.copytree(out, work / f"{name}-interrupted")
        r = run(bin_, ["run", "--resume", str(out)])
        print(f"{name} interrupted exit {code}, resumed exit {r.returncode}")
        digest_dir(name, out)
        if resume_from is not None:
            other = work / f"{name}-from-other"
            shutil.copytree(resume_from / f"{name}-interrupted", other)
            r = run(bin_, ["run", "--resume", str(other)])
            print(f"{name}-from-other resumed exit {r.returncode}")
            digest_dir(f"{name}-from-other", other)


if __name__ == "__main__":
    main()
