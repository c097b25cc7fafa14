"""On-policy mirror descent policy optimisation (MDPO; Tomar, Shani, Efroni and Ghavamzadeh, ICLR
2022, arXiv 2005.09814; code manantomar/Mirror-Descent-Policy-Optimization).

Each update approximately solves the mirror-descent step

    theta_{k+1} = argmax_theta E_{s, a ~ pi_k} [ r(theta) A_k(s, a) ] - (1 / t_k) E_s KL(pi_theta(.|s) || pi_k(.|s))

by ``epochs`` passes of ``minibatches`` Adam steps from ``theta_k`` (``r`` the likelihood ratio
against the sampling policy ``pi_k``, the KL of the diagonal Gaussians in closed form), with the
step size annealed as in the paper, ``t_k = 1 - k / K`` (``K = num_iterations``; held at ``1 / K``
for updates past ``K``, which a resumed front can take). Everything else (rollouts, GAE,
observation and reward normalisation, the critic, the sample masks, baselines and EMPG) is
:mod:`dojax.learn.ppo`'s, configured by the same fields: MDPO replaces only PPO's clipped surrogate
(so ``clipping``, ``clip_epsilon`` and KL-Cov, which modify that surrogate, do not apply, nor the
momentum optimisers, which take one step per update instead of MDPO's ``m`` SGD steps).
"""

from dataclasses import dataclass

import jax.numpy as jnp

from dojax.learn import ppo
from dojax.learn.networks import gaussian_kl, gaussian_log_prob
from dojax.learn.train_loop import make_train_fn


@dataclass(frozen=True)
class MDPOConfig(ppo.PPOConfig):
    """MDPO's options: those of :class:`~dojax.learn.ppo.PPOConfig` (the ratio clipping, KL-Cov
    and the momentum optimisers excepted); ``num_iterations`` also sets the annealing of ``t_k``."""

    def __post_init__(self):
        super().__post_init__()
        if self.clipping != "fixed":
            raise ValueError(f"MDPO has no ratio clipping (its KL term keeps the step close); got clipping="
                             f"{self.clipping!r}")
        if self.sample_mask == "kl_cov":
            raise ValueError("sample_mask='kl_cov' modifies PPO's clipped surrogate, which MDPO replaces")
        if self.optimizer != "adam":
            raise ValueError(f"MDPO takes epochs of Adam steps on its objective; got optimizer={self.optimizer!r}")


def step_size(iteration, num_iterations):
    """The annealed ``t_k = 1 - k / K``, at least ``1 / K``."""
    return jnp.maximum(1.0 - iteration / num_iterations, 1.0 / num_iterations)


def make_learner(env, config):
    """``(init, update)`` of :func:`dojax.learn.ppo.make_learner` with MDPO's objective."""

    def objective(mean, log_std, batch, iteration):
        ratio = jnp.exp(gaussian_log_prob(mean, log_std, batch.u) - batch.log_prob)
        kl = gaussian_kl(mean, log_std, batch.mean, batch.log_std)
        return ratio * batch.advantage - kl / step_size(iteration, config.num_iterations)

    return ppo.make_learner(env, config, objective)


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop;
    ``params`` and ``metrics`` as :func:`dojax.learn.ppo.make_train`'s (``clip_fraction``,
    ``clip_low`` and ``clip_high`` describe ratios outside PPO's default range, unused by MDPO)."""
    return make_train_fn(*make_learner(env, config), config.num_iterations)
