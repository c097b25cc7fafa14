"""The policy-gradient family (dojax.learn.ppo, .policy_gradient, .momentum, .mdpo, .sac): PPO, MDPO,
NPG and SAC raise the return of the double-integrator LQR task, PPO with its options off is plain PPO
bit for bit (and with them at neutral settings, to rounding), the gradient-weighted baseline lowers
the gradient's variance, the HARPG Hessian products match finite differences, and training is a
deterministic function of the seed that vmaps and saves.

Learning margins (measured, seed keys 0..3, 10k environment steps each): PPO's linear gain lowers
the exact expected 100-step cost from the zero policy's 1161 to 9.3-12.2 (the Riccati gain's is
5.97); N-PG-IGT to 6.9-8.7; N-HARPG to 8.9-29; MDPO (on-policy) to 11.1-17.6; NPG
(trust region 0.05) to 6.3-15.6. The tests ask for the mean over the seeds to fall
below 2% of the zero policy's (23; 4% for N-HARPG, the noisiest). SAC's squashed policy cannot
reach the unbounded optimum; its margin is stated at its test.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dojax import learn
from dojax.learn import evaluation, mdpo, momentum, networks, policy_gradient, ppo, sac
from dojax.learn.lqr import DoubleIntegrator

LQR_PPO = dict(num_iterations=20, num_envs=8, horizon=64, epochs=5, minibatches=4, policy="linear",
               squash_actions=False, normalize_observations=False, learning_rate=0.01, critic_hidden_sizes=(16,),
               initial_log_std=-0.5)
TINY = dict(num_iterations=2, num_envs=2, horizon=8, epochs=2, minibatches=2, hidden_sizes=(4,),
            critic_hidden_sizes=(4,), episode_length=6)
TINY_SAC = dict(num_iterations=6, num_envs=2, horizon=2, batch_size=4, buffer_size=16, learning_starts=4,
                hidden_sizes=(4,), episode_length=6)
leaves = jax.tree.leaves


def linear_gain(policy_params):
    """``G`` of the linear Gaussian policy's mean ``u = G x`` (batched over seeds if stacked)."""
    kernel = np.asarray(policy_params["params"]["Linear_0"]["Dense_0"]["kernel"])
    return np.swapaxes(kernel, -1, -2)


def identical(a, b):
    """The pytrees' leaves are equal bit for bit (PRNG keys by their data)."""
    data = lambda x: jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x  # noqa: E731
    return all(np.array_equal(data(x), data(y), equal_nan=True) for x, y in zip(leaves(a), leaves(b)))


# -- learning -------------------------------------------------------------------------------------

@pytest.mark.parametrize("module, options, bound", [
    (ppo, {}, 0.02),
    pytest.param(mdpo, {}, 0.02, marks=pytest.mark.slow),
    pytest.param(ppo, dict(optimizer="npg_igt", pg_step_size=0.2, momentum_eta=0.3), 0.02, marks=pytest.mark.slow),
    pytest.param(ppo, dict(optimizer="n_harpg", pg_step_size=0.2, momentum_eta=0.3), 0.04, marks=pytest.mark.slow),
    pytest.param(ppo, dict(optimizer="npg", npg_max_kl=0.05), 0.02, marks=pytest.mark.slow),
], ids=["ppo", "mdpo", "npg-igt", "n-harpg", "npg"])
def test_ppo_and_mdpo_lower_the_lqr_cost(module, options, bound):
    env = DoubleIntegrator()
    config = (ppo.PPOConfig if module is ppo else mdpo.MDPOConfig)(**LQR_PPO, **options)
    params, metrics = jax.jit(jax.vmap(module.make_train(env, config)))(jax.random.split(jax.random.key(0), 4))
    costs = [env.episode_cost(g) for g in linear_gain(params.policy)]
    zero = env.episode_cost(np.zeros((1, 2)))
    print(f"{module.__name__} {options}: exact episode costs {np.round(costs, 2)} after {config.num_iterations} "
          f"updates "
          f"({config.num_iterations * config.steps_per_update(env)} steps), zero policy {zero:.0f}")
    assert np.mean(costs) < bound * zero
    assert int(metrics["skipped_updates"].sum()) == 0


