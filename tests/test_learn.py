"""Learners (dojax.learn): they learn the known optimum of a linear-quadratic regulator, their
derivatives match finite differences, and training is a deterministic function of the seed.

The learning tests measure the exact expected infinite-horizon cost of the learned linear policy
``u = G x`` from the reset distribution (a Lyapunov equation, no sampling) against the Riccati
optimum of the same objective: undiscounted for APG (it maximises the plain mean reward), discounted
by 0.99 for SHAC (its actor and critic use that discount). The deterministic part (Riccati,
Lyapunov) is exact; what remains is the learners' own error: APG's truncation bias (its windows
ignore the cost after them; 50-step windows leave 0.9^50 of the state), SHAC's critic error, and
the noise of the last Adam steps. Measured: APG 1.0000003 of the optimum, SHAC 1.0000002 (seed 0;
1.00001 for seed 1). The issue asks for 1%; the tests assert 0.1%, which leaves a wide margin for
other platforms and still fails on a mis-tuned learner (a critic whose step size decayed 32 times
too fast left SHAC at 1.003). The cost is flat at its minimum: 0.1% of cost is a few percent of gain.

ARS and AGS (random search, and its gradient version) are asked to improve the cost monotonically
on average: the exact expected cost of a 100-step episode (what they maximise minus) of the gain
after 5, 10 and 20 updates, averaged over 4 seeds, must decrease, and after 20 updates be below 2%
of the zero policy's (1161). Measured means: ARS 16.6, 12.2, 8.8; AGS 14.5, 13.3, 11.9 (the
finite-horizon cost of the Riccati gain is 5.97).
"""

import dataclasses

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dojax import learn
from dojax.learn import ags, apg, ars, critic, networks, rollout, shac
from dojax.learn.lqr import DoubleIntegrator
from dojax.learn.normalization import init_stats, normalize, update_stats
from dojax.learn.optim import adam, apply_gradients

LQR = dict(num_envs=64, policy="linear", squash_actions=False, normalize_observations=False, max_grad_norm=100.0,
           learning_rate=0.1, learning_rate_decay=0.995)
APG_LQR = apg.APGConfig(num_iterations=500, horizon=50, **LQR)
SHAC_LQR = shac.SHACConfig(num_iterations=500, horizon=32, discount=0.99, critic_hidden_sizes=(32, 32),
                           critic_epochs=8, critic_learning_rate=0.005, **LQR)
# small nonlinear settings for the derivative and determinism checks
MLP = dict(num_envs=4, horizon=5, hidden_sizes=(8,), action_noise=0.3, squash_actions=True,
           normalize_observations=True, episode_length=7)


def gain(policy_params):
    """``G`` of the linear policy ``u = G x``."""
    return np.asarray(policy_params["params"]["Dense_0"]["kernel"]).T


def central_differences(f, x, eps=1e-6):
    """Gradient of the scalar ``f`` at the vector ``x`` by central differences."""
    return np.array([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(x.size)])


def assert_gradient_matches_finite_differences(loss, params):
    flat, unravel = ravel_pytree(params)
    value_and_grad = jax.jit(jax.value_and_grad(lambda x: loss(unravel(x))))  # one compile for both
    grad = value_and_grad(flat)[1]
    fd = central_differences(lambda x: value_and_grad(x)[0], flat)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    assert np.linalg.norm(grad) > 1e-3  # not trivially zero


def nonlinear_params(key, env, config):
    """Random policy parameters and non-trivial observation statistics."""
    network, _ = networks.make_policy(env.action_size, config)
    params = network.init(key, jnp.zeros(env.observation_size))
    stats = update_stats(init_stats(env.observation_size), jax.random.normal(key, (16, env.observation_size)) + 0.3)
    return params, stats


# -- learning a known optimum -------------------------------------------------------------------

def test_apg_reaches_the_riccati_cost():
    env = DoubleIntegrator()
    params, metrics = jax.jit(apg.make_train(env, APG_LQR))(jax.random.key(0))
    ratio = env.cost(gain(params.policy)) / env.optimal_cost()
    print(f"APG: cost {env.cost(gain(params.policy)):.6f}, optimum {env.optimal_cost():.6f}, ratio {ratio:.7f}")
    assert ratio < 1.001
    assert int(metrics["solver_failures"].sum()) == 0 and int(metrics["skipped_updates"].sum()) == 0


