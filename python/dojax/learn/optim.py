"""The optimiser of the learners, with gradient clipping and non-finite-gradient skipping."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class GradientStats(NamedTuple):
    """What happened to one gradient: its global norm before and after clipping (0 if skipped),
    and whether the update was skipped because the gradient was not finite."""

    raw_norm: jax.Array
    clipped_norm: jax.Array
    skipped: jax.Array


def adam(learning_rate, decay=1.0, b1=0.9, b2=0.999):
    """Adam with a step size decaying by ``decay`` per update."""
    schedule = learning_rate if decay == 1.0 else optax.exponential_decay(learning_rate, 1, decay)
    return optax.adam(schedule, b1=b1, b2=b2)


def apply_gradients(optimizer, grads, opt_state, params, max_norm):
    """One optimiser step on ``grads`` rescaled to at most ``max_norm`` global norm.

    A gradient with a non-finite entry leaves parameters and optimiser state unchanged (the skip
    is reported in the returned :class:`GradientStats`). Returns ``(params, opt_state, stats)``.
    """
    raw_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
    finite = jnp.isfinite(raw_norm)
    scale = jnp.minimum(1.0, max_norm / raw_norm)
    clipped = jax.tree.map(lambda g: jnp.where(finite, g * scale, 0.0), grads)
    updates, new_opt_state = optimizer.update(clipped, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)  # noqa: E731
    stats = GradientStats(raw_norm, jnp.where(finite, raw_norm * scale, 0.0), ~finite)
    return keep(new_params, params), keep(new_opt_state, opt_state), stats


def descend(loss, optimizer, params, opt_state, max_norm):
    """One :func:`apply_gradients` step on the gradient of ``loss(params) -> (value, aux)``.

    Returns ``(params, opt_state, value, aux, stats)``.
    """
    (value, aux), grads = jax.value_and_grad(loss, has_aux=True)(params)
    params, opt_state, stats = apply_gradients(optimizer, grads, opt_state, params, max_norm)
    return params, opt_state, value, aux, stats
