"""Jacobians of one step, in Dojo's layouts (maximal with a 3-parameter attitude, or minimal)."""

import jax
import jax.numpy as jnp
import numpy as np

from dojax import quaternion as quat
from dojax.implicit import solve_jacobian
from dojax.minimal import from_minimal, to_minimal
from dojax.state import difference, retract
from dojax.step import advance, check_action


def _advance_tangents(V, timestep):
    """How each body's next state (:func:`dojax.step.advance`) moves in the tangent of
    :func:`dojax.state.retract` [x, v, theta, w], in closed form, at the velocities V (nb, 6) = [v, w].
    With the Cayley step f = [s, a] = :func:`dojax.quaternion.cayley` (w, h) (q3 = q ⊗ f): x3 = x + dx
    + h v, so its rows are I along dx and h I along v; the v and w rows are I along v and w;
    theta3 = R(f)^T dtheta, and d theta3 / d w = h (s I + a a^T / s - [a]x). Returns those two 3 x 3
    blocks (nb, 3, 3) each: ``(R(f)^T, d theta3 / d w)``; every other block is 0, I or h I. (The
    solver keeps |a| below 1; unknowns that a failed solve leaves beyond it get finite blocks,
    without the a a^T / s term.)"""
    f = quat.cayley(V[:, 3:], timestep)
    s, a = f[:, :1, None], f[:, 1:]
    inside = s > 0.0
    eye = jnp.eye(3, dtype=V.dtype)
    outer = a[:, :, None] * a[:, None, :]
    cross = jnp.swapaxes(jnp.cross(a[:, None, :], eye), -1, -2)  # [a]x: column i is a x e_i
    along_a = jnp.where(inside, outer / jnp.where(inside, s, 1.0), 0.0)
    return jnp.swapaxes(quat.to_matrix(f), -1, -2), timestep * (s * eye + along_a - cross)


def _maximal(mech, state, action, opts):
    """(next state, Jacobians in the tangent of :func:`dojax.state.retract`)."""
    nb, h = mech.num_bodies, mech.timestep
    W, _, dV = solve_jacobian(mech, state, action, opts)
    nxt = advance(state, W.V, h)
    # each body's next state depends on its own tangent and its own velocities only
    rotation, rate = _advance_tangents(W.V, h)
    dv, dw = dV[:, :3], dV[:, 3:]
    turned = sum(rate[:, :, k, None] * dw[:, None, k, :] for k in range(3))  # rate @ dw, elementwise (one fusion)
    J = jnp.concatenate([h * dv, dv, turned, dw], axis=1)
    Dz = jnp.zeros((nb, 12, 12), J.dtype).at[:, 0:3, 0:3].set(jnp.eye(3, dtype=J.dtype)).at[:, 6:9, 6:9].set(rotation)
    body = np.arange(nb)
    Jz = J[:, :, :12 * nb].reshape(nb, 12, nb, 12).at[body, :, body, :].add(Dz)  # a body's own columns
    return nxt, Jz.reshape(12 * nb, 12 * nb), J[:, :, 12 * nb:].reshape(12 * nb, -1)


@jax.jit
def _maximal_jacobians(mech, state, action, opts):
    _, Jz, Ju = _maximal(mech, state, action, opts)
    return {"state": Jz, "action": Ju}


@jax.jit
def _minimal_jacobians(mech, state, action, opts):
    nb = mech.num_bodies
    y = to_minimal(mech, state)
    start = from_minimal(mech, y)
    nxt, Jz, Ju = _maximal(mech, start, action, opts)
    # chain rule through the maximal tangents: y -> dz of the state -> dz of the next state -> y
    into = jax.jacfwd(lambda y: difference(from_minimal(mech, y), start).reshape(-1))(y)
    out = jax.jacfwd(lambda dz: to_minimal(mech, retract(nxt, dz.reshape(nb, 12))))(jnp.zeros(12 * nb, y.dtype))
    return {"state": out @ Jz @ into, "action": out @ Ju}


def jacobians(mech, state, action, opts=None, minimal=False):
    """Jacobians of the next state with respect to the state and the action.

    Maximal (default): per body the 12 tangent coordinates [x, v, theta, w], theta a body-frame
    rotation of q (q ⊗ exp(theta), :func:`dojax.state.retract`); returns
    ``{"state": (12nb, 12nb), "action": (12nb, nu)}``. With ``minimal=True``: in minimal
    coordinates, ``{"state": (m, m), "action": (m, nu)}`` with m = ``mech.minimal_size``.
    Derivatives come from the implicit function theorem at the solution (smoothed by
    ``opts.gradient_btol`` if set): one factorisation of the step's Newton system and one solve
    for all 12 nb + nu columns. For a step that did not converge the solver's unknowns get zero
    derivatives: velocity rows and the action Jacobian are zero, and only the direct dependence
    of the next configuration on the current one remains.
    """
    from dojax.solver import SolverOptions

    opts = SolverOptions() if opts is None else opts
    action = check_action(mech, action)
    return (_minimal_jacobians if minimal else _maximal_jacobians)(mech, state, action, opts)
