"""The functional environment core: ``reset(key) -> EnvState`` and ``step(env_state, action) -> EnvState``.

Every dojax environment is a :class:`Env`: a pure, stateless description of a task on a
:class:`~dojax.mechanism.Mechanism`. Its two methods are JAX functions of their arguments, so
``jax.jit(env.step)``, ``jax.vmap(env.step)`` and ``jax.grad`` through a rollout of ``env.step``
all work (as in Brax). The gymnasium classes in :mod:`dojax.envs.gym` are thin wrappers around it.

Actions are in [-1, 1] per component; each is clipped into that range and mapped linearly to the
actuator's control range. A step whose solver does not converge (including a non-finite action,
which the gymnasium wrappers reject before it gets here) keeps the previous simulation state, so
observations stay finite, and sets ``solver_failed``; the gymnasium wrappers end the episode
there with ``truncated=True``.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dojax.collision import halfspace_gaps
from dojax.minimal import from_minimal, to_minimal
from dojax.solver import SolverOptions
from dojax.step import step as physics_step


class EnvState(NamedTuple):
    """One environment's state after a reset or a step (a pytree of arrays).

    Attributes:
        sim: the simulation :class:`~dojax.state.State`.
        obs: the observation, shape ``(observation_size,)``.
        reward: the reward of the step that led here (0 after a reset).
        terminated: the task ended (the robot fell, the goal was reached).
        solver_failed: the step's solver did not converge; ``sim`` is the previous state.
        info: reward terms and task quantities, a dict of scalars (same keys after reset and step;
            after a reset the reward terms are 0 and the quantities those of the reset state).
        task: task parameters drawn at reset and carried unchanged (e.g. a goal); ``()`` if none.
    """

    sim: object
    obs: jax.Array
    reward: jax.Array
    terminated: jax.Array
    solver_failed: jax.Array
    info: dict
    task: object = ()


def minimal_position_index(mech, joint, row):
    """Index of the position of (tree joint ``joint``, free row ``row``) in the minimal vector."""
    mask = mech.structure.free_mask[: mech.num_bodies]
    if not mask[joint, row]:
        raise ValueError(f"row {row} of joint {mech.joint_names[joint]!r} is not a free coordinate")
    offset = int(2 * mask[:joint].sum())
    return offset + int(mask[joint, :row].sum())


def _position_indices(mech):
    """Minimal-vector indices of all positions and all velocities (in joint order)."""
    mask = mech.structure.free_mask[: mech.num_bodies]
    pos, vel, offset = [], [], 0
    for m in mask:
        n = int(m.sum())
        pos.extend(range(offset, offset + n))
        vel.extend(range(offset + n, offset + 2 * n))
        offset += 2 * n
    return np.array(pos, dtype=int), np.array(vel, dtype=int)


def ground_clearance(mech, x, q):
    """Smallest signed gap of the mechanism's sphere-ground contacts (+inf without any)."""
    _, gaps = halfspace_gaps(mech, x, q)
    return jnp.min(gaps, initial=jnp.inf)


