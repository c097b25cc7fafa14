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


def update_stats(stats, batch):
    """Statistics after also seeing ``batch`` (any leading axes, last axis the observation)."""
    batch = jax.lax.stop_gradient(batch).reshape(-1, stats.mean.shape[0])
    n = jnp.asarray(batch.shape[0], stats.count.dtype)
    mean, var = jnp.mean(batch, axis=0), jnp.var(batch, axis=0)
    total = stats.count + n
    delta = mean - stats.mean
    new_mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + var * n + delta**2 * stats.count * n / total
    return RunningStats(total, new_mean, m2 / total)


def normalize(stats, obs, eps=1e-8):
    """``(obs - mean) / std``."""
    return (obs - stats.mean) / jnp.sqrt(stats.var + eps)
