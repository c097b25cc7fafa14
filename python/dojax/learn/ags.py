"""Augmented gradient search (AGS; Howell et al., Dojo, 2022): ARS with the engine's gradient.

:mod:`dojax.learn.ars` estimates the gradient of the expected return from the finite differences
``R(W + nu delta) - R(W - nu delta)`` along random directions. AGS computes it instead: each
update runs ``N = num_episodes`` episodes of the linear policy (from random starts) and
differentiates their returns with ``jax.grad`` through the policy and the physics (the engine's
implicit-function-theorem derivatives, smoothed by ``gradient_btol``; through pieces of
``gradient_window`` steps if set), then takes ARS's step
with the exact gradient ``g`` of the mean return in place of the finite differences:

    W <- W + alpha g / sigma_R

``sigma_R`` being the standard deviation of the update's returns. (ARS's step has expectation
``2 nu alpha g / sigma_R`` for small ``nu``: AGS at ``learning_rate`` alpha moves as ARS at
``alpha / (2 nu)``.) With ``exploration_noise`` ``nu > 0`` each episode runs with its own
perturbed ``W + nu delta_k`` and ``g`` is the mean of their gradients, the gradient of the
Gaussian-smoothed return (the paper's "randomised gradients"). A step whose solver failed ends
its episode and adds nothing; a non-finite gradient skips the update; both are counted.

Functional core::

    train = make_train(env, AGSConfig(num_iterations=100))
    params, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 4))  # 4 seeds
"""

import math
from dataclasses import dataclass
from typing import Optional

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from dojax.learn.ars import LinearSearchOptions, finish_update, make_episode, make_init
from dojax.learn.config import check_interval, check_positive, configured_env, episode_length
from dojax.learn.train_loop import make_train_fn


@dataclass(frozen=True)
class AGSConfig(LinearSearchOptions):
    """AGS's options.

    Attributes:
        num_iterations: updates that ``train`` runs.
        num_episodes: episodes per update (``N >= 2``: their returns' spread scales the step).
        exploration_noise: perturbation of each episode's parameters (``nu``; 0: the gradient at ``W``).
        learning_rate: the step size (``alpha``), divided by the returns' standard deviation.
        learning_rate_decay: factor on the step size per update (exponential decay; 1 keeps it).
            With ``max_grad_norm`` active the policy moves a fixed distance per update, which can
            carry it off what it climbed early; a shrinking step keeps more of it.
        max_grad_norm: the step direction ``g / sigma_R`` is rescaled to at most this norm.
        episode_length: steps per episode; ``None``: the env's ``max_episode_steps``.
        normalize_observations: normalise observations by their running statistics.
        squash_actions: ``tanh`` on the actions (into the environments' [-1, 1]).
        gradient_btol: the engine's gradient smoothing (``dojax.SolverOptions.gradient_btol``) set on
            the environment's solver; ``None`` keeps the environment's own options.
        gradient_window: differentiate through at most this many steps of the physics at a time
            (the state is held fixed every ``gradient_window`` steps: the gradient of the sum of
            each piece's rewards from its own start, as the first-order learners' windows);
            ``None``: through the whole episode. Through hard contact a whole episode's gradient
            grows with every contact; short pieces keep it informative.
    """

    num_iterations: int = 100
    num_episodes: int = 16
    exploration_noise: float = 0.0
    learning_rate: float = 0.02
    learning_rate_decay: float = 1.0
    max_grad_norm: float = math.inf
    episode_length: Optional[int] = None
    normalize_observations: bool = True
    squash_actions: bool = True
    gradient_btol: Optional[float] = None
    gradient_window: Optional[int] = None

    def __post_init__(self):
        for name in ("num_iterations", "num_episodes"):
            check_positive(name, getattr(self, name), integer=True)
        if self.num_episodes < 2:
            raise ValueError(f"num_episodes must be at least 2 (the step divides by the returns' spread), "
                             f"got {self.num_episodes}")
        if self.episode_length is not None:
            check_positive("episode_length", self.episode_length, integer=True)
        for name in ("learning_rate", "max_grad_norm"):
            check_positive(name, getattr(self, name))
        check_interval("learning_rate_decay", self.learning_rate_decay, "(0, 1]")
        if not self.exploration_noise >= 0.0:
            raise ValueError(f"exploration_noise must be >= 0, got {self.exploration_noise!r}")
        if self.gradient_btol is not None:
            check_positive("gradient_btol", self.gradient_btol)
        if self.gradient_window is not None:
            check_positive("gradient_window", self.gradient_window, integer=True)

    def steps_per_update(self, env):
        """Environment steps one update takes (episodes counted at their full length)."""
        return self.num_episodes * episode_length(env, self)


def make_return(env, config):
    """``episode_return(policy_params, obs_stats, key) -> (return, rollout.Episode)``: the return
    AGS differentiates, on the env with the config's gradient smoothing."""
    episode = make_episode(configured_env(env, config), config, config.gradient_window)

    def episode_return(policy_params, obs_stats, key):
        result = episode(policy_params, obs_stats, key)
        return result.episode_return, result

    return episode_return


def make_learner(env, config):
    """``(init, update)``: ``init(key) -> SearchState`` and ``update(state) -> (state, metrics)``
    (``N`` differentiated episodes, one step); pure functions to jit, scan and vmap."""
    value_and_grad = jax.value_and_grad(make_return(env, config), has_aux=True)

    def update(state):
        key, key_noise, key_starts = jax.random.split(state.key, 3)
        flat, unravel = ravel_pytree(state.params.policy)
        noise = config.exploration_noise * jax.random.normal(key_noise, (config.num_episodes, flat.size), flat.dtype)
        starts = jax.random.split(key_starts, config.num_episodes)
        (returns, episodes), grads = jax.vmap(
            lambda p, start: value_and_grad(unravel(p), state.params.obs_stats, start))(flat + noise, starts)
        return_std = jnp.std(returns)
        estimate = jax.tree.map(lambda g: jnp.mean(g, axis=0) / return_std, grads)
        return finish_update(env, config, state, key, estimate, episodes, return_std, config.max_grad_norm)

    return make_init(env, config), update


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop.

    ``params`` is a :class:`~dojax.learn.ars.SearchParams`; ``metrics`` as
    :func:`dojax.learn.ars.make_train` reports them (``grad_norm``: of ``g / sigma_R``). Every
    random number derives from ``key``.
    """
    return make_train_fn(*make_learner(env, config), config.num_iterations)