def test_shac_reaches_the_riccati_cost():
    env = DoubleIntegrator()
    params, metrics = jax.jit(shac.make_train(env, SHAC_LQR))(jax.random.key(0))
    cost, optimum = env.cost(gain(params.policy), 0.99), env.optimal_cost(0.99)
    print(f"SHAC: discounted cost {cost:.6f}, optimum {optimum:.6f}, ratio {cost / optimum:.7f}")
    assert cost / optimum < 1.001
    assert np.all(np.isfinite(metrics["critic_loss"]))


ARS_LQR = ars.ARSConfig(num_directions=8, top_directions=4, exploration_noise=0.05, learning_rate=0.2,
                        squash_actions=False, normalize_observations=False)
AGS_LQR = ags.AGSConfig(num_episodes=8, learning_rate=0.5, squash_actions=False, normalize_observations=False)


@pytest.mark.parametrize("module, config", [(ars, ARS_LQR), (ags, AGS_LQR)], ids=["ars", "ags"])
def test_random_search_improves_the_lqr_cost_monotonically_on_average(module, config):
    env = DoubleIntegrator()
    keys = jax.random.split(jax.random.key(0), 4)
    initial = env.episode_cost(np.zeros((1, 2)))
    means = []
    for updates in (5, 10, 20):  # the same seeds: each run continues the shorter one's updates
        train = jax.jit(jax.vmap(module.make_train(env, dataclasses.replace(config, num_iterations=updates))))
        params, metrics = train(keys)
        assert int(metrics["skipped_updates"].sum()) == 0
        means.append(np.mean([env.episode_cost(gain(jax.tree.map(lambda a: a[i], params.policy))) for i in range(4)]))
    print(f"{module.__name__}: mean episode cost after 5, 10, 20 updates {np.round(means, 2)}, zero policy "
          f"{initial:.0f}, Riccati gain {env.episode_cost(env.optimal_gain()):.2f}")
    assert means[0] > means[1] > means[2]
    assert means[2] < 0.02 * initial


def test_ags_learning_rate_decay_scales_each_step():
    """The k-th update's step is ``learning_rate * learning_rate_decay ** k`` times the same
    direction: from the same seed, the first steps of a decaying and a constant run are equal and
    their second steps differ by the factor."""
    env = DoubleIntegrator(max_episode_steps=10)
    steps = {}
    for decay in (1.0, 0.5):
        init, update = ags.make_learner(env, dataclasses.replace(AGS_LQR, learning_rate_decay=decay))
        update = jax.jit(update)
        s0 = init(jax.random.key(3))
        s1 = update(s0)[0]
        s2 = update(s1)[0]
        steps[decay] = [ravel_pytree(b.params.policy)[0] - ravel_pytree(a.params.policy)[0]
                        for a, b in ((s0, s1), (s1, s2))]
    np.testing.assert_allclose(steps[0.5][0], steps[1.0][0], rtol=1e-12)
    assert np.linalg.norm(steps[1.0][1]) > 0
    np.testing.assert_allclose(steps[0.5][1], 0.5 * steps[1.0][1], rtol=1e-12)


def test_lqr_episode_cost_matches_simulation():
    env = DoubleIntegrator(max_episode_steps=30)
    G = np.array([[-1.0, -1.5]])

    def episode_cost(key):
        def body(s, _):
            s = env.step(s, jnp.asarray(G) @ s.obs)
            return s, -s.reward
        return jnp.sum(jax.lax.scan(body, env.reset(key), None, length=30)[1])

    sampled = float(jnp.mean(jax.vmap(episode_cost)(jax.random.split(jax.random.key(1), 4000))))
    assert abs(sampled / env.episode_cost(G) - 1.0) < 0.03


