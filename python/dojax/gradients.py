"""Jacobians of one step, in Dojo's layouts (maximal with a 3-parameter attitude, or minimal)."""

import jax
import jax.numpy as jnp

from dojax import quaternion as quat
from dojax.minimal import from_minimal, to_minimal
from dojax.implicit import solve_step_columns
from dojax.step import _step, check_action


def _retract(state, dz):
    """State moved by tangent dz (nb, 12) = [dx, dv, dtheta (body-frame rotation), dw] per body."""
    dq = quat.from_rotation_vector(dz[:, 6:9])
    return state.replace(x=state.x + dz[:, 0:3], v=state.v + dz[:, 3:6],
                         q=quat.multiply(state.q, dq), w=state.w + dz[:, 9:12])


def _local(state, reference):
    """Tangent (nb, 12) of state relative to reference (inverse of _retract)."""
    rot = quat.to_rotation_vector(quat.multiply(quat.conjugate(reference.q), state.q))
    return jnp.concatenate([state.x - reference.x, state.v - reference.v, rot, state.w - reference.w], axis=-1)


@jax.jit
def _maximal(mech, state, action, opts):
    nb = mech.num_bodies

    def f(dz, u):
        nxt, _ = _step(mech, _retract(state, dz.reshape(nb, 12)), u, opts, solve_step_columns)
        # tangent relative to the step's own value at dz = 0: one solve serves value and derivative
        return _local(nxt, jax.lax.stop_gradient(nxt)).reshape(-1)

    Jz, Ju = jax.jacfwd(f, argnums=(0, 1))(jnp.zeros(12 * nb, state.x.dtype), action)
    return {"state": Jz, "action": Ju}


@jax.jit
def _minimal(mech, state, action, opts):
    y = to_minimal(mech, state)

    def f(y, u):
        nxt, _ = _step(mech, from_minimal(mech, y), u, opts, solve_step_columns)
        return to_minimal(mech, nxt)

    Jy, Ju = jax.jacfwd(f, argnums=(0, 1))(y, action)
    return {"state": Jy, "action": Ju}


def jacobians(mech, state, action, opts=None, minimal=False):
    """Jacobians of the next state with respect to the state and the action.

    Maximal (default): per body the 12 tangent coordinates [x, v, theta, w], theta a body-frame
    rotation of q (q ⊗ exp(theta)); returns ``{"state": (12nb, 12nb), "action": (12nb, nu)}``.
    With ``minimal=True``: in minimal coordinates, ``{"state": (m, m), "action": (m, nu)}`` with
    m = ``mech.minimal_size``. Derivatives come from the implicit function theorem at the solution
    (smoothed by ``opts.gradient_btol`` if set). For a step that did not converge the solver's
    unknowns get zero derivatives: velocity rows and the action Jacobian are zero, and only the
    direct dependence of the next configuration on the current one remains.
    """
    from dojax.solver import SolverOptions

    opts = SolverOptions() if opts is None else opts
    action = check_action(mech, action)
    return (_minimal if minimal else _maximal)(mech, state, action, opts)
