"""The public functions of balnet and the Result of a run."""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Union

import numpy as np
import pandas as pd

from . import _balnet
from ._balnet import ConfigError

PathLike = Union[str, "os.PathLike[str]"]
Config = Union[PathLike, Mapping[str, Any]]
Progress = Union[bool, Callable[[int, int], Any], None]

class BalnetWarning(UserWarning):
    """A warning of a run (the command line's ``warning:`` and ``note:`` lines)."""


# pandas parses balnet's CSV numbers (shortest round-trip form) back to the same bits: by
# default from pandas 3 on (which deprecates the option), with "round_trip" before.
_CSV: Dict[str, Any] = (
    {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
)


def _config_args(config: Config) -> Dict[str, Any]:
    """The compiled module's arguments for a config path or dict."""
    if isinstance(config, (str, os.PathLike)):
        return {"config_path": os.fspath(config)}
    if isinstance(config, Mapping):
        return {"config_json": _dumps(dict(config), "config")}
    raise TypeError(
        f"config must be a path or a dict, got {type(config).__name__}"
    )


def _dumps(value: Any, what: str) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{what}: not expressible as JSON: {e}") from None


def _integer(name: str, v: Any) -> Optional[int]:
    """An integer argument, also given as an integral float (``n=1e6``), as config files
    take them; None stays None."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    raise ConfigError(f"{name} = {v!r}: must be an integer")


def _fields_json(fields: Mapping[str, Any]) -> Optional[str]:
    return _dumps(dict(fields), "overrides") if fields else None


class _Bar:
    """A progress callback(done, total) drawing a tqdm bar (tqdm.auto: notebook or
    terminal), or forwarding to the caller's callable."""

    def __init__(self, progress: Progress, unit: str, desc: Optional[str]):
        self.user = progress if callable(progress) else None
        self.enabled = progress is True
        self.unit = unit
        self.desc = desc
        self.bar = None
        if self.enabled:
            try:
                from tqdm.auto import tqdm  # noqa: F401
            except ImportError:
                raise ImportError(
                    "progress=True needs tqdm: pip install tqdm (or balnet[progress])"
                ) from None

    def callback(self) -> Optional[Callable[[int, int], None]]:
        if self.user is not None:
            return self.user
        return self._update if self.enabled else None

    def _update(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit=self.unit, desc=self.desc)
        if self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _frombytes(b: bytes, dtype: str) -> np.ndarray:
    return np.frombuffer(b, dtype=dtype).copy()


def _moments_frame(members: list) -> Optional[pd.DataFrame]:
    if not members:
        return None
    frames = []
    for m in members:
        cols: Dict[str, Any] = {}
        for name in m["columns"]:
            if name == "step":
                cols[name] = _frombytes(m[name], "<u8").astype(np.int64)
            elif name == "population":
                pop = _frombytes(m[name], "u1")
                cols[name] = np.where(pop == 0, "E", "I").astype(object)
            else:
                cols[name] = _frombytes(m[name], "<f8")
        df = pd.DataFrame(cols, columns=m["columns"])
        if len(members) > 1:
            df.insert(0, "replica", np.int64(m["replica"]))
        frames.append(df)
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)


