"""Replays: transitions of a learner's rollouts saved to a file, the offline data of
:mod:`dojax.learn.hnpg`.

A replay file is an ``.npz`` (plain arrays, no pickle) holding ``N`` transitions:

- ``format``: the string ``"dojax.replay/1"``;
- ``obs``, ``next_obs``: ``(N, observation_size)`` raw (unnormalised) observations before and after
  the step;
- ``action``: ``(N, action_size)`` the action the environment received (squashed into [-1, 1] if
  the policy squashes);
- ``reward``: ``(N,)`` the environment's reward;
- ``terminated``: ``(N,)`` the task ended at this step (no bootstrapping past it);
- ``done``: ``(N,)`` the next transition does not continue this one's episode (the episode ended
  here, or the recording of it stopped); each episode's transitions are consecutive;
- ``log_prob``: ``(N,)`` the log-density of ``action`` under the policy that chose it (in the
  environment's action space, i.e. with the ``tanh`` correction of a squashed policy), for
  importance weights.

Steps whose solver failed are left out. :func:`record` writes one from a Gaussian-policy learner's
stochastic rollouts; :func:`load` reads and checks one.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dojax.learn import rollout
from dojax.learn.config import check_positive, episode_length
from dojax.learn.networks import gaussian_log_prob, make_gaussian_policy
from dojax.learn.normalization import normalize
from dojax.learn.sac import squashed_log_prob

FORMAT = "dojax.replay/1"
FIELDS = ("obs", "action", "reward", "next_obs", "terminated", "done", "log_prob")


class Replay(NamedTuple):
    """The transitions of a replay file (see the module for the fields)."""

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    done: np.ndarray
    log_prob: np.ndarray


def save(path, replay):
    """Write ``replay`` (a :class:`Replay`) to ``path``."""
    with open(path, "wb") as f:
        np.savez(f, format=np.array(FORMAT), **{name: np.asarray(x) for name, x in zip(FIELDS, replay)})


def load(path, observation_size=None, action_size=None):
    """The :class:`Replay` at ``path``; a file that is not one, or whose observations or actions do
    not have the given sizes, is a one-line ``ValueError`` naming the file and the mismatch."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"{path}: not a readable replay file ({error})") from None
    if str(arrays.get("format")) != FORMAT:
        raise ValueError(f"{path}: not a replay file (format {arrays.get('format')!r}, expected {FORMAT!r})")
    missing = [name for name in FIELDS if name not in arrays]
    if missing:
        raise ValueError(f"{path}: the replay lacks {', '.join(missing)}")
    replay = Replay(**{name: arrays[name] for name in FIELDS})
    n = replay.reward.shape[0]
    for name, x, width in (("obs", replay.obs, observation_size), ("next_obs", replay.next_obs, observation_size),
                           ("action", replay.action, action_size)):
        if x.ndim != 2 or x.shape[0] != n or (width is not None and x.shape[1] != width):
            raise ValueError(f"{path}: {name} is shaped {list(x.shape)}, expected [{n}, {width or 'size'}]")
    for name in ("terminated", "done", "log_prob"):
        if getattr(replay, name).shape != (n,):
            raise ValueError(f"{path}: {name} is shaped {list(getattr(replay, name).shape)}, expected [{n}]")
    if n == 0:
        raise ValueError(f"{path}: the replay holds no transitions")
    return replay


def action_log_prob(mean, log_std, action, squash):
    """Log-density of the environment action ``action`` under the Gaussian ``(mean, log_std)``,
    squashed by ``tanh`` if ``squash`` (``u = atanh(action)``, clipped off +-1)."""
    if not squash:
        return gaussian_log_prob(mean, log_std, action)
    u = jnp.arctanh(jnp.clip(action, -1.0 + 1e-12, 1.0 - 1e-12))
    return squashed_log_prob(mean, log_std, u)


def record(learner, num_steps, path, seed=0, num_envs=8):
    """Roll ``learner``'s stochastic policy (a Gaussian-policy learner: PPO, MDPO, SAC, MDPO_OFF,
    HNPG) in ``num_envs`` copies of its environment for at least ``num_steps`` steps in all (whole
    steps of every copy), from fresh episodes drawn from ``seed``, and save the transitions to
    ``path``. Returns the number of transitions saved (failed solver steps are left out)."""
    check_positive("num_steps", num_steps, integer=True)
    check_positive("num_envs", num_envs, integer=True)
    config = learner.config
    if getattr(learner, "policy_factory", None) is not make_gaussian_policy:
        raise ValueError(f"record needs a learner with a Gaussian policy (PPO, MDPO, SAC, MDPO_OFF, HNPG), "
                         f"got {type(learner).__name__}")
    if learner.state is None:
        raise ValueError(f"record needs a trained or loaded agent: call {type(learner).__name__}.learn or load first")
    env = learner.env
    network, _ = make_gaussian_policy(env.action_size, config)
    params = learner.state.params
    horizon = -(-num_steps // num_envs)

    def sample(obs, key):
        mean, log_std = network.apply(params.policy, normalize(params.obs_stats, obs))
        u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
        action = jnp.tanh(u) if config.squash_actions else u
        return action, (action, action_log_prob(mean, log_std, action, config.squash_actions))

    @jax.jit
    def roll(key):
        key_start, key_roll = jax.random.split(key)
        start = rollout.start(env, key_start, num_envs)
        return rollout.unroll(env, sample, start, key_roll, horizon, episode_length(env, config), with_info=True)[1]

    t = jax.tree.map(lambda x: np.swapaxes(np.asarray(x), 0, 1), roll(jax.random.key(seed)))  # per environment
    done = t.terminated | t.truncated | t.failed
    done[:, -1] = True
    done[:, :-1] |= t.failed[:, 1:]  # a failed step is left out: its episode ends before it
    keep = ~t.failed.reshape(-1)
    flat = lambda x: x.reshape((-1,) + x.shape[2:])[keep]  # noqa: E731
    action, log_prob = t.info
    replay = Replay(flat(t.obs), flat(action), flat(t.reward), flat(t.next_obs), flat(t.terminated), flat(done),
                    flat(log_prob))
    save(path, replay)
    return int(keep.sum())
