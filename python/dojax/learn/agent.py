"""The user-facing learners: a thin stateful layer over the functional cores.

``APG(env, seed=0, **config)``, ``SHAC``, ``AHAC``, ``ARS``, ``AGS``, ``PPO``, ``MDPO``, ``SAC``,
``MDPO_OFF`` and ``HNPG``
(``env`` a registered id such as
``"dojax/Pendulum-v0"`` or a functional environment) keep the training state between calls:
``learn(total_timesteps)`` continues where the last call stopped, ``predict(obs)`` acts, and
``save(path)`` / ``load(path)`` write and read the whole training state (parameters, optimiser and
observation-normaliser state, the environments' states, the random key) and the config in one
``.npz`` file of plain arrays plus a JSON header (no pickle).
"""

import json
import zipfile
from dataclasses import asdict

import jax
import numpy as np
from tqdm.auto import tqdm

from dojax import envs
from dojax.learn import ags, ahac, apg, ars, hnpg, mdpo, mdpo_off, ppo, sac, shac
from dojax.learn.config import check_positive
from dojax.learn.logger import Logger
from dojax.learn.networks import make_gaussian_policy, make_policy

FORMAT = "dojax.learn/1"


def make_env(env_id, env_kwargs):
    """The functional environment of a registered id ("dojax/Hopper-v0" or "Hopper")."""
    name = env_id.removeprefix("dojax/").removesuffix("-v0")
    if name not in envs.ENVS:
        valid = ", ".join(f"dojax/{n}-v0" for n in envs.ENVS)
        raise ValueError(f"unknown environment id {env_id!r}; valid: {valid}")
    return envs.make(name, **env_kwargs)


def _arrays(tree):
    """``{path: numpy array}`` of a pytree's leaves (PRNG keys as their raw data)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    out = {}
    for path, leaf in leaves:
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        out[jax.tree_util.keystr(path)] = np.asarray(leaf)
    return out


def _fill(template, arrays, path):
    """``template`` (a pytree of shape structs or arrays) with its leaves read from ``arrays``;
    a ``ValueError`` naming ``path`` and the first mismatch if they do not fit."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    names = [jax.tree_util.keystr(p) for p, _ in leaves]
    missing, extra = sorted(set(names) - set(arrays)), sorted(set(arrays) - set(names))
    if missing or extra:
        raise ValueError(f"{path}: the checkpoint does not match this agent's state "
                         f"(missing: {', '.join(missing) or 'none'}; unexpected: {', '.join(extra) or 'none'})")
    values = []
    for name, (_, leaf) in zip(names, leaves):
        is_key = jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
        expected = jax.eval_shape(jax.random.key_data, leaf) if is_key else leaf
        array = arrays[name]
        if array.shape != expected.shape or array.dtype != expected.dtype:
            raise ValueError(f"{path}: {name} is {array.dtype}{list(array.shape)} in the checkpoint, "
                             f"this agent expects {expected.dtype}{list(expected.shape)}")
        values.append(jax.random.wrap_key_data(array) if is_key else jax.numpy.asarray(array))
    return jax.tree_util.tree_unflatten(treedef, values)


