"""One simulation step, and rollouts: assemble the problem, solve, integrate."""


import jax
import jax.numpy as jnp
import numpy as np

from dojax import integrator
from dojax import solver
from dojax.implicit import solve_step
from dojax.state import State


def _as_array(value, dtype):
    """``jnp.asarray(value, dtype)``, converting a host value (a NumPy array, a number, a list of
    them: no JAX array nor tracer) with NumPy and putting it on the device at once: outside
    ``jit``, ``jnp.asarray`` of a host value compiles an XLA program per shape."""
    if any(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(value)):
        return jnp.asarray(value, dtype=dtype)
    return jax.device_put(np.asarray(value, dtype=dtype))


def check_action(mech, action, leading=()):
    """Action as an array of shape leading + (nu,); ValueError naming the expected shape otherwise."""
    action = _as_array(action, mech.mass.dtype)
    expected = tuple(leading) + (mech.action_size,)
    if action.shape != expected:
        raise ValueError(f"action must have shape {expected} for this mechanism, got {action.shape}")
    return action


def _check_state(mech, state):
    """The state with float arrays of the right shapes; ValueError naming the bad field otherwise."""
    nb = mech.num_bodies
    for name, width in (("x", 3), ("v", 3), ("q", 4), ("w", 3)):
        shape = jnp.shape(getattr(state, name))
        if shape != (nb, width):
            raise ValueError(f"state.{name} must have shape ({nb}, {width}), got {shape}")
    return jax.tree.map(lambda a: _as_array(a, mech.mass.dtype), state)


def advance(state, V, timestep):
    """The next state from the current one and the step's velocities V (nb, 6) = [v, w]."""
    v, w = V[:, :3], V[:, 3:]
    x3, q3 = integrator.next_configuration(state.x, state.q, v, w, timestep)
    q3 = q3 / jnp.linalg.norm(q3, axis=-1, keepdims=True)
    return State(x=x3, v=v, q=q3, w=w)


def _step(mech, state, action, opts):
    W, info = solve_step(mech, state, action, opts)
    return advance(state, W.V, mech.timestep), info


_step_jit = jax.jit(_step)


def step(mech, state, action=None, opts=None):
    """Advance the mechanism by one timestep.

    Args:
        mech: a Mechanism.
        state: the current State.
        action: (action_size,) actuator commands (forces/torques times gears); None means zeros.
        opts: SolverOptions (defaults if None).

    Returns:
        (next_state, info): info is a SolveInfo; ``info.converged`` is False when the solver did
        not reach its tolerances, including on NaN input.

    Compatible with ``jax.jit``, ``jax.vmap`` and ``jax.grad`` in mech, state and action.
    """
    opts = solver.SolverOptions() if opts is None else opts
    action = jax.device_put(np.zeros(mech.action_size)) if action is None else check_action(mech, action)
    state = _check_state(mech, state)
    return _step_jit(mech, state, action, opts)


@jax.jit
def _rollout(mech, state, actions, opts):
    def body(s, a):
        s, info = _step(mech, s, a, opts)
        return s, (s, info)

    _, (states, infos) = jax.lax.scan(body, state, actions)
    return states, infos


def rollout(mech, state, actions, opts=None):
    """Run ``len(actions)`` steps (``jax.lax.scan``); returns stacked (states, infos), one per step."""
    opts = solver.SolverOptions() if opts is None else opts
    actions = _as_array(actions, mech.mass.dtype)
    if actions.ndim != 2:
        raise ValueError(f"actions must have shape (T, {mech.action_size}), got {actions.shape}")
    actions = check_action(mech, actions, leading=actions.shape[:1])
    state = _check_state(mech, state)
    return _rollout(mech, state, actions, opts)
