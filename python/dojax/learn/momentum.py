"""Momentum policy-gradient steps of Fatkhullin, Barakat, Kireeva and He (ICML 2023, arXiv 2302.01734),
on flat parameter vectors.

N-PG-IGT (normalised policy gradient with implicit gradient transport) samples at a look-ahead point
and keeps a momentum of those gradients; (N)-HARPG (Hessian-aided recursive policy gradient)
corrects the momentum by a Hessian-vector product at a random point between the last two iterates::

    IGT:   theta~ = theta_t + ((1 - eta) / eta) (theta_t - theta_{t-1}),  tau ~ pi(theta~)
           d_t = (1 - eta) d_{t-1} + eta g(tau, theta~)
    HARPG: theta^ = q theta_t + (1 - q) theta_{t-1},  q ~ U(0, 1),  tau ~ pi(theta_t),  tau^ ~ pi(theta^)
           d_t = (1 - eta) (d_{t-1} + B(tau^, theta^) (theta_t - theta_{t-1})) + eta g(tau, theta_t)
    step:  theta_{t+1} = theta_t + gamma d_t / |d_t|   (N-PG-IGT, N-HARPG)   or  theta_t + gamma d_t  (HARPG)

with ``d_0 = g`` at the first step, ``g`` an estimate of the gradient of the objective to maximise
and ``B(tau, theta) v = grad Phi (grad log p(tau) . v) + Hess Phi v`` the paper's estimate of the
Hessian of the return along ``v`` (``Phi`` the surrogate whose gradient is ``g``, ``log p(tau)`` the
log-likelihood of the trajectory's actions). The Hessian-vector product is forward-over-reverse:
``jax.jvp`` of ``jax.grad``, one extra gradient's cost, never a matrix.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class MomentumState(NamedTuple):
    """What the momentum methods carry between steps (flat vectors)."""

    previous: jax.Array  # theta_{t-1}
    direction: jax.Array  # d_{t-1}
    started: jax.Array  # a step has been taken (d_{t-1} is defined)


def init(flat_params):
    """The state before the first step: ``theta_{-1} = theta_0`` and no momentum."""
    return MomentumState(flat_params, jnp.zeros_like(flat_params), jnp.asarray(False))


def igt_lookahead(state, theta, eta):
    """IGT's sampling point ``theta + ((1 - eta) / eta) (theta - theta_{t-1})``."""
    return theta + (1.0 - eta) / eta * (theta - state.previous)


def harpg_point(state, theta, key):
    """HARPG's random point ``q theta + (1 - q) theta_{t-1}``, ``q ~ U(0, 1)``."""
    q = jax.random.uniform(key, (), theta.dtype)
    return q * theta + (1.0 - q) * state.previous


def hessian_vector_product(f, x, v):
    """``Hess f(x) v`` for a scalar ``f`` of the vector ``x``: ``jax.jvp`` of ``jax.grad``."""
    return jax.jvp(jax.grad(f), (x,), (v,))[1]


def hessian_estimate_product(surrogates, log_likelihoods, x, v):
    """``B(tau, x) v`` averaged over trajectories: ``mean_i [grad Phi_i(x) (grad log p_i(x) . v) +
    Hess Phi_i(x) v]`` for ``surrogates(x) -> Phi`` and ``log_likelihoods(x) -> log p`` (both
    vectors over trajectories ``i``)."""
    _, directional = jax.jvp(log_likelihoods, (x,), (v,))
    directional = jax.lax.stop_gradient(directional)
    score_term = jax.grad(lambda y: jnp.mean(directional * surrogates(y)))(x)
    return score_term + hessian_vector_product(lambda y: jnp.mean(surrogates(y)), x, v)


def step(state, theta, gradient, eta, step_size, normalized, correction=None):
    """One momentum step from ``theta`` given the new gradient estimate (ascent) and, for HARPG,
    the Hessian correction ``B (theta - theta_{t-1})``. Returns ``(new theta, new state)``."""
    carried = state.direction if correction is None else state.direction + correction
    direction = jnp.where(state.started, (1.0 - eta) * carried + eta * gradient, gradient)
    scale = step_size / jnp.maximum(jnp.linalg.norm(direction), 1e-12) if normalized else step_size
    return theta + scale * direction, MomentumState(theta, direction, jnp.asarray(True))