def test_the_lqr_optimum_is_optimal():
    env = DoubleIntegrator()
    optimal = env.optimal_gain()
    for scale in (0.9, 1.1):
        assert env.cost(optimal * scale) > env.optimal_cost()
    # the expected cost matches the mean cost of long simulated rollouts from the reset distribution
    keys = jax.random.split(jax.random.key(1), 4000)

    def episode_cost(key):
        def body(s, _):
            s = env.step(s, jnp.asarray(optimal) @ s.obs)
            return s, -s.reward
        return jnp.sum(jax.lax.scan(body, env.reset(key), None, length=300)[1])

    sampled = float(jnp.mean(jax.vmap(episode_cost)(keys)))
    assert abs(sampled / env.optimal_cost() - 1.0) < 0.03  # 4000 samples: ~1% standard error


def test_layer_norm_bounds_the_policy_output():
    """Normalised hidden layers keep the output within the output layer's norm however far the
    observation goes (the last hidden layer has unit mean square); without them it grows with it."""
    x = jax.random.normal(jax.random.key(0), (5, 3))
    for layer_norm in (False, True):
        net = networks.policy_network("mlp", 2, (16, 16), layer_norm=layer_norm)
        params = net.init(jax.random.key(1), x)
        out = np.abs(np.asarray(net.apply(params, 1e6 * x)))
        dense = params["params"]["Dense_2"]
        bound = np.sqrt(16) * np.linalg.norm(dense["kernel"], axis=0) + np.abs(dense["bias"])
        assert np.all(out <= bound) == layer_norm, (layer_norm, out.max(), bound)
    assert "LayerNorm_1" in params["params"]


# -- derivatives ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_apg_loss_gradient_matches_finite_differences(kind):
    env = DoubleIntegrator(max_episode_steps=7)
    config = apg.APGConfig(policy=kind, **MLP)
    params, stats = nonlinear_params(jax.random.key(2), env, config)
    if kind == "linear":
        params = jax.tree.map(lambda p: p + 0.5, params)
    state = rollout.start(env, jax.random.key(3), config.num_envs)
    loss = apg.make_loss(env, config)
    # two windows: the second starts mid-episode and crosses an episode boundary (length 7)
    state = loss(params, stats, state, jax.random.key(4))[1][0]
    assert_gradient_matches_finite_differences(lambda p: loss(p, stats, state, jax.random.key(5))[0], params)


@pytest.mark.parametrize("layer_norm, learn_action_noise", [(False, False), (True, False), (False, True)],
                         ids=["mlp", "mlp-layer-norm", "mlp-learned-noise"])
def test_shac_actor_loss_gradient_matches_finite_differences(layer_norm, learn_action_noise):
    env = DoubleIntegrator(max_episode_steps=7)
    config = shac.SHACConfig(critic_hidden_sizes=(8,), critic_minibatches=2, layer_norm=layer_norm,
                             learn_action_noise=learn_action_noise, **MLP)
    params, stats = nonlinear_params(jax.random.key(2), env, config)
    critic_params = networks.value_network(config.critic_hidden_sizes).init(jax.random.key(6), jnp.zeros(2))
    state = rollout.start(env, jax.random.key(3), config.num_envs)
    loss = shac.make_actor_loss(env, config)
    state = loss(params, critic_params, stats, state, jax.random.key(4))[1][0]
    assert_gradient_matches_finite_differences(
        lambda p: loss(p, critic_params, stats, state, jax.random.key(5))[0], params)


@pytest.mark.parametrize("failing", [False, True], ids=["smooth", "solver-failure"])
def test_ags_return_gradient_matches_finite_differences(failing):
    env = (FailingDoubleIntegrator if failing else DoubleIntegrator)(max_episode_steps=7)
    config = ags.AGSConfig(normalize_observations=True, squash_actions=True)
    params, stats = nonlinear_params(jax.random.key(2), env, config)
    params = jax.tree.map(lambda p: p + 0.5, params)
    episode_return = ags.make_return(env, config)
    key = jax.random.key(4 if failing else 0)  # 4: the solver fails at the fourth step
    episode = episode_return(params, stats, key)[1]
    assert bool(episode.failed.any()) == failing and int(episode.taken.sum()) >= 3
    assert_gradient_matches_finite_differences(lambda p: episode_return(p, stats, key)[0], params)


