"""balnet: large balanced excitatory/inhibitory networks on the GPU and CPU, checked
against their large-n theory.

Two models: model H (``"model": "hydro"``), the all-to-all stochastic hybrid network and
its hydrodynamic limit, and model L (``"model": "lif"``), leaky integrate-and-fire networks
and their mean-field theory. Every function runs the same library code as the ``balnet``
command line, so a run here writes the same run directory, bit for bit.

>>> import balnet
>>> r = balnet.run("configs/hydro_balanced.json", n=10000, backend="cpu")
>>> r.moments.head()          # doctest: +SKIP

See docs/python.md for the whole API.
"""

import os as _os
import tempfile as _tempfile

# Mesa's Vulkan window-system layer prints an error when XDG_RUNTIME_DIR is unset or not a
# directory, which headless machines and containers often leave; balnet never presents to a
# window (as the CLI does).
if not _os.path.isdir(_os.environ.get("XDG_RUNTIME_DIR", "")):
    _os.environ["XDG_RUNTIME_DIR"] = _tempfile.gettempdir()

from . import _balnet  # noqa: E402
from ._balnet import ConfigError, DoesNotFitError  # noqa: E402
from ._api import BalnetWarning, Result, info, run, selftest, sweep, theory  # noqa: E402
from ._simulation import Simulation  # noqa: E402

ConfigError.__module__ = "balnet"
DoesNotFitError.__module__ = "balnet"

__version__ = _balnet.__version__

__all__ = [
    "BalnetWarning",
    "ConfigError",
    "DoesNotFitError",
    "Result",
    "Simulation",
    "info",
    "run",
    "selftest",
    "sweep",
    "theory",
    "__version__",
]
