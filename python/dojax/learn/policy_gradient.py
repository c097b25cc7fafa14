"""The pieces policy-gradient objectives are made of, as small pure functions of a batch's arrays:
constant baselines (mean; OBLR-PO's gradient-weighted one) and the SNR step scale, advantage
shaping (standardisation; EMPG's entropy modulation; the polychromic set advantages and the
rollouts' pairwise diversity), clipping bounds (BAPO's adaptive ones), covariance sample
selection (Clip-Cov / KL-Cov) and the clipped surrogate. Samples carry a
``weight`` (0 for a failed solver step); :mod:`dojax.learn.ppo` documents each rule's source and
selects them by config.
"""

import jax
import jax.numpy as jnp


def constant_baseline(kind, returns, weight, score_sq_norm=None):
    """The constant baseline ``kind`` ("mean" or "gradient_weighted") of ``returns`` over the
    samples of positive ``weight``; "gradient_weighted" weights each return by its squared score
    norm ``|grad log pi|^2`` (OBLR-PO's variance-optimal constant baseline)."""
    if kind == "mean":
        w = weight
    elif kind == "gradient_weighted":
        w = weight * score_sq_norm
    else:
        raise ValueError(f"unknown constant baseline {kind!r}; valid: mean, gradient_weighted")
    return jnp.sum(w * returns) / jnp.maximum(jnp.sum(w), 1e-30)


def snr_scale(per_sample_gradients, weight):
    """``SNR / (1 + SNR)`` of the mean of the per-sample gradients (rows) of positive ``weight``:
    ``SNR = |mean g|^2 / (trace of the covariance of the mean)``."""
    n = jnp.maximum(jnp.sum(weight), 2.0)
    mean = jnp.sum(weight[:, None] * per_sample_gradients, axis=0) / n
    spread = jnp.sum(weight * jnp.sum((per_sample_gradients - mean) ** 2, axis=1)) / (n - 1.0)
    snr = jnp.sum(mean**2) / jnp.maximum(spread / n, 1e-30)
    return snr / (1.0 + snr)


def entropy_modulated(advantage, entropy, next_entropy, ended, weight, k, k_future, zeta):
    """EMPG's advantages ``g(H_t) A_t + zeta f(H_{t+1})`` (the future bonus 0 where ``ended``)."""
    valid = weight > 0
    low = jnp.min(jnp.where(valid, entropy, jnp.inf))
    high = jnp.max(jnp.where(valid, entropy, -jnp.inf))
    scaled = lambda h: (h - low) / (high - low + 1e-8)  # noqa: E731
    g = jnp.exp(-k * scaled(entropy))
    count = jnp.sum(weight)
    g = g / jnp.where(count > 0, jnp.sum(weight * g) / jnp.maximum(count, 1.0), 1.0)  # the mean is >= exp(-k) > 0
    bonus = jnp.where(ended, 0.0, jnp.exp(-k_future * scaled(next_entropy)))
    return g * advantage + zeta * bonus


def standardize(advantage, weight):
    """Advantages shifted and scaled to mean 0 and standard deviation 1 over the weighted samples."""
    n = jnp.maximum(jnp.sum(weight), 1.0)
    mean = jnp.sum(weight * advantage) / n
    std = jnp.sqrt(jnp.sum(weight * (advantage - mean) ** 2) / n)
    return (advantage - mean) / (std + 1e-8)


def bapo_bounds(ratio, advantage, weight, target, lower_range, upper_range, steps):
    """BAPO's clipping bounds ``(c_low, c_high)`` of a batch: raised from the ranges' starts
    until the positive-advantage samples carry at least ``target`` of the unclipped surrogate's
    magnitude, or the lower bound reaches its range's end."""
    contribution = weight * jnp.abs(ratio * advantage)
    positive = advantage > 0

    def share(bounds):
        low, high = bounds
        kept = jnp.where(positive, ratio <= high, ratio >= low)
        c = jnp.where(kept, contribution, 0.0)
        return jnp.sum(jnp.where(positive, c, 0.0)) / jnp.maximum(jnp.sum(c), 1e-30)

    def more(bounds):
        return (share(bounds) < target) & (bounds[0] + steps[0] <= lower_range[1])

    def raise_bounds(bounds):
        low, high = bounds
        return low + steps[0], jnp.where(high + steps[1] <= upper_range[1], high + steps[1], high)

    start = (jnp.asarray(lower_range[0], ratio.dtype), jnp.asarray(upper_range[0], ratio.dtype))
    return jax.lax.while_loop(more, raise_bounds, start)


