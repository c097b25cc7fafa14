"""Policy and value networks (flax), and how a policy turns observations into actions."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from dojax.learn.normalization import normalize

POLICIES = ("mlp", "linear")


class MLP(nn.Module):
    """Dense layers of ``hidden_sizes`` with ELU activations, then a linear layer of ``out_size``."""

    hidden_sizes: tuple
    out_size: int

    @nn.compact
    def __call__(self, x):
        for size in self.hidden_sizes:
            x = nn.elu(nn.Dense(size, param_dtype=jnp.float64)(x))
        return nn.Dense(self.out_size, param_dtype=jnp.float64)(x)


class Linear(nn.Module):
    """``W obs`` without a bias, initialised at zero (the linear policies of Mania et al.'s ARS)."""

    out_size: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.out_size, use_bias=False, kernel_init=nn.initializers.zeros, param_dtype=jnp.float64)(x)


def policy_network(kind, action_size, hidden_sizes):
    """The policy network ``kind`` ("mlp" or "linear") with ``action_size`` outputs."""
    if kind == "mlp":
        return MLP(tuple(hidden_sizes), action_size)
    if kind == "linear":
        return Linear(action_size)
    raise ValueError(f"unknown policy {kind!r}; valid: {', '.join(POLICIES)}")


def value_network(hidden_sizes):
    """A state-value network: an MLP with one output (call :func:`value` to drop the last axis)."""
    return MLP(tuple(hidden_sizes), 1)


def value(network, params, obs):
    """State values of a batch of (normalised) observations, shape ``obs.shape[:-1]``."""
    return network.apply(params, obs)[..., 0]


def act(network, params, obs, key, noise_std, squash):
    """Actions of the policy at (normalised) observations ``obs``.

    The network's output plus ``noise_std`` times standard normal noise drawn from ``key``
    (reparameterised: the noise is an input, so gradients flow through the action), squashed into
    (-1, 1) by ``tanh`` when ``squash``. ``key=None`` gives the deterministic action (no noise).
    """
    return noisy_action(network.apply(params, obs), key, noise_std, squash)


def noisy_action(mean, key, noise_std, squash):
    """:func:`act`'s action of the policy's output ``mean``."""
    action = mean if key is None or noise_std == 0.0 else mean + noise_std * jax.random.normal(key, mean.shape, mean.dtype)
    return jnp.tanh(action) if squash else action


def make_policy(action_size, config):
    """``(network, act)``: the policy network of ``config`` (its ``policy``, ``hidden_sizes``,
    ``action_noise``, ``squash_actions``) and ``act(policy_params, obs_stats, obs, key,
    per_env=False)`` -> actions of raw observations, normalised by the running statistics
    ``obs_stats``. With ``per_env``, ``policy_params`` holds one set of parameters per row of the
    batch ``obs`` (a leading axis; the noise drawn is the same as with shared parameters)."""
    network = policy_network(config.policy, action_size, config.hidden_sizes)

    def policy_act(policy_params, obs_stats, obs, key, per_env=False):
        if not per_env:
            return act(network, policy_params, normalize(obs_stats, obs), key, config.action_noise,
                       config.squash_actions)
        mean = jax.vmap(network.apply)(policy_params, normalize(obs_stats, obs))
        return noisy_action(mean, key, config.action_noise, config.squash_actions)

    return network, policy_act