class Result:
    """The outcome of :func:`run`: the run directory and its contents as pandas objects.

    Attributes are read lazily from the run directory (the one ``out=`` named, or a
    temporary directory that lives as long as this object). Model H results have
    ``moments``, ``theory`` and ``late_time``; model L results have ``rates``,
    ``neurons``, ``vhist``, ``raster``, ``spikes`` and ``theory``; the others are None.
    """

    def __init__(self, path: Path, info: Dict[str, Any], temporary: bool):
        self._path = Path(path)
        self._info = info
        self._temporary = temporary
        if temporary:
            self._finalizer = weakref.finalize(
                self, shutil.rmtree, str(self._path), ignore_errors=True
            )

    # -- what run.json holds -------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The run directory (a temporary one when ``out`` was not given)."""
        return self._path

    @property
    def model(self) -> str:
        """``"hydro"`` (model H) or ``"lif"`` (model L)."""
        return self._info["model"]

    @functools.cached_property
    def summary(self) -> Dict[str, Any]:
        """run.json as a dict: resolved config, backend, timings, status, warnings, and the
        model's results (model H: ``late_time``; model L: ``summary``, ``theory``)."""
        with open(self._path / "run.json", encoding="utf-8") as f:
            return json.load(f)

    @property
    def status(self) -> str:
        """run.json's status: ``complete``, ``interrupted`` or ``failed``."""
        return self.summary["status"]

    @property
    def backend(self) -> str:
        return self.summary["backend"]

    @property
    def note(self) -> Optional[str]:
        """The notice of ``backend="auto"`` falling back to the CPU, if it did."""
        return self._info.get("note")

    # -- model H ---------------------------------------------------------------------------
    @functools.cached_property
    def moments(self) -> Optional[pd.DataFrame]:
        """Model H: the population moments, one row per record time and population; the
        columns of moments.csv (``t, step, population`` and the config's ``record`` list),
        with a leading ``replica`` column when the run has several replicas. The values are
        the ones moments.csv holds, bit for bit."""
        return _moments_frame(self._info.get("members") or [])

    @functools.cached_property
    def late_time(self) -> Optional[pd.DataFrame]:
        """Model H: run.json's late-time (t >= 2) comparison as a DataFrame, one row per
        (replica,) population and quantity (rate, mean, var): simulated, limit, corrected
        (limit + coefficient / sqrt(n)), corrected_at_dt (plus the scheme's O(dt) offset)
        and the errors."""
        if self.model != "hydro":
            return None
        s = self.summary
        per = s.get("per_replica")
        groups = (
            [(p["replica"], p["late_time"]) for p in per]
            if per is not None
            else [(None, s.get("late_time") or [])]
        )
        rows = []
        for replica, pops in groups:
            for p in pops:
                for q in ("rate", "mean", "var"):
                    row = {"population": p["population"], "quantity": q, **p[q]}
                    if replica is not None:
                        row = {"replica": replica, **row}
                    rows.append(row)
        return pd.DataFrame(rows)

    @functools.cached_property
    def theory(self) -> Union[pd.DataFrame, Dict[str, Any], None]:
        """Model H: theory.csv (the limit and its first-order prediction at this n on the
        record grid) as a DataFrame. Model L: the mean-field prediction of run.json as a
        dict (``rate_hz, cv, mu_mv, sigma_mv, tau_ms``), None when it has none."""
        if self.model == "hydro":
            p = self._path / "theory.csv"
            return pd.read_csv(p, **_CSV) if p.exists() else None
        return self.summary.get("theory")

    # -- model L ---------------------------------------------------------------------------
    def _csv(self, name: str) -> Optional[pd.DataFrame]:
        if self.model != "lif":
            return None
        return pd.read_csv(self._path / name, **_CSV)

    @functools.cached_property
    def rates(self) -> Optional[pd.DataFrame]:
        """Model L: rates.csv, the population rates per bin after the warm-up
        (``t_ms, rate_e_hz, rate_i_hz``)."""
        return self._csv("rates.csv")

    @functools.cached_property
    def vhist(self) -> Optional[pd.DataFrame]:
        """Model L: vhist.csv, the membrane-potential densities
        (``v_mv, density_e, density_i[, density_theory]``)."""
        return self._csv("vhist.csv")

    @functools.cached_property
    def raster(self) -> Optional[pd.DataFrame]:
        """Model L: raster.csv, the spikes of the raster neurons (``t_ms, neuron,
        population``; t_ms after the warm-up, with the spike's time within its step)."""
        return self._csv("raster.csv")

    @functools.cached_property
    def neurons(self) -> Optional[pd.DataFrame]:
        """Model L: neurons.npy as a DataFrame indexed by neuron id (E neurons first):
        ``population``, ``rate_hz`` and ``cv`` (NaN below 3 spikes), then any further
        columns of the file as ``col2``, ``col3``, ..."""
        if self.model != "lif":
            return None
        a = np.load(self._path / "neurons.npy")
        names = ["rate_hz", "cv"] + [f"col{j}" for j in range(2, a.shape[1])]
        df = pd.DataFrame(a, columns=names[: a.shape[1]])
        df.index.name = "neuron"
        df.insert(0, "population", self._population(np.arange(len(df))))
        return df

    def _population(self, ids: np.ndarray) -> np.ndarray:
        return np.where(ids < self.summary["n_e"], "E", "I").astype(object)

    @functools.cached_property
    def spikes(self) -> Optional[pd.DataFrame]:
        """Model L: the recorded spikes (spikes_step.npy and spikes_neuron.npy) as a
        DataFrame ``t_ms`` (step index after the warm-up times dt), ``neuron`` (global id: E
        neurons 0..n_e, I neurons n_e..n_e+n_i) and ``population``; empty (with those
        columns) when the run recorded none."""
        if self.model != "lif":
            return None
        ps, pn = self._path / "spikes_step.npy", self._path / "spikes_neuron.npy"
        if not (ps.exists() and pn.exists()):
            return pd.DataFrame(
                {
                    "t_ms": np.zeros(0, np.float64),
                    "neuron": np.zeros(0, np.uint32),
                    "population": np.zeros(0, object),
                }
            )
        step = np.load(ps)
        neuron = np.load(pn)
        meta = self.summary.get("spikes") or {}
        dt = float(meta.get("dt_ms", self.summary["config"]["dt"]))
        return pd.DataFrame(
            {
                "t_ms": step.astype(np.float64) * dt,
                "neuron": neuron,
                "population": self._population(neuron),
            }
        )

    # -- files -----------------------------------------------------------------------------
    def save(self, dir: PathLike) -> Path:
        """Copies the run directory to ``dir`` (created if needed): exactly the files
        ``balnet run --out DIR`` writes. Returns the path."""
        dest = Path(dir)
        if dest.exists() and dest.resolve() == self._path.resolve():
            return dest
        shutil.copytree(self._path, dest, dirs_exist_ok=True)
        return dest

    def __repr__(self) -> str:
        return (
            f"<balnet.Result model={self.model} status={self.status} "
            f"backend={self.backend!r} path={str(self._path)!r}>"
        )