class Learner:
    """A learner bound to one environment, config and seed (subclassed per algorithm).

    Args:
        env: a registered id ("dojax/Pendulum-v0") or a functional environment (``reset``/``step``).
        seed: the one seed every random number of training derives from.
        env_kwargs: keywords for ``dojax.envs.make`` when ``env`` is an id; by default
            ``smooth_reward=True`` (each task's smooth reward, no termination: the objective a
            gradient-based learner can follow).
        **config: the algorithm's options (its config dataclass); the number of updates is
            :meth:`learn`'s (``num_iterations`` is for ``make_train`` only).
    """

    algorithm = None  # the learner's module: make_learner, and its Config class below
    config_class = None
    policy_factory = staticmethod(make_policy)  # (network, act) of the config's policy

    def __init__(self, env, seed=0, env_kwargs=None, **config):
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        unknown = sorted(set(config) - set(self.config_class.field_names()))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)} for {type(self).__name__}; "
                             f"valid: {', '.join(self.config_class.field_names())}")
        self.env_id = env if isinstance(env, str) else None
        self.env_kwargs = dict(smooth_reward=True) if env_kwargs is None else dict(env_kwargs)
        self.env = make_env(env, self.env_kwargs) if self.env_id else env
        functional = ("reset", "step", "action_size", "observation_size")
        if not all(hasattr(self.env, name) for name in functional):
            raise ValueError(f"{type(self).__name__} needs a functional environment (reset(key), step(env_state, "
                             f"action), action_size, observation_size; e.g. dojax.envs.make(name)) or a registered "
                             f"id, got {type(self.env).__name__}")
        self.seed = seed
        self.config = self.config_class(**config)
        init, update = self.algorithm.make_learner(self.env, self.config)
        self._init, self._update = jax.jit(init), jax.jit(update, donate_argnums=0)  # see learn
        _, act = self.policy_factory(self.env.action_size, self.config)
        self._act = jax.jit(lambda params, obs, key: act(params.policy, params.obs_stats, obs, key))
        self.state = None
        self._predictions = 0

    @property
    def num_timesteps(self):
        """Environment steps taken in training so far."""
        if self.state is None:
            return 0
        if hasattr(self.state, "env_steps"):  # a learner whose updates take varying numbers of steps
            return int(self.state.env_steps)
        return int(self.state.iteration) * self.config.steps_per_update(self.env)

    def learn(self, total_timesteps, callback=None, progress_bar=True, log_dir=None, tensorboard=True):
        """Train for at least ``total_timesteps`` more environment steps (whole updates: windows of
        ``num_envs * horizon`` steps, AHAC's of its current horizon, or the episodes of a
        random-search update), continuing from any earlier call. Each update consumes the state
        before it (its arrays are donated, so a replay buffer is written in place): to keep a
        state across updates, copy it (``jax.tree.map(jnp.copy, learner.state)``).

        Args:
            callback: ``callback(learner, metrics) -> bool`` after each update (``metrics`` a dict of
                floats); returning ``False`` stops training.
            progress_bar: show a tqdm progress bar.
            log_dir: write each update's metrics to ``log_dir/progress.csv`` (and to TensorBoard if
                tensorboardX is installed and ``tensorboard``).
        Returns:
            ``self``.
        """
        check_positive("total_timesteps", total_timesteps, integer=True)
        if self.state is None:
            self.state = self._init(jax.random.key(self.seed))
        start = self.num_timesteps
        logger = Logger(log_dir, tensorboard) if log_dir is not None else None
        bar = tqdm(total=total_timesteps, unit="steps", disable=not progress_bar)
        try:
            while self.num_timesteps - start < total_timesteps:
                self.state, metrics = self._update(self.state)
                metrics = {name: float(value) for name, value in metrics.items()}
                bar.update(min(self.num_timesteps - start, total_timesteps) - bar.n)
                bar.set_postfix(reward=f"{metrics['reward']:.3g}")
                if logger is not None:
                    logger.write(metrics, int(metrics["env_steps"]))
                if callback is not None and callback(self, metrics) is False:
                    break
        finally:
            bar.close()
            if logger is not None:
                logger.close()
        return self

    def predict(self, obs, deterministic=True):
        """The policy's action(s) at observation(s) ``obs`` (a NumPy array, shape ``(..., obs)``);
        with ``deterministic=False`` the training noise is added."""
        if self.state is None:
            raise ValueError(f"{type(self).__name__}.predict needs a trained or loaded agent: call learn or load first")
        key = None
        if not deterministic:
            key = jax.random.fold_in(jax.random.key(self.seed + 1), self._predictions)
            self._predictions += 1
        return np.asarray(self._act(self.state.params, jax.numpy.asarray(obs), key))

    def save(self, path):
        """Write the training state and the config to ``path`` (a ``.npz`` file, no pickle)."""
        if self.state is None:
            raise ValueError(f"{type(self).__name__}.save needs a trained agent: call learn first")
        meta = dict(format=FORMAT, algorithm=type(self).__name__, config=asdict(self.config), seed=self.seed,
                    env_id=self.env_id, env_kwargs=self.env_kwargs)
        with open(path, "wb") as f:
            np.savez(f, **{"meta.json": np.array(json.dumps(meta))}, **_arrays(self.state))

    @classmethod
    def load(cls, path, env=None):
        """The learner saved at ``path``; ``env`` is needed if it was trained on an environment
        object rather than an id. A file that is not such a checkpoint, or whose algorithm,
        config or arrays do not match, is a ``ValueError`` naming the file and the mismatch."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            meta = json.loads(str(arrays.pop("meta.json")))
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise ValueError(f"{path}: not a readable dojax.learn checkpoint ({error})") from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        if meta.get("algorithm") != cls.__name__:
            raise ValueError(f"{path}: holds a {meta.get('algorithm')} agent, not a {cls.__name__} agent")
        if env is None and meta["env_id"] is None:
            raise ValueError(f"{path}: the agent was trained on an environment object; pass it as env=")
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()}
        learner = cls(env if env is not None else meta["env_id"], seed=meta["seed"], env_kwargs=meta["env_kwargs"],
                      **config)
        template = jax.eval_shape(learner._init, jax.random.key(meta["seed"]))
        learner.state = _fill(template, arrays, path)
        return learner


class APG(Learner):
    """Analytic policy gradients (:mod:`dojax.learn.apg`) behind ``learn``/``predict``/``save``/``load``."""

    algorithm = apg
    config_class = apg.APGConfig


class SHAC(Learner):
    """Short-horizon actor-critic (:mod:`dojax.learn.shac`) behind ``learn``/``predict``/``save``/``load``."""

    algorithm = shac
    config_class = shac.SHACConfig


class AHAC(Learner):
    """Adaptive-horizon actor-critic (:mod:`dojax.learn.ahac`) behind ``learn``/``predict``/``save``/``load``."""

    algorithm = ahac
    config_class = ahac.AHACConfig


class ARS(Learner):
    """Augmented random search (:mod:`dojax.learn.ars`) behind ``learn``/``predict``/``save``/``load``."""

    algorithm = ars
    config_class = ars.ARSConfig


class AGS(Learner):
    """Augmented gradient search (:mod:`dojax.learn.ags`) behind ``learn``/``predict``/``save``/``load``."""

    algorithm = ags
    config_class = ags.AGSConfig


class PPO(Learner):
    """Proximal policy optimisation and its options (:mod:`dojax.learn.ppo`) behind
    ``learn``/``predict``/``save``/``load``; ``predict(obs)`` is the Gaussian's squashed mean."""

    algorithm = ppo
    config_class = ppo.PPOConfig
    policy_factory = staticmethod(make_gaussian_policy)


