"""Adaptive-horizon actor-critic (AHAC; Georgiev et al., ICML 2024): SHAC whose windows are cut at
stiff contact.

First-order gradients through stiff contact have low variance but a large empirical bias; AHAC
keeps the model-based part of its objective away from it. Each step reports the contact force it
took (:func:`contact_force`), and

- **per environment**, a step whose contact force exceeds ``contact_threshold`` is cut out of the
  window's objective: the piece before it is closed by the target critic's value of the state the
  stiff step starts from (as SHAC closes a window), the stiff step's reward is left out, and no
  gradient flows through it (a new piece starts after it, from its result with gradients stopped);
- **per update**, the window's length ``H`` (the horizon) adapts between ``horizon_min`` and
  ``horizon``: dual ascent on the constraint "mean contact force per step <= contact_threshold",

      H <- clip(H - horizon_rate * (mean contact force - contact_threshold), horizon_min, horizon),

  so the horizon shrinks while the window's contacts are stiff and grows back while they are not.

Everything else is SHAC's (:mod:`dojax.learn.shac`): the critic's TD(lambda) regression on the
window (the whole window, cuts included), the target critic, the optimisers. The compiled window
always has ``horizon`` slots; the steps past the current ``H`` are not taken (``lax.cond``) and
count for nothing. On a task without contact (forces 0) AHAC is SHAC at the horizon ``horizon``.
"""

from dataclasses import dataclass
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from dojax import residual
from dojax.learn import alpha_order, networks, rollout, shac
from dojax.learn.config import check_positive, configured_env, episode_length
from dojax.learn.networks import make_policy
from dojax.learn.normalization import normalize, update_stats
from dojax.learn.train_loop import make_train_fn, update_metrics


