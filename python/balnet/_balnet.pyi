"""Type stubs of the compiled module balnet._balnet (see balnet/_api.py for the public API)."""

from typing import Any, Callable, Dict, Optional

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