@pytest.mark.slow
def test_sac_raises_the_lqr_return():
    """SAC (actions squashed into [-1, 1]) on the LQR task: the deterministic policy's mean return
    over 32 fixed starts, 100-step episodes, after 1500 environment steps, against the zero
    policy's. Measured: -65 against -1177 (seed 0; seed keys 0-3: -65, -673, -726, -22); asserted:
    better than half the zero policy's."""
    env = DoubleIntegrator()
    config = sac.SACConfig(num_iterations=1500, learning_starts=200, hidden_sizes=(32, 32), batch_size=64,
                           buffer_size=2000, episode_length=100)
    params, metrics = jax.jit(sac.make_train(env, config))(jax.random.key(0))
    _, act = networks.make_gaussian_policy(env.action_size, config)

    def mean_return(policy):
        return evaluation.mean_return(env, policy, jax.random.key(7))

    trained = mean_return(lambda obs: act(params.policy, params.obs_stats, obs, None))
    zero = mean_return(lambda obs: jnp.zeros(1))
    print(f"SAC: mean return {trained:.1f}, zero policy {zero:.1f}, final alpha {float(metrics['alpha'][-1]):.3f}")
    assert trained > 0.5 * zero
    assert int(metrics["skipped_updates"].sum()) == 0


# -- options at their neutral settings are plain PPO ----------------------------------------------

NEUTRAL = dict(clipping="bapo", bapo_lower_range=(0.8, 0.8), bapo_upper_range=(1.2, 1.2),  # the fixed clip
               sample_mask="clip_cov", clip_cov_bounds=(np.inf, np.inf),  # an empty covariance band
               entropy_modulation=True, empg_k=0.0, empg_zeta=0.0)  # every advantage scaled by 1
UNUSED = dict(bapo_target=0.9, bapo_lower_range=(0.5, 0.7), bapo_upper_range=(1.1, 2.0), bapo_steps=(0.1, 0.1),
              capo_max_kl=1e-3, cov_fraction=0.5, clip_cov_bounds=(0.0, 1.0), kl_cov_coef=7.0, empg_k=3.0,
              empg_k_future=3.0, empg_zeta=2.0, momentum_eta=0.5, pg_step_size=0.3, vine_states=1, vine_rollouts=3,
              vine_horizon=5, set_size=3, num_sets=2, diversity_scale=0.1)  # of the options, all off


def run_tiny(**options):
    return jax.jit(ppo.make_train(DoubleIntegrator(max_episode_steps=6), ppo.PPOConfig(**TINY, **options)))(
        jax.random.key(3))


def test_options_off_are_plain_ppo_bit_for_bit_and_neutral_ones_to_rounding():
    """With every option off, changing the options' parameters changes nothing, bit for bit. BAPO
    with one-point ranges, Clip-Cov with an empty band and EMPG with k = 0 and no future bonus,
    together, give plain PPO to rounding (1e-19 on parameters of order 1e-3: XLA fuses the larger
    graph differently; each alone was bit for bit when measured). Both sides use the
    state-dependent standard deviation that EMPG needs."""
    state_dependent = dict(state_dependent_std=True, initial_log_std=-0.5)
    plain = run_tiny(**state_dependent)
    assert identical(plain, run_tiny(**state_dependent, **UNUSED))
    for a, b in zip(leaves(plain), leaves(run_tiny(**state_dependent, **NEUTRAL))):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_capo_with_an_infinite_trust_region_is_plain_ppo():
    """To rounding: XLA fuses the recomputed gradient differently (1e-19 on parameters of order 1e-3)."""
    for a, b in zip(leaves(run_tiny()), leaves(run_tiny(sample_mask="capo", capo_max_kl=float("inf")))):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)


def test_gaussian_policies_start_with_a_small_mean():
    """The mean layer starts at ``mean_init_scale`` (0.01 by default) times flax's default
    initialisation, the hidden layers and the log standard deviation as before, so the untrained
    mean is near zero; with a state-dependent standard deviation its log starts near
    ``initial_log_std`` at every observation."""
    obs = jax.random.normal(jax.random.key(1), (64, 11))
    for state_dependent in (False, True):
        def policy(scale):
            net = networks.GaussianPolicy("mlp", 3, (64, 64), state_dependent, -0.5, scale)
            return net, net.init(jax.random.key(0), obs[0])

        (net, small), (_, default) = policy(networks.MEAN_INIT_SCALE), policy(1.0)
        (out, hidden), (default_out, default_hidden) = [(p["params"]["MLP_0"].pop("Dense_2"), p)
                                                        for p in (jax.device_get(small), jax.device_get(default))]
        assert identical(hidden, default_hidden) and not np.any(out["bias"])
        np.testing.assert_allclose(out["kernel"], 0.01 * default_out["kernel"], rtol=1e-12)
        mean, log_std = net.apply(small, obs)
        assert np.max(np.abs(mean)) < 0.05 < np.max(np.abs(net.apply(default, obs)[0]))
        np.testing.assert_allclose(log_std, -0.5, atol=0.05)
    assert ppo.PPOConfig().mean_init_scale == sac.SACConfig().mean_init_scale == 0.01


