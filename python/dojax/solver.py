"""Newton's method on the step residual, with a backtracking line search.

Runs inside ``jax.lax.while_loop``: it stops when the residual is below ``rtol``, when ``max_iter``
is reached, or at once on a non-finite residual (NaN input); ``SolveInfo.converged`` says which.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp

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
        max_iter: Newton iterations at most; a solve that has not met the tolerances by then is
            reported with ``converged=False``.
        max_ls: backtracking halvings of the step at most per iteration.
        verbose: print one line per iteration (via ``jax.debug.print``, also under jit).
    """

    rtol: float = 1e-6
    btol: float = 1e-4
    max_iter: int = field(default=50, metadata=dict(static=True))
    max_ls: int = field(default=10, metadata=dict(static=True))
    verbose: bool = field(default=False, metadata=dict(static=True))

    def __post_init__(self):
        for name in ("rtol", "btol"):
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


def _norm(R):
    return jnp.max(jnp.abs(jnp.concatenate([R.V.reshape(-1), R.lam.reshape(-1)])))


def _clip_angular(W, timestep):
    """Keep |w| below the integrator's limit (Dojo clips the same way)."""
    w = W.V[:, 3:]
    speed = jnp.linalg.norm(w, axis=-1, keepdims=True)
    limit = integrator.max_angular_speed(timestep)
    w = jnp.where(speed > limit, w * (limit / jnp.where(speed > limit, speed, 1.0)), w)
    return W._replace(V=W.V.at[:, 3:].set(w))


def solve(mech, prob, W0, opts):
    """Newton iterations from W0; returns (unknowns, SolveInfo)."""
    h = mech.timestep
    R0 = res.residual(mech, prob, W0)

    def keep_going(carry):
        _, _, norm, it = carry
        return (norm >= opts.rtol) & (it < opts.max_iter) & jnp.isfinite(norm)

    def iterate(carry):
        W, R, norm, it = carry
        dW = res.newton_step(mech, res.linearize(mech, prob, W), R)

        def trial(alpha):
            Wt = _clip_angular(jax.tree.map(lambda w, d: w + alpha * d, W, dW), h)
            Rt = res.residual(mech, prob, Wt)
            return Wt, Rt, _norm(Rt)

        def not_better(ls):
            _, _, nt, k = ls
            return ~(nt < norm) & (k < opts.max_ls)

        def halve(ls):
            k = ls[3] + 1
            return (*trial(0.5**k), k)

        Wn, Rn, nn, _ = jax.lax.while_loop(not_better, halve, (*trial(1.0), 0))
        if opts.verbose:
            jax.debug.print("iter {it:3d}  residual {r:.3e}", it=it + 1, r=nn)
        return Wn, Rn, nn, it + 1

    W, R, norm, it = jax.lax.while_loop(keep_going, iterate, (W0, R0, _norm(R0), jnp.asarray(0)))
    info = SolveInfo(converged=(norm < opts.rtol) & jnp.isfinite(norm), iterations=it,
                     residual=norm, complementarity=jnp.zeros_like(norm))
    return W, info