def test_ags_gradient_window_differentiates_each_piece_from_its_start():
    """With ``gradient_window`` 3 on a 7-step episode, AGS's gradient is that of the sum of the
    rewards of the pieces [0, 3), [3, 6), [6, 7), each rolled from the state the episode reached
    there (held fixed): central differences of that sum, not of the episode's return."""
    env = DoubleIntegrator(max_episode_steps=7)
    config = ags.AGSConfig(normalize_observations=True, squash_actions=True, gradient_window=3)
    params, stats = nonlinear_params(jax.random.key(2), env, config)
    params = jax.tree.map(lambda p: p + 0.5, params)
    _, act = networks.make_policy(env.action_size, config)
    key = jax.random.key(0)
    starts, s = [], env.reset(key)
    for t in range(7):
        if t % 3 == 0:
            starts.append(s)
        s = env.step(s, act(params, stats, s.obs, None))

    def pieces(p):
        total = 0.0
        for j, s in enumerate(starts):
            for _ in range(min(3, 7 - 3 * j)):
                s = env.step(s, act(p, stats, s.obs, None))
                total += s.reward
        return total

    flat, unravel = ravel_pytree(params)
    windowed = jax.jit(jax.value_and_grad(lambda x: ags.make_return(env, config)(unravel(x), stats, key)[0]))
    whole = jax.jit(jax.grad(lambda x: ags.make_return(env, dataclasses.replace(config, gradient_window=None))(
        unravel(x), stats, key)[0]))
    value, grad = windowed(flat)
    np.testing.assert_allclose(value, pieces(params), rtol=1e-12)
    fd = central_differences(jax.jit(lambda x: pieces(unravel(x))), flat)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    assert np.linalg.norm(grad - whole(flat)) > 0.1 * np.linalg.norm(grad)  # the cuts change it


def test_critic_loss_gradient_matches_finite_differences():
    network = networks.value_network((8, 8))
    obs = jax.random.normal(jax.random.key(0), (12, 3))
    params = network.init(jax.random.key(1), obs[0])
    targets = jax.random.normal(jax.random.key(2), (12,))
    weights = (jnp.arange(12) % 3 != 0).astype(obs.dtype)
    assert_gradient_matches_finite_differences(lambda p: critic.value_loss(network, p, obs, targets, weights), params)


# -- the pieces the losses are made of -------------------------------------------------------------

def transitions_of(reward, terminated=None, truncated=None, failed=None):
    """A one-environment window of the given rewards and flags (observations unused)."""
    reward = jnp.asarray(reward, float)[:, None]
    flag = lambda x: jnp.zeros(reward.shape, bool) if x is None else jnp.asarray(x, bool)[:, None]  # noqa: E731
    zeros = jnp.zeros(reward.shape + (1,))
    return rollout.Transition(zeros, reward, zeros, flag(terminated), flag(truncated), flag(failed), reward)


def test_window_return_closes_each_episode_piece():
    g = 0.9
    v = jnp.array([10.0, 20.0, 30.0, 40.0, 50.0])[:, None]
    # episode truncated after step 1 (bootstrapped), terminated at step 3 (no value), window ends at 4
    t = transitions_of([1.0, 2.0, 3.0, 4.0, 5.0], terminated=[0, 0, 0, 1, 0], truncated=[0, 1, 0, 0, 0])
    expected = (1 + g * 2 + g**2 * 20) + (3 + g * 4) + (5 + g * 50)
    np.testing.assert_allclose(shac.window_return(t, v, g), expected)
    # a failed step: its reward is left out and its piece closes without a value
    t = transitions_of([1.0, 2.0, 3.0], failed=[0, 1, 0])
    np.testing.assert_allclose(shac.window_return(t, v[:3], g), 1 + (3 + g * 30))


def test_td_lambda_targets():
    g, lam = 0.9, 0.5
    r = np.array([1.0, 2.0, 3.0, 4.0])
    v_obs = np.array([5.0, 6.0, 7.0, 8.0])
    v_next = np.array([6.0, 7.0, 8.0, 9.0])
    t = transitions_of(r, terminated=[0, 1, 0, 0])
    targets = critic.td_lambda_targets(t, jnp.asarray(v_obs)[:, None], jnp.asarray(v_next)[:, None], g, lam)[:, 0]
    G3 = r[3] + g * v_next[3]
    G2 = r[2] + g * ((1 - lam) * v_next[2] + lam * G3)
    G1 = r[1]
    G0 = r[0] + g * ((1 - lam) * v_next[0] + lam * G1)
    np.testing.assert_allclose(targets, [G0, G1, G2, G3])
    # lambda = 0: one-step TD targets; a failed step's target is its own value
    t = transitions_of(r, failed=[0, 0, 1, 0])
    targets = critic.td_lambda_targets(t, jnp.asarray(v_obs)[:, None], jnp.asarray(v_next)[:, None], g, 0.0)[:, 0]
    np.testing.assert_allclose(targets, [r[0] + g * v_next[0], r[1] + g * v_next[1], v_obs[2], r[3] + g * v_next[3]])


