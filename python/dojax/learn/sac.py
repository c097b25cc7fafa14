"""Soft actor-critic (SAC; Haarnoja et al. 2018, arXiv 1801.01290 and 1812.05905): off-policy,
twin critics, automatic entropy temperature.

Each update steps ``num_envs`` environments ``horizon`` steps with the current policy (uniformly
random actions until ``learning_starts`` environment steps have been taken), stores the
transitions in a replay buffer held in the training state (a ring of ``buffer_size``, written in
place: an update's cost does not grow with it), and, once ``learning_starts`` steps have been
taken, takes ``gradient_steps`` steps on minibatches of ``batch_size`` drawn uniformly from it
(Stable-Baselines3's and CleanRL's recipe):

- critics: ``Q_1``, ``Q_2`` regress on ``r + discount (1 - terminated) [min_j Q'_j(s', a') - alpha
  log pi(a'|s')]``, ``a' ~ pi(s')``, ``Q'_j`` the target critics (Polyak averages with rate ``tau``);
  a truncated episode is bootstrapped, a failed solver step is left out;
- actor: minimises ``alpha log pi(a|s) - min_j Q_j(s, a)`` with ``a = tanh(u)``, ``u`` the
  reparameterised Gaussian sample (state-dependent standard deviation,
  :class:`~dojax.learn.networks.GaussianPolicy`), ``log pi`` with the ``tanh`` correction;
- temperature: ``log alpha`` minimises ``-log alpha (log pi(a|s) + target_entropy)``, driving the
  policy's entropy towards ``target_entropy`` (``-action_size`` by default).

The whole loop is one compiled function; ``jax.vmap(train)(keys)`` trains several seeds at once.
"""

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from dojax.learn import critic, networks, rollout
from dojax.learn.config import Options, check_interval, check_positive, episode_length
from dojax.learn.networks import gaussian_kl, gaussian_log_prob, make_gaussian_policy
from dojax.learn.normalization import RunningStats, init_stats, normalize, update_stats
from dojax.learn.optim import adam, apply_gradients
from dojax.learn.train_loop import make_train_fn


@dataclass(frozen=True)
class SACConfig(Options):
    """SAC's options (defaults: Stable-Baselines3's SAC, with 1 environment step per update).

    Attributes:
        num_iterations: updates that ``train`` runs.
        num_envs: environments stepped in parallel.
        horizon: steps per environment and update.
        episode_length: steps before an episode is truncated; ``None``: the env's ``max_episode_steps``.
        gradient_steps: gradient steps per update.
        batch_size: transitions per gradient step.
        buffer_size: capacity of the replay buffer (transitions).
        learning_starts: environment steps of uniformly random actions before learning.
        discount: discount of the critics' targets.
        tau: the target critics move this fraction towards the critics per gradient step.
        learning_rate: Adam's step size (actor, critics and temperature).
        hidden_sizes: hidden layers of the policy and of each critic.
        mean_init_scale: the policy network's output layer starts at this times flax's default
            initialisation (:class:`~dojax.learn.networks.GaussianPolicy`; 1.0: flax's default).
        initial_alpha: the entropy temperature's initial value.
        target_entropy: the entropy the temperature aims at; ``None``: ``-action_size``.
        normalize_observations: running-normalised observations for the networks.
    """

    policy = "mlp"  # what networks.make_gaussian_policy reads
    state_dependent_std = True
    initial_log_std = 0.0
    squash_actions = True

    num_iterations: int = 10_000
    num_envs: int = 1
    horizon: int = 1
    episode_length: Optional[int] = None
    gradient_steps: int = 1
    batch_size: int = 256
    buffer_size: int = 100_000
    learning_starts: int = 1000
    discount: float = 0.99
    tau: float = 0.005
    learning_rate: float = 3e-4
    hidden_sizes: tuple = (256, 256)
    mean_init_scale: float = networks.MEAN_INIT_SCALE
    initial_alpha: float = 1.0
    target_entropy: Optional[float] = None
    normalize_observations: bool = False

    def __post_init__(self):
        for name in ("num_iterations", "num_envs", "horizon", "gradient_steps", "batch_size", "buffer_size"):
            check_positive(name, getattr(self, name), integer=True)
        if self.episode_length is not None:
            check_positive("episode_length", self.episode_length, integer=True)
        starts = self.learning_starts
        if isinstance(starts, bool) or not isinstance(starts, int) or starts < 0:
            raise ValueError(f"learning_starts must be a non-negative integer, got {self.learning_starts!r}")
        for name in ("learning_rate", "initial_alpha"):
            check_positive(name, getattr(self, name))
        check_interval("discount", self.discount, "(0, 1]")
        check_interval("tau", self.tau, "(0, 1]")
        if not self.mean_init_scale >= 0.0:
            raise ValueError(f"mean_init_scale must be >= 0, got {self.mean_init_scale!r}")
        if self.buffer_size < self.num_envs * self.horizon:
            raise ValueError(f"buffer_size must hold one update's transitions (num_envs * horizon = "
                             f"{self.num_envs * self.horizon}), got {self.buffer_size}")
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))

    def steps_per_update(self, env):
        """Environment steps one update takes."""
        return self.num_envs * self.horizon


