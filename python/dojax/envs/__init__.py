"""Gymnasium environments on dojax, and their functional cores.

Importing :mod:`dojax` registers these ids (``gymnasium.make(id, dt=..., render_mode=...)``;
``gymnasium.make_vec(id, num_envs, vectorization_mode="vector_entry_point")`` for the batched
version). Keywords other than ``render_mode``, ``width`` and ``height`` go to the functional
environment's constructor (``dt``, ``smooth_reward``, ``reset_noise_scale``, ...).

======================  =====================  ==========  ===========  ======
id                      class                  dt default  episode      actions
======================  =====================  ==========  ===========  ======
dojax/Pendulum-v0       classic.Pendulum       0.05 s      200 steps    1
dojax/CartPole-v0       classic.CartPole       0.02 s      500 steps    1
dojax/InvertedPendulum  classic.InvertedPend.  0.04 s      1000 steps   1
dojax/Hopper-v0         locomotion.Hopper      0.02 s      1000 steps   3
dojax/HalfCheetah-v0    locomotion.HalfCheetah 0.02 s      1000 steps   6
dojax/Walker2d-v0       locomotion.Walker2d    0.02 s      1000 steps   6
dojax/Ant-v0            locomotion.Ant         0.02 s      1000 steps   8
dojax/Humanoid-v0       locomotion.Humanoid    0.02 s      1000 steps   17
dojax/Quadruped-v0      locomotion.Quadruped   0.02 s      1000 steps   12
dojax/BlockPush-v0      manipulation.BlockPush 0.05 s      200 steps    2
======================  =====================  ==========  ===========  ======

For JAX-native training use the functional core: ``env = dojax.envs.make("Hopper")``, then
``jax.jit(env.reset)(key)`` and ``jax.jit(env.step)(env_state, action)`` (``vmap``/``grad`` too).
"""

import gymnasium

from dojax.envs.classic import CartPole, InvertedPendulum, Pendulum
from dojax.envs.core import Env, EnvState
from dojax.envs.gym import DojaxEnv, DojaxVectorEnv
from dojax.envs.locomotion import Ant, HalfCheetah, Hopper, Humanoid, Quadruped, Walker2d
from dojax.envs.manipulation import BlockPush

ENVS = {
    "Pendulum": Pendulum,
    "CartPole": CartPole,
    "InvertedPendulum": InvertedPendulum,
    "Hopper": Hopper,
    "HalfCheetah": HalfCheetah,
    "Walker2d": Walker2d,
    "Ant": Ant,
    "Humanoid": Humanoid,
    "Quadruped": Quadruped,
    "BlockPush": BlockPush,
}

_RENDER_KEYWORDS = ("render_mode", "width", "height")


def make(name, **options):
    """The functional environment ``name`` (a key of :data:`ENVS`), e.g. ``make("Hopper", dt=0.02)``."""
    if name not in ENVS:
        raise ValueError(f"unknown environment {name!r}; valid: {', '.join(ENVS)}")
    return ENVS[name](**options)


def make_gymnasium_env(name, **options):
    """Entry point of ``gymnasium.make("dojax/<name>-v0", ...)``."""
    view = {k: options.pop(k) for k in _RENDER_KEYWORDS if k in options}
    return DojaxEnv(make(name, **options), **view)


def make_vector_env(name, num_envs, max_episode_steps=None, **options):
    """Entry point of ``gymnasium.make_vec("dojax/<name>-v0", num_envs, vectorization_mode="vector_entry_point")``."""
    view = {k: options.pop(k) for k in _RENDER_KEYWORDS if k in options}
    return DojaxVectorEnv(make(name, **options), num_envs, max_episode_steps, **view)


def _register():
    for name, cls in ENVS.items():
        env_id = f"dojax/{name}-v0"
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(id=env_id, entry_point="dojax.envs:make_gymnasium_env",
                           vector_entry_point="dojax.envs:make_vector_env",
                           max_episode_steps=cls.max_episode_steps, kwargs={"name": name})


_register()

__all__ = ["ENVS", "Env", "EnvState", "DojaxEnv", "DojaxVectorEnv", "make", "make_gymnasium_env", "make_vector_env",
           *ENVS]
