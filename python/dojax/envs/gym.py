"""Gymnasium facades of the functional environments: a single ``gymnasium.Env`` and a native
batched ``gymnasium.vector.VectorEnv``.

Both take NumPy actions and return NumPy observations (float64), and run one compiled JAX call
per ``step``. Seeding follows gymnasium: ``reset(seed=s)`` seeds the environment's ``np_random``,
from which each episode's JAX key is drawn; the vector environment seeds environment ``i`` with
``s + i``, so it reproduces single environments seeded ``s, s + 1, ...`` exactly.

Bad actions: a wrong shape or a non-finite value raises ``ValueError`` before anything is
computed; values outside [-1, 1] are clipped. A step whose solver fails ends the episode with
``truncated=True`` and ``info["solver_failed"] = True`` (the observation is the last good one).
"""

import math

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from dojax import render


def _spaces(core):
    obs = spaces.Box(-np.inf, np.inf, (core.observation_size,), np.float64)
    act = spaces.Box(-1.0, 1.0, (core.action_size,), np.float32)
    return obs, act


def _check_actions(action, shape):
    a = np.asarray(action, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"action must have shape {shape}, got {a.shape}")
    if not all(map(math.isfinite, a.ravel().tolist())):  # (a NumPy reduction costs a step 10 us more)
        raise ValueError(f"action must be finite, got {action}")
    return a


def _unraveler(template):
    """``ravel_pytree``'s unravel function for a tree of ``jax.ShapeDtypeStruct``: ravel_pytree
    traced abstractly (run on arrays outside jit, it compiles an XLA program per leaf shape). The
    function depends on the leaves' shapes and dtypes only."""
    found = []
    jax.eval_shape(lambda tree: found.append(ravel_pytree(tree)[1]), template)
    return found[0]


def _episode_seed(rng):
    """An episode's seed drawn from a NumPy generator (one draw per episode)."""
    return np.int64(rng.integers(0, 2**63 - 1))


def _batched_info(env_state):
    """Info dict of a batched EnvState, fetched from the device at once: one NumPy array per key,
    one entry per environment."""
    info, failed = jax.device_get((env_state.info, env_state.solver_failed))
    return {**{k: np.asarray(v) for k, v in info.items()}, "solver_failed": np.asarray(failed)}


class _Renderer:
    """Draws one State with a camera fitted at reset that follows body 0 over the ground."""

    def __init__(self, mech, width, height):
        self.mech, self.width, self.height = mech, width, height
        self.camera, self.origin = None, None

    def reset(self, sim):
        self.camera = render.fit_camera(self.mech, sim)
        self.origin = np.asarray(sim.x[0])

    def __call__(self, sim):
        shift = np.asarray(sim.x[0]) - self.origin
        shift[2] = 0.0
        camera = self.camera._replace(center=self.camera.center + shift)
        return render.render_frame(self.mech, sim, self.width, self.height, camera)


class _Facade:
    """What both facades share: the functional core, its ``dt``, the render mode, the state."""

    def _attach(self, core, render_mode):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.core = core
        self.render_mode = render_mode
        self.metadata = dict(self.metadata, render_fps=max(1, round(1.0 / core.dt)))
        self._state = None

    def _can_render(self, maker):
        """Whether render() can draw: warns without a render mode, raises before the first reset."""
        if self.render_mode is None:
            gymnasium.logger.warn(f"render() called without a render_mode; pass render_mode='rgb_array' to {maker}")
            return False
        if self._state is None:
            raise RuntimeError("call reset() before render()")
        return True

    @property
    def dt(self):
        """Seconds per step."""
        return self.core.dt

    @property
    def state(self):
        """The current :class:`~dojax.envs.core.EnvState`, batched in the vector env (None before the
        first reset)."""
        return self._state


