"""AHAC (dojax.learn.ahac): its windows are cut at stiff contact and its horizon follows the
contact force; without contact it is SHAC.

A stiff toy task stands in for contact (a point mass on a line pushed against a wall that is a
stiff spring, dt^2 k = 5, which reports its force in ``info``); the contact force of a dojax
environment is checked against a block's weight.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax import learn
from dojax.envs import EnvState
from dojax.learn import ahac, networks, rollout, shac
from dojax.learn.lqr import DoubleIntegrator
from test_learn import MLP, assert_gradient_matches_finite_differences, nonlinear_params


class StiffWall:
    """A unit mass on a line, pushed by the action (a force in [-1, 1] after the policy's tanh)
    towards a wall at x = 1 that is a stiff spring (a softplus of the penetration, stiffness
    ``stiffness``); reward: the position, less 0.01 action^2. ``info["contact_force"]`` is the wall's
    force."""

    observation_size = 2
    action_size = 1
    max_episode_steps = 50

    def __init__(self, stiffness=2000.0, dt=0.05):
        self.stiffness, self.dt = stiffness, dt

    def force(self, x):
        return self.stiffness * jax.nn.softplus(40.0 * (x - 1.0)) / 40.0

    def reset(self, key):
        k_x, k_v = jax.random.split(key)
        x = jnp.stack([jax.random.uniform(k_x, (), jnp.float64, 0.0, 0.8),
                       jax.random.uniform(k_v, (), jnp.float64, 0.0, 2.0)])
        false = jnp.asarray(False)
        return EnvState(sim=x, obs=x, reward=jnp.zeros(()), terminated=false, solver_failed=false,
                        info={"contact_force": self.force(x[0])})

    def step(self, env_state, action):
        x, v = env_state.sim
        u = jnp.asarray(action, jnp.float64)[0]
        v = v + self.dt * (u - self.force(x))
        x = x + self.dt * v
        after = jnp.stack([x, v])
        return env_state._replace(sim=after, obs=after, reward=x - 0.01 * u**2, info={"contact_force": self.force(x)})


TOY = dict(num_envs=8, horizon=12, hidden_sizes=(8,), action_noise=0.1, critic_hidden_sizes=(8,), critic_epochs=2,
           critic_minibatches=2, episode_length=50)


def test_without_contact_ahac_is_shac():
    # the double integrator reports no contact force: the horizon stays at its maximum, nothing is
    # cut, and AHAC takes SHAC's steps (same keys, same windows, same critic targets)
    options = dict(MLP, num_iterations=3, critic_hidden_sizes=(8,), critic_epochs=2, critic_minibatches=2)
    env = DoubleIntegrator()
    ahac_params, metrics = jax.jit(ahac.make_train(env, ahac.AHACConfig(**options)))(jax.random.key(0))
    shac_params, _ = jax.jit(shac.make_train(env, shac.SHACConfig(**options)))(jax.random.key(0))
    assert np.all(metrics["horizon"] == MLP["horizon"]) and int(metrics["stiff_steps"].sum()) == 0
    np.testing.assert_array_equal(metrics["env_steps"], MLP["num_envs"] * MLP["horizon"] * np.arange(1, 4))
    for a, b in zip(jax.tree.leaves(ahac_params), jax.tree.leaves(shac_params)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)  # summation order of the critic targets


def toy_losses(threshold):
    env = StiffWall()
    config = ahac.AHACConfig(contact_threshold=threshold, **TOY)
    params, stats = nonlinear_params(jax.random.key(1), env, config)
    critic_params = networks.value_network((8,)).init(jax.random.key(2), jnp.zeros(2))
    state = rollout.start(env, jax.random.key(3), config.num_envs)
    loss = ahac.make_actor_loss(env, config)
    return env, config, params, stats, critic_params, state, loss


def test_stiff_steps_are_cut_out_of_the_actor_loss():
    env, config, params, stats, critic_params, state, loss = toy_losses(threshold=1.0)
    key = jax.random.key(4)
    window = loss(params, critic_params, stats, state, key, 9)[1][1]
    stiff = np.asarray(window.stiff)
    assert 0 < stiff.sum() < stiff.size and not stiff[9:].any() and not np.asarray(window.active)[9:].any()
    closed = window.closed()
    assert np.all(np.asarray(closed.failed)[stiff])  # left out
    before = np.zeros_like(stiff)
    before[:-1] = stiff[1:]
    ends = before & ~stiff & ~np.asarray(window.transitions.terminated)
    assert np.all(np.asarray(closed.truncated)[ends])  # the piece before a stiff step is closed by the critic
    # the gradient is the derivative of the loss with the states after stiff steps held fixed; with
    # no cut it is the loss's derivative, here over a window shorter than its slots
    env, config, params, stats, critic_params, state, never = toy_losses(threshold=1e9)
    assert not np.asarray(never(params, critic_params, stats, state, key, 9)[1][1].stiff).any()
    assert_gradient_matches_finite_differences(lambda p: never(p, critic_params, stats, state, key, 9)[0], params)
    # and over its full length it is SHAC's loss
    shac_loss = shac.make_actor_loss(env, shac.SHACConfig(**TOY))
    np.testing.assert_allclose(never(params, critic_params, stats, state, key, 12)[0],
                               shac_loss(params, critic_params, stats, state, key)[0], rtol=1e-12)


def test_the_horizon_follows_the_contact_force():
    config = ahac.AHACConfig(horizon=12, horizon_min=4, contact_threshold=2.0, horizon_rate=1.5, **{
        k: v for k, v in TOY.items() if k != "horizon"})
    transitions = rollout.Transition(*(jnp.zeros((12, 2)),) * 7)._replace(
        failed=jnp.zeros((12, 2), bool).at[0, 0].set(True))
    force = jnp.full((12, 2), 3.0).at[0, 0].set(100.0)  # a failed step's force is not counted
    active = jnp.broadcast_to((jnp.arange(12) < 10)[:, None], (12, 2))
    window = ahac.Window(transitions, active, force > 2.0, force)
    horizon, mean_force = ahac.next_horizon(jnp.asarray(10.0), window, config)
    assert float(mean_force) == pytest.approx(3.0) and float(horizon) == pytest.approx(10.0 - 1.5)
    assert float(ahac.next_horizon(jnp.asarray(4.5), window, config)[0]) == 4.0  # clipped at horizon_min
    calm = window._replace(force=jnp.zeros((12, 2)))
    assert float(ahac.next_horizon(jnp.asarray(11.0), calm, config)[0]) == 12.0  # and at horizon
    # in training: a threshold below the wall's typical force shrinks the horizon to its minimum
    config = dataclasses.replace(config, num_iterations=6, contact_threshold=0.05, horizon_rate=4.0)
    train = ahac.make_train(StiffWall(), config)
    params, metrics = jax.jit(train)(jax.random.key(0))
    horizons = np.asarray(metrics["horizon"])
    assert horizons[0] == 12 and np.all(np.diff(horizons) <= 0) and horizons[-1] == 4
    assert int(metrics["stiff_steps"].sum()) > 0
    np.testing.assert_array_equal(metrics["env_steps"], np.cumsum(config.num_envs * metrics["horizon"]))
    # vmap over seeds (each with its own horizon: the window's cond becomes a select) equals single runs
    keys = jnp.stack([jax.random.key(0), jax.random.key(1)])
    batched = jax.jit(jax.vmap(train))(keys)
    other = jax.jit(train)(keys[1])
    assert not np.array_equal(batched[1]["horizon"][0], batched[1]["horizon"][1])
    for i, single in enumerate(((params, metrics), other)):
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched)):
            np.testing.assert_allclose(b[i], a, rtol=1e-10, atol=1e-12)


def test_contact_force_of_a_resting_block_is_its_weight():
    env = dojax.envs.make("BlockPush")
    step = jax.jit(env.step)
    state = env.reset(jax.random.key(0))
    for _ in range(40):
        state = step(state, jnp.zeros(env.action_size))
    contact_force = jax.jit(lambda s: ahac.contact_force(env, s))  # as the learner calls it, compiled
    force = float(contact_force(state))
    assert force == pytest.approx(1.0, rel=0.05)  # its four ground contacts carry its weight
    batched = jax.tree.map(lambda a: jnp.stack([a, a]), state)
    np.testing.assert_allclose(contact_force(batched), [force, force])


def test_ahac_front_and_bad_options():
    agent = learn.AHAC(StiffWall(), seed=0, **dict(TOY, horizon_min=4, contact_threshold=0.05, horizon_rate=4.0))
    seen = []
    agent.learn(200, progress_bar=False, callback=lambda a, m: seen.append(m))
    # updates of varying length, counted as taken
    assert agent.num_timesteps == sum(m["horizon"] * 8 for m in seen) >= 200 and seen[-1]["horizon"] < 12
    assert agent.predict(np.array([[0.3, 0.1]])).shape == (1, 1)
    with pytest.raises(ValueError, match="horizon_min must be at most horizon = 12, got 16"):
        ahac.AHACConfig(horizon=12, horizon_min=16)
    with pytest.raises(ValueError, match="contact_threshold must be a positive number"):
        learn.AHAC(StiffWall(), contact_threshold=0.0)
