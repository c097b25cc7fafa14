"""Costs and constraints for the common case: quadratic tracking costs and action bounds.

Each helper returns a plain JAX function of the form :func:`~dojax.optimize.ilqr.ilqr` expects:
a stage cost ``cost(x, u) -> scalar``, a final cost ``final_cost(x) -> scalar``, an inequality
constraint ``c(x, u) -> (k,)`` meaning ``c <= 0``.
"""

import jax.numpy as jnp


def _weight(matrix, size, name):
    """A (size, size) weight from a scalar, a diagonal vector or a matrix."""
    w = jnp.asarray(matrix, dtype=jnp.float64)
    if w.ndim == 0:
        return w * jnp.eye(size)
    if w.ndim == 1:
        w = jnp.diag(w)
    if w.shape != (size, size):
        raise ValueError(f"{name} must be a scalar, a ({size},) diagonal or a ({size}, {size}) matrix, "
                         f"got shape {w.shape}")
    return w


def quadratic_cost(state_weight, action_weight, state_goal, action_goal=None):
    """Stage cost ``0.5 (x - x_goal)' Q (x - x_goal) + 0.5 (u - u_goal)' R (u - u_goal)``.

    ``state_weight`` (Q) and ``action_weight`` (R) are scalars, diagonals or matrices; the sizes come
    from ``state_goal`` (x_goal) and ``action_goal`` (u_goal, zeros unless given; then R must be a
    matrix or a diagonal to fix the action size).
    """
    x_goal = jnp.asarray(state_goal, dtype=jnp.float64)
    Q = _weight(state_weight, x_goal.shape[0], "state_weight")
    if action_goal is None:
        r = jnp.asarray(action_weight)
        if r.ndim == 0:
            raise ValueError("action_weight must be a diagonal or a matrix when action_goal is not given")
        action_goal = jnp.zeros(r.shape[0])
    u_goal = jnp.asarray(action_goal, dtype=jnp.float64)
    R = _weight(action_weight, u_goal.shape[0], "action_weight")

    def cost(x, u):
        dx, du = x - x_goal, u - u_goal
        return 0.5 * dx @ Q @ dx + 0.5 * du @ R @ du

    return cost


def quadratic_final_cost(state_weight, state_goal):
    """Final cost ``0.5 (x - x_goal)' Q (x - x_goal)``."""
    x_goal = jnp.asarray(state_goal, dtype=jnp.float64)
    Q = _weight(state_weight, x_goal.shape[0], "state_weight")

    def final_cost(x):
        dx = x - x_goal
        return 0.5 * dx @ Q @ dx

    return final_cost


def action_bounds(lower, upper):
    """Inequality constraint ``lower <= u <= upper`` as ``[u - upper; lower - u] <= 0``.

    ``lower`` and ``upper`` are scalars or (nu,) vectors; ``-inf`` / ``inf`` entries are allowed
    (their rows are always satisfied).
    """
    lower, upper = jnp.asarray(lower, dtype=jnp.float64), jnp.asarray(upper, dtype=jnp.float64)
    if bool(jnp.any(lower > upper)):
        raise ValueError(f"action_bounds: lower {lower} exceeds upper {upper}")

    def bounds(x, u):
        big = 1e300  # an infinite bound is never active; keep the residual finite
        return jnp.concatenate([u - jnp.minimum(upper, big), jnp.maximum(lower, -big) - u])

    return bounds
