"""Iterative LQR (Gauss-Newton DDP) with an augmented Lagrangian, over a mechanism in minimal coordinates.

The problem, for a horizon of T steps from a fixed initial state x_0::

    minimise   sum_t cost(x_t, u_t) + final_cost(x_T)
    subject to x_{t+1} = step(x_t, u_t)
               equality(x_t, u_t) = 0,  inequality(x_t, u_t) <= 0        (t = 0 .. T-1)
               final_equality(x_T) = 0, final_inequality(x_T) <= 0

The constraints are moved into the objective by an augmented Lagrangian (multipliers lambda, penalty
mu; an inequality row counts while it is violated or its multiplier is positive). For fixed
multipliers, iLQR minimises that objective: the step Jacobians along the trajectory, a backward
Riccati pass on the Gauss-Newton expansion (regularised Levenberg-Marquardt style, rho I added to
Q_uu), and a forward pass with the feedback gains and a backtracking line search on the step size.
The outer loop then updates the multipliers and raises the penalty until the constraints hold.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import dojax
from dojax.optimize.dynamics import jacobians_minimal, step_minimal


class ILQRResult(NamedTuple):
    """What :func:`ilqr` returns.

    states: (T+1, m) minimal coordinates of the optimised trajectory (``states[0]`` the initial state).
    actions: (T, nu) optimised actions. gains: (T, nu, m) feedback gains of the last backward pass
    (``u = actions[t] + gains[t] @ (x - states[t])`` is the time-varying LQR controller about the
    trajectory). cost: (iterations + 1,) objective (without constraint terms) after each iteration,
    index 0 for the initial actions. violation: (iterations + 1,) largest constraint violation
    (infinity norm over equality residuals and positive parts of inequalities) after each
    iteration. step_size: (iterations,) accepted line-search step, 0 where no step was accepted.
    iterations: iLQR iterations run. converged: constraints met and the last iLQR loop converged.
    status: how the solve ended, in words. multipliers: final augmented-Lagrangian multipliers,
    a dict with ``equality`` (T, ke), ``inequality`` (T, ki), ``final_equality`` (kfe,),
    ``final_inequality`` (kfi,).
    """

    states: np.ndarray
    actions: np.ndarray
    gains: np.ndarray
    cost: np.ndarray
    violation: np.ndarray
    step_size: np.ndarray
    iterations: int
    converged: bool
    status: str
    multipliers: dict


class _Problem(NamedTuple):
    """The static part of a problem (functions and settings), a hashable argument to the compiled iteration."""

    cost: Callable
    final_cost: Callable
    equality: Callable
    inequality: Callable
    final_equality: Callable
    final_inequality: Callable
    max_line_search: int
    cost_tolerance: float
    line_search_decrease: float
    reg_factor: float
    reg_min: float
    reg_max: float


def _no_stage_constraint(x, u):
    return jnp.zeros((0,), x.dtype)


def _no_final_constraint(x):
    return jnp.zeros((0,), x.dtype)


def _zero_final_cost(x):
    return jnp.zeros((), x.dtype)


# ---------------------------------------------------------------- objective and its expansion

def _penalty_weights(c_eq, c_in, lam_in, mu):
    """Penalty weight per constraint row: mu for equalities; mu for active inequalities, else 0."""
    active = (c_in > 0.0) | (lam_in > 0.0)
    return jnp.concatenate([jnp.full_like(c_eq, mu), jnp.where(active, mu, 0.0)])


def _stage_terms(problem, x, u, lam_eq, lam_in, mu):
    """(cost, augmented-Lagrangian value, violation) of one stage."""
    l = problem.cost(x, u)
    c_eq, c_in = problem.equality(x, u), problem.inequality(x, u)
    return _augment(l, c_eq, c_in, lam_eq, lam_in, mu)


def _final_terms(problem, x, lam_eq, lam_in, mu):
    l = problem.final_cost(x)
    c_eq, c_in = problem.final_equality(x), problem.final_inequality(x)
    return _augment(l, c_eq, c_in, lam_eq, lam_in, mu)


def _augment(l, c_eq, c_in, lam_eq, lam_in, mu):
    c = jnp.concatenate([c_eq, c_in])
    weights = _penalty_weights(c_eq, c_in, lam_in, mu)
    lagrangian = l + jnp.concatenate([lam_eq, lam_in]) @ c + 0.5 * jnp.sum(weights * c * c)
    violation = jnp.max(jnp.concatenate([jnp.abs(c_eq), jnp.maximum(c_in, 0.0), jnp.zeros(1, c.dtype)]))
    return l, lagrangian, violation


def _expand(cost, constraints, lam, lam_in, mu, z):
    """Gradient and Gauss-Newton Hessian in z of cost + lam'c + 0.5 c' diag(w) c at z."""
    g = jax.grad(cost)(z)
    H = jax.hessian(cost)(z)
    c_eq, c_in = constraints(z)
    C = jax.jacfwd(lambda z: jnp.concatenate(constraints(z)))(z)
    w = _penalty_weights(c_eq, c_in, lam_in, mu)
    c = jnp.concatenate([c_eq, c_in])
    g = g + C.T @ (jnp.concatenate([lam, lam_in]) + w * c)
    H = H + C.T @ (w[:, None] * C)
    return g, 0.5 * (H + H.T)


def _trajectory_terms(problem, Y, U, duals, mu):
    """(cost, augmented-Lagrangian value, violation) of a whole trajectory."""
    l, L, v = jax.vmap(_stage_terms, in_axes=(None, 0, 0, 0, 0, None))(
        problem, Y[:-1], U, duals["equality"], duals["inequality"], mu)
    lf, Lf, vf = _final_terms(problem, Y[-1], duals["final_equality"], duals["final_inequality"], mu)
    return jnp.sum(l) + lf, jnp.sum(L) + Lf, jnp.maximum(jnp.max(v), vf)


# ---------------------------------------------------------------- passes

def _rollout(mech, opts, y0, U, feedback=None):
    """States from y0 under U (or under ``feedback(t, y) -> u``); also whether every step is finite and converged."""

    def body(y, inputs):
        t, u = inputs
        if feedback is not None:
            u = feedback(t, y, u)
        y_next, converged = step_minimal(mech, opts, y, u)
        ok = converged & jnp.all(jnp.isfinite(y_next)) & jnp.all(jnp.isfinite(u))
        return y_next, (y_next, u, ok)

    T = U.shape[0]
    _, (Y, U, ok) = jax.lax.scan(body, y0, (jnp.arange(T), U))
    return jnp.concatenate([y0[None], Y]), U, jnp.all(ok)


def _backward(A, B, stage_g, stage_H, final_g, final_H, reg):
    """Riccati recursion on the Gauss-Newton expansion; (k, K, expected-decrease terms, Q_uu positive definite)."""
    m, nu = B.shape[1], B.shape[2]

    def body(carry, inputs):
        Vx, Vxx = carry
        A_t, B_t, g, H = inputs
        lx, lu = g[:m], g[m:]
        lxx, luu, lux = H[:m, :m], H[m:, m:], H[m:, :m]
        Qx = lx + A_t.T @ Vx
        Qu = lu + B_t.T @ Vx
        Qxx = lxx + A_t.T @ Vxx @ A_t
        Quu = luu + B_t.T @ Vxx @ B_t
        Qux = lux + B_t.T @ Vxx @ A_t
        Quu_reg = Quu + reg * jnp.eye(nu)
        factor = jax.scipy.linalg.cho_factor(Quu_reg)
        ok = jnp.all(jnp.isfinite(factor[0]))
        k = -jax.scipy.linalg.cho_solve(factor, Qu)
        K = -jax.scipy.linalg.cho_solve(factor, Qux)
        Vx = Qx + K.T @ Quu @ k + K.T @ Qu + Qux.T @ k
        Vxx = Qxx + K.T @ Quu @ K + K.T @ Qux + Qux.T @ K
        Vxx = 0.5 * (Vxx + Vxx.T)
        return (Vx, Vxx), (k, K, jnp.stack([k @ Qu, 0.5 * k @ Quu @ k]), ok)

    _, (k, K, decrease, ok) = jax.lax.scan(body, (final_g, final_H), (A, B, stage_g, stage_H), reverse=True)
    return k, K, jnp.sum(decrease, axis=0), jnp.all(ok)


def _expansions(problem, Y, U, duals, mu):
    m = Y.shape[1]

    def stage(y, u, lam_eq, lam_in):
        cost = lambda z: problem.cost(z[:m], z[m:])
        constraints = lambda z: (problem.equality(z[:m], z[m:]), problem.inequality(z[:m], z[m:]))
        return _expand(cost, constraints, lam_eq, lam_in, mu, jnp.concatenate([y, u]))

    g, H = jax.vmap(stage)(Y[:-1], U, duals["equality"], duals["inequality"])
    fconstraints = lambda y: (problem.final_equality(y), problem.final_inequality(y))
    fg, fH = _expand(problem.final_cost, fconstraints, duals["final_equality"], duals["final_inequality"], mu, Y[-1])
    return g, H, fg, fH


def _iteration(problem, mech, opts, Y, U, duals, mu, reg):
    """One iLQR iteration on the augmented Lagrangian for fixed multipliers.

    Returns a dict: the new (or unchanged) trajectory, its cost / augmented value / violation, the
    accepted step (0 if none), the expected decrease of a full step, the regularisation to use next,
    whether the backward pass succeeded, and the gains.
    """
    A, B = jax.vmap(jacobians_minimal, in_axes=(None, None, 0, 0))(mech, opts, Y[:-1], U)
    g, H, fg, fH = _expansions(problem, Y, U, duals, mu)
    _, L_old, _ = _trajectory_terms(problem, Y, U, duals, mu)

    # backward pass, raising the regularisation until Q_uu is positive definite
    def backward_at(reg):
        return _backward(A, B, g, H, fg, fH, reg)

    def raise_reg(carry):
        reg, _ = carry
        reg = jnp.maximum(reg * problem.reg_factor, problem.reg_min)
        return reg, backward_at(reg)

    first = backward_at(reg)
    reg, (k, K, (d1, d2), backward_ok) = jax.lax.while_loop(
        lambda c: (~c[1][3]) & (c[0] <= problem.reg_max), raise_reg, (reg, first))
    expected_full = -(d1 + d2)  # expected decrease of the augmented objective for a full step

    # forward pass with backtracking on the step size alpha
    def try_step(alpha):
        feedback = lambda t, y, u: u + alpha * k[t] + K[t] @ (y - Y[t])
        Y_new, U_new, ok = _rollout(mech, opts, Y[0], U, feedback)
        _, L_new, _ = _trajectory_terms(problem, Y_new, U_new, duals, mu)
        expected = -(alpha * d1 + alpha**2 * d2)
        ok = ok & jnp.isfinite(L_new)
        decrease = L_old - L_new
        accept = ok & jnp.where(expected > 0.0, decrease >= problem.line_search_decrease * expected,
                                decrease >= 0.0)
        return Y_new, U_new, accept

    def search(carry):
        i, alpha, _, _, _ = carry
        Y_new, U_new, accept = try_step(alpha)
        return i + 1, jnp.where(accept, alpha, 0.5 * alpha), Y_new, U_new, accept

    # a full step that would barely decrease the objective is not taken: the loop has converged
    stationary = expected_full < problem.cost_tolerance * (1.0 + jnp.abs(L_old))
    init = (jnp.zeros((), int), jnp.ones((), Y.dtype), Y, U, jnp.zeros((), bool))
    _, alpha, Y_new, U_new, accepted = jax.lax.while_loop(
        lambda c: backward_ok & ~stationary & ~c[4] & (c[0] <= problem.max_line_search), search, init)
    Y_new = jnp.where(accepted, Y_new, Y)
    U_new = jnp.where(accepted, U_new, U)
    reg = jnp.where(accepted | stationary, reg / problem.reg_factor,
                    jnp.maximum(reg * problem.reg_factor, problem.reg_min))
    reg = jnp.where(reg < problem.reg_min, 0.0, reg)
    J, L, violation = _trajectory_terms(problem, Y_new, U_new, duals, mu)
    return dict(states=Y_new, actions=U_new, cost=J, lagrangian=L, previous_lagrangian=L_old, violation=violation,
                step_size=jnp.where(accepted, alpha, 0.0), expected_decrease=expected_full, regularisation=reg,
                backward_ok=backward_ok, gains=K)


_iteration_jit = jax.jit(_iteration, static_argnums=0)


@jax.jit
def _initial_rollout(mech, opts, y0, U):
    return _rollout(mech, opts, y0, U)


def _dual_update(problem, Y, U, duals, mu):
    """First-order multiplier update (inequality multipliers kept non-negative)."""
    c_eq = jax.vmap(problem.equality)(Y[:-1], U)
    c_in = jax.vmap(problem.inequality)(Y[:-1], U)
    return dict(equality=duals["equality"] + mu * c_eq,
                inequality=jnp.maximum(duals["inequality"] + mu * c_in, 0.0),
                final_equality=duals["final_equality"] + mu * problem.final_equality(Y[-1]),
                final_inequality=jnp.maximum(duals["final_inequality"] + mu * problem.final_inequality(Y[-1]), 0.0))


_dual_update_jit = jax.jit(_dual_update, static_argnums=0)
_terms_jit = jax.jit(_trajectory_terms, static_argnums=0)


# ---------------------------------------------------------------- input checks

def _check_output(fn, name, args, ndim):
    try:
        out = jax.eval_shape(fn, *args)
    except Exception as error:  # noqa: BLE001  (any failure to trace is the user's function)
        raise ValueError(f"{name} failed on arguments of shapes {[a.shape for a in args]}: {error}") from error
    if not hasattr(out, "shape") or len(out.shape) != ndim:
        what = "a scalar" if ndim == 0 else "a 1-D array"
        raise ValueError(f"{name} must return {what}, got {getattr(out, 'shape', type(out).__name__)}")
    return out.shape


def _initial_coordinates(mech, initial_state):
    if isinstance(initial_state, dojax.State):
        return dojax.to_minimal(mech, initial_state)
    y0 = jnp.asarray(initial_state, dtype=jnp.float64)
    if y0.shape != (mech.minimal_size,):
        raise ValueError(f"initial_state must be a State or minimal coordinates of shape ({mech.minimal_size},), "
                         f"got shape {y0.shape}")
    return y0


# ---------------------------------------------------------------- driver

def ilqr(mech, initial_state, initial_actions, cost, final_cost=None, *, equality=None, inequality=None,
         final_equality=None, final_inequality=None, opts=None, max_iterations=100, max_outer_iterations=10,
         cost_tolerance=1e-6, constraint_tolerance=1e-4, penalty=1.0, penalty_factor=10.0, max_penalty=1e8,
         regularisation=0.0, max_line_search=10, verbose=False, progress_bar=False):
    """Optimise a trajectory of ``mech`` by iterative LQR with an augmented Lagrangian.

    States are the mechanism's minimal coordinates ``x`` (:func:`dojax.to_minimal`; for a revolute
    joint the angle is wrapped into (-pi, pi], so express goals near pi through sin and cos). The
    dynamics are ``x' = to_minimal(step(from_minimal(x), u))`` with derivatives from
    :func:`dojax.jacobians` (``minimal=True``), so ``opts.gradient_btol`` smooths them through
    contact.

    Args:
        mech: a Mechanism.
        initial_state: a State, or minimal coordinates (m,).
        initial_actions: (T, nu) first guess; T is the horizon.
        cost: stage cost ``cost(x, u) -> scalar`` (a JAX function; see :func:`quadratic_cost`).
        final_cost: ``final_cost(x) -> scalar`` of the last state (zero if None).
        equality, inequality: stage constraints ``c(x, u) -> (k,)`` with ``c = 0`` / ``c <= 0``
            at every step t = 0 .. T-1 (e.g. :func:`action_bounds`).
        final_equality, final_inequality: ``c(x) -> (k,)`` on the last state.
        opts: SolverOptions of the steps and their derivatives.
        max_iterations: iLQR iterations at most, over all outer iterations.
        max_outer_iterations: multiplier updates at most.
        cost_tolerance: an inner loop ends when a full step's expected decrease, or the achieved
            one, is below ``cost_tolerance * (1 + |objective|)``.
        constraint_tolerance: the solve has converged when the largest violation is below it.
        penalty, penalty_factor, max_penalty: the augmented Lagrangian's initial penalty, its growth
            per outer iteration, and its cap.
        regularisation: initial Levenberg-Marquardt term rho added to Q_uu; multiplied by 10 after
            a failed backward or forward pass, divided by 10 after a success (0 below 1e-6).
        max_line_search: step halvings at most in the forward pass.
        verbose: print one line per iteration.
        progress_bar: show a tqdm bar over ``max_iterations``.

    Returns:
        An :class:`ILQRResult`. A forward pass whose rollout is not finite or has a step whose
        solver did not converge is rejected by the line search, so the result never holds NaN; a
        solve that cannot proceed says why in ``status`` with ``converged`` False.

    Each iteration (step Jacobians along the trajectory, backward pass, line-searched forward
    pass) is one compiled function, reused across calls with the same functions and shapes; the
    loops around it run in Python, to print, show progress and stop early, so ``ilqr`` itself is not
    traced by ``jax.jit`` or ``jax.vmap``.
    """
    opts = dojax.SolverOptions() if opts is None else opts
    y0 = _initial_coordinates(mech, initial_state)
    U0 = jnp.asarray(initial_actions, dtype=jnp.float64)
    nu, m = mech.action_size, mech.minimal_size
    if U0.ndim != 2 or U0.shape[0] < 1 or U0.shape[1] != nu:
        raise ValueError(f"initial_actions must have shape (T, {nu}) with T >= 1, got {U0.shape}")
    if not bool(jnp.all(jnp.isfinite(U0))):
        raise ValueError("initial_actions must be finite")
    if not bool(jnp.all(jnp.isfinite(y0))):
        raise ValueError("initial_state must be finite")
    for name, value in (("max_iterations", max_iterations), ("max_outer_iterations", max_outer_iterations)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    for name, value in (("cost_tolerance", cost_tolerance), ("constraint_tolerance", constraint_tolerance),
                        ("penalty", penalty), ("max_penalty", max_penalty)):
        if not value > 0.0:
            raise ValueError(f"{name} must be positive, got {value}")
    if not penalty_factor >= 1.0:
        raise ValueError(f"penalty_factor must be >= 1, got {penalty_factor}")
    if not regularisation >= 0.0:
        raise ValueError(f"regularisation must be >= 0, got {regularisation}")

    x_spec, u_spec = jax.ShapeDtypeStruct((m,), jnp.float64), jax.ShapeDtypeStruct((nu,), jnp.float64)
    final_cost = _zero_final_cost if final_cost is None else final_cost
    _check_output(cost, "cost", (x_spec, u_spec), 0)
    _check_output(final_cost, "final_cost", (x_spec,), 0)
    stage = {"equality": equality or _no_stage_constraint, "inequality": inequality or _no_stage_constraint}
    final = {"final_equality": final_equality or _no_final_constraint,
             "final_inequality": final_inequality or _no_final_constraint}
    sizes = {name: _check_output(fn, name, (x_spec, u_spec), 1)[0] for name, fn in stage.items()}
    sizes.update({name: _check_output(fn, name, (x_spec,), 1)[0] for name, fn in final.items()})
    problem = _Problem(cost=cost, final_cost=final_cost, **stage, **final, max_line_search=int(max_line_search),
                       cost_tolerance=float(cost_tolerance), line_search_decrease=1e-4, reg_factor=10.0,
                       reg_min=1e-6, reg_max=1e10)

    T = U0.shape[0]
    duals = {name: jnp.zeros((T, sizes[name])) for name in stage}
    duals.update({name: jnp.zeros((sizes[name],)) for name in final})
    mu = float(penalty)
    reg = float(regularisation)

    Y, U, ok = _initial_rollout(mech, opts, y0, U0)
    if not bool(ok):
        raise ValueError("initial_actions: their rollout from initial_state fails (a step did not converge or "
                         "was not finite)")
    J, _, violation = _terms_jit(problem, Y, U, duals, mu)
    costs, violations, steps = [float(J)], [float(violation)], []
    gains = jnp.zeros((T, nu, m))
    status, converged, inner_done = f"reached max_iterations ({max_iterations})", False, False
    outer = 0
    bar = _progress(progress_bar, max_iterations)
    if verbose:
        print(f"{'iter':>5} {'outer':>5} {'cost':>13} {'violation':>10} {'step':>8} {'reg':>8} {'penalty':>8}")
    for it in range(1, max_iterations + 1):
        out = _iteration_jit(problem, mech, opts, Y, U, duals, mu, reg)
        step_size = float(out["step_size"])
        L_old = float(out["previous_lagrangian"])
        Y, U, gains, reg = out["states"], out["actions"], out["gains"], float(out["regularisation"])
        costs.append(float(out["cost"]))
        violations.append(float(out["violation"]))
        steps.append(step_size)
        if verbose:
            print(f"{it:5d} {outer:5d} {costs[-1]:13.6e} {violations[-1]:10.3e} {step_size:8.2e} {reg:8.1e} "
                  f"{mu:8.1e}")
        if bar is not None:
            bar.update(1)
            bar.set_postfix(cost=f"{costs[-1]:.4g}", violation=f"{violations[-1]:.2e}")
        scale = cost_tolerance * (1.0 + abs(L_old))
        if not bool(out["backward_ok"]):
            status = "backward pass failed: Q_uu not positive definite at the largest regularisation"
            break
        inner_done = float(out["expected_decrease"]) < scale or (
            step_size > 0.0 and L_old - float(out["lagrangian"]) < scale)
        if step_size == 0.0 and not inner_done:
            if reg > problem.reg_max:
                status = "line search found no decrease at the largest regularisation"
                break
            continue
        if not inner_done:
            continue
        if violations[-1] <= constraint_tolerance:
            status, converged = "converged", True
            break
        if outer + 1 >= max_outer_iterations:
            status = f"reached max_outer_iterations ({max_outer_iterations}) with violation {violations[-1]:.2e}"
            break
        duals = _dual_update_jit(problem, Y, U, duals, mu)
        mu = min(mu * penalty_factor, max_penalty)
        outer += 1
    if bar is not None:
        bar.close()
    return ILQRResult(states=np.asarray(Y), actions=np.asarray(U), gains=np.asarray(gains), cost=np.asarray(costs),
                      violation=np.asarray(violations), step_size=np.asarray(steps), iterations=len(steps),
                      converged=converged, status=status, multipliers={k: np.asarray(v) for k, v in duals.items()})


def _progress(progress_bar, total):
    if not progress_bar:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="ilqr", unit="it")
