"""The alpha-order estimator (dojax.learn.alpha_order; Suh et al. 2022): on a smooth problem (the
double integrator) it is the first-order gradient; on a discontinuous one (a Heaviside reward, the
paper's example) the first-order gradient is biased (zero) and the mix stays near the unbiased
zeroth-order estimate.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.stats import norm

from dojax.envs import EnvState
from dojax.learn import alpha_order, apg, networks, rollout, shac
from dojax.learn.lqr import DoubleIntegrator
from dojax.learn.normalization import init_stats, update_stats

LINEAR = dict(policy="linear", squash_actions=False, normalize_observations=False, alpha_order=True)


class Heaviside:
    """One step from the observation 1: reward 1 if the action is positive, else 0. Under a linear
    policy ``a = theta + std * w`` the smoothed objective is ``Phi(theta / std)``, its gradient
    ``phi(theta / std) / std``; the reward's derivative in the action is 0 everywhere it exists."""

    observation_size = 1
    action_size = 1
    max_episode_steps = 1

    def reset(self, key):
        false = jnp.asarray(False)
        return EnvState(sim=jnp.ones(1), obs=jnp.ones(1), reward=jnp.zeros(()), terminated=false, solver_failed=false,
                        info={})

    def step(self, env_state, action):
        return env_state._replace(reward=jnp.where(action[0] > 0.0, 1.0, 0.0))


def samples(env, config, params, stats, keys, state_key=jax.random.key(1)):
    """Per-environment first- and zeroth-order gradient samples of APG's loss, one set per key."""
    network, _ = networks.make_policy(env.action_size, config)
    loss = apg.make_loss(env, config)
    state = rollout.start(env, state_key, config.num_envs)

    def one(key):
        return alpha_order.gradient_samples(lambda p: loss(p, stats, state, key, True), alpha_order.unrolled, network,
                                            stats, key, lambda p: networks.noise_std(p, config), params,
                                            config.num_envs)[:2]

    return jax.jit(jax.vmap(one))(keys)


def linear(kernel):
    return {"params": {"Dense_0": {"kernel": jnp.asarray(kernel, jnp.float64)}}}


def test_on_a_discontinuity_the_mix_follows_the_zeroth_order_estimate():
    std, theta, n = 0.5, 0.2, 256
    config = apg.APGConfig(num_envs=n, horizon=1, episode_length=1, action_noise=std, **LINEAR)
    keys = jax.random.split(jax.random.key(0), 8)
    first, zeroth = samples(Heaviside(), config, linear([[theta]]), init_stats(1), keys)
    true = -norm.pdf(theta / std) / std  # of the loss, minus the smoothed reward
    mixed, alpha = jax.vmap(alpha_order.mix)(first, zeroth)
    mean_zeroth = np.asarray(zeroth.mean(1))[:, 0]
    error = np.std(np.asarray(zeroth)[..., 0], axis=1, ddof=1) / np.sqrt(n)  # the standard error of each mean
    print(f"true {true:.4f}; zeroth-order {np.round(mean_zeroth, 3)} +- {error.mean():.3f}; "
          f"mixed {np.round(np.asarray(mixed)[:, 0], 3)}; alpha {np.round(np.asarray(alpha), 3)}")
    assert np.all(np.asarray(first) == 0.0)  # first order: zero, biased by the whole gradient
    # the zeroth-order means are unbiased: their average over 8 keys within 3 standard errors
    assert abs(mean_zeroth.mean() - true) < 3 * error.mean() / np.sqrt(8)
    # the mix keeps little of the first-order estimate and stays within the zeroth-order
    # estimate's confidence radius (2 standard errors) of it; measured alpha 0.12-0.14
    assert np.all(np.asarray(alpha) < 0.3)
    assert np.all(np.abs(np.asarray(mixed)[:, 0] - mean_zeroth) <= alpha_order.CONFIDENCE * error * (1 + 1e-9))
    assert abs(np.mean(np.asarray(mixed)) - true) < 0.2 * abs(true)


def test_the_zeroth_order_estimate_of_a_learned_noise_is_unbiased():
    """With ``learn_action_noise`` the score includes the noise's log standard deviation ``s``: on
    the Heaviside reward the smoothed loss is ``-Phi(theta / e^s)``, its derivative in ``s``
    ``phi(theta / std) theta / std``; the first-order estimate sees neither."""
    std, theta, n = 0.5, 0.2, 256
    config = apg.APGConfig(num_envs=n, horizon=1, episode_length=1, action_noise=std, learn_action_noise=True,
                           **LINEAR)
    params = {"params": {"log_std": jnp.full(1, np.log(std)), "network": linear([[theta]])["params"]}}
    keys = jax.random.split(jax.random.key(0), 8)
    first, zeroth = samples(Heaviside(), config, params, init_stats(1), keys)
    np.testing.assert_array_equal(ravel_pytree(params)[0], [np.log(std), theta])  # the gradients' layout
    true = np.array([norm.pdf(theta / std) * theta / std, -norm.pdf(theta / std) / std])
    means = np.asarray(zeroth.mean(1)).mean(0)
    errors = np.std(np.asarray(zeroth), axis=1, ddof=1).mean(0) / np.sqrt(n * 8)  # of the 8 keys' mean
    print(f"true {true}; zeroth-order {means} +- {errors}")
    assert np.all(np.asarray(first) == 0.0)
    np.testing.assert_array_less(np.abs(means - true), 3 * errors)  # unbiased, within 3 standard errors


