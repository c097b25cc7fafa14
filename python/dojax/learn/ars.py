"""Augmented random search (ARS; Mania, Guy and Recht 2018, version V2-t), the zeroth-order baseline.

A linear policy ``a = W (obs - mean) / std`` (observations normalised by running statistics of
every observation seen in training) is improved by finite differences along random directions.
Each update draws ``N = num_directions`` directions ``delta_k`` (standard normal, the shape of
``W``), runs one episode with ``W + nu delta_k`` and one with ``W - nu delta_k`` (``nu =
exploration_noise``; the pair starts from the same state, so their difference measures the
direction rather than the start), keeps the ``b = top_directions`` directions whose better
return is highest, and steps

    W <- W + alpha / (b sigma_R) sum_{k in top b} (R(W + nu delta_k) - R(W - nu delta_k)) delta_k

with ``alpha = learning_rate`` and ``sigma_R`` the standard deviation of the ``2b`` returns
used. The statistics are then updated with the update's observations (frozen during it, as in
V2). Dojo.jl's ``examples/reinforcement_learning/algorithms/ars.jl`` is the same algorithm.

Functional core (PureJaxRL style)::

    train = make_train(env, ARSConfig(num_iterations=100))
    params, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 4))  # 4 seeds

:mod:`dojax.learn.ags` is ARS with the finite differences replaced by the engine's gradient; the
pieces both use (parameters, state, episodes, the end of an update) are defined here.
"""

from dataclasses import dataclass
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from dojax.learn import rollout
from dojax.learn.config import Options, check_positive, episode_length
from dojax.learn.networks import make_policy
from dojax.learn.normalization import init_stats, update_stats
from dojax.learn.optim import apply_gradients
from dojax.learn.train_loop import make_train_fn


class LinearSearchOptions(Options):
    """Base of ARS's and AGS's configs: the policy is linear and deterministic (what
    :func:`dojax.learn.networks.make_policy` reads)."""

    policy = "linear"
    hidden_sizes = ()
    layer_norm = False
    action_noise = 0.0
    learn_action_noise = False
    learning_rate_decay = 1.0  # the step size's factor per update (an AGS option; ARS keeps its step)


@dataclass(frozen=True)
class ARSConfig(LinearSearchOptions):
    """ARS's options (defaults: Dojo.jl's ARS).

    Attributes:
        num_iterations: updates that ``train`` runs.
        num_directions: random directions per update (``N``; ``2 N`` episodes).
        top_directions: directions kept for the step (``b <= N``; ``b = N`` is version V2).
        exploration_noise: size of the perturbations along the directions (``nu``).
        learning_rate: the step size (``alpha``), divided by the returns' standard deviation.
        episode_length: steps per episode; ``None``: the env's ``max_episode_steps``.
        normalize_observations: normalise observations by their running statistics (V2).
        squash_actions: ``tanh`` on the actions (into the environments' [-1, 1]).
    """

    num_iterations: int = 100
    num_directions: int = 16
    top_directions: int = 16
    exploration_noise: float = 0.03
    learning_rate: float = 0.02
    episode_length: Optional[int] = None
    normalize_observations: bool = True
    squash_actions: bool = True

    def __post_init__(self):
        for name in ("num_iterations", "num_directions", "top_directions"):
            check_positive(name, getattr(self, name), integer=True)
        if self.episode_length is not None:
            check_positive("episode_length", self.episode_length, integer=True)
        for name in ("exploration_noise", "learning_rate"):
            check_positive(name, getattr(self, name))
        if self.top_directions > self.num_directions:
            raise ValueError(f"top_directions must be at most num_directions = {self.num_directions}, "
                             f"got {self.top_directions}")

    def steps_per_update(self, env):
        """Environment steps one update takes (episodes counted at their full length)."""
        return 2 * self.num_directions * episode_length(env, self)


class SearchParams(NamedTuple):
    """What a trained linear policy needs to act: its parameters and the observation statistics."""

    policy: dict
    obs_stats: object


class SearchState(NamedTuple):
    """The whole training state of ARS and AGS, carried from one update to the next."""

    params: SearchParams
    key: jax.Array
    iteration: jax.Array