def test_running_statistics_match_numpy():
    data = np.random.default_rng(0).normal(2.0, 3.0, (3, 50, 4))
    stats = init_stats(4)
    for batch in data:
        stats = update_stats(stats, jnp.asarray(batch))
    flat = data.reshape(-1, 4)
    np.testing.assert_allclose(stats.mean, flat.mean(0))
    np.testing.assert_allclose(stats.var, flat.var(0))
    np.testing.assert_allclose(normalize(stats, flat).std(0), 1.0, rtol=1e-6)


def test_running_statistics_of_masked_observations():
    data = np.random.default_rng(1).normal(1.0, 2.0, (2, 30, 3))
    mask = np.random.default_rng(2).random((2, 30)) < 0.6
    stats = update_stats(update_stats(init_stats(3), jnp.asarray(data[0]), jnp.asarray(mask[0])),
                         jnp.asarray(data[1]), jnp.asarray(mask[1]))
    kept = data[mask]
    np.testing.assert_allclose(stats.mean, kept.mean(0))
    np.testing.assert_allclose(stats.var, kept.var(0))
    assert float(stats.count) == mask.sum()
    unchanged = update_stats(stats, jnp.asarray(data[0]), jnp.zeros(30, bool))  # nothing seen
    assert all(np.array_equal(a, b) for a, b in zip(unchanged, stats))


def test_gradients_are_clipped_and_non_finite_ones_skipped():
    params = dict(w=jnp.ones(3))
    optimizer = adam(0.1)
    opt_state = optimizer.init(params)
    new, _, stats = apply_gradients(optimizer, dict(w=jnp.array([3.0, 4.0, 0.0])), opt_state, params, 1.0)
    assert float(stats.raw_norm) == pytest.approx(5.0) and float(stats.clipped_norm) == pytest.approx(1.0)
    assert not bool(stats.skipped) and not np.allclose(new["w"], 1.0)
    new, new_opt_state, stats = apply_gradients(optimizer, dict(w=jnp.array([np.nan, 1.0, 0.0])), opt_state, params, 1.0)
    assert bool(stats.skipped) and float(stats.clipped_norm) == 0.0
    np.testing.assert_array_equal(new["w"], params["w"])
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(new_opt_state), jax.tree.leaves(opt_state)))


class FailingDoubleIntegrator(DoubleIntegrator):
    """The LQR task whose 'solver' fails (as dojax's envs report it: previous state kept, reward 0)
    whenever the position leaves [-0.8, 0.8], with a non-finite state behind the failure."""

    def step(self, env_state, action):
        after = super().step(env_state, action)
        failed = jnp.abs(after.sim[0]) > 0.8
        poisoned = jnp.where(failed, jnp.nan, after.sim)  # what a failed solve may leave behind
        sim = jnp.where(failed, env_state.sim, poisoned)
        return after._replace(sim=sim, obs=sim, reward=jnp.where(failed, 0.0, after.reward), solver_failed=failed)


def test_failed_solver_steps_are_masked_and_counted():
    env = FailingDoubleIntegrator(max_episode_steps=20)
    config = apg.APGConfig(num_iterations=5, num_envs=8, horizon=10, policy="linear", squash_actions=False,
                           normalize_observations=False)
    params, metrics = jax.jit(apg.make_train(env, config))(jax.random.key(0))
    assert int(metrics["solver_failures"].sum()) > 0
    assert np.all(np.isfinite(gain(params.policy))) and np.all(np.isfinite(metrics["grad_norm"]))
    assert int(metrics["skipped_updates"].sum()) == 0
    # the masked loss's gradient is still the derivative of what it computes
    loss = apg.make_loss(env, config)
    state = rollout.start(env, jax.random.key(1), config.num_envs)
    stats = init_stats(2)
    policy = jax.tree.map(lambda p: p - 0.5, params.policy)
    assert int(loss(policy, stats, state, jax.random.key(2))[1][1].failed.sum()) > 0
    assert_gradient_matches_finite_differences(lambda p: loss(p, stats, state, jax.random.key(2))[0], policy)


