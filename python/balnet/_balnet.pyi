"""Type stubs of the compiled module balnet._balnet (see balnet/_api.py for the public API)."""

from typing import Any, Callable, Dict, List, Optional

__version__: str

class ConfigError(ValueError):
    """A bad configuration or argument; the message is the command line's one-line error."""

class DoesNotFitError(MemoryError):
    """The network does not fit the memory or the device's limits; the message has the numbers."""

def run(
    out: str,
    config_path: Optional[str] = None,
    config_json: Optional[str] = None,
    fields_json: Optional[str] = None,
    backend: str = "auto",
    n: Optional[int] = None,
    steps: Optional[int] = None,
    seed: Optional[int] = None,
    force: bool = False,
    checkpoint_every: Optional[int] = None,
    resume: bool = False,
    progress: Optional[Callable[[int, int], Any]] = None,
) -> Dict[str, Any]:
    """Runs a config into ``out`` as ``balnet run``; returns model, note, warnings and, for
    model H, the members' moment columns as little-endian bytes."""

def theory(
    config_path: Optional[str] = None,
    config_json: Optional[str] = None,
    fields_json: Optional[str] = None,
    n: Optional[int] = None,
    out: Optional[str] = None,
) -> str:
    """The large-n theory of a config, as JSON text."""

def sweep(
    out: str,
    spec_path: Optional[str] = None,
    spec_json: Optional[str] = None,
    backend: Optional[str] = None,
    jobs: int = 1,
    progress: Optional[Callable[[int, int], Any]] = None,
) -> str:
    """Runs a sweep into ``out`` as ``balnet sweep``; returns its report as JSON text."""

def info() -> str:
    """Version, CPU instruction-set level and GPU adapters, as JSON text."""

def selftest(backend: str = "auto") -> str:
    """``balnet selftest --json`` on ``backend``, as JSON text."""

class Simulation:
    def __init__(
        self,
        config_path: Optional[str] = None,
        config_json: Optional[str] = None,
        fields_json: Optional[str] = None,
        backend: str = "auto",
        n: Optional[int] = None,
        seed: Optional[int] = None,
        steps: Optional[int] = None,
        force: bool = False,
    ) -> None: ...
    def write_run(
        self,
        out: str,
        checkpoint_every: Optional[int] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
    ) -> Dict[str, Any]: ...
    @staticmethod
    def from_checkpoint(path: str, backend: str = "auto") -> "Simulation": ...
    model: str
    dt: float
    steps_done: int
    note: Optional[str]
    warnings: List[str]
    backend: str
    failure: Optional[str]
    def run(self, duration: float, progress: Optional[Callable[[int, int], Any]] = None) -> str: ...
    def set_nu_x(self, nu_x: float) -> None: ...
    def set_drive(self, h: Optional[List[float]] = None, rates: Optional[List[float]] = None) -> None: ...
    def config_json(self) -> str: ...
    def lif_rates(self) -> Dict[str, Any]: ...
    def lif_neurons(self) -> Dict[str, Any]: ...
    def lif_spikes(self) -> Dict[str, Any]: ...
    def lif_state(self) -> Dict[str, Any]: ...
    def hydro_members(self) -> List[Dict[str, Any]]: ...
    def hydro_state(self, member: int = 0) -> bytes: ...
    def checkpoint(self, path: str) -> None: ...
    def restore(self, path: str) -> None: ...
