"""Iterative LQR (Gauss-Newton DDP) with an augmented Lagrangian, over a mechanism in minimal or maximal coordinates.

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

States are perturbed in the tangent space of :class:`~dojax.optimize.dynamics.Dynamics`: the
expansions of costs and constraints, the backward pass and the feedback all work on tangents, while
the forward pass rolls the true dynamics, so a maximal-coordinate trajectory keeps unit quaternions.

:func:`ilqr_solve` is the whole solve as one JAX function (``jax.lax.while_loop`` over iterations,
scans for the passes), so ``jax.jit(ilqr_solve)`` compiles it once; :func:`ilqr` checks its input,
builds the :class:`Problem`, runs the compiled solve and returns numpy arrays with the status in words.
"""

import dataclasses
import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import dojax
from dojax.optimize.dynamics import COORDINATES, Dynamics, to_coordinates

# how a solve ended: ILQRResult.status of ilqr_solve (an integer), in words through status_words
RUNNING, CONVERGED, MAX_ITERATIONS, MAX_OUTER_ITERATIONS, BACKWARD_FAILED, LINE_SEARCH_FAILED, ROLLOUT_FAILED = range(7)


class ILQRResult(NamedTuple):
    """What :func:`ilqr` returns (numpy arrays) and :func:`ilqr_solve` returns (JAX arrays).

    states: (T+1, n) state vectors of the optimised trajectory (``states[0]`` the initial state).
    actions: (T, nu) optimised actions. gains: (T, nu, d) feedback gains of the last backward pass
    on the state's tangent (``u = actions[t] + gains[t] @ difference(x, states[t])``, the
    time-varying LQR controller about the trajectory; in minimal coordinates the difference is
    ``x - states[t]``). cost: objective (without constraint terms) after each iteration, index 0 for
    the initial actions. violation: largest constraint violation (infinity norm over equality
    residuals and positive parts of inequalities) after each iteration. step_size: accepted
    line-search step per iteration, 0 where no step was accepted. iterations: iLQR iterations run.
    converged: constraints met and the last iLQR loop converged. status: how the solve ended, in
    words from :func:`ilqr`, an integer code from :func:`ilqr_solve` (:func:`status_words` turns it
    into words). multipliers: final augmented-Lagrangian multipliers, a dict with ``equality``
    (T, ke), ``inequality`` (T, ki), ``final_equality`` (kfe,), ``final_inequality`` (kfi,).

    From :func:`ilqr` the histories hold ``iterations + 1`` (cost, violation) and ``iterations``
    (step_size) entries; from :func:`ilqr_solve` they have the fixed lengths ``max_iterations + 1``
    and ``max_iterations``, NaN after the last iteration.
    """

    states: Any
    actions: Any
    gains: Any
    cost: Any
    violation: Any
    step_size: Any
    iterations: Any
    converged: Any
    status: Any
    multipliers: dict


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Problem:
    """A trajectory optimisation problem for :func:`ilqr_solve`, with its solver settings.

    ``model`` is the pytree the dynamics' functions take first (``(mechanism, SolverOptions)`` for
    dojax); everything else is static (hashed by ``jax.jit``): the :class:`Dynamics`, the cost and
    constraint functions (see :func:`ilqr` for their forms, except that the stage cost here always
    takes the step index: ``cost(x, u, t)``, :class:`TimeInvariant` for one that does not; a missing
    constraint is a function returning an empty array) and the settings documented at :func:`ilqr`.
    """

    model: Any
    dynamics: Dynamics = dataclasses.field(metadata=dict(static=True))
    cost: Callable = dataclasses.field(metadata=dict(static=True))
    final_cost: Callable = dataclasses.field(metadata=dict(static=True))
    equality: Callable = dataclasses.field(metadata=dict(static=True))
    inequality: Callable = dataclasses.field(metadata=dict(static=True))
    final_equality: Callable = dataclasses.field(metadata=dict(static=True))
    final_inequality: Callable = dataclasses.field(metadata=dict(static=True))
    max_iterations: int = dataclasses.field(default=100, metadata=dict(static=True))
    max_outer_iterations: int = dataclasses.field(default=10, metadata=dict(static=True))
    cost_tolerance: float = dataclasses.field(default=1e-6, metadata=dict(static=True))
    constraint_tolerance: float = dataclasses.field(default=1e-4, metadata=dict(static=True))
    penalty: float = dataclasses.field(default=1.0, metadata=dict(static=True))
    penalty_factor: float = dataclasses.field(default=10.0, metadata=dict(static=True))
    max_penalty: float = dataclasses.field(default=1e8, metadata=dict(static=True))
    regularisation: float = dataclasses.field(default=0.0, metadata=dict(static=True))
    max_line_search: int = dataclasses.field(default=10, metadata=dict(static=True))
    verbose: bool = dataclasses.field(default=False, metadata=dict(static=True))
    progress_bar: bool = dataclasses.field(default=False, metadata=dict(static=True))


