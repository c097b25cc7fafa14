"""Newton's method on the step residual, with a backtracking line search.

Runs inside ``jax.lax.while_loop``: it stops when the residual is below ``rtol``, when ``max_iter``
is reached, or at once on a non-finite residual (NaN input); ``SolveInfo.converged`` says which.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from functools import partial

from dojax import elements as el
from dojax import integrator
from dojax import residual as res
from dojax.native import kernel
from dojax.native.kernel import BACKENDS


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class SolverOptions:
    """Options of the per-step solver.

    Attributes:
        rtol: tolerance on the equality residual (infinity norm) that ends the solve.
        btol: complementarity tolerance, the smoothing of contact: the solver returns the
            central-path point y∘z = kappa e with kappa = btol / undercut, so every complementarity
            product is below btol. Small for hard contact; larger for smooth contact and gradients.
            (A contact then keeps a gap of about kappa / F under a normal force F.)
        undercut: ratio btol / kappa (Dojo's option). Converging to a fixed kappa, rather than to
            anywhere below btol, makes each step a smooth function of its inputs, consistent from
            step to step and differentiable by the implicit function theorem.
        no_progress_max: iterations without progress (no unmet violation fell below 0.8 of its
            previous value) after which the target is lowered (Dojo's heuristic for a stalled
            solve): kappa is divided by ``no_progress_undercut`` and the count restarts. The
            target that a solve ends at is reported as ``SolveInfo.kappa``; a solve that never
            stalls ends at btol / undercut.
        no_progress_undercut: the factor of that lowering (Dojo's name and default).
        gradient_btol: if set, derivatives of the step (jax.grad, jax.jacfwd, dojax.jacobians) are
            taken at the solution smoothed to this complementarity tolerance instead of ``btol``;
            the step's value still comes from ``btol``. Larger gives smoother gradients through
            contact (non-zero before a contact closes or a block starts to slide).
        max_iter: Newton iterations at most; a solve that has not met the tolerances by then is
            reported with ``converged=False``.
        max_ls: backtracking halvings of the step at most per iteration.
        fixed_iterations: run exactly ``max_iter`` iterations (converged lanes hold still) instead of
            stopping at convergence: a loop without a data-dependent exit, for batched (vmapped)
            use on accelerators; see bench/RESULTS.md for when it pays. The native kernel always
            stops each lane at convergence, which gives the same result.
        verbose: print one line per iteration (via ``jax.debug.print``, also under jit; the native
            kernel prints from C).
        backend: who runs the iterations. ``"jax"``: the JAX implementation in this module (the
            reference, and the path on accelerators). ``"native"``: the C++ kernel of
            :mod:`dojax.native` (CPU only; same algorithm on the same residual, many times
            faster on a CPU). ``"auto"`` (default): native when it is built and JAX's default
            device is a CPU, else JAX. Derivatives come from the same JAX implicit-function rule
            on either path.
    """

    rtol: float = 1e-6
    btol: float = 1e-4
    undercut: float = 10.0
    no_progress_max: int = 3
    no_progress_undercut: float = 10.0
    gradient_btol: Optional[float] = None
    max_iter: int = field(default=50, metadata=dict(static=True))
    max_ls: int = field(default=10, metadata=dict(static=True))
    fixed_iterations: bool = field(default=False, metadata=dict(static=True))
    verbose: bool = field(default=False, metadata=dict(static=True))
    backend: str = field(default="auto", metadata=dict(static=True))

    def __post_init__(self):
        for name in ("rtol", "btol", "undercut", "no_progress_undercut", "gradient_btol"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and not value > 0.0:  # (tracers pass unchecked)
                raise ValueError(f"SolverOptions.{name} must be positive, got {value}")
        if isinstance(self.no_progress_max, (int, float)) and not self.no_progress_max >= 1:
            raise ValueError(f"SolverOptions.no_progress_max must be >= 1, got {self.no_progress_max}")
        if self.max_iter < 1 or self.max_ls < 0:
            raise ValueError("SolverOptions.max_iter must be >= 1 and max_ls >= 0")
        if self.backend not in BACKENDS:
            raise ValueError(f"SolverOptions.backend must be one of {BACKENDS}, got {self.backend!r}")

    def replace(self, **fields):
        return dataclasses.replace(self, **fields)


class SolveInfo(NamedTuple):
    """What the solver reports about one step.

    converged: the residual met ``rtol`` with finite values; iterations: Newton iterations used;
    residual: final equality violation (infinity norm); complementarity: final complementarity
    violation (zero without contact); kappa: the central-path target the solve ended at
    (btol / undercut unless the no-progress heuristic lowered it).
    """

    converged: jax.Array
    iterations: jax.Array
    residual: jax.Array
    complementarity: jax.Array
    kappa: jax.Array


def _violations(prob, R, kappa):
    """(equality violation, centring violation |y∘z - kappa e|, complementarity |y∘z|), inf-norms,
    of a residual R evaluated with mu = 0."""
    eq = [jnp.abs(R.V).reshape(-1), jnp.abs(R.lam).reshape(-1)]
    centred, comp = [jnp.zeros(1, R.V.dtype)], [jnp.zeros(1, R.V.dtype)]
    for g, r in zip(prob.groups, R.y):
        n_eq = g.layout.num_equalities
        eq.append(jnp.abs(r[:, :n_eq]).reshape(-1))
        products = r[:, n_eq:]
        comp.append(jnp.abs(products).reshape(-1))
        centred.append(jnp.abs(products - kappa * el.identity(g.layout, products.dtype)).reshape(-1))
    return jnp.max(jnp.concatenate(eq)), jnp.max(jnp.concatenate(centred)), jnp.max(jnp.concatenate(comp))


def _centred(prob, R, mu, shifts):
    """The residual with complementarity rows y∘z - mu e + shift, from R evaluated with mu = 0."""
    rows = []
    for g, r, shift in zip(prob.groups, R.y, shifts):
        n_eq = g.layout.num_equalities
        rows.append(r.at[:, n_eq:].add(shift - mu * el.identity(g.layout, r.dtype)))
    return R._replace(y=tuple(rows))


def _clip_angular(W, timestep):
    """Keep |w| below the integrator's limit (Dojo clips the same way)."""
    w = W.V[:, 3:]
    speed = jnp.linalg.norm(w, axis=-1, keepdims=True)
    limit = integrator.max_angular_speed(timestep)
    w = jnp.where(speed > limit, w * (limit / jnp.where(speed > limit, speed, 1.0)), w)
    return W._replace(V=W.V.at[:, 3:].set(w))


def _axpy(alpha, dW, W):
    return jax.tree.map(lambda w, d: w + alpha * d, W, dW)


def _max_step(prob, W, dW):
    alpha = jnp.asarray(jnp.inf, W.V.dtype)
    for g, y, dy in zip(prob.groups, W.y, dW.y):
        alpha = jnp.minimum(alpha, el.max_step(g.layout, y, dy))
    return alpha


def _duality(prob, W):
    total, count = 0.0, 0
    for g, y in zip(prob.groups, W.y):
        t, c = el.duality_measure(g.layout, y)
        total, count = total + t, count + c
    return total / count


def _second_order_shifts(prob, dW):
    """Mehrotra's correction dy_primal ∘ dy_dual of the predictor, per group."""
    return tuple(jax.vmap(partial(el.complementarity, g.layout))(dy) for g, dy in zip(prob.groups, dW.y))


def use_native(opts):
    """Whether ``opts`` sends the iterations to the native kernel."""
    return kernel.chosen(opts.backend)


def solve(mech, prob, W0, opts):
    """Interior-point iterations from W0; returns (unknowns, SolveInfo).

    Without complementarity elements this is Newton's method with a backtracking line search.
    With them it is Mehrotra's predictor-corrector: an affine-scaling predictor (mu = 0), a centring
    target mu = max(sigma nu, kappa) with sigma = (nu_aff / nu)^3, and a corrector with the
    second-order term, reusing the predictor's factorisation; steps stop short of the cone
    boundaries (fraction-to-boundary) and are then halved while both violations grow. It ends on
    the central-path point y∘z = kappa e, kappa = btol / undercut: equalities and centring both
    within ``rtol``. After ``no_progress_max`` iterations without progress kappa is lowered by
    ``no_progress_undercut`` (Dojo's heuristic); the final kappa is reported.
    """
    if use_native(opts):
        return kernel.solve(mech, prob, W0, opts)
    h = mech.timestep
    has_cones = len(prob.groups) > 0
    dtype = W0.V.dtype

    def keep_going(carry):
        _, _, rv, cv, _, _, _, it = carry
        return ((rv >= opts.rtol) | (cv >= opts.rtol)) & (it < opts.max_iter) & jnp.isfinite(rv + cv)

    def iterate(carry):
        W, R0, rv, cv, bv, kappa, stalled, it = carry
        lin = res.linearize(mech, prob, W)
        if has_cones:
            d_aff = res.newton_step(mech, prob, lin, R0)
            a_aff = jnp.minimum(1.0, _max_step(prob, W, d_aff))
            nu = _duality(prob, W)
            nu_aff = _duality(prob, _axpy(a_aff, d_aff, W))
            sigma = jnp.clip(nu_aff / nu, 0.0, 1.0) ** 3
            # near the target (nu < 10 kappa) plain Newton on y∘z = kappa e converges
            # quadratically to the central point; the second-order term would offset it
            centring = (sigma * nu <= kappa) | (nu < 10.0 * kappa)
            mu = jnp.where(centring, kappa, sigma * nu)
            shifts = jax.tree.map(lambda x: jnp.where(centring, 0.0, x), _second_order_shifts(prob, d_aff))
            dW = res.newton_step(mech, prob, lin, _centred(prob, R0, mu, shifts))
            tau = jnp.clip(1.0 - jnp.maximum(rv, cv) ** 2, 0.95, 0.99)
            alpha0 = jnp.minimum(1.0, tau * _max_step(prob, W, dW))
        else:
            dW = res.newton_step(mech, prob, lin, R0)
            alpha0 = jnp.asarray(1.0, dtype)

        def trial(alpha):
            Wt = _clip_angular(_axpy(alpha, dW, W), h)
            Rt = res.residual(mech, prob, Wt)
            return (Wt, Rt, *_violations(prob, Rt, kappa))

        def worse(ls):
            # Dojo's rule: reject a step only if both violations grew (to above the tolerance)
            _, _, rt, ct, _, k = ls
            grew = (rt >= jnp.maximum(rv, opts.rtol)) & (ct >= jnp.maximum(cv, opts.rtol))
            return (grew | ~jnp.isfinite(rt + ct)) & (k < opts.max_ls)

        def halve(ls):
            k = ls[-1] + 1
            return (*trial(alpha0 * 0.5**k), k)

        Wn, Rn, rn, cn, bn, _ = jax.lax.while_loop(worse, halve, (*trial(alpha0), 0))
        finite = jnp.isfinite(rn + cn)  # never step onto a non-finite point
        Wn, Rn = jax.tree.map(lambda new, old: jnp.where(finite, new, old), (Wn, Rn), (W, R0))
        rn, cn, bn = (jnp.where(finite, new, old) for new, old in ((rn, rv), (cn, cv), (bn, bv)))
        if has_cones:
            # Dojo's progress rule: some unmet violation fell below 0.8 of its previous value
            progress = ((rv >= opts.rtol) & (rn < 0.8 * rv)) | ((cv >= opts.rtol) & (cn < 0.8 * cv))
            stalled = jnp.where(progress, 0, stalled + 1)
            lower = stalled >= opts.no_progress_max
            kappa = jnp.where(lower, kappa / opts.no_progress_undercut, kappa)
            stalled = jnp.where(lower, 0, stalled)
            rn, cn, bn = jax.tree.map(lambda new, old: jnp.where(lower, new, old), _violations(prob, Rn, kappa),
                                      (rn, cn, bn))
        if opts.verbose:
            jax.debug.print("iter {it:3d}  rvio {r:.2e}  bvio {b:.2e}  centring {c:.2e}  step {a:.2e}  kappa {k:.1e}",
                            it=it + 1, r=rn, b=bn, c=cn, a=alpha0, k=kappa)
        return Wn, Rn, rn, cn, bn, kappa, stalled, it + 1

    R0 = res.residual(mech, prob, W0)
    kappa0 = jnp.asarray(opts.btol / opts.undercut, dtype)
    carry = (W0, R0, *_violations(prob, R0, kappa0), kappa0, jnp.asarray(0), jnp.asarray(0))
    if opts.fixed_iterations:
        def hold_when_done(_, c):
            return jax.tree.map(lambda new, old: jnp.where(keep_going(c), new, old), iterate(c), c)

        W, _, rv, cv, bv, kappa, _, it = jax.lax.fori_loop(0, opts.max_iter, hold_when_done, carry)
    else:
        W, _, rv, cv, bv, kappa, _, it = jax.lax.while_loop(keep_going, iterate, carry)
    ok = (rv < opts.rtol) & (cv < opts.rtol) & jnp.isfinite(rv + cv)
    info = SolveInfo(converged=ok, iterations=it, residual=rv, complementarity=bv, kappa=kappa)
    return W, info
