"""A mechanism's step and step Jacobians in minimal coordinates, as the optimisers use them."""

import dojax


def step_minimal(mech, opts, y, u):
    """(next minimal coordinates, solver converged) of one step from minimal coordinates ``y``."""
    state, info = dojax.step(mech, dojax.from_minimal(mech, y), u, opts)
    return dojax.to_minimal(mech, state), info.converged


def jacobians_minimal(mech, opts, y, u):
    """(A, B): derivatives of :func:`step_minimal`'s next coordinates with respect to ``y`` and ``u``."""
    jac = dojax.jacobians(mech, dojax.from_minimal(mech, y), u, opts, minimal=True)
    return jac["state"], jac["action"]
