"""Options shared by the learners (those of the first-order ones, APG and SHAC), their checks, and
the env they apply to."""

import copy
import numbers
from dataclasses import dataclass, fields
from typing import Optional

from dojax.learn.networks import POLICIES


def check_positive(name, value, integer=False):
    """Raise a one-line ``ValueError`` unless ``value`` is a positive number (an integer if ``integer``)."""
    kind = "integer" if integer else "number"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive {kind} (> 0), got {value!r}")


def check_interval(name, value, interval):
    """Raise a one-line ``ValueError`` unless ``value`` is a number in ``interval``, one of
    "[0, 1]", "[0, 1)", "(0, 1]"."""
    low_ok = {"[": lambda v: v >= 0.0, "(": lambda v: v > 0.0}[interval[0]]
    high_ok = {"]": lambda v: v <= 1.0, ")": lambda v: v < 1.0}[interval[-1]]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (low_ok(value) and high_ok(value)):
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


class Options:
    """Base of the learners' config dataclasses."""

    @classmethod
    def field_names(cls):
        """Names of the options (the keyword arguments the config accepts)."""
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class FirstOrderConfig(Options):
    """Options of a learner that backpropagates through windows of the environment.

    Attributes:
        num_iterations: updates that ``train`` runs (one window of ``horizon`` steps each).
        num_envs: environments stepped in parallel; each update averages over them.
        horizon: steps per window (``h``); gradients are cut at the window's start.
        episode_length: steps before an episode is truncated and reset; ``None``: the env's
            ``max_episode_steps``.
        learning_rate: the policy's Adam step size.
        learning_rate_decay: factor on the step size per update (exponential decay; 1 keeps it).
        adam_b1, adam_b2: Adam's moment decay rates (low b1, as Brax's APG and SHAC use).
        max_grad_norm: the gradient is rescaled to at most this global norm before Adam.
        policy: "mlp" or "linear" (:mod:`dojax.learn.networks`).
        hidden_sizes: the MLP policy's hidden layers.
        layer_norm: normalise each of the MLP policy's hidden layers (after its activation; SHAC's
            actor does), which keeps the policy's output bounded as its weights grow.
        action_noise: standard deviation of the reparameterised Gaussian noise on the actions (the
            initial one with ``learn_action_noise``).
        learn_action_noise: make the noise's log standard deviation a policy parameter per action
            dimension, trained by the same gradient (SHAC's stochastic actor); needs
            ``action_noise > 0``. The deterministic policy (evaluation, ``predict``) is unchanged.
        squash_actions: ``tanh`` on the actions (into the environments' [-1, 1]).
        normalize_observations: feed the networks running-normalised observations.
        gradient_btol: the engine's gradient smoothing (``dojax.SolverOptions.gradient_btol``) set on
            the environment's solver; ``None`` keeps the environment's own options.
        alpha_order: step on the alpha-order mix of the first-order gradient with a zeroth-order
            (score-function) one, weighted by their variances (:mod:`dojax.learn.alpha_order`);
            needs ``action_noise > 0`` and ``num_envs >= 2``.
    """

    num_iterations: int = 100
    num_envs: int = 32
    horizon: int = 32
    episode_length: Optional[int] = None
    learning_rate: float = 1e-3
    learning_rate_decay: float = 1.0
    adam_b1: float = 0.7
    adam_b2: float = 0.95
    max_grad_norm: float = 1.0
    policy: str = "mlp"
    hidden_sizes: tuple = (64, 64)
    layer_norm: bool = False
    action_noise: float = 0.0
    learn_action_noise: bool = False
    squash_actions: bool = True
    normalize_observations: bool = True
    gradient_btol: Optional[float] = None
    alpha_order: bool = False

    def __post_init__(self):
        for name in ("num_iterations", "num_envs", "horizon"):
            check_positive(name, getattr(self, name), integer=True)
        if self.episode_length is not None:
            check_positive("episode_length", self.episode_length, integer=True)
        for name in ("learning_rate", "max_grad_norm"):
            check_positive(name, getattr(self, name))
        check_interval("learning_rate_decay", self.learning_rate_decay, "(0, 1]")
        check_interval("adam_b1", self.adam_b1, "[0, 1)")
        check_interval("adam_b2", self.adam_b2, "[0, 1)")
        if not self.action_noise >= 0.0:
            raise ValueError(f"action_noise must be >= 0, got {self.action_noise!r}")
        if self.learn_action_noise and not self.action_noise > 0.0:
            raise ValueError(f"learn_action_noise needs action_noise > 0 (its initial standard deviation), "
                             f"got action_noise={self.action_noise!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; valid: {', '.join(POLICIES)}")
        if self.gradient_btol is not None:
            check_positive("gradient_btol", self.gradient_btol)
        if self.alpha_order and not (self.action_noise > 0.0 and self.num_envs >= 2):
            raise ValueError(f"alpha_order needs action_noise > 0 and num_envs >= 2 (the zeroth-order estimate "
                             f"perturbs the actions and compares environments), got action_noise="
                             f"{self.action_noise!r}, num_envs={self.num_envs!r}")
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))

    def steps_per_update(self, env):
        """Environment steps one update takes: one window in each environment."""
        return self.num_envs * self.horizon


def episode_length(env, config):
    """Steps per episode: the config's, else the environment's ``max_episode_steps``."""
    if config.episode_length is not None:
        return config.episode_length
    if not hasattr(env, "max_episode_steps"):
        raise ValueError("the environment has no max_episode_steps; set episode_length in the config")
    return int(env.max_episode_steps)


def configured_env(env, config):
    """``env`` with the config's gradient smoothing on its solver (a copy; ``env`` is unchanged)."""
    if config.gradient_btol is None:
        return env
    if getattr(env, "solver", None) is None:
        raise ValueError(f"gradient_btol needs an environment with solver options (a dojax.envs.Env); "
                         f"{type(env).__name__} has none")
    env = copy.copy(env)
    env.solver = env.solver.replace(gradient_btol=config.gradient_btol)
    return env