def make_episode(env, config, gradient_window=None):
    """``episode(policy_params, obs_stats, key) -> rollout.Episode``: one episode of the
    deterministic policy from ``env.reset(key)``, differentiable in ``policy_params`` (through at
    most ``gradient_window`` steps of the physics at a time, :func:`dojax.learn.rollout.episode`)."""
    _, act = make_policy(env.action_size, config)
    length = episode_length(env, config)

    def episode(policy_params, obs_stats, key):
        return rollout.episode(env, lambda obs: act(policy_params, obs_stats, obs, None), key, length,
                               gradient_window)

    return episode


def make_init(env, config):
    """``init(key) -> SearchState``: the zero linear policy and empty observation statistics."""
    network, _ = make_policy(env.action_size, config)

    def init(key):
        key_net, key = jax.random.split(key)
        obs_stats = init_stats(env.observation_size)
        return SearchState(SearchParams(network.init(key_net, obs_stats.mean), obs_stats), key,
                           jnp.zeros((), jnp.int32))

    return init


def finish_update(env, config, state, key, estimate, episodes, return_std, max_norm=jnp.inf):
    """The end of an ARS or AGS update: the policy moved by the k-th update's step size,
    ``learning_rate * learning_rate_decay ** k``, times ``estimate`` (a pytree like the policy's
    parameters; rescaled to at most ``max_norm``, skipped if not finite), the statistics updated
    with the episodes' observations, and the update's metrics. Returns ``(state, metrics)``."""
    optimizer = optax.sgd(config.learning_rate * config.learning_rate_decay ** state.iteration)
    policy = state.params.policy
    minus = jax.tree.map(jnp.negative, estimate)
    policy, _, grad_stats = apply_gradients(optimizer, minus, optimizer.init(policy), policy, max_norm)
    obs_stats = state.params.obs_stats
    if config.normalize_observations:
        obs_stats = update_stats(obs_stats, episodes.obs, episodes.taken)
    iteration = state.iteration + 1
    metrics = dict(reward=jnp.sum(episodes.reward) / jnp.maximum(jnp.sum(episodes.taken), 1),
                   episode_return=jnp.mean(episodes.episode_return), return_std=return_std,
                   episodes=jnp.asarray(episodes.episode_return.size), solver_failures=jnp.sum(episodes.failed),
                   env_steps=iteration * config.steps_per_update(env), horizon=jnp.asarray(episodes.reward.shape[-1]),
                   grad_norm=grad_stats.raw_norm, clipped_grad_norm=grad_stats.clipped_norm,
                   skipped_updates=grad_stats.skipped.astype(jnp.int32))
    return SearchState(SearchParams(policy, obs_stats), key, iteration), metrics


def make_learner(env, config):
    """``(init, update)``: ``init(key) -> SearchState`` and ``update(state) -> (state, metrics)``
    (``2 N`` episodes, one step); pure functions to jit, scan and vmap."""
    episode = make_episode(env, config)

    def update(state):
        key, key_directions, key_starts = jax.random.split(state.key, 3)
        flat, unravel = ravel_pytree(state.params.policy)
        obs_stats, nu = state.params.obs_stats, config.exploration_noise
        directions = jax.random.normal(key_directions, (config.num_directions, flat.size), flat.dtype)

        def pair(direction, start):
            return (episode(unravel(flat + nu * direction), obs_stats, start),
                    episode(unravel(flat - nu * direction), obs_stats, start))

        plus, minus = jax.vmap(pair)(directions, jax.random.split(key_starts, config.num_directions))
        r_plus, r_minus = plus.episode_return, minus.episode_return
        _, top = jax.lax.top_k(jnp.maximum(r_plus, r_minus), config.top_directions)
        return_std = jnp.std(jnp.concatenate([r_plus[top], r_minus[top]]))
        estimate = (r_plus[top] - r_minus[top]) @ directions[top] / (config.top_directions * return_std)
        episodes = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), plus, minus)
        return finish_update(env, config, state, key, unravel(estimate), episodes, return_std)

    return make_init(env, config), update


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop.

    ``params`` is a :class:`SearchParams`; ``metrics`` a dict of arrays, one entry per update:
    ``reward`` (per step), ``episode_return`` (mean over the update's episodes), ``return_std``
    (``sigma_R``), ``episodes``, ``solver_failures``, ``env_steps`` (so far), ``horizon`` (the
    episode length), ``grad_norm`` and ``clipped_grad_norm`` (of the step direction, before
    ``learning_rate``), ``skipped_updates`` (a non-finite step is skipped). Every random number
    derives from ``key``.
    """
    return make_train_fn(*make_learner(env, config), config.num_iterations)