@dataclass(frozen=True)
class AHACConfig(shac.SHACConfig):
    """AHAC's options: those of :class:`~dojax.learn.shac.SHACConfig` (``horizon`` is the longest
    window), and

    Attributes:
        horizon_min: the shortest window; ``None``: a quarter of ``horizon`` (at least 1).
        contact_threshold: the contact force (see :func:`contact_force`; for dojax envs in units of
            the mechanism's weight) above which a step is stiff: it cuts its environment's window,
            and the horizon shrinks while the window's mean force exceeds it. At the default only
            impacts cut windows: a robot's mean contact force stays near its weight, so the horizon
            keeps its longest value (on dojax/Ant-v0 it shrinks at 1).
        horizon_rate: steps the horizon moves per unit of (mean force - threshold) per update.
    """

    horizon_min: Optional[int] = None
    contact_threshold: float = 4.0
    horizon_rate: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.horizon_min is None:
            object.__setattr__(self, "horizon_min", max(1, self.horizon // 4))
        check_positive("horizon_min", self.horizon_min, integer=True)
        if self.horizon_min > self.horizon:
            raise ValueError(f"horizon_min must be at most horizon = {self.horizon}, got {self.horizon_min}")
        check_positive("contact_threshold", self.contact_threshold)
        check_positive("horizon_rate", self.horizon_rate)

    def steps_per_update(self, env):
        """Environment steps of the longest update (an update takes ``num_envs * H`` steps)."""
        return self.num_envs * self.horizon


def contact_force(env, env_state):
    """The total normal contact force of the step that led to ``env_state`` (batched or not).

    For a dojax environment (one with a mechanism and solver options), in units of the mechanism's
    weight (1 for a robot standing still): the solver returns the central-path point where every
    contact's normal force times its gap is ``kappa = btol / undercut`` (dojax.elements), so each
    contact's force is ``kappa / gap`` at the state reached. (A solve that stalled
    ends at a lower kappa, and its forces read high.) Every contact pair counts (ground, self and
    body-body contacts; joint limits are not contacts). Any other functional environment may report
    the force as ``info["contact_force"]``; without it the force is 0 (no contact).
    """
    mech = getattr(env, "mech", None)
    if mech is None or getattr(env, "solver", None) is None:
        return env_state.info.get("contact_force", jnp.zeros_like(env_state.reward))
    kappa = env.solver.btol / env.solver.undercut
    weight = jnp.sum(mech.mass) * jnp.linalg.norm(mech.gravity)

    contact = [group[0] == "contact" for group in mech.structure.element_groups]
    no_action = jnp.zeros(mech.action_size, mech.mass.dtype)

    def one(sim):
        groups = residual.make_problem(mech, sim, no_action).groups  # the gaps at sim's configuration
        gaps = [group.pre["gap"] for group, is_contact in zip(groups, contact) if is_contact]
        return sum(jnp.sum(kappa / jnp.maximum(gap, 1e-12)) for gap in gaps) / weight

    sim = jax.lax.stop_gradient(env_state.sim)
    return jax.vmap(one)(sim) if env_state.reward.ndim else one(sim)


class AHACState(NamedTuple):
    """SHAC's training state, the current horizon (a float; the window takes its floor) and the
    environment steps taken so far."""

    params: shac.SHACParams
    policy_opt_state: object
    critic_opt_state: object
    rollout: rollout.RolloutState
    key: jax.Array
    iteration: jax.Array
    horizon: jax.Array
    env_steps: jax.Array


class Window(NamedTuple):
    """A window's transitions (``horizon`` slots), which slots were taken, which steps were stiff
    (above the threshold) and each step's contact force."""

    transitions: rollout.Transition
    active: jax.Array
    stiff: jax.Array
    force: jax.Array

    def closed(self):
        """The transitions as the actor's return sees them. A stiff step is left out (marked
        failed: no reward, no value, no gradient through it); the piece before it ends where the
        stiff step starts and is closed by the critic there (marked truncated), as is the piece
        ending at the last step taken. Slots not taken are left out."""
        t = self.transitions
        left_out = t.failed | self.stiff | ~self.active
        before_stiff = jnp.concatenate([self.stiff[1:], jnp.zeros_like(self.stiff[:1])])
        open_end = (before_stiff | self._last()) & ~t.terminated & ~left_out
        return t._replace(truncated=t.truncated | open_end, failed=left_out)

    def _last(self):
        """The last step taken (a mask shaped like ``active``)."""
        return jnp.arange(self.active.shape[0])[:, None] == jnp.sum(self.active[:, 0]) - 1

    def for_critic(self):
        """The transitions as the critic's targets see them: cut only at the last step taken."""
        t = self.transitions
        open_end = self._last() & ~t.terminated & ~t.failed
        return t._replace(truncated=t.truncated | open_end, failed=t.failed | ~self.active)


def unroll(env, policy, state, key, horizon, length, episode_steps, threshold):
    """Step the batch ``length`` (traced, at most ``horizon``) times, cutting gradients after each
    stiff step; returns the final :class:`~dojax.learn.rollout.RolloutState` and a :class:`Window`."""
    state = jax.lax.stop_gradient(state)
    num_envs = state.steps.shape[0]
    reset_keys, step_keys = rollout.window_keys(key, num_envs, horizon)
    fresh = rollout.batched(env, "reset")(reset_keys)

    def take(carry, key):
        state, stiff_before = carry
        cut = rollout.select(stiff_before, jax.lax.stop_gradient(state.env_state), state.env_state)
        next_state, transition, after = rollout.step_batch(env, policy, state._replace(env_state=cut), fresh, key,
                                                           episode_steps)
        force = contact_force(env, after)
        return (next_state, force > threshold), (transition, force)

    def skip(carry, key):
        state, _ = carry
        obs = state.env_state.obs
        false = jnp.zeros(num_envs, bool)
        zeros = jnp.zeros_like(state.episode_return)
        transition = rollout.Transition(obs, zeros, obs, false, false, false, state.episode_return)
        return carry, (transition, zeros)

    def one_step(carry, inputs):
        t, key = inputs
        carry, (transition, force) = jax.lax.cond(t < length, take, skip, carry, key)
        return carry, (transition, force, t < length, carry[1])

    start = (state, jnp.zeros(num_envs, bool))
    (final, _), (transitions, force, active, stiff) = jax.lax.scan(one_step, start, (jnp.arange(horizon), step_keys))
    active = jnp.broadcast_to(active[:, None], stiff.shape)
    return final, Window(transitions, active, stiff & active, force)


def make_actor_loss(env, config):
    """``loss(policy_params, target_critic_params, obs_stats, rollout_state, key, length,
    per_env=False) -> (loss, (rollout_state, window))``: minus the critic-closed discounted return
    of the window's pieces per step taken (``per_env``: as for :func:`dojax.learn.apg.make_loss`)."""
    env = configured_env(env, config)
    _, act = make_policy(env.action_size, config)
    value_net = networks.value_network(config.critic_hidden_sizes)
    episode_steps = episode_length(env, config)

    def loss(policy_params, target_critic_params, obs_stats, rollout_state, key, length, per_env=False):
        policy = lambda obs, k: act(policy_params, obs_stats, obs, k, per_env)  # noqa: E731
        final, window = unroll(env, policy, rollout_state, key, config.horizon, length, episode_steps,
                               config.contact_threshold)
        value_next = networks.value(value_net, target_critic_params, normalize(obs_stats, window.transitions.next_obs))
        shares = -shac.window_return(window.closed(), value_next, config.discount) / jnp.sum(window.active)
        return shares if per_env else jnp.sum(shares), (final, window)

    return loss


def next_horizon(horizon, window, config):
    """The horizon after a window: one dual-ascent step on "mean contact force per step taken <=
    contact_threshold", clipped to [horizon_min, horizon]."""
    taken = window.active & ~window.transitions.failed
    mean_force = jnp.sum(jnp.where(taken, window.force, 0.0)) / jnp.maximum(jnp.sum(taken), 1)
    step = config.horizon_rate * (mean_force - config.contact_threshold)
    return jnp.clip(horizon - step, config.horizon_min, config.horizon), mean_force


def make_learner(env, config):
    """``(init, update)``: ``init(key) -> AHACState`` and ``update(state) -> (state, metrics)``."""
    env = configured_env(env, config)
    parts = shac.actor_critic(env, config)
    policy_net, _, policy_optimizer, _ = parts
    actor_loss = make_actor_loss(env, config)

    def init(key):
        zero = jnp.zeros((), jnp.int32)
        return AHACState(*shac.fresh_start(env, config, parts, key), zero, jnp.asarray(float(config.horizon)), zero)

    def update(state):
        key, key_window, key_critic = jax.random.split(state.key, 3)
        p = state.params
        length = jnp.floor(state.horizon).astype(jnp.int32)
        policy, policy_opt_state, loss, (final, window), grad_stats, alpha = alpha_order.policy_step(
            config, lambda params, per_env: actor_loss(params, p.target_critic, p.obs_stats, state.rollout,
                                                       key_window, length, per_env),
            lambda aux: (aux[1].transitions.obs, aux[1].active), policy_net, p.obs_stats, key_window,
            policy_optimizer, p.policy, state.policy_opt_state)

        window = jax.lax.stop_gradient(window)
        transitions = window.for_critic()
        critic_params, target_critic, critic_opt_state, critic_loss, critic_skipped = shac.critic_step(
            config, parts, p, state.critic_opt_state, transitions, key_critic)

        taken = window.active
        obs_stats = update_stats(p.obs_stats, transitions.obs, taken) if config.normalize_observations else p.obs_stats
        horizon, mean_force = next_horizon(state.horizon, window, config)
        iteration, env_steps = state.iteration + 1, state.env_steps + config.num_envs * length
        # the window's metrics over the steps taken (slots past the horizon are not failures)
        steps = window.transitions._replace(reward=jnp.where(taken, window.transitions.reward, jnp.nan))
        metrics = dict(update_metrics(config, iteration, loss, steps, grad_stats, alpha, policy),
                       critic_loss=critic_loss, critic_skipped_updates=critic_skipped, env_steps=env_steps,
                       horizon=length, contact_force=mean_force, stiff_steps=jnp.sum(window.stiff))
        metrics["reward"] = jnp.nanmean(steps.reward)
        params = shac.SHACParams(policy, critic_params, target_critic, obs_stats)
        return AHACState(params, policy_opt_state, critic_opt_state, final, key, iteration, horizon, env_steps), metrics

    return init, update


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop.

    ``params`` is a :class:`~dojax.learn.shac.SHACParams`; ``metrics`` a dict of arrays, one entry
    per update: SHAC's, with ``horizon`` the window's length, ``env_steps`` the steps taken so far,
    ``contact_force`` the window's mean contact force per step and ``stiff_steps`` the steps that
    cut their window. Every random number derives from ``key``.
    """
    return make_train_fn(*make_learner(env, config), config.num_iterations)
