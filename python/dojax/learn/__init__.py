"""Policy learners that use the engine's gradients, the random-search baseline, and the
policy-gradient family.

``dojax.learn.APG``, ``SHAC``, ``AHAC``, ``ARS``, ``AGS``, ``PPO``, ``MDPO``, ``SAC``, ``MDPO_OFF`` and
``HNPG`` are the user-facing learners (``learn``, ``predict``, ``save``, ``load``;
:mod:`~dojax.learn.agent`, logs by :mod:`~dojax.learn.logger`), a
thin layer over functional cores; :func:`evaluate_policy` measures a policy on a gymnasium env.
Each learner is one module with a config dataclass and ``make_train(env, config) -> train(key)``
returning ``(params, metrics)``, the whole loop one compiled function (``jax.vmap(train)(keys)``
trains several seeds at once): :mod:`~dojax.learn.apg` (truncated backpropagation through time),
:mod:`~dojax.learn.shac` (APG closed by a learned critic), :mod:`~dojax.learn.ahac` (SHAC with
windows cut at stiff contact and an adaptive horizon), :mod:`~dojax.learn.ars` (random search
over linear policies), :mod:`~dojax.learn.ags` (ARS with the engine's gradient),
:mod:`~dojax.learn.ppo` (PPO and its optional stabilisers, made of the pieces of
:mod:`~dojax.learn.policy_gradient` and the momentum steps of :mod:`~dojax.learn.momentum`),
:mod:`~dojax.learn.mdpo` (on-policy mirror descent on PPO's machinery),
:mod:`~dojax.learn.sac` (soft actor-critic), :mod:`~dojax.learn.mdpo_off` (off-policy mirror
descent on SAC's machinery) and :mod:`~dojax.learn.hnpg` (NPG with a critic also fitted on a
replay of another policy's rollouts, :mod:`~dojax.learn.replay`). Shared pieces
beside them: :mod:`~dojax.learn.networks`, :mod:`~dojax.learn.normalization`,
:mod:`~dojax.learn.rollout`, :mod:`~dojax.learn.critic`, :mod:`~dojax.learn.alpha_order` (the mixed
first- and zeroth-order gradient), :mod:`~dojax.learn.optim`, :mod:`~dojax.learn.train_loop`,
:mod:`~dojax.learn.evaluation`, :mod:`~dojax.learn.parallel` (data-parallel training over
devices) and :mod:`~dojax.learn.lqr` (a task with a known optimum). Environments are functional:
dojax's (``dojax.envs.make(name)``) or any object with the same ``reset``/``step``.
"""

from dojax.learn.agent import AGS, AHAC, APG, ARS, HNPG, MDPO, MDPO_OFF, PPO, SAC, SHAC
from dojax.learn.ahac import AHACConfig
from dojax.learn.ags import AGSConfig
from dojax.learn.apg import APGConfig
from dojax.learn.ars import ARSConfig
from dojax.learn.evaluation import evaluate_policy
from dojax.learn.hnpg import HNPGConfig
from dojax.learn.lqr import DoubleIntegrator
from dojax.learn.mdpo import MDPOConfig
from dojax.learn.mdpo_off import MDPOOffConfig
from dojax.learn.ppo import PPOConfig
from dojax.learn.sac import SACConfig
from dojax.learn.shac import SHACConfig

__all__ = ["APG", "SHAC", "AHAC", "ARS", "AGS", "PPO", "MDPO", "SAC", "MDPO_OFF", "HNPG", "APGConfig", "SHACConfig",
           "AHACConfig", "ARSConfig", "AGSConfig", "PPOConfig", "MDPOConfig", "SACConfig", "MDPOOffConfig",
           "HNPGConfig", "evaluate_policy", "DoubleIntegrator"]
