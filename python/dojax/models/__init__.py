"""Built-in models, by name: ``dojax.load(name, **overrides)``."""

import inspect

import jax
import numpy as np

from dojax.mechanism import check_timestep, gravity_vector
from dojax.models.chains import cartpole, double_pendulum, fourbar, npendulum, pendulum, slider, twister
from dojax.models.contact import block, block2d, chain, sphere, tippetop
from dojax.models.free import dzhanibekov
from dojax.models.robots import ROBOTS

MODELS = {
    "pendulum": pendulum,
    "double_pendulum": double_pendulum,
    "npendulum": npendulum,
    "cartpole": cartpole,
    "slider": slider,
    "twister": twister,
    "fourbar": fourbar,
    "dzhanibekov": dzhanibekov,
    "block": block,
    "block2d": block2d,
    "sphere": sphere,
    "tippetop": tippetop,
    "chain": chain,
    **ROBOTS,  # imported from MJCF / URDF files: models/robots.py
}


def load(name, timestep=None, gravity=None, friction=None, **options):
    """Build a built-in model.

    Args:
        name: one of :data:`MODELS`.
        timestep: step in seconds (model default if None).
        gravity: scalar z-component or 3-vector (model default if None).
        friction: friction coefficient of every contact (model default if None).
        **options: model-specific options (see each model's builder, e.g. ``links`` for
            ``npendulum``, ``joint_type`` for ``twister``).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(sorted(MODELS))}")
    builder = MODELS[name]
    accepted = inspect.signature(builder).parameters
    unknown = set(options) - set(accepted)
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {sorted(unknown)}; options: {list(accepted)}")
    mech = builder(**options)
    if timestep is not None:
        mech = mech.replace(timestep=jax.device_put(check_timestep(timestep)))
    if gravity is not None:
        mech = mech.replace(gravity=jax.device_put(gravity_vector(gravity)))
    if friction is not None:
        f = float(friction)
        if not f > 0.0 or not np.isfinite(f):
            raise ValueError(f"friction must be positive and finite, got {friction}")
        if mech.num_contacts == 0:
            raise ValueError(f"model {name!r} has no contacts to set a friction for")
        mech = mech.replace(friction=jax.device_put(np.full(mech.num_contacts, f, dtype=mech.friction.dtype)))
    return mech