def test_the_surrogate_is_the_clipped_objective():
    log_prob_old = jnp.array([0.0, 0.0, 0.0, 0.0])
    log_prob = jnp.log(jnp.array([1.5, 0.5, 1.1, 0.7]))
    advantage = jnp.array([1.0, -2.0, -1.0, 3.0])
    ratio = np.array([1.5, 0.5, 1.1, 0.7])
    expected = np.minimum(ratio * advantage, np.clip(ratio, 0.8, 1.2) * advantage)
    got = policy_gradient.surrogate(log_prob, log_prob_old, advantage, (0.8, 1.2))
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    # KL-Cov's selected samples: unclipped ratio minus the |log ratio| penalty
    selected = jnp.array([True, False, False, False])
    got = policy_gradient.surrogate(log_prob, log_prob_old, advantage, (0.8, 1.2), selected, 0.5)
    np.testing.assert_allclose(got, [1.5 - 0.5 * np.log(1.5), *expected[1:]], rtol=1e-14)


# -- the options' pieces --------------------------------------------------------------------------

def test_gradient_weighted_baseline_lowers_the_gradient_variance_on_a_linear_gaussian_bandit():
    """Context x ~ N(0, I_3), action a ~ N(theta . x, 0.5^2), reward 5 - (a - w . x)^2; each draw
    estimates the policy gradient from 16 samples as mean_i grad log pi_i (r_i - b). Over 4000
    draws, the trace of the estimate's covariance with OBLR-PO's gradient-weighted baseline is at
    most the mean baseline's (measured 12.5 against 15.5; no baseline: 37)."""
    theta, w, std, n = jnp.array([0.3, -0.2, 0.1]), jnp.array([1.0, 0.5, -0.5]), 0.5, 16

    def estimates(key):
        key_x, key_a = jax.random.split(key)
        x = jax.random.normal(key_x, (n, 3))
        a = x @ theta + std * jax.random.normal(key_a, (n,))
        r = 5.0 - (a - x @ w) ** 2
        log_std = jnp.full((n, 1), jnp.log(std))
        scores = jax.vmap(jax.grad(lambda t, xi, ai, ls: networks.gaussian_log_prob((xi @ t)[None], ls, ai[None])),
                          in_axes=(None, 0, 0, 0))(theta, x, a, log_std)
        weight = jnp.ones(n)
        sq = jnp.sum(scores**2, axis=1)
        out = {}
        for kind in ("mean", "gradient_weighted"):
            b = policy_gradient.constant_baseline(kind, r, weight, sq)
            out[kind] = jnp.mean(scores * (r - b)[:, None], axis=0)
        out["none"] = jnp.mean(scores * r[:, None], axis=0)
        return out

    draws = jax.jit(jax.vmap(estimates))(jax.random.split(jax.random.key(0), 4000))
    variance = {k: float(np.trace(np.cov(np.asarray(v).T))) for k, v in draws.items()}
    print("gradient variance by baseline:", {k: round(v, 2) for k, v in variance.items()})
    assert variance["gradient_weighted"] <= variance["mean"] < variance["none"]


def test_snr_step_scale_shrinks_when_the_noise_grows():
    noise = jax.random.normal(jax.random.key(0), (64, 5))
    noise = noise - noise.mean(0)  # the sample mean stays exactly ``mean``
    mean = jnp.array([1.0, 0.0, 0.0, 0.0, 0.0])
    weight = jnp.ones(64)
    scales = [float(policy_gradient.snr_scale(mean + s * noise, weight)) for s in (0.5, 2.0, 8.0, 32.0)]
    assert all(a > b for a, b in zip(scales, scales[1:])) and 0.0 < scales[-1] < 0.1 < 0.9 < scales[0] < 1.0
    g = np.asarray(mean + 2.0 * noise)  # the formula, by NumPy
    snr = np.sum(g.mean(0) ** 2) / (np.sum((g - g.mean(0)) ** 2) / 63 / 64)
    np.testing.assert_allclose(scales[1], snr / (1 + snr), rtol=1e-12)


