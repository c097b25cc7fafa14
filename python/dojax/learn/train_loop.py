"""The compiled training loop and the per-update metrics shared by the first-order learners."""

import jax
import jax.numpy as jnp

from dojax.learn import rollout
from dojax.learn.networks import noise_std


def make_train_fn(init, update, num_iterations):
    """``train(key) -> (params, metrics)``: ``init(key)``, then ``num_iterations`` of ``update``
    in one ``lax.scan``; ``metrics`` stacks each update's metrics along a leading axis."""

    def train(key):
        state, metrics = jax.lax.scan(lambda s, _: update(s), init(key), None, length=num_iterations)
        return state.params, metrics

    return train


def update_metrics(config, iteration, loss, transitions, grad_stats, alpha, policy):
    """The metrics every first-order update reports: its policy loss, the window's reward, ended
    episodes' return and failed solver steps, environment steps so far, the horizon, the raw and
    clipped gradient norms, whether the update was skipped, the weight ``alpha`` of the
    first-order gradient in the step (1 unless ``alpha_order``) and the action noise's standard
    deviation after it (averaged over the actions; learned with ``learn_action_noise``) of the
    policy parameters ``policy``."""
    return dict(loss=loss, **rollout.window_metrics(transitions),
                env_steps=iteration * config.num_envs * config.horizon, horizon=jnp.asarray(config.horizon),
                grad_norm=grad_stats.raw_norm, clipped_grad_norm=grad_stats.clipped_norm,
                skipped_updates=grad_stats.skipped.astype(jnp.int32), alpha=alpha,
                action_noise=jnp.mean(jnp.asarray(noise_std(policy, config), jnp.float64)))
