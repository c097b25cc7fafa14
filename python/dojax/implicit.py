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

Two functions carry the same derivative, evaluated in the order that suits how it is used:

* :func:`solve_step` takes dF/dtheta . theta_dot as one ``jax.jvp`` of the residual per tangent:
  the cheapest for one direction, and so for ``jax.jvp`` and for reverse mode (``jax.grad``).
* :func:`solve_step_columns` assembles it from local Jacobians, for many tangents at once (a full
  step Jacobian, ``jax.jacfwd``). Each joint's, contact's and limit's terms read the configuration
  only through their own copy of their two bodies' poses (:class:`dojax.residual.Configuration`),
  so one ``jax.jvp`` of all terms along each of the 14 coordinates of a pair of poses, moving every
  copy at once, gives every term's Jacobian with respect to its copy, and a state tangent is applied
  by contracting those with each term's share of it. The 14 evaluations do not depend on the
  tangent: a Jacobian with any number of columns costs them once, plus one batched solve.
  Velocities enter only the bodies' own terms and, through their copy of their two bodies'
  velocities (the armature's last motion), the joints' terms: 12 more evaluations give those local
  Jacobians. Actions enter only the bodies' and joints' terms, whose Jacobian with respect to the
  action (one evaluation per action) is applied to each tangent.

In both, mechanism parameters that carry tangents take one ``jax.jvp`` of the whole residual.

Smoothing: with ``SolverOptions(gradient_btol=...)`` the derivative is taken at the central-path
point of that (larger) complementarity target, reached by re-centring from the forward solution,
while the returned value is the forward solution (Dojo's separate gradient options).

A step that did not converge has zero derivatives (its ``info.converged`` is False), never NaN.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from dojax import residual as res
from dojax import solver
from dojax.native import kernel


def _solve(mech, state, action, opts):
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


def _symbolic(t):
    return isinstance(t, SymbolicZero)


def _instantiate(tangent):
    return jax.tree.map(lambda t: jnp.zeros(t.shape, t.dtype) if _symbolic(t) else t, tangent, is_leaf=_symbolic)


_SLOTS = ((0, 3), (3, 7), (7, 10), (10, 14))  # x a, q a, x b, q b in a pair of poses


def _pose_directions(config):
    """(14, ...) configuration tangents: every copy moved along one coordinate of its pair of poses
    (a: a joint's parent, a contact's body a, an actuator's body; b: a joint's child, body b)."""
    def pair(e, poses):
        return tuple(jnp.broadcast_to(e[i:j], pose.shape) for (i, j), pose in zip(_SLOTS, poses))

    def direction(e):
        return res.Configuration(pair(e, config.joints), tuple(c if c is None else pair(e, c) for c in config.contacts),
                                 jnp.broadcast_to(e[3:7], config.actuators.shape))

    return jax.vmap(direction)(jnp.eye(14, dtype=config.actuators.dtype))


def _terms_tangent_directional(mech, state, action, W, kappa, state_dot, action_dot):
    """Tangent of :func:`dojax.residual.residual_terms` at W along (state_dot, action_dot): one jvp."""
    terms = lambda s, a: res.residual_terms(mech, res.make_problem(mech, s, a), W, kappa)
    return jax.jvp(terms, (state, action), (state_dot, action_dot))[1]


def _velocity_directions(V15, joint_V15):
    """(12, ...) velocity tangents: every body's and every joint's parent copy moved along one of
    the 6 coordinates (0-5), or every joint's child copy (6-11)."""
    Vp, Vc = joint_V15
    direction = lambda e: (jnp.broadcast_to(e[:6], V15.shape), (jnp.broadcast_to(e[:6], Vp.shape),
                                                                jnp.broadcast_to(e[6:], Vc.shape)))
    return jax.vmap(direction)(jnp.eye(12, dtype=V15.dtype))


def _terms_tangent_local(mech, state, action, W, kappa, state_dot, action_dot):
    """Tangent of :func:`dojax.residual.residual_terms` at W along (state_dot, action_dot), from
    every term's local Jacobian (see the module's docstring)."""
    config = res.configuration(mech, state)
    V15 = jnp.concatenate([state.v, state.w], axis=-1)
    joint_V15 = res.joint_velocities(mech, V15)
    terms = lambda c, V, JV, a: res.residual_terms(mech, res.problem_at(mech, c, V, a, JV), W, kappa)
    pose = lambda poses: jnp.concatenate(poses, axis=-1)
    contract = lambda jac, share: jnp.einsum("kn...,nk->n...", jac, share)

    # poses: every term reads its own copy of its two bodies' poses
    local = jax.vmap(lambda d: jax.jvp(lambda c: terms(c, V15, joint_V15, action), (config,), (d,))[1])(
        _pose_directions(config))
    pad = lambda z: jnp.concatenate([z, jnp.zeros_like(z[:1])])
    shares = res.gather_poses(mech, pad(state_dot.x), pad(state_dot.q))
    body_local, joint_local, group_local = local
    joint_share = pose(shares.joints)
    body_share = jnp.concatenate([state_dot.x, state_dot.q, jnp.zeros_like(state_dot.x), jnp.zeros_like(state_dot.q)], axis=-1)
    s = mech.structure
    groups = []
    for (kind, _, _, members, _), g_local, contact in zip(s.element_groups, group_local, shares.contacts):
        # a limit reads its joint's copy
        share = pose(contact) if kind == "contact" else joint_share[s.limit_joint[np.asarray(members)]]
        groups.append(tuple(contract(t, share) for t in g_local))
    body = contract(body_local, body_share)
    joints = tuple(contract(t, joint_share) for t in joint_local)

    # velocities: a body's own terms read its velocities, a joint's its copy of its two bodies'
    body_local, joint_local, _ = jax.vmap(lambda d: jax.jvp(lambda V, JV: terms(config, V, JV, action),
                                                           (V15, joint_V15), d)[1])(_velocity_directions(V15, joint_V15))
    V15_dot = jnp.concatenate([state_dot.v, state_dot.w], axis=-1)
    body = body + contract(body_local[:6], V15_dot)
    joints = tuple(j + contract(t, pose(res.joint_velocities(mech, V15_dot))) for j, t in zip(joints, joint_local))

    # actions: a Jacobian with one column per action, applied to the tangent (bodies and joints only)
    if action.shape[-1]:
        body_local, joint_local, _ = jax.vmap(lambda d: jax.jvp(lambda a: terms(config, V15, joint_V15, a),
                                                               (action,), (d,))[1])(jnp.eye(action.shape[-1], dtype=action.dtype))
        apply = lambda jac: jnp.einsum("k...,k->...", jac, action_dot)
        body = body + apply(body_local)
        joints = tuple(j + apply(t) for j, t in zip(joints, joint_local))
    return body, joints, tuple(groups)


def _solve_jvp(terms_tangent, primals, tangents):
    """The implicit-function JVP rule, with dF/d(state, action) . tangent from ``terms_tangent``."""
    mech, state, action, opts = primals
    primals, tangents = primals[:3], tangents[:3]
    W, info = solve_step(mech, state, action, opts)  # differentiable again: second derivatives
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

    mech, state, action = primals
    mech_dot, state_dot, action_dot = tangents
    prob = res.make_problem(mech, state, action)
    dF = res.collect(mech, prob, terms_tangent(mech, state, action, Wg, kappa, _instantiate(state_dot),
                                                  _instantiate(action_dot)))
    if not all(map(_symbolic, jax.tree.leaves(mech_dot, is_leaf=_symbolic))):
        F = lambda m: res.residual(m, res.make_problem(m, state, action), Wg, kappa)
        dF = jax.tree.map(jnp.add, dF, jax.jvp(F, (mech,), (_instantiate(mech_dot),))[1])
    # the masks depend on primal values only, so the rule stays linear (and transposable)
    if solver.use_native(opts):
        dW = kernel.newton_step(mech, prob, Wg, dF)  # zero where its factorisation is not finite
    else:
        lin = res.linearize(mech, prob, Wg)
        ok = ok & jnp.all(jnp.isfinite(lin.factors.inverse))
        dW = res.newton_step(mech, prob, lin, dF)
    dW = jax.tree.map(lambda d: jnp.where(ok, d, 0.0), dW)
    return (W, info), (dW, jax.tree.map(_zero_tangent, info))


solve_step = jax.custom_jvp(_solve)
solve_step.defjvp(partial(_solve_jvp, _terms_tangent_directional), symbolic_zeros=True)
solve_step.__doc__ = _solve.__doc__

solve_step_columns = jax.custom_jvp(_solve)
solve_step_columns.defjvp(partial(_solve_jvp, _terms_tangent_local), symbolic_zeros=True)
solve_step_columns.__doc__ = _solve.__doc__ + "\n    Its derivative suits many tangents at once (see the module's docstring).\n"