def test_bapo_raises_the_bounds_until_positive_samples_carry_their_share():
    # stale samples: the negatives sit inside the range, the positives above 1.2 (clipped at first)
    ratio = jnp.array([1.0, 0.95, 1.05, 0.9, 1.3, 1.4, 1.25])
    advantage = jnp.array([-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0])
    weight = jnp.ones(7)
    low, high = policy_gradient.bapo_bounds(ratio, advantage, weight, 0.5, (0.6, 0.9), (1.2, 3.0), (0.02, 0.05))
    kept = np.where(advantage > 0, ratio <= high, ratio >= low)
    c = np.abs(ratio * advantage) * kept
    assert c[advantage > 0].sum() / c.sum() >= 0.5 and 0.6 < float(low) <= 0.9 and float(high) >= 1.4
    # a balanced batch keeps the starting bounds; one-point ranges are the fixed clip
    assert policy_gradient.bapo_bounds(jnp.ones(2), jnp.array([1.0, -0.5]), jnp.ones(2), 0.5, (0.6, 0.9), (1.2, 3.0),
                           (0.02, 0.05)) == (0.6, 1.2)
    assert policy_gradient.bapo_bounds(ratio, advantage, weight, 0.5, (0.8, 0.8), (1.2, 1.2),
                                       (0.02, 0.05)) == (0.8, 1.2)


def test_entropy_modulation():
    advantage = jnp.array([1.0, 1.0, -1.0, -1.0])
    entropy = jnp.array([0.0, 2.0, 0.0, 2.0])  # confident, uncertain, confident, uncertain
    ended, weight = jnp.zeros(4, bool), jnp.ones(4)
    out = policy_gradient.entropy_modulated(advantage, entropy, entropy, ended, weight, 1.0, 1.0, 0.0)
    assert out[0] > out[1] > 0 > out[3] > out[2]  # confident steps amplified, uncertain ones damped
    g = np.exp(-np.array([0.0, 1.0, 0.0, 1.0]))
    np.testing.assert_allclose(out, advantage * g / g.mean(), rtol=1e-7)  # to the 1e-8 guard of EMPG's min-max
    ended = jnp.array([0, 0, 0, 1], bool)
    bonus = policy_gradient.entropy_modulated(jnp.zeros(4), entropy, entropy, ended, weight, 1.0, 1.0, 0.1)
    np.testing.assert_allclose(bonus, [0.1, 0.1 * np.exp(-1.0), 0.1, 0.0], rtol=1e-7)


def test_covariance_selection():
    cov = jnp.array([0.5, 3.0, -1.0, 2.0, 7.0, 1.5])
    weight = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(policy_gradient.covariance_selection(cov, weight, 2), [0, 1, 0, 0, 1, 0])
    for seed in range(5):  # random picks from the band (1, 5), valid samples only
        picked = np.asarray(policy_gradient.covariance_selection(cov, weight, 2, jax.random.key(seed), (1.0, 5.0)))
        assert picked.sum() == 2 and set(np.flatnonzero(picked)) == {1, 3}
    assert not policy_gradient.covariance_selection(cov, weight, 1, jax.random.key(0), (10.0, 20.0)).any()


# -- HARPG's Hessian products against finite differences ------------------------------------------

