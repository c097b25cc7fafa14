"""Jacobians of one step, in Dojo's layouts (maximal with a 3-parameter attitude, or minimal)."""

import jax
import jax.numpy as jnp
import numpy as np

from dojax.implicit import solve_jacobian
from dojax.minimal import from_minimal, to_minimal
from dojax.state import State, difference, retract
from dojax.step import advance, check_action


def _maximal(mech, state, action, opts):
    """(next state, Jacobians in the tangent of :func:`dojax.state.retract`)."""
    nb = mech.num_bodies
    W, _, dV = solve_jacobian(mech, state, action, opts)
    nxt = advance(state, W.V, mech.timestep)

    def tangent(x, v, q, w, after, dz, V):  # one body's next tangent, relative to its value at dz = 0
        one = lambda a: a[None]
        moved = retract(State(x=one(x), v=one(v), q=one(q), w=one(w)), one(dz))
        return difference(advance(moved, one(V), mech.timestep), jax.tree.map(one, after))[0]

    # each body's next state depends on its own tangent and its own velocities only
    Dz, DV = jax.vmap(jax.jacfwd(tangent, argnums=(5, 6)))(state.x, state.v, state.q, state.w, nxt,
                                                           jnp.zeros((nb, 12), state.x.dtype), W.V)
    J = jnp.einsum("bij,bjc->bic", DV, dV)
    Jz = J[:, :, :12 * nb].reshape(nb, 12, nb, 12).at[np.arange(nb), :, np.arange(nb)].add(Dz)
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
