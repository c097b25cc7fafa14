"""Derivatives of a step by the implicit function theorem at the solver's solution.

The solver returns unknowns W* with F(W*, theta) = 0, where F is the step residual with every
complementarity product centred at the kappa the solve ended at (``SolveInfo.kappa``) and
theta = (mechanism parameters, state, action). Then dW*/dtheta = -(dF/dW)^-1 dF/dtheta. The JVP
rule below evaluates dF/dtheta . theta_dot and applies the inverse with the solver's structured
factorisation (tree elimination and local contact blocks), never by differentiating the solver's
iterations. JAX transposes this linear rule for reverse mode, so ``jax.grad`` works too. When the
options choose the native kernel, the kernel factorises dF/dW once and applies its inverse to
every tangent, or its transpose to every cotangent in reverse mode
(:func:`dojax.native.kernel.newton_step`); otherwise the JAX factorisation
(:func:`dojax.residual.linearize`) does, transposed by JAX.

dF/dtheta . theta_dot is evaluated in one of two orders:

* from local Jacobians: each body's, joint's, contact's and limit's terms read the state and the
  action only through a few local inputs (their own copy of their bodies' poses and last
  velocities, a joint's input impulse, a body's wrench), so dF/dtheta is every term's Jacobian with
  respect to its local inputs (:func:`dojax.residual.local_jacobians`), each contracted with its
  share of the tangent (:func:`apply_local`). On the native backend the kernel evaluates them
  (generated C, like its residual) for every derivative. The step Jacobian
  (:func:`solve_jacobian`, for ``dojax.jacobians``) spreads each term's block over its own
  bodies' columns once (:func:`dojax.residual.column_blocks`; the kernel assembles them itself) and
  solves for all columns with one factorisation, on either backend;
* on the JAX backend, :func:`solve_step` instead takes one ``jax.jvp`` of the residual per tangent,
  the cheaper order there for one direction (``jax.jvp``, and ``jax.grad`` by transposition).

In both, mechanism parameters that carry tangents take one ``jax.jvp`` of the whole residual.

Smoothing: with ``SolverOptions(gradient_btol=...)`` the derivative is taken at the central-path
point of that (larger) complementarity target, reached by re-centring from the forward solution,
while the returned value is the forward solution (Dojo's separate gradient options).

A step that did not converge has zero derivatives (its ``info.converged`` is False), never NaN.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from dojax import residual as res
from dojax import solver
from dojax.native import kernel


def _solve_from(mech, state, action, opts, W0=None):
    """The solver on the step from (state, action), from the unknowns W0 or (None) from
    :func:`dojax.residual.initial_unknowns`: (W, SolveInfo). The native kernel evaluates the problem
    itself (:func:`dojax.native.kernel.solve_step`)."""
    if solver.use_native(opts):
        return kernel.solve_step(mech, state, action, opts, W0)
    prob = res.make_problem(mech, state, action)
    return solver.solve(mech, prob, res.initial_unknowns(mech, prob) if W0 is None else W0, opts)


def _solve(mech, state, action, opts):
    """(W*, SolveInfo) of one step: the solver's unknowns, differentiable in mech, state, action.

    (The options' numbers may be traced values, so they are an argument too; their tangents are
    ignored.)
    """
    return _solve_from(mech, state, action, opts)


def _zero_tangent(x):
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return jnp.zeros_like(x)
    return np.zeros(x.shape, dtype=jax.dtypes.float0)


def _symbolic(t):
    return isinstance(t, SymbolicZero)


def _instantiate(tangent):
    return jax.tree.map(lambda t: jnp.zeros(t.shape, t.dtype) if _symbolic(t) else t, tangent, is_leaf=_symbolic)


def _terms_tangent_directional(mech, state, action, W, kappa, state_dot, action_dot):
    """Tangent of :func:`dojax.residual.residual_terms` at W along (state_dot, action_dot): one jvp."""
    terms = lambda s, a: res.residual_terms(mech, res.make_problem(mech, s, a), W, kappa)
    return jax.jvp(terms, (state, action), (state_dot, action_dot))[1]


def apply_local(mech, state, action, local, state_dot, action_dot):
    """Tangent of :func:`dojax.residual.residual_terms` along (state_dot, action_dot) from the
    terms' :class:`dojax.residual.LocalJacobians`: each term's Jacobian contracted with its share
    of the tangent (linear in the tangent, so reverse mode transposes it)."""
    pad = lambda z: jnp.concatenate([z, jnp.zeros_like(z[:1])])
    shares = res.gather_poses(mech, pad(state_dot.x), pad(state_dot.q))
    apply = lambda jac, *share: jnp.einsum("nij,nj->ni", jac, jnp.concatenate(share, axis=-1))
    V15_dot = jnp.concatenate([state_dot.v, state_dot.w], axis=-1)
    wrench_dot = jax.jvp(lambda q, a: res.body_wrenches(mech, q, a), (res.configuration(mech, state).actuators, action),
                         (shares.actuators, action_dot))[1]
    body = apply(local.body, V15_dot, *wrench_dot)
    j = apply(local.joints, *shares.joints, *res.joint_velocities(mech, V15_dot), res.joint_inputs(mech, action_dot))
    groups = []
    for jac, poses in zip(local.groups, shares.elements):
        r, n = apply(jac, *poses), jac.shape[1] - 12
        groups.append((r[:, :n], r[:, n:n + 6], r[:, n + 6:]))
    return body, (j[:, :6], j[:, 6:12], j[:, 12:]), tuple(groups)


def _terms_tangent_native(mech, state, action, W, kappa, state_dot, action_dot):
    """Tangent of :func:`dojax.residual.residual_terms` at W from the terms' local Jacobians, which
    the native kernel evaluates."""
    return apply_local(mech, state, action, kernel.local_jacobians(mech, state, action, W), state_dot, action_dot)


def _derivative_point(mech, state, action, opts, W, info):
    """Where the derivative of a step solved to (W, info) is taken: (unknowns, whether it is valid,
    kappa). With ``opts.gradient_btol`` the unknowns are re-centred there."""
    if opts.gradient_btol is None:
        return W, info.converged, info.kappa
    Wg, ginfo = _solve_from(mech, state, action, opts.replace(btol=opts.gradient_btol), W)
    return Wg, info.converged & ginfo.converged, ginfo.kappa


def _finite(ok, tree):
    """A failed step may hold non-finite values: finite stand-ins for them (its derivative is masked
    out), so that reverse mode multiplies zeros by finite partials, not by NaN."""
    finite = lambda x: jnp.where(ok | jnp.isfinite(x), x, 0.0) if jnp.issubdtype(x.dtype, jnp.inexact) else x
    return jax.tree.map(finite, tree)


def _newton(mech, state, action, Wg, ok, dF, opts):
    """-(dF/dW)^-1 dF at Wg, the step from (state, action) (the kernel's factorisation or the JAX
    one), zero where ``ok`` is False or the factorisation is not finite. The masks depend on primal
    values only, so it is linear in dF (and transposable)."""
    if solver.use_native(opts):
        dW = kernel.newton_step(mech, state, action, Wg, dF)  # zero where its factorisation is not finite
    else:
        prob = res.make_problem(mech, state, action)
        lin = res.linearize(mech, prob, Wg)
        ok = ok & jnp.all(jnp.isfinite(lin.factors.inverse))
        dW = res.newton_step(mech, prob, lin, dF)
    return jax.tree.map(lambda d: jnp.where(ok, d, 0.0), dW)


def solve_columns(mech, state, action, W, ok, opts):
    """The velocities' rows (nb, 6, 12 nb + nu) of -(dF/dW)^-1 dF/d(dz, u) at W, the step from
    (state, action), dz the state's tangent (:func:`dojax.state.retract`): the kernel's blocked
    solve, which assembles the right-hand sides itself, or the JAX factorisation's vmapped over the
    columns of :func:`dojax.residual.column_blocks`; zero where ``ok`` is False."""
    nb = mech.num_bodies
    charts = res.charts(mech, state, action)
    if solver.use_native(opts):
        dV = kernel.velocity_columns(mech, state, action, W, charts).reshape(nb, 6, -1)
    else:
        columns = res.column_blocks(mech, res.local_jacobians(mech, state, action, W), charts).matrix(W)
        dW = jax.vmap(lambda r: _newton(mech, state, action, W, ok, kernel.unpack_unknowns(r, W), opts))(columns.T)
        dV = jnp.moveaxis(dW.V, 0, -1)
    return jnp.where(ok, dV, 0.0)


def solve_jacobian(mech, state, action, opts):
    """A step's unknowns with the Jacobian of its velocities with respect to the state's tangent
    (:func:`dojax.state.retract`) and the action: (W*, SolveInfo, dV*) with dV* (nb, 6, 12 nb + nu).
    One factorisation serves every column."""
    W, info = solve_step(mech, state, action, opts)
    Wg, ok, _ = _derivative_point(mech, state, action, opts, W, info)  # (a failed step's columns are masked)
    return W, info, solve_columns(mech, state, action, Wg, ok, opts)


def _solve_jvp(primals, tangents):
    """The implicit-function JVP rule: dW = -(dF/dW)^-1 dF/dtheta . tangent at the solution."""
    mech, state, action, opts = primals
    W, info = solve_step(mech, state, action, opts)  # differentiable again: second derivatives
    Wg, ok, kappa = _derivative_point(mech, state, action, opts, W, info)
    (mech, state, action), Wg = _finite(ok, ((mech, state, action), Wg))
    mech_dot, state_dot, action_dot = tangents[:3]
    prob = res.make_problem(mech, state, action)
    terms_tangent = _terms_tangent_native if solver.use_native(opts) else _terms_tangent_directional
    dF = res.collect(mech, prob, terms_tangent(mech, state, action, Wg, kappa, _instantiate(state_dot),
                                                  _instantiate(action_dot)))
    if not all(map(_symbolic, jax.tree.leaves(mech_dot, is_leaf=_symbolic))):
        F = lambda m: res.residual(m, res.make_problem(m, state, action), Wg, kappa)
        dF = jax.tree.map(jnp.add, dF, jax.jvp(F, (mech,), (_instantiate(mech_dot),))[1])
    return (W, info), (_newton(mech, state, action, Wg, ok, dF, opts), jax.tree.map(_zero_tangent, info))


solve_step = jax.custom_jvp(_solve)
solve_step.defjvp(_solve_jvp, symbolic_zeros=True)
solve_step.__doc__ = _solve.__doc__