def test_harpg_hessian_products_match_finite_differences():
    """Both the Hessian-vector product (jvp of grad) and the full HARPG estimate ``B v`` (with its
    score term) of a small MLP Gaussian policy's surrogate match central differences of the
    gradient and of the log-likelihoods (step 1e-5: truncation ~1e-10, rounding ~1e-11 relative;
    asserted 1e-6)."""
    net = networks.GaussianPolicy("mlp", 2, (5,), True, -0.5)
    key_p, key_o, key_u, key_a, key_v = jax.random.split(jax.random.key(0), 5)
    obs, u = jax.random.normal(key_o, (6, 3, 4)), jax.random.normal(key_u, (6, 3, 2))  # (steps, trajectories)
    advantage = jax.random.normal(key_a, (6, 3))
    flat, unravel = ravel_pytree(net.init(key_p, obs[0, 0]))
    v = jax.random.normal(key_v, flat.shape)

    def log_probs(f):
        mean, log_std = net.apply(unravel(f), obs)
        return networks.gaussian_log_prob(mean, log_std, u)

    surrogates = lambda f: jnp.sum(log_probs(f) * advantage, axis=0)  # noqa: E731
    log_likelihoods = lambda f: jnp.sum(log_probs(f), axis=0)  # noqa: E731
    phi = lambda f: jnp.mean(surrogates(f))  # noqa: E731
    eps = 1e-5
    grad = jax.jit(jax.grad(phi))
    fd_hvp = (grad(flat + eps * v) - grad(flat - eps * v)) / (2 * eps)
    hvp = jax.jit(momentum.hessian_vector_product, static_argnums=0)(phi, flat, v)
    np.testing.assert_allclose(hvp, fd_hvp, rtol=1e-6, atol=1e-9 * np.abs(fd_hvp).max())
    likelihoods = jax.jit(log_likelihoods)
    fd_directional = (likelihoods(flat + eps * v) - likelihoods(flat - eps * v)) / (2 * eps)
    per_trajectory = jax.jit(jax.jacobian(surrogates))(flat)  # (trajectories, parameters)
    fd_estimate = np.mean(per_trajectory * fd_directional[:, None], axis=0) + fd_hvp
    estimate = jax.jit(momentum.hessian_estimate_product, static_argnums=(0, 1))(surrogates, log_likelihoods, flat, v)
    np.testing.assert_allclose(estimate, fd_estimate, rtol=1e-6, atol=1e-9 * np.abs(fd_estimate).max())
    assert np.linalg.norm(hvp) > 1e-3


def test_gaussian_kl_and_mdpo_step_size():
    mean, log_std = jnp.array([[0.3, -1.0]]), jnp.array([[0.2, -0.5]])
    other_mean, other_log_std = jnp.array([[0.0, -0.7]]), jnp.array([[-0.1, 0.0]])
    s, t = np.exp(np.array([0.2, -0.5])), np.exp(np.array([-0.1, 0.0]))
    expected = np.sum(np.log(t / s) + (s**2 + (np.array([0.3, -1.0]) - np.array([0.0, -0.7])) ** 2) / (2 * t**2) - 0.5)
    np.testing.assert_allclose(networks.gaussian_kl(mean, log_std, other_mean, other_log_std), [expected], rtol=1e-12)
    assert float(networks.gaussian_kl(mean, log_std, mean, log_std)[0]) == 0.0
    np.testing.assert_allclose([mdpo.step_size(k, 10) for k in (0, 5, 9, 12)], [1.0, 0.5, 0.1, 0.1])