# -- determinism -----------------------------------------------------------------------------------

@pytest.mark.parametrize("module, config", [
    (apg, apg.APGConfig(num_iterations=3, **MLP)),
    (shac, shac.SHACConfig(num_iterations=3, critic_hidden_sizes=(8,), critic_epochs=2, critic_minibatches=2, **MLP)),
    (ars, ars.ARSConfig(num_iterations=3, num_directions=4, top_directions=2, episode_length=7)),
    (ags, ags.AGSConfig(num_iterations=3, num_episodes=4, exploration_noise=0.1, episode_length=7)),
], ids=["apg", "shac", "ars", "ags"])
def test_training_is_a_function_of_the_seed(module, config):
    train = jax.jit(module.make_train(DoubleIntegrator(), config))
    keys = jax.random.split(jax.random.key(0), 2)
    first, again, other = train(keys[0]), train(keys[0]), train(keys[1])
    batched = jax.jit(jax.vmap(module.make_train(DoubleIntegrator(), config)))(keys)
    leaves = lambda tree: jax.tree.leaves(tree)  # noqa: E731
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(leaves(first), leaves(again)))
    assert not all(np.array_equal(a, b) for a, b in zip(leaves(first[0]), leaves(other[0])))
    for i, single in enumerate((first, other)):
        for a, b in zip(leaves(single), leaves(batched)):
            np.testing.assert_allclose(b[i], a, rtol=1e-10, atol=1e-12)


# -- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("horizon", 0, "horizon must be a positive integer"),
    ("num_iterations", -1, "num_iterations must be a positive integer"),
    ("num_envs", 2.5, "num_envs must be a positive integer"),
    ("learning_rate", 0.0, "learning_rate must be a positive number"),
    ("policy", "cnn", "unknown policy 'cnn'; valid: mlp, linear"),
    ("adam_b1", 1.0, r"adam_b1 must be in \[0, 1\), got 1.0"),
    ("learning_rate_decay", 0.0, r"learning_rate_decay must be in \(0, 1\], got 0.0"),
    ("learn_action_noise", True, r"learn_action_noise needs action_noise > 0 \(its initial standard deviation\)"),
])
def test_bad_config_is_a_one_line_error(field, value, message):
    with pytest.raises(ValueError, match=message):
        apg.APGConfig(**{field: value})


@pytest.mark.parametrize("make, message", [
    (lambda: ars.ARSConfig(num_directions=4, top_directions=5), "top_directions must be at most num_directions = 4"),
    (lambda: ars.ARSConfig(exploration_noise=0.0), "exploration_noise must be a positive number"),
    (lambda: ags.AGSConfig(num_episodes=1), "num_episodes must be at least 2"),
    (lambda: ags.AGSConfig(exploration_noise=-0.1), "exploration_noise must be >= 0"),
    (lambda: ags.AGSConfig(gradient_window=0), "gradient_window must be a positive integer"),
    (lambda: ags.AGSConfig(learning_rate_decay=1.5), r"learning_rate_decay must be in \(0, 1\], got 1.5"),
])
def test_bad_random_search_config_is_a_one_line_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_gradient_smoothing_needs_solver_options():
    with pytest.raises(ValueError, match="gradient_btol needs an environment with solver options"):
        apg.make_train(DoubleIntegrator(), apg.APGConfig(gradient_btol=1e-2))


