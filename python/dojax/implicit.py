"""Derivatives of a step by the implicit function theorem at the solver's solution.

The solver returns unknowns W* with F(W*, theta) = 0, where F is the step residual with every
complementarity product centred at the kappa the solve ended at (``SolveInfo.kappa``) and
theta = (mechanism parameters, state, action). Then dW*/dtheta = -(dF/dW)^-1 dF/dtheta. The JVP
rule below evaluates dF/dtheta . theta_dot with one ``jax.jvp`` of the residual and applies the
inverse with the solver's structured factorisation (tree elimination and local contact blocks),
never by differentiating the solver's iterations.
JAX transposes this linear rule for reverse mode, so ``jax.grad`` works too.

Smoothing: with ``SolverOptions(gradient_btol=...)`` the derivative is taken at the central-path
point of that (larger) complementarity target, reached by re-centring from the forward solution,
while the returned value is the forward solution (Dojo's separate gradient options).

A step that did not converge has zero derivatives (its ``info.converged`` is False), never NaN.
"""

import jax
import jax.numpy as jnp
import numpy as np

from dojax import residual as res
from dojax import solver


@jax.custom_jvp
def solve_step(mech, state, action, opts):
    """(W*, SolveInfo) of one step: the solver's unknowns, differentiable in mech, state, action.

    (The options' numbers may be traced values, so they are an argument too; their tangents are
    ignored.)
    """
    prob = res.make_problem(mech, state, action)
    return solver.solve(mech, prob, res.initial_unknowns(mech, prob), opts)


def _zero_tangent(x):
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.zeros_like(x)
    return np.zeros(x.shape, dtype=jax.dtypes.float0)


@solve_step.defjvp
def _solve_step_jvp(primals, tangents):
    mech, state, action, opts = primals
    primals, tangents = primals[:3], tangents[:3]
    W, info = solve_step(mech, state, action, opts)
    prob = res.make_problem(mech, state, action)
    if opts.gradient_btol is None:
        Wg, ok, kappa = W, info.converged, info.kappa
    else:
        Wg, ginfo = solver.solve(mech, prob, W, opts.replace(btol=opts.gradient_btol))
        ok, kappa = info.converged & ginfo.converged, ginfo.kappa
    # a failed step may hold non-finite values: evaluate the (masked-out) derivative at finite
    # stand-ins so that reverse mode multiplies zeros by finite partials, not by NaN
    finite = lambda x: jnp.where(ok | jnp.isfinite(x), x, 0.0) if jnp.issubdtype(x.dtype, jnp.inexact) else x
    primals, Wg = jax.tree.map(finite, primals), jax.tree.map(finite, Wg)

    def F(m, s, a):
        return res.residual(m, res.make_problem(m, s, a), Wg, kappa)

    _, dF = jax.jvp(F, primals, tangents)
    prob = res.make_problem(*primals)
    lin = res.linearize(mech, prob, Wg)
    # the mask depends on primal values only, so the rule stays linear (and transposable)
    ok = ok & jnp.all(jnp.isfinite(lin.factors.inverse))
    dW = jax.tree.map(lambda d: jnp.where(ok, d, 0.0), res.newton_step(mech, prob, lin, dF))
    return (W, info), (dW, jax.tree.map(_zero_tangent, info))