def run(
    config: Optional[Config] = None,
    backend: str = "auto",
    progress: Progress = False,
    *,
    n: Optional[int] = None,
    steps: Optional[int] = None,
    seed: Optional[int] = None,
    out: Optional[PathLike] = None,
    force: bool = False,
    checkpoint_every: Optional[int] = None,
    resume: Optional[PathLike] = None,
    **fields: Any,
) -> Result:
    """Simulates the network of ``config`` and returns its :class:`Result`.

    Runs exactly what ``balnet run CONFIG --backend B --n N --steps K --seed S --out DIR``
    runs, and writes the same run directory.

    Args:
        config: a JSON config file's path, or the config as a dict.
        backend: ``"auto"`` (the GPU if an adapter exists, else the CPU; ``Result.note``
            says so), ``"cpu"`` or ``"gpu"``.
        progress: True for a tqdm bar (``tqdm.auto``: notebook or terminal), or a callable
            ``f(done_steps, total_steps)`` called between chunks of steps.
        n: neurons per population (model H only), as ``--n``.
        steps: number of steps, as ``--steps`` (model L: recorded steps after the warm-up).
        seed: the 64-bit seed, as ``--seed``.
        out: the run directory to write; None keeps it in a temporary directory that lives
            as long as the Result (``Result.save`` copies it).
        force: run even when the stiffness number is above 1 (model H), as ``--force``.
        checkpoint_every: write checkpoint.bin every this many steps.
        resume: continue the run in this directory from its checkpoint (no config then).
        **fields: any other top-level config field, set as if the file had it
            (``replicas=4``, ``duration=2.0``, ``nu_x=30.0``, ...).

    Raises:
        ConfigError: a bad config or argument (the command line's one-line message).
        DoesNotFitError: the network does not fit (the message has the numbers).
        KeyboardInterrupt: Ctrl-C; the run stopped at its next chunk of steps and wrote its
            directory with run.json ``interrupted``.
        RuntimeError: anything else (a device error, a non-finite state: the directory holds
            what was recorded and run.json says ``failed``).
    """
    if resume is not None:
        if config is not None:
            raise ConfigError("resume: takes no config (the run's own)")
        if out is not None and Path(out).resolve() != Path(resume).resolve():
            raise ConfigError("resume: writes into the resumed directory; leave out unset")
        if fields:
            raise ConfigError("resume: takes no config fields (the run's own)")
        out = resume
        args: Dict[str, Any] = {}
    else:
        if config is None:
            raise ConfigError("run: give a config (a path or a dict) or resume=DIR")
        args = _config_args(config)
        args["fields_json"] = _fields_json(fields)
    temporary = out is None
    path = Path(tempfile.mkdtemp(prefix="balnet-run-")) if temporary else Path(out)
    bar = _Bar(progress, "step", None)
    every = _integer("checkpoint_every", checkpoint_every)
    try:
        if resume is not None:
            info = _balnet.run(
                str(path),
                backend=backend,
                n=_integer("n", n),
                steps=_integer("steps", steps),
                seed=_integer("seed", seed),
                force=force,
                checkpoint_every=every,
                resume=True,
                progress=bar.callback(),
            )
        else:
            # A thin function over Simulation: build the network, run it to the config's
            # end and write the run directory (the command line's writers).
            sim = _balnet.Simulation(
                backend=backend,
                n=_integer("n", n),
                seed=_integer("seed", seed),
                steps=_integer("steps", steps),
                force=force,
                **args,
            )
            info = sim.write_run(str(path), checkpoint_every=every, progress=bar.callback())
    except BaseException:
        if temporary:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        bar.close()
    for w in info.get("warnings") or []:
        warnings.warn(w, BalnetWarning, stacklevel=2)
    if info.get("note"):
        warnings.warn(info["note"], BalnetWarning, stacklevel=2)
    return Result(path, info, temporary)