class DojaxEnv(_Facade, gymnasium.Env):
    """A functional dojax environment (:class:`dojax.envs.core.Env`) as a ``gymnasium.Env``.

    Made by ``gymnasium.make("dojax/<Name>-v0", dt=..., render_mode=..., **task_options)``;
    ``env.unwrapped.dt`` is the step in seconds and ``env.unwrapped.core`` the functional
    environment. ``render_mode="rgb_array"`` returns (height, width, 3) uint8 frames drawn with
    matplotlib (``width``/``height`` keywords, default 480).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, core, render_mode=None, width=480, height=480):
        self._attach(core, render_mode)
        self.observation_space, self.action_space = _spaces(core)
        # The state stays on the device as one flat array, and each step returns what Python needs
        # (observation, reward, flags, info) as one more: two arrays in and out of one compiled call
        # and one transfer, instead of a dispatch and a transfer per field.
        template = jax.eval_shape(lambda: core.reset(jax.random.PRNGKey(0)))
        unravel = _unraveler(template)
        self._results = _HostResults(template)

        def flat(state):
            return ravel_pytree(state)[0], self._results.pack(state)

        self._reset = jax.jit(lambda seed: flat(core.reset(jax.random.PRNGKey(seed))))
        self._step = jax.jit(lambda state, action: flat(core.step(unravel(state), action)))
        self._unravel = jax.jit(unravel)
        self._renderer = _Renderer(core.mech, width, height)

    @property
    def state(self):
        """The current :class:`~dojax.envs.core.EnvState` (None before the first reset)."""
        return None if self._state is None else self._unravel(self._state)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._state, host = self._reset(_episode_seed(self.np_random))
        if self.render_mode is not None:
            self._renderer.reset(self.state.sim)
        obs, _, _, _, info = self._results.unpack(host)
        return obs, info

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        a = _check_actions(action, self.action_space.shape)
        self._state, host = self._step(self._state, a)
        return self._results.unpack(host)

    def render(self):
        if not self._can_render("make"):
            return None
        return self._renderer(jax.device_get(self.state.sim))


class _HostResults:
    """Packs an EnvState's observation, reward, flags and info into one float64 vector on the
    device, and unpacks it on the host: info scalars as Python floats, as gymnasium's envs give."""

    def __init__(self, template):
        self.keys = list(template.info)
        self.shapes = [p.shape for p in self._parts(template)]
        sizes = [int(np.prod(sh, dtype=int)) for sh in self.shapes]
        self.slices = [slice(end - size, end) for end, size in zip(np.cumsum(sizes), sizes)]

    def _parts(self, state):
        return [state.obs, state.reward, state.terminated, state.solver_failed] + [state.info[k] for k in self.keys]

    def pack(self, state):
        return jnp.concatenate([jnp.ravel(p).astype(jnp.float64) for p in self._parts(state)])

    def unpack(self, packed):
        packed = np.asarray(packed)
        first = self.slices[1].start  # after the observation: Python floats at once, not one by one
        rest = packed[first:].tolist()
        parts = [rest[sl.start - first] if not sh else packed[sl].reshape(sh) for sl, sh in zip(self.slices, self.shapes)]
        obs, reward, terminated, failed = parts[:4]
        info = dict(zip(self.keys, parts[4:]))
        info["solver_failed"] = bool(failed)
        return obs, reward, bool(terminated), bool(failed), info


class DojaxVectorEnv(_Facade, VectorEnv):
    """``num_envs`` copies of a functional environment stepped together by one ``jax.vmap`` call.

    Made by ``gymnasium.make_vec("dojax/<Name>-v0", num_envs, vectorization_mode="vector_entry_point")``.
    Autoreset is gymnasium's ``NEXT_STEP`` mode: the step after an episode ends resets that
    environment (its action is ignored, its reward is 0). Episodes are truncated after
    ``max_episode_steps`` steps or on a solver failure (``infos["solver_failed"]``).
    ``render()`` returns a tuple of frames, one per environment.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, core, num_envs, max_episode_steps=None, render_mode=None, width=240, height=240):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self._attach(core, render_mode)
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.single_observation_space, self.single_action_space = _spaces(core)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        # episodes' keys are made from their seeds inside the compiled calls: one transfer of an
        # int64 vector, where a key made on the host is a dispatch of its own (60 us each)
        reset = jax.vmap(lambda seed: core.reset(jax.random.PRNGKey(seed)))
        self._reset = jax.jit(reset)

        def step_or_reset(states, actions, seeds, resetting):
            stepped = jax.vmap(core.step)(states, actions)
            fresh = reset(seeds)
            pick = lambda new, old: jax.vmap(lambda r, a, b: jax.numpy.where(r, a, b))(resetting, new, old)
            return jax.tree.map(pick, fresh, stepped)

        self._step = jax.jit(step_or_reset)
        self._renderers = [_Renderer(core.mech, width, height) for _ in range(self.num_envs)]
        self._rngs = None

    def reset(self, *, seed=None, options=None):
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"need {self.num_envs} seeds, got {len(seeds)}")
        if self._rngs is None or seed is not None:
            self._rngs = [gymnasium.utils.seeding.np_random(s)[0] for s in seeds]
        self._state = self._reset(np.array([_episode_seed(rng) for rng in self._rngs], dtype=np.int64))
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        if self.render_mode:
            sims = jax.device_get(self._state.sim)
            for i, r in enumerate(self._renderers):
                r.reset(jax.tree.map(lambda a: a[i], sims))
        return np.asarray(jax.device_get(self._state.obs)), _batched_info(self._state)

    def step(self, actions):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        a = _check_actions(actions, self.action_space.shape)
        resetting = self._autoreset
        seeds = np.array([_episode_seed(rng) if r else 0 for rng, r in zip(self._rngs, resetting)], dtype=np.int64)
        self._state = self._step(self._state, a, seeds, resetting)
        obs, reward, terminated = jax.device_get((self._state.obs, self._state.reward, self._state.terminated))
        infos = _batched_info(self._state)
        self._steps = np.where(resetting, 0, self._steps + 1)
        truncated = infos["solver_failed"].copy()
        if self.max_episode_steps is not None:
            truncated |= self._steps >= self.max_episode_steps
        truncated &= ~resetting
        terminated = np.asarray(terminated) & ~resetting
        self._autoreset = terminated | truncated
        if self.render_mode and resetting.any():
            sims = jax.device_get(self._state.sim)
            for i in np.flatnonzero(resetting):
                self._renderers[i].reset(jax.tree.map(lambda a: a[i], sims))
        return np.asarray(obs), np.asarray(reward, dtype=np.float64), terminated, truncated, infos

    def render(self):
        if not self._can_render("make_vec"):
            return None
        sims = jax.device_get(self._state.sim)
        return tuple(r(jax.tree.map(lambda a: a[i], sims)) for i, r in enumerate(self._renderers))