class Env:
    """A task on a mechanism: pure ``reset``/``step`` functions.

    Subclasses set the mechanism and control range in ``__init__`` and implement
    :meth:`observe`, :meth:`reward` and :meth:`is_terminated`; they may override
    :meth:`initial_minimal` (the noisy initial coordinates), :meth:`sample_task` and
    :meth:`control`.

    Args:
        mech: the Mechanism (its timestep is the environment's ``dt``).
        ctrl_low, ctrl_high: actuator commands that the actions -1 and +1 map to, one per action.
        reset_noise: scale of the initial-state noise (see :meth:`initial_minimal`).
        smooth_reward: use the task's smooth reward (no termination; see each environment).
        solver: :class:`~dojax.solver.SolverOptions` for every step; by default the solver's defaults
            with ``max_iter`` = :attr:`max_iter`.
    """

    #: default steps per episode (the gymnasium TimeLimit)
    max_episode_steps = 1000
    #: default solver iterations at most per step. Under uniformly random actions the steps that
    #: converge need 7-9 iterations on average and at most 14-18 (one Ant step in 300 needed 39);
    #: a step that fails runs to the limit, and a batched (vmapped) step waits for its slowest
    #: lane, so the limit sets the cost of a vector env's failing steps (bench/iteration_tail.py).
    max_iter = 25

    def __init__(self, mech, ctrl_low, ctrl_high, reset_noise=0.0, smooth_reward=False, solver=None):
        self.mech = mech
        # constants converted by NumPy and put on the device at once (outside jit, jnp.asarray of a
        # host value compiles an XLA program per shape)
        self.ctrl_low = jax.device_put(np.asarray(ctrl_low, dtype=mech.mass.dtype))
        self.ctrl_high = jax.device_put(np.asarray(ctrl_high, dtype=mech.mass.dtype))
        if self.ctrl_low.ndim != 1 or self.ctrl_low.shape != self.ctrl_high.shape:
            raise ValueError("control ranges must be two vectors of one length, one entry per action")
        self.reset_noise = float(reset_noise)
        if not self.reset_noise >= 0.0:
            raise ValueError(f"reset_noise must be >= 0, got {reset_noise}")
        self.smooth_reward = bool(smooth_reward)
        self.solver = SolverOptions(max_iter=self.max_iter) if solver is None else solver
        self._initial = jax.device_put(np.asarray(mech.structure.initial_minimal, dtype=mech.mass.dtype))
        self._pos, self._vel = _position_indices(mech)
        s = mech.structure
        self._limit_index = np.array([minimal_position_index(mech, k, r) for k, r in zip(s.limit_joint, s.limit_row)],
                                     dtype=int)
        self._limit_sign = np.asarray(s.limit_sign)

    # -- sizes --------------------------------------------------------------------------------
    @property
    def dt(self):
        """Seconds per environment step (the mechanism's timestep)."""
        return float(self.mech.timestep)

    @property
    def action_size(self):
        return int(self.ctrl_low.shape[0])

    @property
    def observation_size(self):
        return int(jax.eval_shape(lambda: self.reset(jax.random.key(0))).obs.shape[0])

    # -- task definition (subclasses) -------------------------------------------------------------
    def observe(self, sim, task):
        """Observation of a simulation State."""
        raise NotImplementedError

    def reward(self, before, after, ctrl, task):
        """(reward, dict of reward terms and task quantities) of the step before -> after.

        Keys of reward terms start with ``reward_``: they are 0 in the info of a reset, whose other
        entries are the task quantities of the reset state."""
        raise NotImplementedError

    def is_terminated(self, sim, task):
        """Whether the task has ended in this State (ignored with ``smooth_reward``)."""
        return jnp.asarray(False)

    def sample_task(self, key):
        """Task parameters of a new episode (none by default)."""
        return ()

    def initial_minimal(self, key):
        """Noisy initial minimal coordinates: ``reset_noise`` times uniform noise in [-1, 1] on every
        position and velocity (gymnasium's MuJoCo convention), positions kept inside joint limits."""
        n = self._initial.shape[0]
        return self._initial + self.reset_noise * jax.random.uniform(key, (n,), self._initial.dtype, -1.0, 1.0)

    # -- the functional interface ------------------------------------------------------------------
    def reset(self, key):
        """A fresh episode's EnvState from a PRNG key."""
        k_state, k_task = jax.random.split(key)
        task = self.sample_task(k_task)
        sim = self._place(self.initial_minimal(k_state))
        zero = jnp.zeros((), self._initial.dtype)
        # The info of a step of zero length without actuation: the task quantities of the reset state,
        # and no reward earned yet.
        _, info = self.reward(sim, sim, jnp.zeros_like(self.ctrl_low), task)
        info = {k: jnp.zeros_like(v) if k.startswith("reward_") else v for k, v in info.items()}
        return EnvState(sim=sim, obs=self.observe(sim, task), reward=zero, terminated=jnp.asarray(False),
                        solver_failed=jnp.asarray(False), info=info, task=task)

    def step(self, env_state, action):
        """Apply an action in [-1, 1]^nu for one ``dt``; returns the next EnvState."""
        ctrl = self.control(action)
        before = env_state.sim
        after, solve = physics_step(self.mech, before, ctrl, self.solver)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(after)]))
        failed = ~solve.converged | ~finite
        after = jax.tree.map(lambda new, old: jnp.where(failed, old, new), after, before)
        task = env_state.task
        reward, info = self.reward(before, after, ctrl, task)
        terminated = jnp.asarray(False) if self.smooth_reward else self.is_terminated(after, task)
        return EnvState(sim=after, obs=self.observe(after, task), reward=jnp.where(failed, 0.0, reward),
                        terminated=terminated & ~failed, solver_failed=failed, info=info, task=task)

    def control(self, action):
        """Actuator commands of an action: clipped to [-1, 1], mapped onto [ctrl_low, ctrl_high]."""
        a = jnp.clip(jnp.asarray(action, self.ctrl_low.dtype), -1.0, 1.0)
        return self.ctrl_low + 0.5 * (a + 1.0) * (self.ctrl_high - self.ctrl_low)

    # -- helpers for subclasses -------------------------------------------------------------------
    def minimal_coordinates(self, sim):
        """:func:`dojax.to_minimal` of a simulation State, evaluated by the solver's backend (native
        on a CPU by default: one operation in the compiled step instead of a few dozen)."""
        return to_minimal(self.mech, sim, self.solver.backend)

    def minimal(self, sim):
        """(positions, velocities) of the tree joints' free coordinates, in joint order."""
        y = self.minimal_coordinates(sim)
        return y[self._pos], y[self._vel]

    def _place(self, y, margin=1e-3):
        """State from minimal coordinates, positions clamped ``margin`` inside the joint limits and the
        mechanism lifted so that no ground contact starts in penetration."""
        if len(self._limit_index):
            bound = self.mech.limit + self._limit_sign * margin
            lower, upper = self._limit_sign > 0, self._limit_sign < 0
            y = y.at[self._limit_index[lower]].max(bound[lower]).at[self._limit_index[upper]].min(bound[upper])
        sim = from_minimal(self.mech, y)
        lift = jnp.maximum(0.0, -ground_clearance(self.mech, sim.x, sim.q))
        up = -self.mech.gravity / jnp.maximum(jnp.linalg.norm(self.mech.gravity), 1e-12)
        return sim.replace(x=sim.x + lift * up)
