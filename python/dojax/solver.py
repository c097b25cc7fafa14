"""Newton's method on the step residual, with a backtracking line search.

Runs inside ``jax.lax.while_loop``: it stops when the residual is below ``rtol``, when ``max_iter``
is reached, or at once on a non-finite residual (NaN input); ``SolveInfo.converged`` says which.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp

from functools import partial

from dojax import elements as el
from dojax import integrator
from dojax import residual as res


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class SolverOptions:
    """Options of the per-step solver.

    Attributes:
        rtol: tolerance on the equality residual (infinity norm) that ends the solve.
        btol: complementarity tolerance, the central-path target that smooths contact: small for
            hard contact, larger for smooth contact and gradients.
        undercut: the central-path target never drops below ``btol / undercut`` (Dojo's option;
            infinity lets it go to zero).
        max_iter: Newton iterations at most; a solve that has not met the tolerances by then is
            reported with ``converged=False``.
        max_ls: backtracking halvings of the step at most per iteration.
        verbose: print one line per iteration (via ``jax.debug.print``, also under jit).
    """

    rtol: float = 1e-6
    btol: float = 1e-4
    undercut: float = float("inf")
    max_iter: int = field(default=50, metadata=dict(static=True))
    max_ls: int = field(default=10, metadata=dict(static=True))
    verbose: bool = field(default=False, metadata=dict(static=True))

    def __post_init__(self):
        for name in ("rtol", "btol", "undercut"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and not value > 0.0:
                raise ValueError(f"SolverOptions.{name} must be positive, got {value}")
        if self.max_iter < 1 or self.max_ls < 0:
            raise ValueError("SolverOptions.max_iter must be >= 1 and max_ls >= 0")

    def replace(self, **fields):
        return dataclasses.replace(self, **fields)


class SolveInfo(NamedTuple):
    """What the solver reports about one step.

    converged: the residual met ``rtol`` with finite values; iterations: Newton iterations used;
    residual: final equality violation (infinity norm); complementarity: final complementarity
    violation (zero without contact).
    """

    converged: jax.Array
    iterations: jax.Array
    residual: jax.Array
    complementarity: jax.Array


def _violations(mech, prob, W):
    """(equality violation, complementarity violation) of W (infinity norms, mu = 0)."""
    R = res.residual(mech, prob, W)
    eq = [jnp.abs(R.V).reshape(-1), jnp.abs(R.lam).reshape(-1)]
    comp = [jnp.zeros(1, W.V.dtype)]
    for g, r in zip(prob.groups, R.y):
        n_eq = g.layout.num_equalities
        eq.append(jnp.abs(r[:, :n_eq]).reshape(-1))
        comp.append(jnp.abs(r[:, n_eq:]).reshape(-1))
    return jnp.max(jnp.concatenate(eq)), jnp.max(jnp.concatenate(comp))


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


def solve(mech, prob, W0, opts):
    """Interior-point iterations from W0; returns (unknowns, SolveInfo).

    Without complementarity elements this is Newton's method with a backtracking line search.
    With them it is Mehrotra's predictor-corrector: an affine-scaling predictor (mu = 0), a centring
    target mu = sigma nu with sigma = (nu_aff / nu)^3, and a corrector with the second-order term,
    reusing the predictor's factorisation; steps stop short of the cone boundaries
    (fraction-to-boundary) and are then halved until the violations do not both grow.
    """
    h = mech.timestep
    has_cones = len(prob.groups) > 0

    def keep_going(carry):
        _, rv, bv, it = carry
        return ((rv >= opts.rtol) | (bv >= opts.btol)) & (it < opts.max_iter) & jnp.isfinite(rv + bv)

    def iterate(carry):
        W, rv, bv, it = carry
        lin = res.linearize(mech, prob, W)
        if has_cones:
            d_aff = res.newton_step(mech, prob, lin, res.residual(mech, prob, W))
            a_aff = jnp.minimum(1.0, _max_step(prob, W, d_aff))
            nu = _duality(prob, W)
            nu_aff = _duality(prob, _axpy(a_aff, d_aff, W))
            sigma = jnp.clip(nu_aff / nu, 0.0, 1.0) ** 3
            mu = jnp.maximum(sigma * nu, opts.btol / opts.undercut)
            R = res.residual(mech, prob, W, mu, _second_order_shifts(prob, d_aff))
            dW = res.newton_step(mech, prob, lin, R)
            tau = jnp.clip(1.0 - jnp.maximum(rv, bv) ** 2, 0.95, 0.99)
            alpha0 = jnp.minimum(1.0, tau * _max_step(prob, W, dW))
        else:
            dW = res.newton_step(mech, prob, lin, res.residual(mech, prob, W))
            alpha0 = jnp.asarray(1.0, W.V.dtype)

        def trial(alpha):
            Wt = _clip_angular(_axpy(alpha, dW, W), h)
            return (Wt, *_violations(mech, prob, Wt))

        def worse(ls):
            # Dojo's rule: reject a step only if both violations grew (a complementarity already
            # within tolerance counts as grown, so equalities must then improve)
            _, rt, bt, k = ls
            grew = (rt >= rv) & ((bt >= bv) | (bt < opts.btol)) | ~jnp.isfinite(rt + bt)
            return grew & (k < opts.max_ls)

        def halve(ls):
            k = ls[3] + 1
            return (*trial(alpha0 * 0.5**k), k)

        Wn, rn, bn, _ = jax.lax.while_loop(worse, halve, (*trial(alpha0), 0))
        finite = jnp.isfinite(rn + bn)  # never step onto a non-finite point
        Wn = jax.tree.map(lambda new, old: jnp.where(finite, new, old), Wn, W)
        rn, bn = jnp.where(finite, rn, rv), jnp.where(finite, bn, bv)
        if opts.verbose:
            jax.debug.print("iter {it:3d}  rvio {r:.2e}  bvio {b:.2e}", it=it + 1, r=rn, b=bn)
        return Wn, rn, bn, it + 1

    rv0, bv0 = _violations(mech, prob, W0)
    W, rv, bv, it = jax.lax.while_loop(keep_going, iterate, (W0, rv0, bv0, jnp.asarray(0)))
    ok = (rv < opts.rtol) & (bv < opts.btol) & jnp.isfinite(rv + bv)
    info = SolveInfo(converged=ok, iterations=it, residual=rv, complementarity=bv)
    return W, info
