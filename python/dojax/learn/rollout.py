"""Differentiable rollouts of functional environments: truncated windows of a batch (first-order
learners) and whole episodes (the episode returns of random search).

A window of ``horizon`` steps starts from the carried environment states with their gradients
stopped (truncated backpropagation through time); inside the window gradients flow through the
policy and every environment step. An environment whose episode ends (terminated, truncated by
the episode length, or its solver failed) is reset in place; the reset state does not depend on
the policy, so gradients are also cut at episode boundaries. A step whose solver failed is
marked invalid: learners leave it out of their losses (the physics' derivative there is not
trustworthy) and count it.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class RolloutState(NamedTuple):
    """What a rollout carries from one window to the next (batched over environments).

    Attributes:
        env_state: the environments' ``EnvState``s.
        steps: steps taken in each environment's current episode.
        episode_return: sum of the rewards of each environment's current episode.
    """

    env_state: object
    steps: jax.Array
    episode_return: jax.Array


class Transition(NamedTuple):
    """One window of steps, each field shaped ``(horizon, num_envs, ...)``.

    Attributes:
        obs: the observation the action was chosen at.
        reward: the step's reward.
        next_obs: the observation after the step, before any reset (for bootstrapping).
        terminated: the task ended at this step.
        truncated: the episode reached its length at this step (and did not terminate).
        failed: the step's solver failed; the episode ends here.
        episode_return: the episode's return up to and including this step.
        info: what the policy reported with its action (a pytree, e.g. the sampled action and its
            log-probability) when :func:`unroll` was given ``with_info=True``, else None.
    """

    obs: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    failed: jax.Array
    episode_return: jax.Array
    info: object = None

    @property
    def done(self):
        """The episode ended at this step (and the environment was reset)."""
        return self.terminated | self.truncated | self.failed

    @property
    def valid(self):
        """Steps that enter a loss: those whose solver converged."""
        return ~self.failed


def batched(env, method):
    """``env``'s ``method`` ("reset" or "step") over a batch of environments: the environment's own
    ``batch_reset`` / ``batch_step`` if it has them (:class:`dojax.learn.parallel.DataParallel`),
    else ``jax.vmap`` of the method."""
    return getattr(env, "batch_" + method, None) or jax.vmap(getattr(env, method))


def start(env, key, num_envs):
    """Fresh episodes in ``num_envs`` environments."""
    env_state = batched(env, "reset")(jax.random.split(key, num_envs))
    zeros = jnp.zeros(num_envs, env_state.reward.dtype)
    return RolloutState(env_state, jnp.zeros(num_envs, jnp.int32), zeros)


def select(done, a, b):
    """Per environment, ``a`` where ``done`` else ``b`` (leaves of any trailing shape)."""
    return jax.tree.map(lambda x, y: jnp.where(done.reshape(done.shape + (1,) * (x.ndim - 1)), x, y), a, b)


def step_batch(env, policy, state, fresh, key, episode_length, with_info=False):
    """One step of the batch under ``policy(obs, key) -> actions``, or ``policy(obs, key) ->
    (actions, info)`` with ``with_info`` (``info`` is kept in the transition); environments whose
    episode ends restart from ``fresh``. Returns ``(next RolloutState, Transition of this step, the
    environments' EnvState after the step, before any reset)``."""
    env_state = state.env_state
    action, info = policy(env_state.obs, key) if with_info else (policy(env_state.obs, key), None)
    after = batched(env, "step")(env_state, action)
    steps = state.steps + 1
    truncated = (steps >= episode_length) & ~after.terminated
    episode_return = state.episode_return + after.reward
    transition = Transition(env_state.obs, after.reward, after.obs, after.terminated, truncated,
                            after.solver_failed, episode_return, info)
    done = transition.done
    zero = jnp.zeros_like(episode_return)
    next_state = RolloutState(select(done, fresh, after), jnp.where(done, 0, steps),
                              jnp.where(done, zero, episode_return))
    return next_state, transition, after


def window_keys(key, num_envs, horizon):
    """``(fresh, step_keys)`` of a window: the keys of one fresh start per environment (used by
    whichever episodes end in the window) and the policy's key of each step."""
    key_reset, key_act = jax.random.split(key)
    return jax.random.split(key_reset, num_envs), jax.random.split(key_act, horizon)


def unroll(env, policy, state, key, horizon, episode_length, with_info=False):
    """Step the environments ``horizon`` times under ``policy(obs, key) -> actions`` (batched), or
    ``policy(obs, key) -> (actions, info)`` with ``with_info`` (``info`` is kept in the
    transitions).

    Returns the final :class:`RolloutState` and the window's :class:`Transition`s; both depend
    differentiably on the policy's parameters through the window, not on anything before it.
    """
    state = jax.lax.stop_gradient(state)
    reset_keys, step_keys = window_keys(key, state.steps.shape[0], horizon)
    fresh = batched(env, "reset")(reset_keys)

    def one_step(state, key):
        next_state, transition, _ = step_batch(env, policy, state, fresh, key, episode_length, with_info)
        return next_state, transition

    return jax.lax.scan(one_step, state, step_keys)


class Episode(NamedTuple):
    """One episode from a reset, each per-step field shaped ``(episode_length, ...)``.

    Attributes:
        episode_return: the sum of the rewards of the steps taken (a scalar).
        obs: the observation each step's action was chosen at.
        reward: the step's reward (0 once the episode has ended, and for a failed step).
        taken: the step belongs to the episode (before it terminated or its solver failed).
        failed: the step's solver failed (the episode ends there).
    """

    episode_return: jax.Array
    obs: jax.Array
    reward: jax.Array
    taken: jax.Array
    failed: jax.Array


def episode(env, policy, key, episode_length, gradient_window=None):
    """One episode of at most ``episode_length`` steps from ``env.reset(key)`` under the (unbatched)
    ``policy(obs) -> action``, differentiable in the policy's parameters.

    The episode ends at the step where the task terminates or the solver fails; the failed step's
    reward is left out. Later steps are still computed (fixed shapes), from the last state of the
    episode, and contribute nothing. With ``gradient_window`` ``k``, derivatives flow through at
    most ``k`` steps of the physics: the state at steps 0, k, 2k, ... is held fixed (truncated
    backpropagation, as the first-order learners' windows), so the derivative is that of the sum of
    each piece's rewards from its own start. Returns an :class:`Episode`.
    """

    def one_step(carry, t):
        env_state, running = carry
        if gradient_window is not None:
            cut = t % gradient_window == 0
            env_state = select(cut, jax.lax.stop_gradient(env_state), env_state)
        after = env.step(env_state, policy(env_state.obs))
        failed = running & after.solver_failed
        reward = jnp.where(running & ~after.solver_failed, after.reward, 0.0)
        still = running & ~after.solver_failed & ~after.terminated
        next_state = select(still, after, env_state)
        return (next_state, still), (env_state.obs, reward, running, failed)

    start_state = env.reset(key)
    _, (obs, reward, taken, failed) = jax.lax.scan(one_step, (start_state, jnp.asarray(True)),
                                                   jnp.arange(episode_length))
    return Episode(jnp.sum(reward), obs, reward, taken, failed)


def window_metrics(transitions):
    """Scalar summaries of a window: mean reward, mean return of the episodes that ended (NaN if
    none), episodes ended, failed solver steps."""
    done = transitions.done
    ended = jnp.sum(done)
    mean_return = jnp.sum(jnp.where(done, transitions.episode_return, 0.0)) / ended
    return dict(reward=jnp.mean(transitions.reward), episode_return=mean_return,
                episodes=ended, solver_failures=jnp.sum(transitions.failed))