def centred_covariance(log_prob, advantage, weight):
    """Each sample's ``(log pi_i - mean log pi)(A_i - mean A)`` (means over the weighted samples)."""
    n = jnp.maximum(jnp.sum(weight), 1.0)
    return (log_prob - jnp.sum(weight * log_prob) / n) * (advantage - jnp.sum(weight * advantage) / n)


def covariance_selection(cov, weight, count, key=None, bounds=None):
    """``count`` samples (a boolean mask) of positive weight: those of largest covariance, or with
    ``key`` and ``bounds``, drawn at random from those whose covariance lies inside ``bounds``."""
    if key is None:
        score = jnp.where(weight > 0, cov, -jnp.inf)
    else:
        inside = (weight > 0) & (cov > bounds[0]) & (cov < bounds[1])
        score = jnp.where(inside, jax.random.uniform(key, cov.shape, cov.dtype), -jnp.inf)
    _, index = jax.lax.top_k(score, count)
    return jnp.zeros(cov.shape, bool).at[index].set(True) & jnp.isfinite(score)


def surrogate(log_prob, log_prob_old, advantage, bounds, kl_selected=None, kl_coef=0.0):
    """Per-sample clipped surrogate ``min(r A, clip(r, low, high) A)``; samples in
    ``kl_selected`` get ``r A - kl_coef |log r|`` (KL-Cov) instead."""
    log_ratio = log_prob - log_prob_old
    ratio = jnp.exp(log_ratio)
    clipped = jnp.minimum(ratio * advantage, jnp.clip(ratio, bounds[0], bounds[1]) * advantage)
    if kl_selected is None:
        return clipped
    return jnp.where(kl_selected, ratio * advantage - kl_coef * jnp.abs(log_ratio), clipped)


def pairwise_diversity(obs, alive, scale):
    """``(N, N)`` diversity in [0, 1) of ``N`` rollouts, ``obs`` shaped ``(steps, N, size)``:
    ``1 - exp(-dist / scale)``, ``dist`` the root-mean-square distance between two rollouts'
    observations over the steps where both are ``alive`` (``(steps, N)``; 0 if none)."""
    both = (alive[:, :, None] & alive[:, None, :]).astype(obs.dtype)
    squared = jnp.sum((obs[:, :, None, :] - obs[:, None, :, :]) ** 2, axis=-1)
    mean_squared = jnp.sum(both * squared, axis=0) / jnp.maximum(jnp.sum(both, axis=0), 1.0)
    return 1.0 - jnp.exp(-jnp.sqrt(mean_squared) / scale)


def polychromic_advantages(returns, diversity, membership):
    """Set advantages of ``N`` rollouts from one state (Hamid et al. 2026, arXiv 2509.25424).

    Each set ``m`` (a row of the ``(M, N)`` boolean ``membership``) scores ``f_m = mean_{i in m}
    R~_i * mean_{i < j in m} diversity_ij``, ``R~`` the ``returns`` min-max normalised over the
    ``N`` rollouts (all 1 if they are equal); rollout ``i``'s advantage is the mean score of the sets
    that hold it minus the mean score of all sets (0 if no set holds it)."""
    spread = jnp.max(returns) - jnp.min(returns)
    normalised = jnp.where(spread > 0, (returns - jnp.min(returns)) / jnp.where(spread > 0, spread, 1.0), 1.0)
    member = membership.astype(returns.dtype)
    size = jnp.sum(member, axis=1)
    mean_return = member @ normalised / size
    pair = member[:, :, None] * member[:, None, :] * (1.0 - jnp.eye(returns.shape[0], dtype=returns.dtype))
    mean_diversity = jnp.sum(pair * diversity, axis=(1, 2)) / jnp.maximum(size * (size - 1.0), 1.0)
    score = mean_return * mean_diversity
    held = jnp.sum(member, axis=0)
    return jnp.where(held > 0, member.T @ score / jnp.maximum(held, 1.0) - jnp.mean(score), 0.0)
