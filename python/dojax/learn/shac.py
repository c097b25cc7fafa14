"""Short-horizon actor-critic (SHAC; Xu et al., ICLR 2022): APG whose windows end in a learned value.

Each update rolls the batch of environments ``horizon`` steps on from where the previous window
left them and differentiates, through the policy and the physics, minus the window's discounted
return closed by the target critic's value of the state it ends in (0 where the task terminated):

    L = -(1 / (N h)) sum_envs [ sum_t discount^t r_t + discount^h V_target(s_h) ]

with the discount restarting at each episode boundary inside the window. The critic then regresses
on TD(lambda) targets of the same window (computed with the target critic), and the target critic
follows it by Polyak averaging (NVlabs/DiffRL ``algorithms/shac.py``).
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from dojax.learn import alpha_order, critic, networks, rollout
from dojax.learn.config import FirstOrderConfig, check_interval, check_positive, configured_env, episode_length
from dojax.learn.networks import make_policy
from dojax.learn.normalization import init_stats, normalize, update_stats
from dojax.learn.optim import adam
from dojax.learn.train_loop import make_train_fn, update_metrics


@dataclass(frozen=True)
class SHACConfig(FirstOrderConfig):
    """SHAC's options: those of :class:`~dojax.learn.config.FirstOrderConfig`, and

    Attributes:
        discount: per-step discount of the actor's return and the critic's targets.
        td_lambda: lambda of the critic's TD(lambda) targets.
        critic_learning_rate: the critic's Adam step size.
        critic_hidden_sizes: the critic MLP's hidden layers.
        critic_epochs: passes over each window's data per update.
        critic_minibatches: minibatches per pass.
        target_critic_alpha: the target critic keeps this fraction of itself at each update.
    """

    discount: float = 0.99
    td_lambda: float = 0.95
    critic_learning_rate: float = 1e-3
    critic_hidden_sizes: tuple = (64, 64)
    critic_epochs: int = 16
    critic_minibatches: int = 4
    target_critic_alpha: float = 0.2

    def __post_init__(self):
        super().__post_init__()
        check_interval("discount", self.discount, "(0, 1]")
        check_interval("td_lambda", self.td_lambda, "[0, 1]")
        check_interval("target_critic_alpha", self.target_critic_alpha, "[0, 1)")
        check_positive("critic_learning_rate", self.critic_learning_rate)
        for name in ("critic_epochs", "critic_minibatches"):
            check_positive(name, getattr(self, name), integer=True)
        if self.critic_minibatches > self.num_envs * self.horizon:
            raise ValueError(f"critic_minibatches must be at most num_envs * horizon = {self.num_envs * self.horizon}, "
                             f"got {self.critic_minibatches}")
        object.__setattr__(self, "critic_hidden_sizes", tuple(self.critic_hidden_sizes))


class SHACParams(NamedTuple):
    """Network parameters and observation statistics of a SHAC agent."""

    policy: dict
    critic: dict
    target_critic: dict
    obs_stats: object


class SHACState(NamedTuple):
    """The whole training state, carried from one update to the next."""

    params: SHACParams
    policy_opt_state: object
    critic_opt_state: object
    rollout: rollout.RolloutState
    key: jax.Array
    iteration: jax.Array


def window_return(transitions, value_next, discount):
    """Per environment, the sum of each episode piece's discounted return in the window, closed by
    ``discount`` times the value of the state it ended in: ``value_next`` (the critic's value of
    ``next_obs``) where the window or episode was truncated, 0 where the task terminated or the
    solver failed. Failed steps' rewards are left out."""
    horizon = transitions.reward.shape[0]
    last = jnp.arange(horizon) == horizon - 1

    def forward(carry, step):
        partial, weight = carry
        reward, v_next, terminated, failed, done, is_last = step
        partial = partial + weight * jnp.where(failed, 0.0, reward)
        end = done | is_last
        closing = jnp.where(terminated | failed, 0.0, v_next)
        closed = jnp.where(end, partial + weight * discount * closing, 0.0)
        return (jnp.where(end, 0.0, partial), jnp.where(end, 1.0, weight * discount)), closed

    zeros = jnp.zeros_like(transitions.reward[0])
    steps = (transitions.reward, value_next, transitions.terminated, transitions.failed, transitions.done, last)
    _, closed = jax.lax.scan(forward, (zeros, jnp.ones_like(zeros)), steps)
    return jnp.sum(closed, axis=0)


def make_actor_loss(env, config):
    """``loss(policy_params, target_critic_params, obs_stats, rollout_state, key, per_env=False) ->
    (loss, (rollout_state, transitions))``: minus the window's critic-closed discounted return per
    step (``per_env``: as for :func:`dojax.learn.apg.make_loss`)."""
    env = configured_env(env, config)
    _, act = make_policy(env.action_size, config)
    value_net = networks.value_network(config.critic_hidden_sizes)
    length = episode_length(env, config)

    def loss(policy_params, target_critic_params, obs_stats, rollout_state, key, per_env=False):
        policy = lambda obs, k: act(policy_params, obs_stats, obs, k, per_env)  # noqa: E731
        final, transitions = rollout.unroll(env, policy, rollout_state, key, config.horizon, length)
        value_next = networks.value(value_net, target_critic_params, normalize(obs_stats, transitions.next_obs))
        shares = -window_return(transitions, value_next, config.discount) / transitions.reward.size
        return shares if per_env else jnp.sum(shares), (final, transitions)

    return loss


