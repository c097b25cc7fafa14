"""dojax: a differentiable rigid-body physics engine on JAX, after Dojo's method.

Importing dojax enables JAX's float64 mode (``jax_enable_x64``): the solver's tolerances and
finite-difference checks need double precision. It also switches on JAX's persistent compilation
cache (see :mod:`dojax.compilation_cache`; ``DOJAX_CACHE_DIR=off`` to opt out), so a robot's step
compiles once per machine rather than once per process. And unless ``JAX_CPU_ENABLE_ASYNC_DISPATCH``
is set in the environment, it has JAX run CPU programs inline, in the calling thread
(``jax_cpu_enable_async_dispatch=False``; it takes effect if JAX's CPU backend has not started
yet): a step's program runs for tens to hundreds of microseconds, and handing it to JAX's worker
thread and waiting there for its result costs 20-40 us more a call on one core (bench/RESULTS.md).
"""

import os

import jax

jax.config.update("jax_enable_x64", True)
if "JAX_CPU_ENABLE_ASYNC_DISPATCH" not in os.environ:
    jax.config.update("jax_cpu_enable_async_dispatch", False)

from dojax import compilation_cache  # noqa: E402

compilation_cache.enable()

from dojax import joints, shapes  # noqa: E402
from dojax.diagnostics import energy, momentum  # noqa: E402
from dojax.gradients import jacobians  # noqa: E402
from dojax.importer import load_mjcf, load_urdf  # noqa: E402
from dojax.mechanism import Mechanism, MechanismBuilder  # noqa: E402
from dojax.minimal import from_minimal, to_minimal  # noqa: E402
from dojax.models import MODELS, load  # noqa: E402
from dojax.solver import SolveInfo, SolverOptions  # noqa: E402
from dojax.state import State  # noqa: E402
from dojax.step import rollout, step  # noqa: E402
from dojax import envs  # noqa: E402  (registers the gymnasium ids)

__version__ = "0.1.0"

__all__ = [
    "Mechanism", "MechanismBuilder", "State", "SolverOptions", "SolveInfo", "MODELS",
    "load", "load_mjcf", "load_urdf", "step", "rollout", "to_minimal", "from_minimal", "energy", "momentum",
    "jacobians", "joints", "shapes", "envs",
]