@pytest.mark.slow
def test_shac_swings_up_the_pendulum_with_gradient_smoothing():
    # dojax/Pendulum-v0 (its default reward, 200 steps): the policy after one update returns about
    # -1500; 250 updates of 16 environments x 16 steps (64,000 steps) bring it to about -160
    # (measured: -156 at 100,000 steps, -168 at 64,000, -300 at 51,200). Asserted: a rise of at least
    # 700 and a return above -500.
    agent = learn.SHAC("dojax/Pendulum-v0", seed=0, num_envs=16, horizon=16, hidden_sizes=(32, 32),
                       critic_hidden_sizes=(32, 32), critic_epochs=4, critic_minibatches=4, learning_rate=5e-3,
                       critic_learning_rate=2e-3, gradient_btol=1e-2)
    agent.learn(256, progress_bar=False)
    before, _ = learn.evaluate_policy(agent, "dojax/Pendulum-v0", n_episodes=4)
    agent.learn(64_000 - 256, progress_bar=False)
    after, _ = learn.evaluate_policy(agent, "dojax/Pendulum-v0", n_episodes=4)
    print(f"Pendulum return: {before:.0f} after one update, {after:.0f} after {agent.num_timesteps} steps")
    assert after > before + 700 and after > -500
    assert agent.env.solver.gradient_btol is None  # the learner smooths a copy of the env


# -- the front: learn, predict, save, load --------------------------------------------------------

FRONT = dict(num_envs=4, horizon=5, hidden_sizes=(8,), episode_length=20)


@pytest.mark.parametrize("cls, options", [(learn.APG, FRONT),
                                          (learn.SHAC, dict(FRONT, critic_hidden_sizes=(8,), critic_epochs=1,
                                                            action_noise=0.3, learn_action_noise=True)),
                                          (learn.ARS, dict(num_directions=2, top_directions=1, episode_length=5)),
                                          (learn.AGS, dict(num_episodes=4, episode_length=5))],
                         ids=["apg", "shac", "ars", "ags"])
def test_learn_resumes_and_save_load_gives_identical_actions(tmp_path, cls, options):
    agent = cls(DoubleIntegrator(), seed=3, **options)
    seen = []
    agent.learn(40, progress_bar=False, log_dir=str(tmp_path / "logs"), callback=lambda a, m: seen.append(m))
    assert agent.num_timesteps == 40 and len(seen) == 2
    agent.learn(20, progress_bar=False, log_dir=str(tmp_path / "logs"))
    assert agent.num_timesteps == 60
    rows = (tmp_path / "logs" / "progress.csv").read_text().splitlines()
    assert len(rows) == 4 and "grad_norm" in rows[0] and "skipped_updates" in rows[0]
    # resuming equals training in one go
    once = cls(DoubleIntegrator(), seed=3, **options).learn(60, progress_bar=False)
    for a, b in zip(jax.tree.leaves(agent.state.params), jax.tree.leaves(once.state.params)):
        np.testing.assert_array_equal(a, b)

    path = str(tmp_path / "agent.npz")
    agent.save(path)
    loaded = cls.load(path, env=DoubleIntegrator())
    obs = np.array([[0.3, -0.2], [1.0, 0.5]])
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
    assert loaded.predict(obs).shape == (2, 1) and loaded.num_timesteps == 60
    # the loaded agent continues exactly as the saved one would
    for a, b in zip(jax.tree.leaves(loaded.learn(20, progress_bar=False).state.params),
                    jax.tree.leaves(agent.learn(20, progress_bar=False).state.params)):
        np.testing.assert_array_equal(a, b)


def test_a_corrupt_or_mismatched_checkpoint_names_the_file(tmp_path):
    agent = learn.APG(DoubleIntegrator(), **FRONT).learn(20, progress_bar=False)
    path = str(tmp_path / "agent.npz")
    agent.save(path)
    with pytest.raises(ValueError, match="agent.npz: holds a APG agent, not a SHAC agent"):
        learn.SHAC.load(path, env=DoubleIntegrator())
    other = learn.APG(DoubleIntegrator(), **dict(FRONT, hidden_sizes=(16,))).learn(20, progress_bar=False)
    other_path = str(tmp_path / "other.npz")
    other.save(other_path)
    with np.load(other_path) as data:
        arrays = {name: data[name] for name in data.files}
    with np.load(path) as data:
        arrays["meta.json"] = data["meta.json"]  # the first agent's config, the second's arrays
    mixed = str(tmp_path / "mixed.npz")
    np.savez(mixed, **arrays)
    with pytest.raises(ValueError, match=r"mixed.npz: .*Dense_0.*bias.* is float64\[16\] in the checkpoint, "
                                         r"this agent expects float64\[8\]"):
        learn.APG.load(mixed, env=DoubleIntegrator())
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip file")
    with pytest.raises(ValueError, match="corrupt.npz: not a readable dojax.learn checkpoint"):
        learn.APG.load(str(corrupt), env=DoubleIntegrator())