@dataclass(frozen=True)
class TimeInvariant:
    """A stage cost ``cost(x, u)`` as the ``cost(x, u, t)`` a :class:`Problem` holds (equal for equal costs)."""

    cost: Callable

    def __call__(self, x, u, t):
        return self.cost(x, u)


def _takes_step_index(fn):
    """Whether a stage cost has a third positional parameter without a default (the step index t)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in parameters if p.kind in positional and p.default is p.empty]
    return len(required) >= 3


LINE_SEARCH_DECREASE, REG_FACTOR, REG_MIN, REG_MAX = 1e-4, 10.0, 1e-6, 1e10


def no_stage_constraint(x, u):
    """No stage constraint: an empty residual."""
    return jnp.zeros((0,), x.dtype)


def no_final_constraint(x):
    """No final constraint: an empty residual."""
    return jnp.zeros((0,), x.dtype)


def zero_final_cost(x):
    """No final cost."""
    return jnp.zeros((), x.dtype)


# ---------------------------------------------------------------- objective and its expansion

def _penalty_weights(c_eq, c_in, lam_in, mu):
    """Penalty weight per constraint row: mu for equalities; mu for active inequalities, else 0."""
    active = (c_in > 0.0) | (lam_in > 0.0)
    return jnp.concatenate([jnp.full_like(c_eq, mu), jnp.where(active, mu, 0.0)])


def _stage_terms(problem, x, u, t, lam_eq, lam_in, mu):
    """(cost, augmented-Lagrangian value, violation) of one stage."""
    l = problem.cost(x, u, t)
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
    l, L, v = jax.vmap(_stage_terms, in_axes=(None, 0, 0, 0, 0, 0, None))(
        problem, Y[:-1], U, jnp.arange(U.shape[0]), duals["equality"], duals["inequality"], mu)
    lf, Lf, vf = _final_terms(problem, Y[-1], duals["final_equality"], duals["final_inequality"], mu)
    return jnp.sum(l) + lf, jnp.sum(L) + Lf, jnp.maximum(jnp.max(v), vf)


# ---------------------------------------------------------------- passes

def _rollout(problem, y0, U, feedback=None):
    """States from y0 under U (or under ``feedback(t, y, u) -> u``); also whether every step is finite and ok."""
    dyn, model = problem.dynamics, problem.model

    def body(y, inputs):
        t, u = inputs
        if feedback is not None:
            u = feedback(t, y, u)
        y_next, ok = dyn.step(model, y, u)
        ok = ok & jnp.all(jnp.isfinite(y_next)) & jnp.all(jnp.isfinite(u))
        return y_next, (y_next, u, ok)

    T = U.shape[0]
    _, (Y, U, ok) = jax.lax.scan(body, y0, (jnp.arange(T), U))
    return jnp.concatenate([y0[None], Y]), U, jnp.all(ok)


def _backward(A, B, stage_g, stage_H, final_g, final_H, reg):
    """Riccati recursion on the Gauss-Newton expansion; (k, K, expected-decrease terms, Q_uu positive definite)."""
    d, nu = B.shape[1], B.shape[2]

    def body(carry, inputs):
        Vx, Vxx = carry
        A_t, B_t, g, H = inputs
        lx, lu = g[:d], g[d:]
        lxx, luu, lux = H[:d, :d], H[d:, d:], H[d:, :d]
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
    """Gradients and Gauss-Newton Hessians of the stage and final terms in the tangent [dx, du]."""
    dyn, model = problem.dynamics, problem.model

    def stage(y, u, t, lam_eq, lam_in):
        d = dyn.difference(model, y, y).shape[0]
        state = lambda z: dyn.retract(model, y, z[:d])
        cost = lambda z: problem.cost(state(z), u + z[d:], t)
        constraints = lambda z: (problem.equality(state(z), u + z[d:]), problem.inequality(state(z), u + z[d:]))
        return _expand(cost, constraints, lam_eq, lam_in, mu, jnp.zeros(d + u.shape[0], y.dtype))

    g, H = jax.vmap(stage)(Y[:-1], U, jnp.arange(U.shape[0]), duals["equality"], duals["inequality"])
    y = Y[-1]
    zero = jnp.zeros_like(dyn.difference(model, y, y))
    fcost = lambda z: problem.final_cost(dyn.retract(model, y, z))
    fconstraints = lambda z: (problem.final_equality(dyn.retract(model, y, z)),
                              problem.final_inequality(dyn.retract(model, y, z)))
    fg, fH = _expand(fcost, fconstraints, duals["final_equality"], duals["final_inequality"], mu, zero)
    return g, H, fg, fH


def _iteration(problem, Y, U, duals, mu, reg):
    """One iLQR iteration on the augmented Lagrangian for fixed multipliers.

    Returns a dict: the new (or unchanged) trajectory, its cost / augmented value / violation, the
    accepted step (0 if none), the expected decrease of a full step, the regularisation to use next,
    whether the backward pass succeeded, and the gains.
    """
    dyn, model = problem.dynamics, problem.model
    A, B = jax.vmap(dyn.jacobians, in_axes=(None, 0, 0))(model, Y[:-1], U)
    g, H, fg, fH = _expansions(problem, Y, U, duals, mu)
    _, L_old, _ = _trajectory_terms(problem, Y, U, duals, mu)

    # backward pass, raising the regularisation until Q_uu is positive definite
    def backward_at(reg):
        return _backward(A, B, g, H, fg, fH, reg)

    def raise_reg(carry):
        reg, _ = carry
        reg = jnp.maximum(reg * REG_FACTOR, REG_MIN)
        return reg, backward_at(reg)

    first = backward_at(reg)
    reg, (k, K, (d1, d2), backward_ok) = jax.lax.while_loop(
        lambda c: (~c[1][3]) & (c[0] <= REG_MAX), raise_reg, (reg, first))
    expected_full = -(d1 + d2)  # expected decrease of the augmented objective for a full step

    # forward pass with backtracking on the step size alpha, rolling the true dynamics
    def try_step(alpha):
        feedback = lambda t, y, u: u + alpha * k[t] + K[t] @ dyn.difference(model, y, Y[t])
        Y_new, U_new, ok = _rollout(problem, Y[0], U, feedback)
        _, L_new, _ = _trajectory_terms(problem, Y_new, U_new, duals, mu)
        expected = -(alpha * d1 + alpha**2 * d2)
        ok = ok & jnp.isfinite(L_new)
        decrease = L_old - L_new
        accept = ok & jnp.where(expected > 0.0, decrease >= LINE_SEARCH_DECREASE * expected, decrease >= 0.0)
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
    reg = jnp.where(accepted | stationary, reg / REG_FACTOR, jnp.maximum(reg * REG_FACTOR, REG_MIN))
    reg = jnp.where(reg < REG_MIN, 0.0, reg)
    J, L, violation = _trajectory_terms(problem, Y_new, U_new, duals, mu)
    return dict(states=Y_new, actions=U_new, cost=J, lagrangian=L, previous_lagrangian=L_old, violation=violation,
                step_size=jnp.where(accepted, alpha, 0.0), expected_decrease=expected_full, regularisation=reg,
                backward_ok=backward_ok, gains=K)


def _dual_update(problem, Y, U, duals, mu):
    """First-order multiplier update (inequality multipliers kept non-negative)."""
    c_eq = jax.vmap(problem.equality)(Y[:-1], U)
    c_in = jax.vmap(problem.inequality)(Y[:-1], U)
    return dict(equality=duals["equality"] + mu * c_eq,
                inequality=jnp.maximum(duals["inequality"] + mu * c_in, 0.0),
                final_equality=duals["final_equality"] + mu * problem.final_equality(Y[-1]),
                final_inequality=jnp.maximum(duals["final_inequality"] + mu * problem.final_inequality(Y[-1]), 0.0))


# ---------------------------------------------------------------- the solve

def ilqr_solve(problem, initial_state, initial_actions):
    """The whole iLQR solve of ``problem`` from a state vector (n,) and first actions (T, nu), as JAX code.

    Compatible with ``jax.jit`` (``jax.jit(ilqr_solve)(problem, x0, U0)``; the problem's functions
    and settings are static, its ``model`` traced). No input checks (:func:`ilqr` makes them);
    returns an :class:`ILQRResult` of JAX arrays with an integer ``status`` (see
    :func:`status_words`) and histories of fixed length, NaN after the last iteration. With
    ``problem.verbose`` each iteration prints a line, with ``problem.progress_bar`` a tqdm bar
    advances, from host callbacks (``jax.debug.callback``) inside the compiled loop.
    """
    y0, U0 = initial_state, initial_actions
    T, n_iter = U0.shape[0], problem.max_iterations
    x_spec, u_spec = jax.ShapeDtypeStruct(y0.shape, y0.dtype), jax.ShapeDtypeStruct(U0.shape[1:], U0.dtype)
    duals = {name: jnp.zeros((T,) + jax.eval_shape(getattr(problem, name), x_spec, u_spec).shape, y0.dtype)
             for name in ("equality", "inequality")}
    duals.update({name: jnp.zeros(jax.eval_shape(getattr(problem, name), x_spec).shape, y0.dtype)
                  for name in ("final_equality", "final_inequality")})
    mu = jnp.asarray(problem.penalty, y0.dtype)

    Y, U, rollout_ok = _rollout(problem, y0, U0)
    J, _, violation = _trajectory_terms(problem, Y, U, duals, mu)
    A_shape = jax.eval_shape(problem.dynamics.jacobians, problem.model, y0, U0[0])[1].shape  # (d, nu)
    nan = jnp.full((n_iter + 1,), jnp.nan, y0.dtype)
    carry = dict(iteration=jnp.zeros((), int), outer=jnp.zeros((), int), states=Y, actions=U,
                 gains=jnp.zeros((T, A_shape[1], A_shape[0]), y0.dtype), duals=duals, penalty=mu,
                 regularisation=jnp.asarray(problem.regularisation, y0.dtype),
                 cost=nan.at[0].set(J), violation=nan.at[0].set(violation), step_size=nan[:-1],
                 status=jnp.where(rollout_ok, RUNNING, ROLLOUT_FAILED))

    def body(c):
        it = c["iteration"] + 1
        out = _iteration(problem, c["states"], c["actions"], c["duals"], c["penalty"], c["regularisation"])
        step, L_old = out["step_size"], out["previous_lagrangian"]
        scale = problem.cost_tolerance * (1.0 + jnp.abs(L_old))
        inner_done = (out["expected_decrease"] < scale) | ((step > 0.0) & (L_old - out["lagrangian"] < scale))
        met = out["violation"] <= problem.constraint_tolerance
        status = jnp.select(
            [~out["backward_ok"],
             (step == 0.0) & ~inner_done & (out["regularisation"] > REG_MAX),
             inner_done & met,
             inner_done & (c["outer"] + 1 >= problem.max_outer_iterations),
             it >= n_iter],
            [BACKWARD_FAILED, LINE_SEARCH_FAILED, CONVERGED, MAX_OUTER_ITERATIONS, MAX_ITERATIONS], RUNNING)
        update = inner_done & (status == RUNNING)  # next outer iteration: multipliers and penalty
        new_duals = _dual_update(problem, out["states"], out["actions"], c["duals"], c["penalty"])
        if problem.verbose or problem.progress_bar:
            report = functools.partial(_report, problem.verbose, problem.progress_bar, n_iter)
            jax.debug.callback(report, it, c["outer"], out["cost"], out["violation"], step, out["regularisation"],
                               c["penalty"], status)
        return dict(iteration=it, outer=c["outer"] + update, states=out["states"], actions=out["actions"],
                    gains=out["gains"], duals=jax.tree.map(lambda a, b: jnp.where(update, a, b), new_duals, c["duals"]),
                    penalty=jnp.where(update, jnp.minimum(c["penalty"] * problem.penalty_factor, problem.max_penalty),
                                      c["penalty"]),
                    regularisation=out["regularisation"], cost=c["cost"].at[it].set(out["cost"]),
                    violation=c["violation"].at[it].set(out["violation"]),
                    step_size=c["step_size"].at[it - 1].set(step), status=status)

    c = jax.lax.while_loop(lambda c: c["status"] == RUNNING, body, carry)
    return ILQRResult(states=c["states"], actions=c["actions"], gains=c["gains"], cost=c["cost"],
                      violation=c["violation"], step_size=c["step_size"], iterations=c["iteration"],
                      converged=c["status"] == CONVERGED, status=c["status"], multipliers=c["duals"])


_solve_jit = jax.jit(ilqr_solve)


def status_words(result, problem):
    """How a solve ended, in words, from :func:`ilqr_solve`'s result and its problem."""
    code, violation = int(result.status), float(result.violation[int(result.iterations)])
    return {CONVERGED: "converged",
            MAX_ITERATIONS: f"reached max_iterations ({problem.max_iterations})",
            MAX_OUTER_ITERATIONS: f"reached max_outer_iterations ({problem.max_outer_iterations}) with violation "
                                  f"{violation:.2e}",
            BACKWARD_FAILED: "backward pass failed: Q_uu not positive definite at the largest regularisation",
            LINE_SEARCH_FAILED: "line search found no decrease at the largest regularisation",
            ROLLOUT_FAILED: "the initial rollout failed (a step did not converge or was not finite)"}[code]