def test_on_a_smooth_problem_the_mix_is_the_first_order_gradient():
    env = DoubleIntegrator()
    config = apg.APGConfig(num_envs=64, horizon=20, action_noise=0.3, **LINEAR)
    first, zeroth = samples(env, config, linear([[-1.0], [-1.5]]), init_stats(2), jax.random.key(0)[None])
    mixed, alpha = alpha_order.mix(first[0], zeroth[0])
    mean_first = np.asarray(first[0].mean(0))
    print(f"alpha {float(alpha):.5f}; first order {mean_first}, mixed {np.asarray(mixed)}, zeroth order "
          f"{np.asarray(zeroth[0].mean(0))}")
    # the first-order estimate's variance is ~500 times smaller (measured alpha 0.998): the step
    # is the first-order one to within 2% (measured 0.8%)
    assert float(alpha) > 0.99
    assert np.linalg.norm(np.asarray(mixed) - mean_first) < 0.02 * np.linalg.norm(mean_first)


def test_per_environment_gradients_add_up_to_the_learners_gradient():
    env = DoubleIntegrator(max_episode_steps=7)
    config = apg.APGConfig(num_envs=4, horizon=5, hidden_sizes=(8,), action_noise=0.3, alpha_order=True)
    network, _ = networks.make_policy(env.action_size, config)
    params = network.init(jax.random.key(2), jnp.zeros(2))
    stats = update_stats(init_stats(2), jax.random.normal(jax.random.key(3), (16, 2)) + 0.3)
    loss = apg.make_loss(env, config)
    state = rollout.start(env, jax.random.key(4), config.num_envs)
    key = jax.random.key(5)
    first, zeroth = samples(env, config, params, stats, key[None], jax.random.key(4))
    gradient = ravel_pytree(jax.grad(lambda p: loss(p, stats, state, key)[0])(params))[0]
    np.testing.assert_allclose(first[0].mean(0), gradient, rtol=1e-10, atol=1e-14)
    # the per-environment parameters draw the same noise: the loss value is the shared one's
    stacked = jax.tree.map(lambda p: jnp.broadcast_to(p, (4,) + p.shape), params)
    np.testing.assert_allclose(jnp.sum(loss(stacked, stats, state, key, True)[0]), loss(params, stats, state, key)[0],
                               rtol=1e-12)
    assert np.all(np.isfinite(zeroth))


def test_mix_weights_by_variance():
    rng = np.random.default_rng(0)
    first = jnp.asarray(1.0 + 0.1 * rng.standard_normal((100, 3)))
    zeroth = jnp.asarray(1.0 + 1.0 * rng.standard_normal((100, 3)))
    _, alpha = alpha_order.mix(first, zeroth)
    var_f, var_z = np.var(first, axis=0, ddof=1).sum(), np.var(zeroth, axis=0, ddof=1).sum()
    assert float(alpha) == pytest.approx(var_z / (var_f + var_z))  # the means agree: inverse-variance weights
    _, alpha = alpha_order.mix(first + 5.0, zeroth)  # they disagree: alpha shrinks to keep within 2 std errors
    gap = np.linalg.norm(np.mean(first + 5.0, 0) - np.mean(zeroth, 0))
    assert float(alpha) == pytest.approx(2.0 * np.sqrt(var_z / 100) / gap)


def test_shac_trains_with_alpha_order():
    config = shac.SHACConfig(num_iterations=3, num_envs=4, horizon=5, hidden_sizes=(8,), critic_hidden_sizes=(8,),
                             critic_epochs=1, critic_minibatches=2, action_noise=0.3, episode_length=7,
                             alpha_order=True)
    params, metrics = jax.jit(shac.make_train(DoubleIntegrator(), config))(jax.random.key(0))
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(params))
    assert np.all((metrics["alpha"] > 0) & (metrics["alpha"] <= 1)) and int(metrics["skipped_updates"].sum()) == 0


def test_alpha_order_needs_action_noise():
    with pytest.raises(ValueError, match="alpha_order needs action_noise > 0 and num_envs >= 2"):
        apg.APGConfig(alpha_order=True)
