"""Gymnasium environments: registration, API compliance (gymnasium's and Stable-Baselines3's
checkers), determinism, the vector environment, bad input, solver failure, the functional core.

Each environment is built once per id (module fixture), so each compiles its reset and step once.
"""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dojax
from dojax.envs.coordinates import MujocoCoordinates
from dojax.models.robots import gymnasium_model

IDS = [f"dojax/{name}-v0" for name in dojax.envs.ENVS]
SLOW_IDS = {"dojax/Humanoid-v0", "dojax/Ant-v0", "dojax/Walker2d-v0", "dojax/HalfCheetah-v0", "dojax/Quadruped-v0"}


def test_every_environment_is_registered():
    for env_id in IDS:
        spec = gym.spec(env_id)
        assert spec.vector_entry_point is not None
        assert spec.max_episode_steps == dojax.envs.ENVS[spec.kwargs["name"]].max_episode_steps


def _rollout(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(a)
        out.append(np.append(obs, reward))
        if terminated or truncated:
            break
    return out


@pytest.mark.parametrize("env_id", [pytest.param(i, marks=pytest.mark.slow) if i in SLOW_IDS else i for i in IDS])
def test_environment_passes_the_checkers(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, render_mode="rgb_array", width=64, height=48)
    core = env.unwrapped.core
    assert env.unwrapped.dt == core.dt == pytest.approx(float(core.mech.timestep))
    assert env.unwrapped.metadata["render_fps"] == round(1.0 / core.dt)
    check_env(env.unwrapped)  # spaces, seeding determinism, render check included
    with _no_sb3_warnings():
        sb3_check_env(env.unwrapped, warn=True)
    # the same seed gives the same trajectory
    actions = np.random.default_rng(0).uniform(-1, 1, (5,) + env.action_space.shape)
    first, second = _rollout(env, 7, actions), _rollout(env, 7, actions)
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0
    env.close()


class _no_sb3_warnings:
    """SB3's checker only warns; a dojax space that it warns about fails the test."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.caught = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        messages = [str(w.message) for w in self.caught if "stable_baselines3" in (w.filename or "")]
        assert not messages, messages


# -- observations follow gymnasium's qpos / qvel -------------------------------------------------------
def test_mujoco_coordinates_reproduce_the_imported_configuration():
    # At the initial state (noise 0) the reconstructed qpos equals the configuration the importer
    # placed the robot in (ImportInfo.qpos, MuJoCo's convention) to rounding, and qvel is zero.
    for model_file in ("hopper.xml", "ant.xml"):
        mech, info = gymnasium_model(model_file, return_info=True)
        coordinates = MujocoCoordinates(mech, info)
        # compiled (run eagerly, each operation would compile a program of its own)
        both = jax.jit(lambda mech, sim: coordinates(mech, sim, dojax.to_minimal(mech, sim)))
        sim = mech.initial_state()
        qpos, qvel = both(mech, sim)
        assert qpos.shape == (info.model.nq,) and qvel.shape == (info.model.nv,)
        hinges = slice(7, None) if model_file == "ant.xml" else slice(None)  # the ant's free joint: see below
        np.testing.assert_allclose(qpos[hinges], info.qpos[hinges], atol=1e-9)
        np.testing.assert_allclose(qvel, 0.0, atol=1e-9)
    # the ant's torso is a free body: qpos[:3] is its centre of mass, at the imported torso height
    assert abs(float(np.asarray(qpos)[2]) - info.qpos[2]) < 1e-2


def test_hopper_reward_terms_add_up_and_fall_terminates():
    env = dojax.envs.make("Hopper")
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    s = reset(jax.random.PRNGKey(0))
    assert s.obs.shape == (11,) and float(s.reward) == 0.0
    total = []
    for k in range(40):
        s = step(s, np.array([1.0, -1.0, 1.0]))  # full torques: the hopper throws itself over
        terms = float(s.info["reward_forward"]) + float(s.info["reward_survive"]) + float(s.info["reward_ctrl"])
        assert float(s.reward) == pytest.approx(terms, rel=1e-12, abs=1e-12)
        total.append(bool(s.terminated))
        if s.terminated:
            break
    assert total[-1], "the hopper should leave its healthy range under full torques"
    qpos_z, angle = (float(v) for v in np.asarray(s.obs)[:2])
    assert qpos_z <= 0.7 or abs(angle) >= 0.2


def test_info_holds_python_floats_and_the_reset_info_matches_the_reset_observation():
    env = gym.make("dojax/Hopper-v0")
    obs, info = env.reset(seed=0)
    assert info["z_position"] == obs[0] > 1.0  # the torso's height, as the observation says
    assert info["reward_forward"] == info["reward_survive"] == info["reward_ctrl"] == info["x_velocity"] == 0.0
    obs, reward, terminated, truncated, step_info = env.step(env.action_space.sample())
    assert step_info["z_position"] == obs[0] and step_info.keys() == info.keys()
    for i in (info, step_info):
        assert type(i.pop("solver_failed")) is bool
        assert all(type(v) is float for v in i.values()), i


# -- the vector environment ---------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ["dojax/Pendulum-v0", "dojax/Hopper-v0"])
def test_vector_env_equals_single_envs(env_id):
    # Environment i of make_vec(seed=s) is a single env seeded s + i; with a 6-step limit the
    # autoreset path (NEXT_STEP) is exercised too. Batched kernels round differently: 1e-8.
    n, limit, steps, seed = 3, 6, 14, 10
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=limit)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    actions = np.random.default_rng(1).uniform(-1, 1, (steps, n) + vec.single_action_space.shape)
    obs, _ = vec.reset(seed=seed)
    vec_obs, vec_done = [obs], []
    for t in range(steps):
        obs, reward, terminated, truncated, infos = vec.step(actions[t])
        vec_obs.append(obs)
        vec_done.append(terminated | truncated)
        assert all(np.shape(v) == (n,) for v in infos.values())
    assert np.any(vec_done)
    for i in range(n):
        env = gym.make(env_id, max_episode_steps=limit)
        obs, _ = env.reset(seed=seed + i)
        np.testing.assert_allclose(vec_obs[0][i], obs, rtol=1e-8, atol=1e-10)
        done = False
        for t in range(steps):
            if done:
                obs, _ = env.reset()
                done = False
            else:
                obs, _, terminated, truncated, _ = env.step(actions[t, i])
                done = terminated or truncated
                assert done == vec_done[t][i]
            np.testing.assert_allclose(vec_obs[t + 1][i], obs, rtol=1e-8, atol=1e-10)


# -- bad input and solver failure ---------------------------------------------------------------------------
def test_bad_actions_are_rejected_or_clipped():
    env = gym.make("dojax/Pendulum-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan]))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(2))
    env.reset(seed=0)
    clipped = env.step(np.array([5.0]))[0]
    env.reset(seed=0)
    bound = env.step(np.array([1.0]))[0]
    np.testing.assert_array_equal(clipped, bound)
    with pytest.raises(ValueError, match="render_mode"):
        gym.make("dojax/Pendulum-v0", render_mode="human")


def test_solver_failure_truncates_with_finite_observation():
    # One interior-point iteration cannot resolve the block's 8 contacts: every step fails.
    env = gym.make("dojax/BlockPush-v0", solver=dojax.SolverOptions(max_iter=1))
    obs0, _ = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0]))
    assert truncated and not terminated and info["solver_failed"]
    assert np.all(np.isfinite(obs)) and reward == 0.0
    np.testing.assert_array_equal(obs, obs0)


# -- the functional core ----------------------------------------------------------------------------------------
def test_functional_core_is_differentiable():
    # d(sum of smooth rewards over 10 steps)/d(actions) by jax.grad against central differences
    # along a random direction: agreement to 1e-6 relative (FD step 1e-6, float64, no contact).
    env = dojax.envs.make("Pendulum", smooth_reward=True)
    start = jax.jit(env.reset)(jax.random.PRNGKey(3))

    def total(actions):
        def body(s, a):
            s = env.step(s, a)
            return s, s.reward

        return jnp.sum(jax.lax.scan(body, start, actions)[1])

    actions = 0.3 * np.ones((10, 1))
    grad = jax.jit(jax.grad(total))(actions)
    direction = np.random.default_rng(0).normal(size=actions.shape)
    f = jax.jit(total)
    eps = 1e-6
    fd = (float(f(actions + eps * direction)) - float(f(actions - eps * direction))) / (2 * eps)
    assert float(np.vdot(grad, direction)) == pytest.approx(fd, rel=1e-6)
    # vmap over a batch of reset keys
    batch = jax.jit(lambda: jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 4)))()
    assert batch.obs.shape == (4, 3) and len(set(np.asarray(batch.obs)[:, 2].round(12))) == 4


def test_dt_is_a_make_keyword():
    env = gym.make("dojax/Pendulum-v0", dt=0.02)
    assert env.unwrapped.dt == pytest.approx(0.02)
    assert env.unwrapped.metadata["render_fps"] == 50
    with pytest.raises(ValueError):
        gym.make("dojax/Pendulum-v0", dt=-0.1)


# -- Stable-Baselines3 learns on it unchanged ---------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ["dojax/Pendulum-v0", pytest.param("dojax/Hopper-v0", marks=pytest.mark.slow)])
def test_stable_baselines3_ppo_runs(env_id):
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    model = PPO("MlpPolicy", env_id, n_steps=1024, batch_size=256, n_epochs=2, seed=0, device="cpu")
    model.learn(2048)
    assert model.num_timesteps == 2048
    assert len(model.ep_info_buffer) > 0
