"""HNPG (dojax.learn.hnpg) and replays (dojax.learn.replay): a replay records a learner's rollouts,
HNPG with a replay of the optimal policy lowers the cost of the double-integrator LQR task, without
offline data it is NPG bit for bit (and with the data at weight 0, to rounding), training is
deterministic and the replay's path travels with a checkpoint.

Learning margin (measured, seed keys 0..3, 10k environment steps): with a replay of 2000 steps of
the Riccati-optimal policy, HNPG's linear gain lowers the exact expected 100-step cost from the
zero policy's 1161 to 6.4-14.0 (NPG alone: 6.3-15.6; the replay shapes the critic only, and on this
task the advantage baseline matters little, so the two are close).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dojax import learn
from dojax.learn import hnpg, networks, ppo, replay
from dojax.learn.lqr import DoubleIntegrator
from dojax.learn.normalization import init_stats, normalize

LQR_PPO = dict(num_iterations=20, num_envs=8, horizon=64, epochs=5, minibatches=4, policy="linear",
               squash_actions=False, normalize_observations=False, learning_rate=0.01, critic_hidden_sizes=(16,),
               initial_log_std=-0.5)
TINY = dict(num_iterations=2, num_envs=2, horizon=8, epochs=2, minibatches=2, hidden_sizes=(4,),
            critic_hidden_sizes=(4,), episode_length=6)


def identical(a, b):
    """The pytrees' leaves are equal bit for bit (PRNG keys by their data)."""
    data = lambda x: jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x  # noqa: E731
    return all(np.array_equal(data(x), data(y), equal_nan=True) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope="module")
def expert_replay(tmp_path_factory):
    """2000 steps of the Riccati-optimal linear policy (std exp(-0.5)) on the LQR task, recorded
    through a PPO learner whose gain is set to the optimum."""
    env = DoubleIntegrator()
    agent = learn.PPO(env, seed=0, **LQR_PPO)
    agent.state = agent._init(jax.random.key(0))
    agent.state.params.policy["params"]["Linear_0"]["Dense_0"]["kernel"] = jnp.asarray(env.optimal_gain().T)
    path = str(tmp_path_factory.mktemp("replay") / "expert.npz")
    assert replay.record(agent, 2000, path, num_envs=8) == 2000
    return path


def test_a_replay_records_a_learners_rollouts(expert_replay):
    env = DoubleIntegrator()
    data = replay.load(expert_replay, env.observation_size, env.action_size)
    assert data.obs.shape == data.next_obs.shape == (2000, 2) and data.action.shape == (2000, 1)
    # the log-densities are those of the optimal gain's Gaussian (std exp(-0.5), unsquashed) at the
    # observations as the policy sees them (normalised by statistics of no data: divided by sqrt(1 + 1e-8))
    mean = np.asarray(normalize(init_stats(2), data.obs)) @ env.optimal_gain().T
    expected = networks.gaussian_log_prob(mean, np.full((2000, 1), -0.5), data.action)
    np.testing.assert_allclose(data.log_prob, expected, rtol=1e-12)
    # each environment's 250 steps are consecutive: 100-step episodes, then the recording stops
    assert np.array_equal(np.flatnonzero(data.done) % 250 + 1, np.tile([100, 200, 250], 8))
    np.testing.assert_array_equal(data.obs[1:][~data.done[:-1]], data.next_obs[:-1][~data.done[:-1]])


def test_without_offline_data_hnpg_is_npg(expert_replay):
    """Without data HNPG's training is NPG's program (the same jaxpr, so bit for bit); with data at
    weight 0 its result is NPG's to rounding (1e-12: the critic's loss adds exact zeros, but XLA
    fuses the larger graph differently), and deterministic."""
    env = DoubleIntegrator(max_episode_steps=6)
    npg = ppo.make_train(env, ppo.PPOConfig(**TINY, optimizer="npg"))
    key = jax.random.key(3)
    assert str(jax.make_jaxpr(npg)(key)) == str(jax.make_jaxpr(hnpg.make_train(env, hnpg.HNPGConfig(**TINY)))(key))
    expected = jax.jit(npg)(key)
    train = jax.jit(hnpg.make_train(env, hnpg.HNPGConfig(**TINY, offline_data=expert_replay, offline_weight=0.0)))
    got = train(key)
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    assert identical(got, train(key))


def test_with_an_expert_replay_hnpg_lowers_the_lqr_cost(expert_replay):
    """Mean exact episode cost over seed keys 0..3 below 2% of the zero policy's (measured 6.4-14.0
    against 1161)."""
    env = DoubleIntegrator()
    config = hnpg.HNPGConfig(**LQR_PPO, npg_max_kl=0.05, offline_data=expert_replay)
    params, metrics = jax.jit(jax.vmap(hnpg.make_train(env, config)))(jax.random.split(jax.random.key(0), 4))
    kernel = np.asarray(params.policy["params"]["Linear_0"]["Dense_0"]["kernel"])
    costs = [env.episode_cost(g) for g in np.swapaxes(kernel, -1, -2)]
    zero = env.episode_cost(np.zeros((1, 2)))
    print(f"HNPG: exact episode costs {np.round(costs, 2)}, zero policy {zero:.0f}")
    assert np.mean(costs) < 0.02 * zero
    assert int(metrics["skipped_updates"].sum()) == 0


def test_the_replay_travels_with_a_checkpoint(tmp_path, expert_replay):
    agent = learn.HNPG(DoubleIntegrator(), seed=3, **TINY, offline_data=expert_replay)
    agent.state = agent._init(jax.random.key(3))
    path = str(tmp_path / "agent.npz")
    agent.save(path)
    loaded = learn.HNPG.load(path, env=DoubleIntegrator())
    assert loaded.config == agent.config and identical(loaded.state, agent.state)


def test_bad_input_is_a_one_line_error(tmp_path, expert_replay):
    not_replay = tmp_path / "other.npz"
    np.savez(not_replay, obs=np.zeros((3, 2)))
    cases = [
        (lambda: hnpg.HNPGConfig(optimizer="adam"), "HNPG's actor is the natural policy gradient"),
        (lambda: hnpg.HNPGConfig(offline_weight=-1.0), "offline_weight must be >= 0"),
        (lambda: hnpg.HNPGConfig(offline_batch_size=0), "offline_batch_size must be a positive integer"),
        (lambda: hnpg.HNPGConfig(offline_data=str(tmp_path / "missing.npz")), "missing.npz: not a readable replay"),
        (lambda: hnpg.HNPGConfig(offline_data=str(not_replay)), "other.npz: not a replay file"),
        (lambda: learn.HNPG("dojax/Pendulum-v0", offline_data=expert_replay),
         "expert.npz: obs is shaped \\[2000, 2\\], expected \\[2000, 3\\]"),
        (lambda: replay.record(learn.PPO(DoubleIntegrator()), 10, str(tmp_path / "r.npz")), "record needs a trained"),
        (lambda: replay.record(learn.APG(DoubleIntegrator()), 10, str(tmp_path / "r.npz")),
         "record needs a learner with a Gaussian policy"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            make()
        assert "\n" not in str(error.value)
