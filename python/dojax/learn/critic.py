"""The critic of actor-critic learners: TD(lambda) targets and minibatch regression on them."""

import jax
import jax.numpy as jnp

from dojax.learn import networks
from dojax.learn.optim import descend


def td_lambda_targets(transitions, value_obs, value_next, discount, td_lambda):
    """TD(lambda) returns of a window, ``(horizon, num_envs)``.

    ``G_t = r_t + discount * [(1 - lambda) V(s_{t+1}) + lambda G_{t+1}]``, bootstrapped with
    ``V(s_{t+1})`` where the window or the episode is truncated and with 0 where the task
    terminated. A failed solver step's target is its own state's value (it adds no information).
    ``value_obs`` and ``value_next`` are the (target) critic's values of ``obs`` and ``next_obs``.
    """

    def backward(next_return, step):
        reward, v_obs, v_next, terminated, truncated, failed = step
        blended = (1.0 - td_lambda) * v_next + td_lambda * next_return
        bootstrap = jnp.where(terminated, 0.0, jnp.where(truncated, v_next, blended))
        target = jnp.where(failed, v_obs, reward + discount * bootstrap)
        return target, target

    steps = (transitions.reward, value_obs, value_next, transitions.terminated, transitions.truncated,
             transitions.failed)
    _, targets = jax.lax.scan(backward, value_next[-1], steps, reverse=True)
    return targets


def value_loss(network, params, obs, targets, weights):
    """Weighted mean squared error of the value network's values of ``obs`` against ``targets``."""
    error = networks.value(network, params, obs) - targets
    return jnp.sum(weights * error**2) / jnp.maximum(jnp.sum(weights), 1.0)


def fit(network, optimizer, params, opt_state, obs, targets, weights, key, epochs, minibatches, max_grad_norm,
        extra_loss=None):
    """Regress the value network on ``targets`` (weighted squared error) for ``epochs`` passes
    over ``minibatches`` shuffled minibatches (each pass leaves out a random remainder of fewer
    than ``minibatches`` samples). ``extra_loss(params, key)``, if given, is added to each
    minibatch's loss with a key of its own (the shuffling does not change). Returns ``(params,
    opt_state, mean loss, updates skipped)``."""
    obs = obs.reshape(-1, obs.shape[-1])
    targets, weights = targets.reshape(-1), weights.reshape(-1).astype(targets.dtype)
    size = targets.shape[0] // minibatches

    def minibatch_step(carry, inputs):
        batch, extra_key = inputs

        def loss(p):
            value = value_loss(network, p, *batch)
            return (value if extra_loss is None else value + extra_loss(p, extra_key)), ()

        params, opt_state, value, _, stats = descend(loss, optimizer, *carry, max_grad_norm)
        return (params, opt_state), (value, stats.skipped)

    def epoch(carry, key):
        order = jax.random.permutation(key, targets.shape[0])[: size * minibatches]
        batches = jax.tree.map(lambda x: x[order].reshape((minibatches, size) + x.shape[1:]), (obs, targets, weights))
        extra_keys = None if extra_loss is None else jax.random.split(jax.random.fold_in(key, 1), minibatches)
        return jax.lax.scan(minibatch_step, carry, (batches, extra_keys))

    (params, opt_state), (losses, skipped) = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, epochs))
    return params, opt_state, jnp.mean(losses), jnp.sum(skipped)


def polyak(target, online, alpha):
    """``alpha * target + (1 - alpha) * online``, leaf by leaf (the target network's update)."""
    return jax.tree.map(lambda t, o: alpha * t + (1.0 - alpha) * o, target, online)
