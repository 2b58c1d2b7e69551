"""balnet.Simulation: a network kept in process and stepped on demand."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from . import _balnet
from ._api import BalnetWarning, Config, PathLike, Progress, _Bar, _config_args, _fields_json
from ._api import _integer
from ._api import _moments_frame


def _f64(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f8").copy()


def _f32(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f4").copy()


def _u32(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<u4").copy()


class Simulation:
    """A network built once and run in stages, as ``net.run(...)`` in Brian2 or
    ``nest.Simulate(...)`` in NEST: each :meth:`run` continues the same network from where
    the last one stopped, and the records (rates, spikes, per-neuron statistics, model H
    moments) accumulate. Between runs the external drive can change (:meth:`set_nu_x`), the
    state can be read (:attr:`state`) and the whole simulation checkpointed. Nothing is
    written to disk unless asked (:meth:`checkpoint`).

    Args:
        config: a JSON config file's path, or the config as a dict.
        backend: ``"auto"``, ``"cpu"`` or ``"gpu"``, as :func:`balnet.run`.
        n: neurons per population (model H only).
        seed: the 64-bit seed.
        **fields: any other top-level config field (``nu_x=30.0``, ``K=1000``, ...).

    The config's ``duration`` does not bound the simulation: it runs as long as the calls
    ask (the warm-up of a model L config still comes first: records start after it).
    Running ``run(a)`` then ``run(b)`` gives, bit for bit, what ``run(a + b)`` gives.
    """

    def __init__(
        self,
        config: Config,
        backend: str = "auto",
        *,
        n: Optional[int] = None,
        seed: Optional[int] = None,
        _inner: Any = None,
        **fields: Any,
    ):
        if _inner is None:
            args = _config_args(config)
            _inner = _balnet.Simulation(
                backend=backend,
                n=_integer("n", n),
                seed=_integer("seed", seed),
                fields_json=_fields_json(fields),
                **args,
            )
        self._sim = _inner
        for w in self._sim.warnings:
            warnings.warn(w, BalnetWarning, stacklevel=2)
        if self._sim.note:
            warnings.warn(self._sim.note, BalnetWarning, stacklevel=2)

    @classmethod
    def from_checkpoint(cls, path: PathLike, backend: str = "auto") -> "Simulation":
        """The simulation a :meth:`checkpoint` file (or a run's checkpoint.bin) holds,
        continued from it, on its kind of backend unless ``backend`` says otherwise."""
        return cls(None, _inner=_balnet.Simulation.from_checkpoint(os.fspath(path), backend))

    # -- what it is ------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """``"hydro"`` (model H) or ``"lif"`` (model L)."""
        return self._sim.model

    @property
    def dt(self) -> float:
        """The time step (model L: ms; model H: its time unit)."""
        return self._sim.dt

    @property
    def steps_done(self) -> int:
        return self._sim.steps_done

    @property
    def t(self) -> float:
        """The time reached (steps done times dt; model L: ms, the warm-up included)."""
        return self._sim.steps_done * self._sim.dt

    @property
    def backend(self) -> str:
        return self._sim.backend

    @property
    def failure(self) -> Optional[str]:
        """Why the simulation failed (a non-finite state), None while it has not."""
        return self._sim.failure

    @property
    def config(self) -> Dict[str, Any]:
        """The resolved config now (with the current drive)."""
        return json.loads(self._sim.config_json())

    # -- stepping --------------------------------------------------------------------------
    def run(self, duration: float, progress: Progress = False) -> str:
        """Advances the simulation by ``duration`` (model L: ms; model H: its time unit,
        rounded to whole steps of dt). Returns ``"complete"``, or ``"failed"`` when the
        state became non-finite (:attr:`failure` says where). Ctrl-C stops at the next
        chunk of steps and raises KeyboardInterrupt; the simulation stays usable from
        there. ``progress``: True for a tqdm bar, or a callable ``f(done, total)``."""
        bar = _Bar(progress, "step", None)
        try:
            return self._sim.run(float(duration), progress=bar.callback())
        finally:
            bar.close()

    def set_nu_x(self, nu_x: float) -> None:
        """Model L: the external Poisson rate nu_X (Hz) from the next step on. The network,
        its state and its records stay; the config is checked again with the new value
        (a bad value raises ConfigError and changes nothing). On the GPU the external input
        cannot be switched on or off (to or from 0)."""
        self._sim.set_nu_x(float(nu_x))

    def set_drive(self, h=None, rates=None) -> None:
        """Model H: the external drive ``h`` ([E, I]), or the balanced ``rates`` it is solved
        from (exactly one), from the next step on; the network, state and moments stay, the
        config is checked again (a bad value raises ConfigError and changes nothing)."""
        self._sim.set_drive(
            h=None if h is None else [float(x) for x in h],
            rates=None if rates is None else [float(x) for x in rates],
        )

    def checkpoint(self, path: PathLike) -> None:
        """Writes the whole simulation (state, records, step) to ``path``; restore it with
        :meth:`restore` or :meth:`from_checkpoint`."""
        self._sim.checkpoint(os.fspath(path))

    def restore(self, path: PathLike) -> None:
        """Continues from a checkpoint of this same network (config, backend kind)."""
        self._sim.restore(os.fspath(path))

    # -- model L records -------------------------------------------------------------------
    @property
    def rates(self) -> pd.DataFrame:
        """Model L: the population rates per bin since the warm-up (``t_ms, rate_e_hz,
        rate_i_hz``: the numbers rates.csv would hold; the last bin may still be filling)."""
        d = self._sim.lif_rates()
        return pd.DataFrame({k: _f64(d[k]) for k in ("t_ms", "rate_e_hz", "rate_i_hz")})

    @property
    def theory(self) -> Optional[Dict[str, Any]]:
        """Model L: the mean-field prediction of the current config (``rate_hz, cv, mu_mv,
        sigma_mv, tau_ms``), None when it has none."""
        th = self._sim.lif_rates()["theory"]
        return None if th is None else json.loads(th)

    @property
    def neurons(self) -> pd.DataFrame:
        """Model L: per neuron (E first, indexed by id) ``population``, ``rate_hz`` and
        ``cv`` over the recorded time (NaN below 3 spikes), as neurons.npy holds them."""
        d = self._sim.lif_neurons()
        df = pd.DataFrame({"rate_hz": _f32(d["rate_hz"]), "cv": _f32(d["cv"])})
        df.index.name = "neuron"
        df.insert(0, "population", _population(np.arange(len(df)), d["n_e"]))
        return df

    @property
    def spikes(self) -> pd.DataFrame:
        """Model L: every spike of the ``record.spikes`` neurons so far: ``t_ms`` (recorded
        step times dt), ``neuron`` (global id) and ``population``."""
        d = self._sim.lif_spikes()
        neuron = _u32(d["neuron"])
        return pd.DataFrame(
            {
                "t_ms": _u32(d["step"]).astype(np.float64) * self.dt,
                "neuron": neuron,
                "population": _population(neuron, d["n_e"]),
            }
        )

    @property
    def raster(self) -> pd.DataFrame:
        """Model L: the raster neurons' spikes (``t_ms`` after the warm-up, with the spike's
        time within its step; ``neuron``; ``population``), as raster.csv holds them."""
        d = self._sim.lif_spikes()
        neuron = _u32(d["raster_neuron"])
        return pd.DataFrame(
            {
                "t_ms": _f64(d["raster_t_ms"]),
                "neuron": neuron,
                "population": _population(neuron, d["n_e"]),
            }
        )

    # -- state -----------------------------------------------------------------------------
    @property
    def state(self) -> Any:
        """The state now. Model L: a DataFrame per neuron (E first) of ``population``,
        ``v_mv`` (membrane potential) and ``refractory_ms`` (refractory time left, <= 0
        when not refractory). Model H: the array x of replica 0 (E neurons, then I); see
        :meth:`hydro_state` for other replicas."""
        if self.model == "hydro":
            return self.hydro_state(0)
        d = self._sim.lif_state()
        v = _f32(d["v"])
        n_e = self._sim.lif_neurons()["n_e"]
        df = pd.DataFrame(
            {
                "population": _population(np.arange(len(v)), n_e),
                "v_mv": v,
                "refractory_ms": _f32(d["refractory"]),
            }
        )
        df.index.name = "neuron"
        return df

    def hydro_state(self, member: int = 0) -> np.ndarray:
        """Model H: the state x of replica ``member`` (E neurons, then I), float32."""
        return _f32(self._sim.hydro_state(member))

    @property
    def moments(self) -> Optional[pd.DataFrame]:
        """Model H: the population moments so far, as :attr:`balnet.Result.moments`."""
        return _moments_frame(self._sim.hydro_members())

    def __repr__(self) -> str:
        return (
            f"<balnet.Simulation model={self.model} t={self.t:g} "
            f"backend={self.backend!r}>"
        )


def _population(ids: np.ndarray, n_e: int) -> np.ndarray:
    return np.where(ids < n_e, "E", "I").astype(object)