class QNetwork(nn.Module):
    """``Q(s, a)``: an MLP on the concatenated observation and action, one output."""

    hidden_sizes: tuple

    @nn.compact
    def __call__(self, obs, action):
        return networks.MLP(self.hidden_sizes, 1)(jnp.concatenate([obs, action], axis=-1))[..., 0]


class SACParams(NamedTuple):
    """Network parameters, temperature and observation statistics of a SAC agent."""

    policy: dict
    critics: tuple
    target_critics: tuple
    log_alpha: jax.Array
    obs_stats: RunningStats


class ReplayBuffer(NamedTuple):
    """A ring of transitions (raw observations); ``size`` of them are filled, the next goes at ``position``."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array
    valid: jax.Array
    position: jax.Array
    size: jax.Array


class Anchor(NamedTuple):
    """Off-policy MDPO's policy ``pi_k`` of the current mirror-descent iteration, and the gradient
    steps taken so far (``pi_k`` is refreshed every ``sgd_steps`` of them)."""

    policy: dict
    steps: jax.Array


class SACState(NamedTuple):
    """The whole training state, carried from one update to the next (``anchor`` is off-policy
    MDPO's :class:`Anchor`, ``None`` for SAC)."""

    params: SACParams
    policy_opt_state: object
    critic_opt_state: object
    alpha_opt_state: object
    buffer: ReplayBuffer
    rollout: rollout.RolloutState
    key: jax.Array
    iteration: jax.Array
    anchor: object = None


def squashed_log_prob(mean, log_std, u):
    """Log-density of ``a = tanh(u)`` for ``u`` from the Gaussian: the Gaussian's minus ``sum log(1 -
    tanh(u)^2)``, written ``2 (log 2 - u - softplus(-2 u))`` for stability."""
    correction = jnp.sum(2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u)), axis=-1)
    return gaussian_log_prob(mean, log_std, u) - correction


def add(buffer, transitions):
    """``buffer`` with the window's transitions (``(horizon, num_envs)`` leading axes) written in."""
    capacity = buffer.reward.shape[0]
    actions = transitions.info
    items = (transitions.obs, actions, transitions.reward, transitions.next_obs, transitions.terminated,
             transitions.valid)
    items = [x.reshape((-1,) + x.shape[2:]) for x in items]
    index = (buffer.position + jnp.arange(items[0].shape[0])) % capacity
    fields = [old.at[index].set(new) for old, new in zip(buffer[:6], items)]
    n = items[0].shape[0]
    return ReplayBuffer(*fields, (buffer.position + n) % capacity, jnp.minimum(buffer.size + n, capacity))


