"""Policy and value networks (flax), and how a policy turns observations into actions: the
deterministic policies of the first-order learners and random search (:func:`make_policy`, optional
noise, fixed or learned) and the Gaussian policies of the likelihood-ratio and entropy-regularised
learners (:func:`make_gaussian_policy`, learned standard deviation)."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from dojax.learn.normalization import normalize

POLICIES = ("mlp", "linear")


class MLP(nn.Module):
    """Dense layers of ``hidden_sizes`` with ELU activations (each followed by layer normalisation
    when ``layer_norm``, as SHAC's actor), then a linear layer of ``out_size``.

    Every kernel starts as flax's default (LeCun normal), the output layer's times
    ``output_scale``; the biases start at zero."""

    hidden_sizes: tuple
    out_size: int
    output_scale: float = 1.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        for size in self.hidden_sizes:
            x = nn.elu(nn.Dense(size, param_dtype=jnp.float64)(x))
            if self.layer_norm:
                x = nn.LayerNorm(param_dtype=jnp.float64)(x)
        kernel_init = nn.initializers.variance_scaling(self.output_scale**2, "fan_in", "truncated_normal")
        return nn.Dense(self.out_size, kernel_init=kernel_init, param_dtype=jnp.float64)(x)


class Linear(nn.Module):
    """``W obs`` without a bias, initialised at zero (the linear policies of Mania et al.'s ARS)."""

    out_size: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.out_size, use_bias=False, kernel_init=nn.initializers.zeros, param_dtype=jnp.float64)(x)


def policy_network(kind, action_size, hidden_sizes, output_scale=1.0, layer_norm=False):
    """The policy network ``kind`` ("mlp" or "linear") with ``action_size`` outputs; an MLP's output
    layer starts at ``output_scale`` times flax's default (the linear policy starts at zero), its
    hidden layers normalised when ``layer_norm``."""
    if kind == "mlp":
        return MLP(tuple(hidden_sizes), action_size, output_scale, layer_norm)
    if kind == "linear":
        return Linear(action_size)
    raise ValueError(f"unknown policy {kind!r}; valid: {', '.join(POLICIES)}")


def value_network(hidden_sizes):
    """A state-value network: an MLP with one output (call :func:`value` to drop the last axis)."""
    return MLP(tuple(hidden_sizes), 1)


def value(network, params, obs):
    """State values of a batch of (normalised) observations, shape ``obs.shape[:-1]``."""
    return network.apply(params, obs)[..., 0]


class LearnedNoise(nn.Module):
    """The policy network ``network`` beside a free parameter ``log_std`` per action dimension, the
    log standard deviation of the action noise, initialised at ``initial_log_std`` and trained by
    the learner's gradient through the reparameterised noise (SHAC's stochastic actor); calling it
    gives the network's output."""

    network: nn.Module
    action_size: int
    initial_log_std: float

    @nn.compact
    def __call__(self, x):
        self.param("log_std", nn.initializers.constant(self.initial_log_std), (self.action_size,), jnp.float64)
        return self.network(x)


def noise_std(params, config):
    """Standard deviation of the action noise of a :func:`make_policy` policy with parameters
    ``params``: ``exp`` of the learned ``log_std`` (with ``config.learn_action_noise``; a leading
    axis where ``params`` has one per environment), else ``config.action_noise``."""
    if config.learn_action_noise:
        return jnp.exp(params["params"]["log_std"])
    return config.action_noise


def noisy_action(mean, key, noise_std, squash):
    """The action of the policy's output ``mean``: plus ``noise_std`` times standard normal noise
    drawn from ``key`` (reparameterised: the noise is an input, so gradients flow through the
    action, and a learned ``noise_std``), squashed into (-1, 1) by ``tanh`` when ``squash``.
    ``key=None`` gives the deterministic action (no noise)."""
    noiseless = key is None or (isinstance(noise_std, (int, float)) and noise_std == 0.0)
    action = mean if noiseless else mean + noise_std * jax.random.normal(key, mean.shape, mean.dtype)
    return jnp.tanh(action) if squash else action


def make_policy(action_size, config):
    """``(network, act)``: the policy network of ``config`` (its ``policy``, ``hidden_sizes``,
    ``layer_norm``, ``action_noise``, ``learn_action_noise``, ``squash_actions``) and
    ``act(policy_params, obs_stats, obs, key, per_env=False)`` -> actions of raw observations,
    normalised by the running statistics ``obs_stats``. With ``per_env``, ``policy_params`` holds
    one set of parameters per row of the batch ``obs`` (a leading axis; the noise drawn is the same
    as with shared parameters). The network's output is the deterministic action before ``tanh``;
    with ``learn_action_noise`` its parameters also hold the noise's ``log_std``
    (:class:`LearnedNoise`, starting at ``log(action_noise)``)."""
    network = policy_network(config.policy, action_size, config.hidden_sizes,
                             layer_norm=config.layer_norm)
    if config.learn_action_noise:
        network = LearnedNoise(network, action_size, math.log(config.action_noise))

    def policy_act(policy_params, obs_stats, obs, key, per_env=False):
        apply = jax.vmap(network.apply) if per_env else network.apply
        mean = apply(policy_params, normalize(obs_stats, obs))
        return noisy_action(mean, key, noise_std(policy_params, config), config.squash_actions)

    return network, policy_act


LOG_STD_RANGE = (-5.0, 2.0)  # bounds of a state-dependent log standard deviation (as CleanRL's SAC)
MEAN_INIT_SCALE = 0.01  # the Gaussian policies' output layer starts at this times flax's default


class GaussianPolicy(nn.Module):
    """A diagonal Gaussian over pre-squash actions: ``(mean, log_std)`` of observations.

    The mean is the ``kind`` network (:func:`policy_network`); the log standard deviation is a
    free parameter per action dimension (initialised at ``initial_log_std``) or, with
    ``state_dependent_std``, a second output ``z`` of the same network mapped smoothly into
    :data:`LOG_STD_RANGE` by a sigmoid, offset so that ``z = 0`` gives ``initial_log_std``.

    ``mean_init_scale`` scales the initial weights of the network's output layer (flax's default
    LeCun normal times it; biases zero): the default, :data:`MEAN_INIT_SCALE`, starts the mean
    (and ``z``) near zero at every observation, so the untrained policy acts gently, as
    Stable-Baselines3's and CleanRL's PPO, whose mean layer is orthogonal with gain 0.01.
    """

    kind: str
    action_size: int
    hidden_sizes: tuple
    state_dependent_std: bool
    initial_log_std: float
    mean_init_scale: float = MEAN_INIT_SCALE

    @nn.compact
    def __call__(self, x):
        if self.state_dependent_std:
            out = policy_network(self.kind, 2 * self.action_size, self.hidden_sizes, self.mean_init_scale)(x)
            mean, z = jnp.split(out, 2, axis=-1)
            low, high = LOG_STD_RANGE
            offset = jnp.log((self.initial_log_std - low) / (high - self.initial_log_std))  # logit of the initial value
            return mean, low + (high - low) * jax.nn.sigmoid(z + offset)
        mean = policy_network(self.kind, self.action_size, self.hidden_sizes, self.mean_init_scale)(x)
        log_std = self.param("log_std", nn.initializers.constant(self.initial_log_std), (self.action_size,),
                             jnp.float64)
        return mean, jnp.broadcast_to(log_std, mean.shape)


def gaussian_log_prob(mean, log_std, u):
    """Log-density of ``u`` under the diagonal Gaussian, summed over the last axis."""
    z = (u - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi), axis=-1)


