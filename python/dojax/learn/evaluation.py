"""Evaluating a policy: on a gymnasium environment, as Stable-Baselines3's ``evaluate_policy`` does,
or compiled on a functional environment (:func:`mean_return`)."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

from dojax.learn.config import check_positive


def evaluate_policy(policy, env, n_episodes, deterministic=True, seed=0):
    """Mean and standard deviation of the returns of ``n_episodes`` episodes of ``policy`` on ``env``.

    Args:
        policy: a learner of :mod:`dojax.learn` (its ``predict(obs, deterministic)`` acts) or a
            callable ``obs -> action``.
        env: a ``gymnasium.Env`` or a registered id (made with ``gymnasium.make(env)`` and closed
            after; an id's reward is the task's default one, not the ``smooth_reward`` the
            learners train on unless given ``gymnasium.make(id, smooth_reward=True)``).
        n_episodes: episodes to run, each until it terminates or is truncated.
        deterministic: act without the policy's training noise (learners only).
        seed: episode ``i`` starts from ``env.reset(seed=seed + i)``.
    Returns:
        ``(mean return, standard deviation of the returns)`` as floats.
    """
    check_positive("n_episodes", n_episodes, integer=True)
    if hasattr(policy, "predict"):
        act = lambda obs: policy.predict(obs, deterministic=deterministic)  # noqa: E731
    elif callable(policy):
        act = policy
    else:
        raise ValueError(f"policy must be a dojax.learn learner or a callable obs -> action, "
                         f"got {type(policy).__name__}")
    made = isinstance(env, str)
    if made:
        env = gymnasium.make(env)
    try:
        returns = [_episode_return(env, act, seed + i) for i in range(n_episodes)]
    finally:
        if made:
            env.close()
    return float(np.mean(returns)), float(np.std(returns))


def _episode_return(env, act, seed):
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(np.asarray(act(obs)))
        total += float(reward)
        done = terminated or truncated
    return total


def mean_return(env, policy, key, n_episodes=32, length=100):
    """Mean return of ``n_episodes`` episodes of ``length`` steps of a functional environment
    (``env.reset(key)``, ``env.step(state, action)``), each from ``env.reset`` of its own key, run
    as one vmapped ``jax.lax.scan``; ``policy(obs) -> action`` must be jittable. Episodes are not
    cut at termination (for tasks without one, such as the LQR task)."""
    def episode(key):
        def body(s, _):
            s = env.step(s, policy(s.obs))
            return s, s.reward
        return jnp.sum(jax.lax.scan(body, env.reset(key), None, length=length)[1])

    return float(jnp.mean(jax.vmap(episode)(jax.random.split(key, n_episodes))))