@pytest.mark.parametrize("call, message", [
    (lambda: learn.APG("dojax/Nope-v0"), "unknown environment id 'dojax/Nope-v0'; valid: dojax/Pendulum-v0, "),
    (lambda: learn.APG(DoubleIntegrator(), horizon=-4), "horizon must be a positive integer"),
    (lambda: learn.SHAC(DoubleIntegrator(), learning_rate=-1.0), "learning_rate must be a positive number"),
    (lambda: learn.APG(DoubleIntegrator(), horizn=4), "unknown option.* horizn for APG; valid: num_iterations, "),
    (lambda: learn.APG(DoubleIntegrator(), **FRONT).learn(0), "total_timesteps must be a positive integer"),
    (lambda: learn.APG(object()), "APG needs a functional environment"),
    (lambda: learn.SHAC(gymnasium.make("dojax/Pendulum-v0")), r"SHAC needs a functional environment .*got TimeLimit"),
    (lambda: learn.AHAC(DoubleIntegrator(), horizon=8, horizon_min=0), "horizon_min must be a positive integer"),
])
def test_bad_input_to_the_front_is_a_one_line_error(call, message):
    with pytest.raises(ValueError, match=message) as error:
        call()
    assert "\n" not in str(error.value)


# -- evaluate_policy -------------------------------------------------------------------------------

class GymDoubleIntegrator(gymnasium.Env):
    """The LQR task as a plain NumPy gymnasium env (episodes truncated after ``steps`` steps)."""

    def __init__(self, steps=100):
        self.task, self.steps = DoubleIntegrator(max_episode_steps=steps), steps
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (2,))
        self.action_space = gymnasium.spaces.Box(-np.inf, np.inf, (1,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = self.np_random.uniform(-1.0, 1.0, 2), 0
        return self.x.copy(), {}

    def step(self, action):
        u = np.asarray(action, float).reshape(1)
        reward = -(self.x @ self.task.Q @ self.x + u @ self.task.R @ u)
        self.x, self.t = self.task.A @ self.x + self.task.B @ u, self.t + 1
        return self.x.copy(), float(reward), False, self.t >= self.steps, {}


def test_evaluate_policy_measures_the_expected_return():
    env = GymDoubleIntegrator(steps=30)
    G = np.array([[-1.0, -1.5]])
    mean, std = learn.evaluate_policy(lambda obs: G @ obs, env, n_episodes=400)
    expected = -env.task.episode_cost(G)
    assert abs(mean - expected) < 3 * std / np.sqrt(400)  # within three standard errors
    assert std > 0 and learn.evaluate_policy(lambda obs: G @ obs, env, 400) == (mean, std)  # seeded
    assert learn.evaluate_policy(lambda obs: G @ obs, env, 400, seed=1) != (mean, std)


def test_evaluate_policy_takes_a_learner():
    agent = learn.ARS(DoubleIntegrator(max_episode_steps=30), seed=0, **ARS_LQR.__dict__).learn(
        10 * ARS_LQR.steps_per_update(DoubleIntegrator(max_episode_steps=30)), progress_bar=False)
    env = GymDoubleIntegrator(steps=30)
    trained = learn.evaluate_policy(agent, env, n_episodes=20)
    G = gain(agent.state.params.policy)  # no normalisation: the learner's policy is u = G x
    # (to the normaliser's epsilon: its identity statistics divide by sqrt(1 + 1e-8))
    np.testing.assert_allclose(trained, learn.evaluate_policy(lambda obs: G @ obs, env, n_episodes=20), rtol=1e-7)
    assert trained[0] > 0.5 * learn.evaluate_policy(lambda obs: np.zeros(1), env, n_episodes=20)[0]
    with pytest.raises(ValueError, match="n_episodes must be a positive integer"):
        learn.evaluate_policy(agent, env, n_episodes=0)