def finish(result, problem):
    """:func:`ilqr_solve`'s result as numpy arrays, histories cut at the last iteration, status in words."""
    n = int(result.iterations)
    return ILQRResult(states=np.asarray(result.states), actions=np.asarray(result.actions),
                      gains=np.asarray(result.gains), cost=np.asarray(result.cost[:n + 1]),
                      violation=np.asarray(result.violation[:n + 1]), step_size=np.asarray(result.step_size[:n]),
                      iterations=n, converged=bool(result.converged), status=status_words(result, problem),
                      multipliers={k: np.asarray(v) for k, v in result.multipliers.items()})


class _Progress:
    """The host side of the solve's per-iteration callback: one tqdm bar per solve."""

    bar = None


def _report(verbose, progress_bar, total, it, outer, cost, violation, step, reg, penalty, status):
    it = int(it)
    if verbose:
        if it == 1:
            print(f"{'iter':>5} {'outer':>5} {'cost':>13} {'violation':>10} {'step':>8} {'reg':>8} {'penalty':>8}")
        print(f"{it:5d} {int(outer):5d} {float(cost):13.6e} {float(violation):10.3e} {float(step):8.2e} "
              f"{float(reg):8.1e} {float(penalty):8.1e}", flush=True)
    if progress_bar:
        if it == 1:
            from tqdm.auto import tqdm

            _Progress.bar = tqdm(total=int(total), desc="ilqr", unit="it")
        _Progress.bar.update(1)
        _Progress.bar.set_postfix(cost=f"{float(cost):.4g}", violation=f"{float(violation):.2e}")
        if int(status) != RUNNING:
            _Progress.bar.close()


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


