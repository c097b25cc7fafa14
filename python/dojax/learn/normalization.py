"""Running mean and variance of observations (a pytree), merged batch by batch (Chan et al.)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class RunningStats(NamedTuple):
    """Count, mean and (population) variance of the observations seen so far."""

    count: jax.Array
    mean: jax.Array
    var: jax.Array


def init_stats(size, dtype=jnp.float64):
    """Statistics of no observations: mean 0 and variance 1, so :func:`normalize` is the identity."""
    return RunningStats(jnp.zeros((), dtype), jnp.zeros(size, dtype), jnp.ones(size, dtype))


def update_stats(stats, batch, mask=None):
    """Statistics after also seeing ``batch`` (any leading axes, last axis the observation), or
    only its observations where ``mask`` (shaped as the leading axes) is true."""
    batch = jax.lax.stop_gradient(batch).reshape(-1, stats.mean.shape[0])
    weight = jnp.ones(batch.shape[0], stats.count.dtype) if mask is None else mask.reshape(-1).astype(stats.count.dtype)
    n = jnp.sum(weight)
    mean = jnp.sum(weight[:, None] * batch, axis=0) / jnp.maximum(n, 1.0)
    var = jnp.sum(weight[:, None] * (batch - mean) ** 2, axis=0) / jnp.maximum(n, 1.0)
    total = stats.count + n
    safe_total = jnp.maximum(total, 1.0)
    delta = mean - stats.mean
    new_mean = stats.mean + delta * n / safe_total
    m2 = stats.var * stats.count + var * n + delta**2 * stats.count * n / safe_total
    updated = RunningStats(total, new_mean, m2 / safe_total)
    return jax.tree.map(lambda new, old: jnp.where(n > 0, new, old), updated, stats)  # nothing seen: unchanged


def normalize(stats, obs, eps=1e-8):
    """``(obs - mean) / std``."""
    return (obs - stats.mean) / jnp.sqrt(stats.var + eps)