def actor_critic(env, config):
    """``(policy network, value network, policy optimiser, critic optimiser)`` of SHAC (and AHAC)."""
    policy_net, _ = make_policy(env.action_size, config)
    value_net = networks.value_network(config.critic_hidden_sizes)
    policy_optimizer = adam(config.learning_rate, config.learning_rate_decay, config.adam_b1, config.adam_b2)
    # the critic takes critic_epochs * critic_minibatches steps per update; its step size decays
    # by learning_rate_decay per update, as the policy's does
    critic_steps = config.critic_epochs * config.critic_minibatches
    critic_optimizer = adam(config.critic_learning_rate, config.learning_rate_decay ** (1.0 / critic_steps),
                            config.adam_b1, config.adam_b2)
    return policy_net, value_net, policy_optimizer, critic_optimizer


def fresh_start(env, config, parts, key):
    """``(SHACParams, policy optimiser state, critic optimiser state, RolloutState, key)`` of a new run."""
    policy_net, value_net, policy_optimizer, critic_optimizer = parts
    key_policy, key_critic, key_env, key = jax.random.split(key, 4)
    obs_stats = init_stats(env.observation_size)
    policy = policy_net.init(key_policy, obs_stats.mean)
    critic_params = value_net.init(key_critic, obs_stats.mean)
    return (SHACParams(policy, critic_params, critic_params, obs_stats), policy_optimizer.init(policy),
            critic_optimizer.init(critic_params), rollout.start(env, key_env, config.num_envs), key)


def critic_step(config, parts, params, critic_opt_state, transitions, key):
    """The critic's regression on a window's TD(lambda) targets (from the target network) and the
    target's averaging: ``(critic, target critic, optimiser state, loss, skipped updates)``."""
    _, value_net, _, critic_optimizer = parts
    target_value = lambda obs: networks.value(value_net, params.target_critic, normalize(params.obs_stats, obs))  # noqa: E731
    targets = critic.td_lambda_targets(transitions, target_value(transitions.obs),
                                       target_value(transitions.next_obs), config.discount, config.td_lambda)
    critic_params, critic_opt_state, critic_loss, critic_skipped = critic.fit(
        value_net, critic_optimizer, params.critic, critic_opt_state, normalize(params.obs_stats, transitions.obs),
        targets, transitions.valid, key, config.critic_epochs, config.critic_minibatches, config.max_grad_norm)
    target_critic = critic.polyak(params.target_critic, critic_params, config.target_critic_alpha)
    return critic_params, target_critic, critic_opt_state, critic_loss, critic_skipped


def make_learner(env, config):
    """``(init, update)``: ``init(key) -> SHACState`` and ``update(state) -> (state, metrics)`` (one
    window, one actor step, the critic's regression, the target's averaging)."""
    parts = actor_critic(env, config)
    policy_net, value_net, policy_optimizer, critic_optimizer = parts
    actor_loss = make_actor_loss(env, config)

    def init(key):
        return SHACState(*fresh_start(env, config, parts, key), jnp.zeros((), jnp.int32))

    def update(state):
        key, key_window, key_critic = jax.random.split(state.key, 3)
        p = state.params
        policy, policy_opt_state, loss, (final, transitions), grad_stats, alpha = alpha_order.policy_step(
            config, lambda params, per_env: actor_loss(params, p.target_critic, p.obs_stats, state.rollout,
                                                       key_window, per_env),
            alpha_order.unrolled, policy_net, p.obs_stats, key_window, policy_optimizer, p.policy,
            state.policy_opt_state)

        transitions = jax.lax.stop_gradient(transitions)
        critic_params, target_critic, critic_opt_state, critic_loss, critic_skipped = critic_step(
            config, parts, p, state.critic_opt_state, transitions, key_critic)

        obs_stats = update_stats(p.obs_stats, transitions.obs) if config.normalize_observations else p.obs_stats
        iteration = state.iteration + 1
        metrics = dict(update_metrics(config, iteration, loss, transitions, grad_stats, alpha, policy),
                       critic_loss=critic_loss, critic_skipped_updates=critic_skipped)
        params = SHACParams(policy, critic_params, target_critic, obs_stats)
        return SHACState(params, policy_opt_state, critic_opt_state, final, key, iteration), metrics

    return init, update


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop.

    ``params`` is a :class:`SHACParams`; ``metrics`` a dict of arrays, one entry per update (those
    of :func:`dojax.learn.train_loop.update_metrics`, plus critic_loss and critic_skipped_updates).
    Every random number derives from ``key``.
    """
    return make_train_fn(*make_learner(env, config), config.num_iterations)