def make_learner(env, config, kl_weight=None):
    """``(init, update)``: ``init(key) -> SACState`` and ``update(state) -> (state, metrics)``;
    pure functions to jit, scan and vmap.

    ``kl_weight(k) -> 1 / t_k``, if given, adds ``(1 / t_k) KL(pi_theta(.|s) || pi_k(.|s))`` to the
    actor's loss, ``pi_k`` the policy at the start of mirror-descent iteration ``k`` (refreshed every
    ``config.sgd_steps`` gradient steps; :mod:`dojax.learn.mdpo_off`)."""
    policy_net, _ = make_gaussian_policy(env.action_size, config)
    q_net = QNetwork(config.hidden_sizes)
    length = episode_length(env, config)
    optimizer = adam(config.learning_rate)
    target_entropy = -float(env.action_size) if config.target_entropy is None else float(config.target_entropy)
    no_clip = jnp.inf

    def init(key):
        key_policy, key_q1, key_q2, key_env, key = jax.random.split(key, 5)
        obs_stats = init_stats(env.observation_size)
        obs, action = jnp.zeros(env.observation_size), jnp.zeros(env.action_size)
        policy = policy_net.init(key_policy, obs)
        critics = (q_net.init(key_q1, obs, action), q_net.init(key_q2, obs, action))
        log_alpha = jnp.log(jnp.asarray(config.initial_alpha, jnp.float64))
        c = config.buffer_size
        buffer = ReplayBuffer(jnp.zeros((c, env.observation_size)), jnp.zeros((c, env.action_size)), jnp.zeros(c),
                              jnp.zeros((c, env.observation_size)), jnp.zeros(c, bool), jnp.zeros(c, bool),
                              jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
        anchor = None if kl_weight is None else Anchor(policy, jnp.zeros((), jnp.int32))
        return SACState(SACParams(policy, critics, critics, log_alpha, obs_stats), optimizer.init(policy),
                        optimizer.init(critics), optimizer.init(log_alpha), buffer,
                        rollout.start(env, key_env, config.num_envs), key, jnp.zeros((), jnp.int32), anchor)

    def sample_action(policy_params, obs, key, with_distribution=False):
        """``(a, log pi(a|s))`` of the squashed Gaussian at normalised ``obs``, reparameterised
        (and the Gaussian's ``(mean, log_std)`` with ``with_distribution``)."""
        mean, log_std = policy_net.apply(policy_params, obs)
        u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
        sample = jnp.tanh(u), squashed_log_prob(mean, log_std, u)
        return sample + ((mean, log_std),) if with_distribution else sample

    def q_values(critics, obs, action):
        return jnp.stack([q_net.apply(c, obs, action) for c in critics])

    def gradient_step(buffer, carry, key):
        params, policy_opt_state, critic_opt_state, alpha_opt_state, anchor = carry
        key_batch, key_next, key_new = jax.random.split(key, 3)
        index = jax.random.randint(key_batch, (config.batch_size,), 0, jnp.maximum(buffer.size, 1))
        stats = params.obs_stats
        obs, next_obs = normalize(stats, buffer.obs[index]), normalize(stats, buffer.next_obs[index])
        action, reward = buffer.action[index], buffer.reward[index]
        weight = buffer.valid[index].astype(reward.dtype)
        n = jnp.maximum(jnp.sum(weight), 1.0)
        alpha = jnp.exp(params.log_alpha)

        next_action, next_log_prob = sample_action(params.policy, next_obs, key_next)
        next_q = jnp.min(q_values(params.target_critics, next_obs, next_action), axis=0) - alpha * next_log_prob
        target = reward + config.discount * jnp.where(buffer.terminated[index], 0.0, next_q)
        target = jax.lax.stop_gradient(target)

        def critic_loss(critics):
            return jnp.sum(weight * jnp.sum((q_values(critics, obs, action) - target) ** 2, axis=0)) / n

        value_loss, grads = jax.value_and_grad(critic_loss)(params.critics)
        critics, critic_opt_state, critic_stats = apply_gradients(optimizer, grads, critic_opt_state, params.critics,
                                                                  no_clip)

        if anchor is not None:  # a new mirror-descent iteration starts from the current policy
            refresh = anchor.steps % config.sgd_steps == 0
            anchor_policy = jax.tree.map(lambda p, a: jnp.where(refresh, p, a), params.policy, anchor.policy)
            anchor_mean, anchor_log_std = policy_net.apply(anchor_policy, obs)
            kl_coef = kl_weight(anchor.steps // config.sgd_steps)

        def actor_loss(policy_params):
            new_action, log_prob, (mean, log_std) = sample_action(policy_params, obs, key_new, True)
            q = jnp.min(q_values(critics, obs, new_action), axis=0)
            terms = alpha * log_prob - q
            if anchor is not None:
                terms = terms + kl_coef * gaussian_kl(mean, log_std, anchor_mean, anchor_log_std)
            return jnp.sum(weight * terms) / n, log_prob

        (policy_loss, log_prob), grads = jax.value_and_grad(actor_loss, has_aux=True)(params.policy)
        policy, policy_opt_state, policy_stats = apply_gradients(optimizer, grads, policy_opt_state, params.policy,
                                                                 no_clip)
        entropy_gap = jax.lax.stop_gradient(log_prob + target_entropy)
        alpha_grad = jax.grad(lambda la: -la * jnp.sum(weight * entropy_gap) / n)(params.log_alpha)
        log_alpha, alpha_opt_state, _ = apply_gradients(optimizer, alpha_grad, alpha_opt_state, params.log_alpha,
                                                        no_clip)
        target_critics = critic.polyak(params.target_critics, critics, 1.0 - config.tau)
        params = SACParams(policy, critics, target_critics, log_alpha, params.obs_stats)
        if anchor is not None:
            anchor = Anchor(anchor_policy, anchor.steps + 1)
        metrics = dict(loss=policy_loss, critic_loss=value_loss, alpha=jnp.exp(log_alpha),
                       entropy=-jnp.sum(weight * log_prob) / n, grad_norm=policy_stats.raw_norm,
                       clipped_grad_norm=policy_stats.clipped_norm,
                       skipped_updates=(policy_stats.skipped | critic_stats.skipped).astype(jnp.int32))
        return (params, policy_opt_state, critic_opt_state, alpha_opt_state, anchor), metrics

    def update(state):
        key, key_roll, key_steps = jax.random.split(state.key, 3)
        params = state.params
        steps_before = state.iteration * config.steps_per_update(env)
        exploring = steps_before < config.learning_starts

        def act(obs, k):
            key_policy, key_uniform = jax.random.split(k)
            action, _ = sample_action(params.policy, normalize(params.obs_stats, obs), key_policy)
            uniform = jax.random.uniform(key_uniform, action.shape, action.dtype, -1.0, 1.0)
            action = jnp.where(exploring, uniform, action)
            return action, action

        final, transitions = rollout.unroll(env, act, state.rollout, key_roll, config.horizon, length, with_info=True)
        transitions = jax.lax.stop_gradient(transitions)
        buffer = add(state.buffer, transitions)
        obs_stats = params.obs_stats
        if config.normalize_observations:
            obs_stats = update_stats(obs_stats, transitions.obs)
        params = params._replace(obs_stats=obs_stats)
        carry = (params, state.policy_opt_state, state.critic_opt_state, state.alpha_opt_state, state.anchor)

        def learn(carry):
            carry, step_metrics = jax.lax.scan(partial(gradient_step, buffer), carry,
                                               jax.random.split(key_steps, config.gradient_steps))
            return carry, {name: jnp.sum(v) if name == "skipped_updates" else jnp.mean(v)
                           for name, v in step_metrics.items()}

        def wait(carry):
            return carry, jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), jax.eval_shape(learn, carry)[1])

        # A conditional, not a select: the buffer is written in place and only read after, inside
        # the branch (straight-line reads of the written buffer let XLA fuse the write into them,
        # which costs a copy of the whole buffer at every update), and no gradient step is computed
        # before learning starts. The buffer is neither a branch's output nor selected.
        learning = steps_before + config.steps_per_update(env) >= config.learning_starts
        (params, policy_opt_state, critic_opt_state, alpha_opt_state, anchor), step_metrics = jax.lax.cond(
            learning, learn, wait, carry)
        iteration = state.iteration + 1
        metrics = dict(**rollout.window_metrics(transitions), env_steps=iteration * config.steps_per_update(env),
                       horizon=jnp.asarray(config.horizon), **step_metrics)
        return SACState(params, policy_opt_state, critic_opt_state, alpha_opt_state, buffer, final, key,
                        iteration, anchor), metrics

    return init, update


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop.

    ``params`` is a :class:`SACParams`; ``metrics`` a dict of arrays, one entry per update:
    ``reward``, ``episode_return``, ``episodes``, ``solver_failures``, ``env_steps``, ``horizon``,
    and the means over the update's gradient steps (0 before learning starts) of ``loss`` (the
    actor's), ``critic_loss``, ``alpha``, ``entropy`` (of the policy at the sampled states),
    ``grad_norm`` and ``clipped_grad_norm`` (the actor's; not clipped), and ``skipped_updates``
    (non-finite gradients). Every random number derives from ``key``.
    """
    return make_train_fn(*make_learner(env, config), config.num_iterations)