def theory(
    config: Config,
    n: Optional[int] = None,
    *,
    out: Optional[PathLike] = None,
    **fields: Any,
) -> Union[pd.DataFrame, Dict[str, Any]]:
    """The large-n theory of a config, as ``balnet theory CONFIG [--n N] [--out DIR]``.

    Model H: a DataFrame indexed by population (E, I) with the steady state ``rate, mu,
    var`` and the first-order coefficients ``delta, m1, v1, k1``; with ``n`` also the
    predictions at that size ``rate_pred, mean_pred, var_pred`` (limit + coefficient /
    sqrt(n)). With ``out``, writes theory.csv (the trajectory on the run's record grid).

    Model L: a dict with the self-consistent ``rate_hz, cv, mu_mv, sigma_mv, tau_ms``;
    with ``out``, writes theory.json and pv.csv.

    Raises ConfigError for a bad config or one without a (stable) balanced state.
    """
    args = _config_args(config)
    t = json.loads(
        _balnet.theory(
            n=_integer("n", n),
            out=None if out is None else os.fspath(out),
            fields_json=_fields_json(fields),
            **args,
        )
    )
    if t.pop("model") == "lif":
        return t
    cols = ["rate", "mu", "var", "delta", "m1", "v1", "k1"]
    if t.pop("n") is not None:
        cols += ["rate_pred", "mean_pred", "var_pred"]
    return pd.DataFrame(
        {k: t[k] for k in cols},
        index=pd.Index(["E", "I"], name="population"),
    )