def gaussian_entropy(log_std):
    """Entropy of the diagonal Gaussian, summed over the last axis."""
    return jnp.sum(log_std + 0.5 * jnp.log(2.0 * jnp.pi * jnp.e), axis=-1)


def gaussian_kl(mean, log_std, other_mean, other_log_std):
    """``KL(N(mean, std) || N(other_mean, other_std))`` of diagonal Gaussians, summed over the last axis."""
    ratio = jnp.exp(2.0 * (log_std - other_log_std))
    return jnp.sum(other_log_std - log_std + 0.5 * (ratio + ((mean - other_mean) * jnp.exp(-other_log_std)) ** 2)
                   - 0.5, axis=-1)


def make_gaussian_policy(action_size, config):
    """``(network, act)`` for a :class:`GaussianPolicy` of ``config`` (its ``policy``,
    ``hidden_sizes``, ``state_dependent_std``, ``initial_log_std``, ``mean_init_scale``,
    ``squash_actions``):
    ``act(policy_params, obs_stats, obs, key)`` samples ``u`` from the Gaussian at the normalised
    observations (its mean when ``key`` is None) and returns ``tanh(u)`` when ``squash_actions``,
    else ``u``."""
    network = GaussianPolicy(config.policy, action_size, tuple(config.hidden_sizes), config.state_dependent_std,
                             config.initial_log_std, config.mean_init_scale)

    def policy_act(policy_params, obs_stats, obs, key):
        mean, log_std = network.apply(policy_params, normalize(obs_stats, obs))
        u = mean if key is None else mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
        return jnp.tanh(u) if config.squash_actions else u

    return network, policy_act
