"""Data-parallel training of the first-order learners over the devices JAX sees.

``make_train(module, env, config)`` is ``module.make_train`` (``module`` one of
:mod:`~dojax.learn.apg`, :mod:`~dojax.learn.shac`, :mod:`~dojax.learn.ahac`) with the batch of
environments split over a one-axis device mesh: the rollout state is sharded along the environment
axis, everything else (parameters, optimiser and observation statistics, the critic) is replicated,
and each environment's physics runs on the device that holds it (``shard_map`` of the batched
``reset`` and ``step``, :class:`DataParallel`). The rest of the update is compiled for the mesh by
XLA (``jit`` with sharding constraints): reductions over the batch, such as the loss's mean and so
its gradient, become all-reduces, so the result is that of a one-device run of the same global batch
up to the order of floating-point sums, and every device holds the same parameters::

    train = parallel.make_train(shac, env, SHACConfig(num_envs=1024))   # num_envs: a multiple of the devices
    params, metrics = jax.jit(train)(jax.random.key(0))

Several hosts: start the same program on every host and call ``jax.distributed.initialize()``
(coordinator address, process count and id, or detected from the cluster: SLURM, Open MPI, Cloud
TPU) before anything else touches JAX; ``jax.devices()`` then lists the devices of all hosts, and
``make_train`` spreads the batch over all of them with the same key on every host. On one CPU,
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (set before JAX is imported) makes N devices
for trying it out.
"""

import dataclasses

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dojax.learn.config import configured_env
from dojax.learn.train_loop import make_train_fn

AXIS = "envs"


def device_mesh(devices=None):
    """A one-axis mesh (axis ``"envs"``) over ``devices`` (default: every device JAX sees)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (AXIS,))


class DataParallel:
    """A functional environment whose batched ``reset`` and ``step`` (``batch_reset``,
    ``batch_step``, used by :mod:`dojax.learn.rollout`) run each device's share of the batch on that
    device; otherwise the wrapped environment ``env``."""

    def __init__(self, env, mesh):
        self.env, self.mesh = env, mesh
        spec = PartitionSpec(AXIS)
        # each device's environments are independent of the others' (no collectives inside), so
        # the varying-across-devices type checks of shard_map are not needed (and the physics'
        # loops carry values that start device-invariant)
        self.batch_reset = jax.shard_map(jax.vmap(env.reset), mesh=mesh, in_specs=spec, out_specs=spec,
                                         check_vma=False)
        self.batch_step = jax.shard_map(jax.vmap(env.step), mesh=mesh, in_specs=(spec, spec), out_specs=spec,
                                        check_vma=False)

    def reset(self, key):
        return self.env.reset(key)

    def step(self, env_state, action):
        return self.env.step(env_state, action)

    def __getattr__(self, name):
        if name in ("env", "mesh"):  # not set yet (copying)
            raise AttributeError(name)
        return getattr(self.env, name)


def make_train(module, env, config, devices=None):
    """``module.make_train(env, config)`` with the environments split over ``devices`` (default:
    all devices JAX sees); see the module's docstring. ``config.num_envs`` must be a multiple of
    the number of devices."""
    mesh = device_mesh(devices)
    if config.num_envs % mesh.size:
        raise ValueError(f"num_envs must be a multiple of the number of devices ({mesh.size}), got {config.num_envs}")
    env = DataParallel(configured_env(env, config), mesh)
    init, update = module.make_learner(env, dataclasses.replace(config, gradient_btol=None))
    sharded, replicated = NamedSharding(mesh, PartitionSpec(AXIS)), NamedSharding(mesh, PartitionSpec())

    def place(state):
        shardings = jax.tree.map(lambda _: replicated, state._replace(rollout=None))
        shardings = shardings._replace(rollout=jax.tree.map(lambda _: sharded, state.rollout))
        return jax.lax.with_sharding_constraint(state, shardings)

    def placed_update(state):
        state, metrics = update(place(state))
        return place(state), metrics

    return make_train_fn(lambda key: place(init(key)), placed_update, config.num_iterations)
