"""Hybrid natural policy gradient (HNPG; Zhou, Sekhari, Song and Sun 2023, "Offline data enhanced
on-policy policy gradient with provable guarantees", arXiv 2311.08384; code YifeiZhou02/HNPG).

The actor is NPG (PPO's ``optimizer="npg"``, :mod:`dojax.learn.ppo`): one natural-gradient step per
update on the on-policy batch, scaled to a KL trust region. The critic is fitted by the paper's
hybrid policy evaluation: each of its regression steps minimises the on-policy regression on the
batch's returns plus ``offline_weight`` times a temporal-difference loss on ``offline_batch_size``
transitions drawn from a replay of another policy's rollouts (:mod:`dojax.learn.replay`),

    L(V) = mean_on (V(s) - G)^2 + offline_weight * mean_off min(1, rho) (V(s) - r - discount (1 - term) V(s'))^2,

``rho = pi(a|s) / mu(a|s)`` the importance weight of the sampling policy ``pi`` against the
replay's ``mu`` (truncated at 1 as in V-trace, Espeholt et al. 2018), ``V(s')`` held fixed
(semi-gradient), rewards scaled and observations normalised as the on-policy batch's. The paper
fits a Q-function with the offline Bellman error under the current policy; with PPO's state-value
critic the importance weight plays that part. The offline data only shapes the critic; the
advantages and the natural gradient are on-policy. Without offline data (``offline_data=None``)
HNPG is NPG, bit for bit.
"""

from dataclasses import dataclass
from typing import Optional

import jax
import jax.numpy as jnp

from dojax.learn import networks, ppo, replay
from dojax.learn.config import check_positive
from dojax.learn.normalization import normalize
from dojax.learn.train_loop import make_train_fn


@dataclass(frozen=True)
class HNPGConfig(ppo.PPOConfig):
    """HNPG's options: those of :class:`~dojax.learn.ppo.PPOConfig` with ``optimizer="npg"`` (the
    natural gradient's ``npg_max_kl``, ``cg_iterations``, ``cg_damping``), and

    Attributes:
        offline_data: path of a replay file (:mod:`dojax.learn.replay`); ``None``: none (NPG).
        offline_weight: weight of the offline TD loss in the critic's loss (the paper's lambda).
        offline_batch_size: replay transitions per critic regression step.
    """

    optimizer: str = "npg"
    offline_data: Optional[str] = None
    offline_weight: float = 1.0
    offline_batch_size: int = 256

    def __post_init__(self):
        super().__post_init__()
        if self.optimizer != "npg":
            raise ValueError(f"HNPG's actor is the natural policy gradient; got optimizer={self.optimizer!r}")
        if not self.offline_weight >= 0.0:
            raise ValueError(f"offline_weight must be >= 0, got {self.offline_weight!r}")
        check_positive("offline_batch_size", self.offline_batch_size, integer=True)
        if self.offline_data is not None:
            replay.load(self.offline_data)  # a one-line error now if it is not a replay


def make_learner(env, config):
    """``(init, update)`` of :func:`dojax.learn.ppo.make_learner` with the hybrid critic."""
    if config.offline_data is None:
        return ppo.make_learner(env, config)
    data = jax.tree.map(jnp.asarray, replay.load(config.offline_data, env.observation_size, env.action_size))
    policy_net, _ = networks.make_gaussian_policy(env.action_size, config)
    value_net = networks.value_network(config.critic_hidden_sizes)
    size = data.reward.shape[0]

    def critic_term(policy_params, obs_stats, reward_scale):
        scale = reward_scale.std() if config.normalize_rewards else 1.0

        def offline_loss(critic_params, key):
            index = jax.random.randint(key, (config.offline_batch_size,), 0, size)
            obs, next_obs = normalize(obs_stats, data.obs[index]), normalize(obs_stats, data.next_obs[index])
            mean, log_std = policy_net.apply(policy_params, obs)
            log_ratio = replay.action_log_prob(mean, log_std, data.action[index], config.squash_actions) \
                - data.log_prob[index]
            rho = jax.lax.stop_gradient(jnp.exp(jnp.minimum(log_ratio, 0.0)))
            next_value = networks.value(value_net, critic_params, next_obs)
            target = data.reward[index] / scale + config.discount * jnp.where(data.terminated[index], 0.0, next_value)
            error = networks.value(value_net, critic_params, obs) - jax.lax.stop_gradient(target)
            return config.offline_weight * jnp.mean(rho * error**2)

        return offline_loss

    return ppo.make_learner(env, config, critic_term=critic_term)


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop;
    ``params`` and ``metrics`` as :func:`dojax.learn.ppo.make_train`'s (``critic_loss`` includes the
    offline term)."""
    return make_train_fn(*make_learner(env, config), config.num_iterations)