def sweep(
    base: Config,
    grid: Optional[Mapping[str, Any]] = None,
    seeds: int = 1,
    *,
    seed_base: int = 1,
    backend: Optional[str] = None,
    out: Optional[PathLike] = None,
    jobs: int = 1,
    progress: Progress = False,
) -> pd.DataFrame:
    """Runs a sweep, as ``balnet sweep``, and returns its summary.csv as a DataFrame.

    Either ``base`` is a sweep file (a path, ``grid`` None), run as the command line runs
    it; or ``base`` is a config (path or dict) and ``grid`` maps config field paths
    (``"n"``, ``"J.0.1"``, ``"nu_x"``) to a list of values or ``{"linspace": [a, b, k]}`` /
    ``{"logspace": [a, b, k]}``, times ``seeds`` seeds from ``seed_base``.

    Every point runs into ``OUT/runs/<id>/``; OUT/summary.csv has one row per point (id,
    one column per grid path, seed, status, error and the model's results); a model H sweep
    over n also writes convergence.csv and convergence.png. On the GPU the seeds of a grid
    point at n <= 65536 run as one batch, as the command line does. Finished points are
    skipped on a rerun into the same ``out``. Without ``out`` the sweep runs in a temporary
    directory, removed once summary.csv is read. ``backend`` (``auto``, ``cpu``, ``gpu``)
    overrides the sweep's; ``jobs`` points run at once; ``progress`` counts points.

    A failed point is a row with status ``failed`` and its error (and a warning); Ctrl-C
    stops the running points at their next chunk (run.json ``interrupted``) and raises
    KeyboardInterrupt; a rerun finishes the rest.
    """
    if grid is None:
        if not isinstance(base, (str, os.PathLike)):
            raise ConfigError("sweep: give a sweep file's path, or a base config and a grid")
        kw: Dict[str, Any] = {"spec_path": os.fspath(base), "backend": backend}
    else:
        if isinstance(base, (str, os.PathLike)):
            b: Any = os.path.abspath(os.fspath(base))
        elif isinstance(base, Mapping):
            b = dict(base)
        else:
            raise TypeError(f"base must be a path or a dict, got {type(base).__name__}")
        spec = {
            "base": b,
            "grid": dict(grid),
            "seeds": seeds,
            "seed_base": seed_base,
            "backend": backend or "auto",
        }
        kw = {"spec_json": _dumps(spec, "sweep")}
    temporary = out is None
    path = Path(tempfile.mkdtemp(prefix="balnet-sweep-")) if temporary else Path(out)
    bar = _Bar(progress, "point", "sweep")
    try:
        rep = json.loads(
            _balnet.sweep(str(path), jobs=_integer("jobs", jobs), progress=bar.callback(), **kw)
        )
        if rep.get("note"):
            warnings.warn(rep["note"], BalnetWarning, stacklevel=2)
        for pid, msg in rep["failures"]:
            warnings.warn(f"sweep point {pid} failed: {msg}", BalnetWarning, stacklevel=2)
        p = path / "summary.csv"
        df = pd.read_csv(p, dtype={"id": str}, **_CSV) if p.exists() and p.stat().st_size > 0 else pd.DataFrame()
        if not temporary:
            df.attrs["out"] = str(path)
        return df
    finally:
        bar.close()
        if temporary:
            shutil.rmtree(path, ignore_errors=True)


def info() -> Dict[str, Any]:
    """What this build and machine offer: ``version``, ``isa`` (the CPU instruction-set
    level the CPU backend uses: ``avx512``, ``avx2`` or ``baseline``; BALNET_ISA can lower
    it), ``isa_available``, ``adapters`` (each GPU adapter wgpu finds, with the limits
    ``balnet info --json`` lists) and, with none, ``no_adapter_fix`` (how to get one)."""
    return json.loads(_balnet.info())


def selftest(backend: str = "auto") -> Dict[str, Any]:
    """``balnet selftest``: known-answer and distribution checks of the random number
    generator and samplers on the backends. Returns ``checks`` (each ``name, backend,
    passed, detail``), ``passed`` and ``failed`` counts, the GPU ``adapter`` and the
    auto backend's ``note``."""
    return json.loads(_balnet.selftest(backend))