class SAC(Learner):
    """Soft actor-critic (:mod:`dojax.learn.sac`) behind ``learn``/``predict``/``save``/``load``;
    ``predict(obs)`` is ``tanh`` of the Gaussian's mean."""

    algorithm = sac
    config_class = sac.SACConfig
    policy_factory = staticmethod(make_gaussian_policy)


class MDPO(Learner):
    """On-policy mirror descent policy optimisation (:mod:`dojax.learn.mdpo`) behind
    ``learn``/``predict``/``save``/``load``; ``predict(obs)`` is the Gaussian's squashed mean."""

    algorithm = mdpo
    config_class = mdpo.MDPOConfig
    policy_factory = staticmethod(make_gaussian_policy)


class MDPO_OFF(Learner):
    """Off-policy mirror descent policy optimisation (:mod:`dojax.learn.mdpo_off`) behind
    ``learn``/``predict``/``save``/``load``; ``predict(obs)`` is ``tanh`` of the Gaussian's mean."""

    algorithm = mdpo_off
    config_class = mdpo_off.MDPOOffConfig
    policy_factory = staticmethod(make_gaussian_policy)


class HNPG(Learner):
    """Hybrid natural policy gradient (:mod:`dojax.learn.hnpg`) behind
    ``learn``/``predict``/``save``/``load``; ``predict(obs)`` is the Gaussian's squashed mean."""

    algorithm = hnpg
    config_class = hnpg.HNPGConfig
    policy_factory = staticmethod(make_gaussian_policy)
