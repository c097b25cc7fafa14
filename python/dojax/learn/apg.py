"""Analytic policy gradients (APG): truncated backpropagation through time, Brax's recipe.

Each update rolls the batch of environments ``horizon`` steps on from where the previous window
left them, differentiates minus the window's mean reward through the policy and the physics, and
takes one clipped Adam step (Brax's ``agents/apg/train.py`` since google/brax#476). There is no
critic: the effect of a window's actions beyond its end is ignored (:mod:`dojax.learn.shac`
bootstraps it with a learned value).

Functional core (PureJaxRL style)::

    train = make_train(env, APGConfig(num_iterations=200))
    params, metrics = jax.jit(train)(jax.random.key(0))
    params, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 4))  # 4 seeds
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dojax.learn import alpha_order, rollout
from dojax.learn.config import FirstOrderConfig, configured_env, episode_length
from dojax.learn.networks import make_policy
from dojax.learn.normalization import init_stats, update_stats
from dojax.learn.optim import adam
from dojax.learn.train_loop import make_train_fn, update_metrics


@dataclass(frozen=True)
class APGConfig(FirstOrderConfig):
    """APG's options: those of :class:`~dojax.learn.config.FirstOrderConfig`."""


class APGParams(NamedTuple):
    """What a trained APG policy needs to act: network parameters and observation statistics."""

    policy: dict
    obs_stats: object


class APGState(NamedTuple):
    """The whole training state, carried from one update to the next."""

    params: APGParams
    opt_state: object
    rollout: rollout.RolloutState
    key: jax.Array
    iteration: jax.Array


def make_loss(env, config):
    """``loss(policy_params, obs_stats, rollout_state, key, per_env=False) -> (loss, (rollout_state,
    transitions))``: minus the mean reward of one window, failed solver steps left out (with
    ``per_env``: one copy of the parameters per environment and each environment's share of the
    loss, :mod:`dojax.learn.alpha_order`)."""
    env = configured_env(env, config)
    _, act = make_policy(env.action_size, config)
    length = episode_length(env, config)

    def loss(policy_params, obs_stats, rollout_state, key, per_env=False):
        policy = lambda obs, k: act(policy_params, obs_stats, obs, k, per_env)  # noqa: E731
        final, transitions = rollout.unroll(env, policy, rollout_state, key, config.horizon, length)
        shares = -jnp.sum(jnp.where(transitions.valid, transitions.reward, 0.0), axis=0) / transitions.reward.size
        return shares if per_env else jnp.sum(shares), (final, transitions)

    return loss


def make_learner(env, config):
    """``(init, update)``: ``init(key) -> APGState`` and ``update(state) -> (state, metrics)`` (one
    window, one optimiser step); pure functions to jit, scan and vmap."""
    network, _ = make_policy(env.action_size, config)
    loss = make_loss(env, config)
    optimizer = adam(config.learning_rate, config.learning_rate_decay, config.adam_b1, config.adam_b2)

    def init(key):
        key_net, key_env, key = jax.random.split(key, 3)
        obs_stats = init_stats(env.observation_size)
        policy = network.init(key_net, obs_stats.mean)
        return APGState(APGParams(policy, obs_stats), optimizer.init(policy),
                        rollout.start(env, key_env, config.num_envs), key, jnp.zeros((), jnp.int32))

    def update(state):
        key, key_window = jax.random.split(state.key)
        obs_stats = state.params.obs_stats
        policy, opt_state, value, (final, transitions), grad_stats, alpha = alpha_order.policy_step(
            config, lambda p, per_env: loss(p, obs_stats, state.rollout, key_window, per_env), alpha_order.unrolled,
            network, obs_stats, key_window, optimizer, state.params.policy, state.opt_state)
        if config.normalize_observations:
            obs_stats = update_stats(obs_stats, transitions.obs)
        iteration = state.iteration + 1
        metrics = update_metrics(config, iteration, value, transitions, grad_stats, alpha, policy)
        return APGState(APGParams(policy, obs_stats), opt_state, final, key, iteration), metrics

    return init, update


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop.

    ``params`` is an :class:`APGParams`; ``metrics`` a dict of arrays, one entry per update (see
    :func:`dojax.learn.train_loop.update_metrics`). Every random number derives from ``key``.
    """
    return make_train_fn(*make_learner(env, config), config.num_iterations)