def _initial_coordinates(mech, initial_state, coordinates):
    if isinstance(initial_state, dojax.State):
        return to_coordinates(mech, initial_state, coordinates)
    size = mech.minimal_size if coordinates == "minimal" else 13 * mech.num_bodies
    y0 = jnp.asarray(initial_state, dtype=jnp.float64)
    if y0.shape != (size,):
        raise ValueError(f"initial_state must be a State or {coordinates} coordinates of shape ({size},), "
                         f"got shape {y0.shape}")
    return y0


# ---------------------------------------------------------------- driver

def ilqr(mech, initial_state, initial_actions, cost, final_cost=None, *, equality=None, inequality=None,
         final_equality=None, final_inequality=None, opts=None, coordinates="minimal", max_iterations=100,
         max_outer_iterations=10, cost_tolerance=1e-6, constraint_tolerance=1e-4, penalty=1.0, penalty_factor=10.0,
         max_penalty=1e8, regularisation=0.0, max_line_search=10, verbose=False, progress_bar=False):
    """Optimise a trajectory of ``mech`` by iterative LQR with an augmented Lagrangian.

    ``coordinates="minimal"`` (default): states are the mechanism's minimal coordinates
    (:func:`dojax.to_minimal`; for a revolute joint the angle is wrapped into (-pi, pi], so express
    goals near pi through sin and cos), with step derivatives from ``dojax.jacobians(...,
    minimal=True)``. ``coordinates="maximal"``: states are the flat maximal coordinates, per body
    ``[x (3), v (3), q (4), w (3)]`` (:func:`~dojax.optimize.dynamics.state_vector`), the backward
    pass uses the maximal step Jacobians (:func:`dojax.jacobians`) on the 12-per-body tangent, and
    the forward pass rolls the engine's step, so quaternions stay unit. Either way
    ``opts.gradient_btol`` smooths the derivatives through contact.

    Args:
        mech: a Mechanism.
        initial_state: a State, or a state vector in ``coordinates``.
        initial_actions: (T, nu) first guess; T is the horizon.
        cost: stage cost ``cost(x, u) -> scalar`` (a JAX function; see :func:`quadratic_cost`), or
            ``cost(x, u, t)`` (a third parameter without a default) with the step index
            t = 0 .. T-1 (an integer array) for a cost that changes along the horizon (a reference
            to track, a waypoint).
        final_cost: ``final_cost(x) -> scalar`` of the last state (zero if None).
        equality, inequality: stage constraints ``c(x, u) -> (k,)`` with ``c = 0`` / ``c <= 0``
            at every step t = 0 .. T-1 (e.g. :func:`action_bounds`).
        final_equality, final_inequality: ``c(x) -> (k,)`` on the last state.
        opts: SolverOptions of the steps and their derivatives.
        coordinates: "minimal" or "maximal".
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
        An :class:`ILQRResult` of numpy arrays. A forward pass whose rollout is not finite or has a
        step whose solver did not converge is rejected by the line search, so the result never
        holds NaN; a solve that cannot proceed says why in ``status`` with ``converged`` False.

    The solve is :func:`ilqr_solve` compiled once per problem (functions, settings and shapes) and
    reused by later calls; ``ilqr`` itself checks its input and so is not traced by ``jax.jit``.
    """
    if coordinates not in COORDINATES:
        raise ValueError(f"coordinates must be 'minimal' or 'maximal', got {coordinates!r}")
    opts = dojax.SolverOptions() if opts is None else opts
    y0 = _initial_coordinates(mech, initial_state, coordinates)
    U0 = jnp.asarray(initial_actions, dtype=jnp.float64)
    nu = mech.action_size
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

    x_spec, u_spec = jax.ShapeDtypeStruct(y0.shape, jnp.float64), jax.ShapeDtypeStruct((nu,), jnp.float64)
    final_cost = zero_final_cost if final_cost is None else final_cost
    t_spec = jax.ShapeDtypeStruct((), jnp.int64)
    cost = cost if _takes_step_index(cost) else TimeInvariant(cost)
    _check_output(cost, "cost", (x_spec, u_spec, t_spec), 0)
    _check_output(final_cost, "final_cost", (x_spec,), 0)
    stage = {"equality": equality or no_stage_constraint, "inequality": inequality or no_stage_constraint}
    final = {"final_equality": final_equality or no_final_constraint,
             "final_inequality": final_inequality or no_final_constraint}
    for name, fn in stage.items():
        _check_output(fn, name, (x_spec, u_spec), 1)
    for name, fn in final.items():
        _check_output(fn, name, (x_spec,), 1)
    problem = Problem(model=(mech, opts), dynamics=COORDINATES[coordinates], cost=cost, final_cost=final_cost,
                      **stage, **final, max_iterations=int(max_iterations),
                      max_outer_iterations=int(max_outer_iterations), cost_tolerance=float(cost_tolerance),
                      constraint_tolerance=float(constraint_tolerance), penalty=float(penalty),
                      penalty_factor=float(penalty_factor), max_penalty=float(max_penalty),
                      regularisation=float(regularisation), max_line_search=int(max_line_search),
                      verbose=bool(verbose), progress_bar=bool(progress_bar))
    result = _solve_jit(problem, y0, U0)
    jax.effects_barrier()  # the per-iteration lines and the bar are out before the result
    if int(result.status) == ROLLOUT_FAILED:
        raise ValueError("initial_actions: their rollout from initial_state fails (a step did not converge or "
                         "was not finite)")
    return finish(result, problem)