def test_momentum_steps():
    state = momentum.init(jnp.zeros(2))
    theta, state = momentum.step(state, jnp.zeros(2), jnp.array([3.0, 4.0]), 0.5, 0.1, normalized=True)
    np.testing.assert_allclose(theta, [0.06, 0.08])  # d_0 = g, a normalised step of 0.1
    np.testing.assert_allclose(momentum.igt_lookahead(state, theta, 0.25), theta + 3.0 * theta)
    theta2, state2 = momentum.step(state, theta, jnp.array([0.0, 2.0]), 0.5, 0.1, normalized=False,
                                   correction=jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(state2.direction, 0.5 * (np.array([3.0, 4.0]) + 1.0) + 0.5 * np.array([0.0, 2.0]))
    np.testing.assert_allclose(theta2, theta + 0.1 * state2.direction)


# -- determinism, seeds, the front ----------------------------------------------------------------

def test_sac_update_never_selects_over_the_replay_buffer():
    """No elementwise select (``where``) in an update produces a buffer-sized array: one would read
    and write the whole replay buffer at every environment step."""
    env = DoubleIntegrator()
    config = sac.SACConfig(**dict(TINY_SAC, buffer_size=4099))
    init, update = sac.make_learner(env, config)
    jaxpr = jax.make_jaxpr(update)(jax.eval_shape(init, jax.random.key(0)))

    def selects(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "select_n":
                yield from (v.aval.shape for v in eqn.outvars)
            for param in eqn.params.values():
                inner = getattr(param, "jaxpr", param)
                if hasattr(inner, "eqns"):
                    yield from selects(inner)

    shapes = list(selects(jaxpr.jaxpr))
    assert shapes and not [shape for shape in shapes if 4099 in shape]


def test_sac_updates_write_the_replay_buffer_in_place():
    """A compiled loop of updates (as ``make_train`` and the front run them, the state donated)
    holds no copy of a buffer-sized array: a copy would cost a pass over the whole replay buffer
    at every environment step, so the cost of a step would grow with its capacity."""
    env = DoubleIntegrator()
    config = sac.SACConfig(**dict(TINY_SAC, num_envs=1, horizon=1, buffer_size=4099))  # SAC's default: 1 step
    init, update = sac.make_learner(env, config)
    loop = jax.jit(lambda s: jax.lax.scan(lambda s, _: update(s), s, None, length=3), donate_argnums=0)
    hlo = loop.lower(jax.eval_shape(init, jax.random.key(0))).compile().as_text()
    copies = [line for line in hlo.splitlines() if " copy(" in line and re.search(r"\[4099[,\]]", line)]
    assert not copies, copies[:2]


def test_sac_buffer_holds_the_last_transitions_in_order():
    """After 3 updates of 4 steps (1 environment, 6-step episodes) a buffer of 7 holds the last 7
    of the 12 transitions, the oldest at ``position``: each row is a transition of the double
    integrator (``x' = A x + B u``, exactly), and each row's next observation is the next row's
    observation except where an episode ended (after transitions 5 and 11)."""
    env = DoubleIntegrator()
    config = sac.SACConfig(**dict(TINY_SAC, num_envs=1, horizon=4, buffer_size=7, learning_starts=4,
                                  num_iterations=3))
    init, update = sac.make_learner(env, config)
    state = jax.jit(lambda k: jax.lax.scan(lambda s, _: update(s), init(k), None, length=3)[0])(jax.random.key(0))
    buffer = state.buffer
    assert int(buffer.position) == 12 % 7 and int(buffer.size) == 7
    order = (int(buffer.position) + np.arange(7)) % 7  # transitions 5, 6, ..., 11
    obs, action, next_obs = (np.asarray(x)[order] for x in (buffer.obs, buffer.action, buffer.next_obs))
    np.testing.assert_allclose(next_obs, obs @ env.A.T + action @ env.B.T, rtol=0, atol=1e-14)
    assert np.all(np.abs(action) <= 1.0) and np.all(np.asarray(buffer.valid)) and not np.any(buffer.terminated)
    chained = np.all(next_obs[:-1] == obs[1:], axis=-1)
    assert not chained[0] and np.all(chained[1:])  # transition 5 ends the first episode


@pytest.mark.parametrize("module, config", [
    (ppo, ppo.PPOConfig(**TINY, clipping="bapo")),  # BAPO's while loop under vmap
    pytest.param(sac, sac.SACConfig(**TINY_SAC), marks=pytest.mark.slow),
], ids=["ppo", "sac"])
def test_training_is_a_function_of_the_seed_and_vmaps(module, config):
    env = DoubleIntegrator()
    train = jax.jit(module.make_train(env, config))
    keys = jax.random.split(jax.random.key(0), 2)
    first, again, other = train(keys[0]), train(keys[0]), train(keys[1])
    assert identical(first, again) and not identical(first[0], other[0])
    batched = jax.jit(jax.vmap(module.make_train(env, config)))(keys)
    for i, single in enumerate((first, other)):
        for a, b in zip(leaves(single), leaves(batched)):
            np.testing.assert_allclose(b[i], a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls, options", [
    (learn.PPO, dict(TINY, num_iterations=1, optimizer="npg_igt")),  # the momentum state saved and loaded
    pytest.param(learn.SAC, dict(TINY_SAC, num_iterations=1), marks=pytest.mark.slow),
], ids=["ppo", "sac"])
def test_learn_resumes_and_save_load_gives_identical_actions(tmp_path, cls, options):
    agent = cls(DoubleIntegrator(), seed=3, **options)
    per_update = agent.config.steps_per_update(agent.env)
    agent.learn(2 * per_update, progress_bar=False, log_dir=str(tmp_path / "logs"))
    agent.learn(per_update, progress_bar=False, log_dir=str(tmp_path / "logs"))
    rows = (tmp_path / "logs" / "progress.csv").read_text().splitlines()
    assert len(rows) == 4 and "critic_loss" in rows[0] and agent.num_timesteps == 3 * per_update
    once = cls(DoubleIntegrator(), seed=3, **options).learn(3 * per_update, progress_bar=False)
    assert identical(agent.state, once.state)
    path = str(tmp_path / "agent.npz")
    agent.save(path)
    loaded = cls.load(path, env=DoubleIntegrator())
    obs = np.array([[0.3, -0.2], [1.0, 0.5]])
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
    assert loaded.predict(obs).shape == (2, 1) and np.all(np.abs(loaded.predict(obs)) < 1.0)  # squashed
    assert identical(loaded.learn(per_update, progress_bar=False).state,
                     agent.learn(per_update, progress_bar=False).state)


# -- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: ppo.PPOConfig(entropy_modulation=True),
     "entropy_modulation \\(EMPG\\) needs a state-dependent standard deviation: set state_dependent_std=True"),
    (lambda: ppo.PPOConfig(sample_mask="capo", optimizer="npg_igt"), "sample_mask='capo' .* needs optimizer='adam'"),
    (lambda: ppo.PPOConfig(clipping="dynamic"), "unknown clipping 'dynamic'; valid: fixed, bapo"),
    (lambda: ppo.PPOConfig(baseline="median"), "unknown baseline 'median'; valid: value, mean, gradient_weighted"),
    (lambda: ppo.PPOConfig(optimizer="sgd"), "unknown optimizer 'sgd'; valid: adam, npg, npg_igt, harpg, n_harpg"),
    (lambda: ppo.PPOConfig(sample_mask="top"), "unknown sample_mask 'top'"),
    (lambda: ppo.PPOConfig(bapo_lower_range=(0.9, 0.6)), "bapo_lower_range must be \\(low, high\\) with low <= high"),
    (lambda: ppo.PPOConfig(bapo_steps=0.1), "bapo_steps must be a pair of numbers"),
    (lambda: ppo.PPOConfig(num_envs=2, horizon=4, minibatches=16), "minibatches must be at most num_envs"),
    (lambda: ppo.PPOConfig(gae_lambda=1.5), "gae_lambda must be in \\[0, 1\\]"),
    (lambda: ppo.PPOConfig(momentum_eta=0.0), "momentum_eta must be in \\(0, 1\\]"),
    (lambda: ppo.PPOConfig(entropy_coef=-0.1), "entropy_coef must be >= 0"),
    (lambda: ppo.PPOConfig(state_dependent_std=True, initial_log_std=3.0),
     "initial_log_std must be in \\(-5.0, 2.0\\)"),
    (lambda: ppo.PPOConfig(mean_init_scale=-0.01), "mean_init_scale must be >= 0, got -0.01"),
    (lambda: sac.SACConfig(mean_init_scale=float("nan")), "mean_init_scale must be >= 0, got nan"),
    (lambda: sac.SACConfig(tau=0.0), "tau must be in \\(0, 1\\]"),
    (lambda: sac.SACConfig(learning_starts=-1), "learning_starts must be a non-negative integer"),
    (lambda: sac.SACConfig(buffer_size=4, num_envs=8), "buffer_size must hold one update's transitions"),
    (lambda: learn.PPO(DoubleIntegrator(), clip_eps=0.1), "unknown option.* clip_eps for PPO; valid: "),
    (lambda: learn.SAC("dojax/Nope-v0"), "unknown environment id 'dojax/Nope-v0'"),
    (lambda: learn.MDPO(DoubleIntegrator(), clipping="bapo"), "MDPO has no ratio clipping"),
    (lambda: mdpo.MDPOConfig(sample_mask="kl_cov"), "sample_mask='kl_cov' modifies PPO's clipped surrogate"),
    (lambda: mdpo.MDPOConfig(optimizer="n_harpg"), "MDPO takes epochs of Adam steps"),
])
def test_bad_input_is_a_one_line_error(make, message):
    with pytest.raises(ValueError, match=message) as error:
        make()
    assert "\n" not in str(error.value)


def test_predict_needs_a_trained_agent():
    with pytest.raises(ValueError, match="PPO.predict needs a trained or loaded agent"):
        learn.PPO(DoubleIntegrator()).predict(np.zeros(2))
