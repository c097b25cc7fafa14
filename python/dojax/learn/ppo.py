"""Proximal policy optimisation (PPO; Schulman et al. 2017, arXiv 1707.06347) with optional stabilisers.

Each update rolls ``num_envs`` environments ``horizon`` steps on with a Gaussian policy
(:class:`~dojax.learn.networks.GaussianPolicy`; ``tanh`` on the sample when ``squash_actions``),
computes advantages by GAE (Schulman et al. 2016; the TD(lambda) returns of
:func:`dojax.learn.critic.td_lambda_targets` minus the values) on running-normalised observations
and rewards scaled by the running standard deviation of the discounted return (as
Stable-Baselines3's ``VecNormalize``), then takes ``epochs`` passes of ``minibatches`` Adam steps
on the clipped surrogate plus an entropy bonus

    L = -mean_i [ min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i) + c_H H_i ],  r_i = pi(u_i|s_i) / pi_old(u_i|s_i)

(advantages standardised per minibatch) and regresses the critic on the returns
(:func:`dojax.learn.critic.fit`). The whole update is one pure function: ``jax.vmap(train)(keys)``
trains several seeds at once.

Options, each off by default (the default config is plain PPO; any combination composes; their
pieces are the pure functions of :mod:`dojax.learn.policy_gradient`):

- ``clipping="bapo"``: BAPO's adaptive, balanced clipping bounds (Xi et al. 2025, arXiv
  2510.18927; authors' recipe WooooDyy/BAPO). Per minibatch the bounds start at
  ``(bapo_lower_range[0], bapo_upper_range[0])`` (ratio bounds, not offsets from 1) and, while
  the positive-advantage samples carry less than ``bapo_target`` of the unclipped surrogate's
  magnitude ``sum |r_i A_i|``, the lower bound rises by ``bapo_steps[0]`` and the upper by
  ``bapo_steps[1]``, each up to the other end of its range (defaults: the paper's 0.5,
  [0.6, 0.9], [1.2, 3.0]).
- ``sample_mask="capo"``: a curvature-aware mask in the spirit of CAPO (Melo, Abate, Gal 2025, arXiv
  2510.00819): the minibatch's Adam step is proposed, each sample's KL divergence between the old
  and the stepped Gaussian is predicted by linearising the policy network along the step (its
  Fisher / Gauss-Newton model, by ``jax.jvp``), samples predicted beyond ``capo_max_kl`` are
  masked and the step is recomputed without them. (CAPO models the last layer only; the jvp
  gives the whole network's linearisation at the cost of one forward pass.)
- ``sample_mask="clip_cov"`` / ``"kl_cov"``: the covariance controls of Cui et al. 2025 (arXiv
  2505.22617, "The entropy mechanism of RL for reasoning LMs"), with the centred covariance
  ``(log pi_i - mean log pi)(A_i - mean A)`` of each minibatch sample. Clip-Cov drops from the
  gradient ``max(1, cov_fraction * minibatch)`` samples drawn at random from those whose
  covariance lies in ``clip_cov_bounds``; KL-Cov gives the ``max(1, cov_fraction * minibatch)``
  samples of largest covariance the unclipped surrogate minus ``kl_cov_coef |log r_i|``. (The
  paper's derivation is for softmax logits; for a Gaussian the entropy depends on the standard
  deviation only, so the motivation carries over only loosely.)
- ``baseline="mean"`` / ``"gradient_weighted"``: advantages from the Monte-Carlo returns (GAE with
  lambda = 1, still bootstrapped by the critic where a window or episode is cut) minus a constant
  baseline: their mean, or OBLR-PO's variance-optimal ``b* = sum_i |grad log pi_i|^2 G_i / sum_i
  |grad log pi_i|^2`` (Huang et al. 2025, arXiv 2511.23310), per-sample score norms by
  ``jax.vmap(jax.grad)``. The default, ``"value"``, is GAE's learned value.
- ``snr_learning_rate``: OBLR-PO's step size driven by the gradient's signal-to-noise ratio: each
  update's step size is multiplied by ``SNR / (1 + SNR)``, ``SNR = |mean_i g_i|^2 / (sum_i |g_i -
  mean g|^2 / (n (n - 1)))`` over the per-sample policy gradients ``g_i = A_i grad log pi_i`` of
  the update's batch (the minimiser of the smooth-objective bound ``-eta |grad J|^2 + (L eta^2 / 2)
  (|grad J|^2 + var)``, up to ``1 / L``).
- ``entropy_modulation``: EMPG (Wang et al. 2025, arXiv 2509.09265; the authors' pseudocode on
  empgseed-seed.github.io) on per-step policy entropies ``H_t`` (needs ``state_dependent_std``:
  with a state-independent standard deviation every step's entropy is the same): ``A_t <-
  g(H_t) A_t + empg_zeta f(H_{t+1})``, ``g = exp(-empg_k H~) / mean exp(-empg_k H~)``, ``f =
  exp(-empg_k_future H~)``, ``H~`` the entropy min-max normalised over the batch, the future
  bonus 0 where the episode ended.
- ``optimizer="npg_igt"`` / ``"harpg"`` / ``"n_harpg"``: the policy takes one step per update by
  :mod:`dojax.learn.momentum` (N-PG-IGT, HARPG, N-HARPG; step size ``pg_step_size``, momentum
  ``momentum_eta``) along the gradient of the surrogate at the sampling policy (the
  likelihood-ratio policy gradient with the advantages above, standardised over the batch);
  HARPG rolls a second batch of windows at its random point for the Hessian correction, so its
  updates take twice the environment steps. The critic keeps its Adam regression.
- ``set_objective``: the polychromic set objective with vine sampling (Hamid, Orney, Xu, Finn,
  Sadigh, ICLR 2026, arXiv 2509.25424; needs ``optimizer="adam"``). Each update branches
  ``vine_rollouts`` rollouts of ``vine_horizon`` steps under the sampling policy from each of
  ``vine_states`` states the window started from (environments drawn at random; the functional
  environment restores a state by stepping from it). Per vine state, ``num_sets`` random sets of
  ``set_size`` rollouts are scored ``f = mean R~ * mean pairwise diversity``, ``R~`` the
  rollouts' discounted returns (rewards scaled as the batch's, bootstrapped by the critic where a
  branch is truncated or ends unfinished) min-max normalised over the state's rollouts, the
  diversity of two rollouts ``1 - exp(-d / diversity_scale)`` with ``d`` the root-mean-square
  distance of their normalised observations (the paper counts distinct outcomes of discrete
  tasks; this is the continuous analogue); each rollout's advantage, given to every one of its
  steps, is the mean score of the sets that hold it minus the mean over all sets. The branches'
  steps join the update's samples (not the critic's); the window's own steps keep GAE's
  advantages. Updates take ``vine_states * vine_rollouts * vine_horizon`` more environment steps.
- ``optimizer="npg"``: natural policy gradient (Kakade 2001; the step of Rajeswaran et al. 2017's
  NPG baseline): one step per update along ``w = F^-1 g``, ``g`` the same batch gradient, ``F``
  the Fisher matrix as the Hessian of the mean KL from the sampling policy (Fisher-vector products
  by ``jax.jvp`` of ``jax.grad``, ``cg_iterations`` conjugate-gradient steps, ``cg_damping`` added),
  scaled to the trust region ``w' F w / 2 = npg_max_kl``.
"""

from dataclasses import dataclass
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from dojax.learn import critic, momentum, networks, rollout
from dojax.learn.policy_gradient import (bapo_bounds, centred_covariance, constant_baseline, covariance_selection,
                                         entropy_modulated, pairwise_diversity, polychromic_advantages, snr_scale,
                                         standardize, surrogate)
from dojax.learn.config import Options, check_interval, check_positive, episode_length
from dojax.learn.networks import POLICIES, gaussian_entropy, gaussian_kl, gaussian_log_prob, make_gaussian_policy
from dojax.learn.normalization import RunningStats, init_stats, normalize, update_stats
from dojax.learn.optim import adam, apply_gradients
from dojax.learn.train_loop import make_train_fn

CLIPPINGS = ("fixed", "bapo")
SAMPLE_MASKS = ("none", "capo", "clip_cov", "kl_cov")
BASELINES = ("value", "mean", "gradient_weighted")
OPTIMIZERS = ("adam", "npg", "npg_igt", "harpg", "n_harpg")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")


def _check_pair(name, value, ordered=True):
    """A pair of numbers ``(low, high)`` with ``low <= high`` when ``ordered``; returned as a tuple."""
    value = tuple(value) if isinstance(value, (tuple, list)) else value
    if not (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)):
        raise ValueError(f"{name} must be a pair of numbers, got {value!r}")
    if ordered and not value[0] <= value[1]:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {value!r}")
    return tuple(float(v) for v in value)


@dataclass(frozen=True)
class PPOConfig(Options):
    """PPO's options (defaults: Stable-Baselines3's PPO where it has one, with ``num_envs *
    horizon`` = its 2048 steps per update and minibatches of 64).

    Attributes:
        num_iterations: updates that ``train`` runs.
        num_envs: environments stepped in parallel.
        horizon: steps per environment and update.
        episode_length: steps before an episode is truncated; ``None``: the env's ``max_episode_steps``.
        discount: discount of the returns.
        gae_lambda: lambda of GAE.
        epochs: passes over each update's samples.
        minibatches: minibatches per pass.
        learning_rate: Adam's step size (policy and critic).
        max_grad_norm: gradients are rescaled to at most this global norm.
        clip_epsilon: the ratio is clipped to ``[1 - eps, 1 + eps]`` (``clipping="fixed"``).
        entropy_coef: weight of the policy's entropy in the objective.
        normalize_advantages: standardise the advantages (per minibatch; per batch for the
            momentum optimisers).
        policy, hidden_sizes: the policy network's kind ("mlp" or "linear") and hidden layers.
        critic_hidden_sizes: the critic MLP's hidden layers.
        initial_log_std: the policy's initial log standard deviation.
        mean_init_scale: the policy network's output layer starts at this times flax's default
            initialisation (0.01: action means near zero, as SB3's and CleanRL's PPO; 1.0: flax's default).
        state_dependent_std: the standard deviation is an output of the policy network.
        squash_actions: ``tanh`` on the sampled actions (into the environments' [-1, 1]).
        normalize_observations: running-normalised observations for both networks.
        normalize_rewards: rewards divided by the running standard deviation of the discounted return.
        clipping, bapo_target, bapo_lower_range, bapo_upper_range, bapo_steps: see the module.
        sample_mask, capo_max_kl, cov_fraction, clip_cov_bounds, kl_cov_coef: see the module.
        baseline, snr_learning_rate: see the module.
        entropy_modulation, empg_k, empg_k_future, empg_zeta: see the module.
        optimizer, momentum_eta, pg_step_size, npg_max_kl, cg_iterations, cg_damping: see the module.
        set_objective, vine_states, vine_rollouts, vine_horizon, set_size, num_sets, diversity_scale:
            see the module.
    """

    num_iterations: int = 100
    num_envs: int = 8
    horizon: int = 256
    episode_length: Optional[int] = None
    discount: float = 0.99
    gae_lambda: float = 0.95
    epochs: int = 10
    minibatches: int = 32
    learning_rate: float = 3e-4
    max_grad_norm: float = 0.5
    clip_epsilon: float = 0.2
    entropy_coef: float = 0.0
    normalize_advantages: bool = True
    policy: str = "mlp"
    hidden_sizes: tuple = (64, 64)
    critic_hidden_sizes: tuple = (64, 64)
    initial_log_std: float = 0.0
    mean_init_scale: float = networks.MEAN_INIT_SCALE
    state_dependent_std: bool = False
    squash_actions: bool = True
    normalize_observations: bool = True
    normalize_rewards: bool = True
    clipping: str = "fixed"
    bapo_target: float = 0.5
    bapo_lower_range: tuple = (0.6, 0.9)
    bapo_upper_range: tuple = (1.2, 3.0)
    bapo_steps: tuple = (0.02, 0.05)
    sample_mask: str = "none"
    capo_max_kl: float = 0.02
    cov_fraction: float = 0.002
    clip_cov_bounds: tuple = (1.0, 5.0)
    kl_cov_coef: float = 1.0
    baseline: str = "value"
    snr_learning_rate: bool = False
    entropy_modulation: bool = False
    empg_k: float = 1.0
    empg_k_future: float = 1.0
    empg_zeta: float = 0.1
    optimizer: str = "adam"
    momentum_eta: float = 0.1
    pg_step_size: float = 0.01
    npg_max_kl: float = 0.01
    cg_iterations: int = 10
    cg_damping: float = 0.1
    set_objective: bool = False
    vine_states: int = 2
    vine_rollouts: int = 8
    vine_horizon: int = 16
    set_size: int = 4
    num_sets: int = 16
    diversity_scale: float = 1.0

    def __post_init__(self):
        for name in ("num_iterations", "num_envs", "horizon", "epochs", "minibatches", "cg_iterations", "vine_states",
                     "vine_rollouts", "vine_horizon", "set_size", "num_sets"):
            check_positive(name, getattr(self, name), integer=True)
        if self.episode_length is not None:
            check_positive("episode_length", self.episode_length, integer=True)
        for name in ("learning_rate", "max_grad_norm", "clip_epsilon", "capo_max_kl", "cov_fraction",
                     "pg_step_size", "npg_max_kl", "diversity_scale"):
            check_positive(name, getattr(self, name))
        check_interval("discount", self.discount, "(0, 1]")
        check_interval("gae_lambda", self.gae_lambda, "[0, 1]")
        check_interval("bapo_target", self.bapo_target, "[0, 1]")
        check_interval("momentum_eta", self.momentum_eta, "(0, 1]")
        for name in ("entropy_coef", "kl_cov_coef", "mean_init_scale", "empg_k", "empg_k_future", "empg_zeta",
                     "cg_damping"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.minibatches > self.num_envs * self.horizon:
            raise ValueError(f"minibatches must be at most num_envs * horizon = {self.num_envs * self.horizon}, "
                             f"got {self.minibatches}")
        _check_choice("policy", self.policy, POLICIES)
        _check_choice("clipping", self.clipping, CLIPPINGS)
        _check_choice("sample_mask", self.sample_mask, SAMPLE_MASKS)
        _check_choice("baseline", self.baseline, BASELINES)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        low, high = networks.LOG_STD_RANGE
        if self.state_dependent_std and not low < self.initial_log_std < high:
            raise ValueError(f"initial_log_std must be in ({low}, {high}) with state_dependent_std, "
                             f"got {self.initial_log_std!r}")
        for name in ("bapo_lower_range", "bapo_upper_range", "clip_cov_bounds"):
            object.__setattr__(self, name, _check_pair(name, getattr(self, name)))
        object.__setattr__(self, "bapo_steps", _check_pair("bapo_steps", self.bapo_steps, ordered=False))
        if not all(s > 0 for s in self.bapo_steps):
            raise ValueError(f"bapo_steps must be positive, got {self.bapo_steps!r}")
        if self.entropy_modulation and not self.state_dependent_std:
            raise ValueError("entropy_modulation (EMPG) needs a state-dependent standard deviation: set "
                             "state_dependent_std=True")
        if self.sample_mask == "capo" and self.optimizer != "adam":
            raise ValueError(f"sample_mask='capo' masks the samples of a proposed Adam step; it needs "
                             f"optimizer='adam', got {self.optimizer!r}")
        if self.set_objective:
            if self.optimizer != "adam":
                raise ValueError(f"set_objective adds vine samples to the epochs of Adam steps; it needs "
                                 f"optimizer='adam', got {self.optimizer!r}")
            if self.vine_states > self.num_envs:
                raise ValueError(f"vine_states must be at most num_envs = {self.num_envs} (the vines start from the "
                                 f"window's start states), got {self.vine_states}")
            if not 2 <= self.set_size <= self.vine_rollouts:
                raise ValueError(f"set_size must be in [2, vine_rollouts = {self.vine_rollouts}] (a set's diversity "
                                 f"compares its members), got {self.set_size}")
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        object.__setattr__(self, "critic_hidden_sizes", tuple(self.critic_hidden_sizes))

    def vine_steps(self):
        """Environment steps of one update's vine rollouts (0 without ``set_objective``)."""
        return self.vine_states * self.vine_rollouts * self.vine_horizon if self.set_objective else 0

    def steps_per_update(self, env):
        """Environment steps one update takes (HARPG rolls a second batch at its random point; the
        set objective adds its vines)."""
        return self.num_envs * self.horizon * (2 if self.optimizer in ("harpg", "n_harpg") else 1) + self.vine_steps()


class PPOParams(NamedTuple):
    """Network parameters and observation statistics of a PPO agent."""

    policy: dict
    critic: dict
    obs_stats: RunningStats


class RewardScale(NamedTuple):
    """Running statistics of the discounted return, and each environment's running return."""

    stats: RunningStats
    discounted: jax.Array

    def std(self):
        """The running standard deviation of the discounted return: what rewards are divided by."""
        return jnp.sqrt(self.stats.var[0] + 1e-8)


class PPOState(NamedTuple):
    """The whole training state, carried from one update to the next."""

    params: PPOParams
    policy_opt_state: object  # Adam's state, or a momentum.MomentumState
    critic_opt_state: object
    reward_scale: RewardScale
    rollout: rollout.RolloutState
    key: jax.Array
    iteration: jax.Array


class Batch(NamedTuple):
    """An update's samples, each shaped ``(horizon, num_envs, ...)`` (or flattened).

    ``obs`` is normalised; ``u`` the sampled pre-squash action, ``log_prob`` its log-density and
    ``mean`` / ``log_std`` the Gaussian it was drawn from; ``weight`` 1 for valid steps and 0 for
    failed solver steps."""

    obs: jax.Array
    u: jax.Array
    log_prob: jax.Array
    mean: jax.Array
    log_std: jax.Array
    advantage: jax.Array
    target: jax.Array
    weight: jax.Array


# -- the learner ------------------------------------------------------------------------------------

def make_learner(env, config, objective=None, critic_term=None):
    """``(init, update)``: ``init(key) -> PPOState`` and ``update(state) -> (state, metrics)``;
    pure functions to jit, scan and vmap. ``objective(mean, log_std, batch, iteration)``, if given,
    replaces the clipped surrogate: the per-sample term to maximise of the Gaussian ``(mean,
    log_std)`` at the batch's samples in update ``iteration`` (:mod:`dojax.learn.mdpo`).
    ``critic_term(policy_params, obs_stats, reward_scale)``, if given, returns a loss
    ``(critic_params, key) -> scalar`` added to each of the critic's regression steps, given the
    sampling policy and the statistics its batch was normalised with (:mod:`dojax.learn.hnpg`)."""
    policy_net, _ = make_gaussian_policy(env.action_size, config)
    value_net = networks.value_network(config.critic_hidden_sizes)
    length = episode_length(env, config)
    critic_optimizer = adam(config.learning_rate)
    policy_optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=config.learning_rate)
    momentum_method = config.optimizer in ("npg_igt", "harpg", "n_harpg")
    samples = config.num_envs * config.horizon
    minibatch = (samples + config.vine_steps()) // config.minibatches
    cov_count = max(1, int(config.cov_fraction * minibatch))
    needs_scores = config.baseline == "gradient_weighted" or config.snr_learning_rate

    def distribution(policy_params, obs):
        return policy_net.apply(policy_params, obs)

    def log_prob(policy_params, obs, u):
        mean, log_std = distribution(policy_params, obs)
        return gaussian_log_prob(mean, log_std, u)

    def init(key):
        key_policy, key_critic, key_env, key = jax.random.split(key, 4)
        obs_stats = init_stats(env.observation_size)
        policy = policy_net.init(key_policy, obs_stats.mean)
        critic_params = value_net.init(key_critic, obs_stats.mean)
        policy_opt_state = (momentum.init(ravel_pytree(policy)[0]) if momentum_method
                            else policy_optimizer.init(policy))
        reward_scale = RewardScale(init_stats(1), jnp.zeros(config.num_envs))
        return PPOState(PPOParams(policy, critic_params, obs_stats), policy_opt_state,
                        critic_optimizer.init(critic_params), reward_scale,
                        rollout.start(env, key_env, config.num_envs), key, jnp.zeros((), jnp.int32))

    def collect(policy_params, obs_stats, rollout_state, key, horizon=config.horizon):
        """One window under the sampling policy; the transitions' info holds ``(u, log pi(u))``."""

        def sample(obs, k):
            mean, log_std = distribution(policy_params, normalize(obs_stats, obs))
            u = mean + jnp.exp(log_std) * jax.random.normal(k, mean.shape, mean.dtype)
            action = jnp.tanh(u) if config.squash_actions else u
            return action, (u, gaussian_log_prob(mean, log_std, u))

        final, transitions = rollout.unroll(env, sample, rollout_state, key, horizon, length, with_info=True)
        return final, jax.lax.stop_gradient(transitions)

    def scale_rewards(reward_scale, transitions):
        """Rewards divided by the running std of the discounted return (updated with this window)."""
        reward = jnp.where(transitions.failed, 0.0, transitions.reward)
        if not config.normalize_rewards:
            return reward_scale, reward

        def accumulate(running, step):
            r, done = step
            running = running * config.discount + r
            return jnp.where(done, 0.0, running), running

        discounted, returns = jax.lax.scan(accumulate, reward_scale.discounted, (reward, transitions.done))
        stats = update_stats(reward_scale.stats, returns[..., None])
        reward_scale = RewardScale(stats, discounted)
        return reward_scale, reward / reward_scale.std()

    def score_vectors(policy_params, obs, u):
        """Per-sample ``grad log pi(u|s)``, flattened, for flat samples."""
        flat, unravel = ravel_pytree(policy_params)
        return jax.vmap(jax.grad(lambda f, o, a: log_prob(unravel(f), o, a)), in_axes=(None, 0, 0))(flat, obs, u)

    def prepare(policy_params, params, transitions, reward):
        """The update's :class:`Batch` (shaped ``(horizon, num_envs)``), the SNR step scale and metrics."""
        obs_stats = params.obs_stats
        obs = normalize(obs_stats, transitions.obs)
        u, old_log_prob = transitions.info
        weight = transitions.valid.astype(reward.dtype)
        v_obs = networks.value(value_net, params.critic, obs)
        v_next = networks.value(value_net, params.critic, normalize(obs_stats, transitions.next_obs))
        scaled = transitions._replace(reward=reward)
        if config.baseline == "value":
            target = critic.td_lambda_targets(scaled, v_obs, v_next, config.discount, config.gae_lambda)
            advantage = target - v_obs
        else:
            target = critic.td_lambda_targets(scaled, v_obs, v_next, config.discount, 1.0)
            advantage = target
        flat = lambda x: x.reshape((samples,) + x.shape[2:])  # noqa: E731
        scores = score_vectors(policy_params, flat(obs), flat(u)) if needs_scores else None
        if config.baseline != "value":
            sq_norm = None if scores is None else jnp.sum(scores**2, axis=1).reshape(advantage.shape)
            baseline = constant_baseline(config.baseline, advantage, weight, sq_norm)
            advantage = jnp.where(weight > 0, advantage - baseline, 0.0)
        if config.entropy_modulation:
            entropy = gaussian_entropy(distribution(policy_params, obs)[1])
            next_obs = normalize(obs_stats, transitions.next_obs)
            next_entropy = gaussian_entropy(distribution(policy_params, next_obs)[1])
            advantage = entropy_modulated(advantage, entropy, next_entropy, transitions.done, weight, config.empg_k,
                                          config.empg_k_future, config.empg_zeta)
        lr_scale = jnp.asarray(1.0, reward.dtype)
        if config.snr_learning_rate:
            adv = standardize(advantage, weight) if config.normalize_advantages else advantage
            lr_scale = snr_scale(scores * flat(adv)[:, None], flat(weight))
        old_mean, old_log_std = distribution(policy_params, obs)
        return Batch(obs, u, old_log_prob, old_mean, old_log_std, advantage, target, weight), lr_scale

    def objective_terms(policy_params, batch, bounds, weight, kl_selected, iteration):
        """Per-sample surrogate (or ``objective``) plus entropy bonus (to maximise)."""
        mean, log_std = distribution(policy_params, batch.obs)
        if objective is None:
            new_log_prob = gaussian_log_prob(mean, log_std, batch.u)
            terms = surrogate(new_log_prob, batch.log_prob, batch.advantage, bounds, kl_selected, config.kl_cov_coef)
        else:
            terms = objective(mean, log_std, batch, iteration)
        return weight * (terms + config.entropy_coef * gaussian_entropy(log_std))

    def policy_loss(policy_params, batch, bounds, weight, kl_selected=None, iteration=0):
        n = jnp.maximum(jnp.sum(batch.weight), 1.0)
        return -jnp.sum(objective_terms(policy_params, batch, bounds, weight, kl_selected, iteration)) / n

    def minibatch_step(carry, inputs):
        policy_params, opt_state = carry
        batch, key, iteration = inputs
        if config.normalize_advantages:
            batch = batch._replace(advantage=standardize(batch.advantage, batch.weight))
        current = jax.lax.stop_gradient(log_prob(policy_params, batch.obs, batch.u))
        ratio = jnp.exp(current - batch.log_prob)
        if config.clipping == "bapo":
            bounds = bapo_bounds(ratio, batch.advantage, batch.weight, config.bapo_target, config.bapo_lower_range,
                                 config.bapo_upper_range, config.bapo_steps)
        else:
            bounds = (1.0 - config.clip_epsilon, 1.0 + config.clip_epsilon)
        weight, kl_selected = batch.weight, None
        if config.sample_mask in ("clip_cov", "kl_cov"):
            cov = centred_covariance(current, batch.advantage, batch.weight)
            if config.sample_mask == "clip_cov":
                weight = weight * ~covariance_selection(cov, batch.weight, cov_count, key, config.clip_cov_bounds)
            else:
                kl_selected = covariance_selection(cov, batch.weight, cov_count)
        loss = lambda p, w: policy_loss(p, batch, bounds, w, kl_selected, iteration)  # noqa: E731
        if config.sample_mask == "capo":
            grads = jax.grad(loss)(policy_params, weight)
            proposed, _, _ = apply_gradients(policy_optimizer, grads, opt_state, policy_params, config.max_grad_norm)
            step = jax.tree.map(jnp.subtract, proposed, policy_params)
            (mean, log_std), (d_mean, d_log_std) = jax.jvp(lambda p: distribution(p, batch.obs), (policy_params,),
                                                           (step,))
            # KL(old || stepped) of the linearised Gaussians, per sample
            kl = jnp.sum(d_log_std + (1.0 + (d_mean * jnp.exp(-log_std)) ** 2) / (2.0 * jnp.exp(2.0 * d_log_std))
                         - 0.5, axis=-1)
            weight = weight * (kl <= config.capo_max_kl)
        value, grads = jax.value_and_grad(loss)(policy_params, weight)
        policy_params, opt_state, grad_stats = apply_gradients(policy_optimizer, grads, opt_state, policy_params,
                                                               config.max_grad_norm)
        in_range = (ratio >= bounds[0]) & (ratio <= bounds[1])
        n = jnp.maximum(jnp.sum(batch.weight), 1.0)
        stats = dict(loss=value, clip_fraction=jnp.sum(batch.weight * ~in_range) / n,
                     masked_fraction=jnp.sum(batch.weight * (weight == 0)) / n,
                     approx_kl=jnp.sum(batch.weight * ((ratio - 1.0) - (current - batch.log_prob))) / n,
                     clip_low=jnp.asarray(bounds[0], ratio.dtype), clip_high=jnp.asarray(bounds[1], ratio.dtype),
                     grad_norm=grad_stats.raw_norm, clipped_grad_norm=grad_stats.clipped_norm,
                     skipped_updates=grad_stats.skipped.astype(jnp.int32))
        return (policy_params, opt_state), stats

    def vine_batch(policy_params, params, rollout_state, reward_scale, key):
        """The set objective's samples: ``vine_rollouts`` branches from each of ``vine_states`` of the
        window's start states, each step carrying its branch's set advantage (a flat :class:`Batch`),
        and the mean pairwise diversity of the branches."""
        n, steps = config.vine_rollouts, config.vine_horizon
        key_pick, key_roll, key_sets = jax.random.split(key, 3)
        picked = jax.random.choice(key_pick, config.num_envs, (config.vine_states,), replace=False)
        start = jax.tree.map(lambda x: jnp.repeat(x[picked], n, axis=0), rollout_state)
        _, t = collect(policy_params, params.obs_stats, start, key_roll, steps)
        reward = jnp.where(t.failed, 0.0, t.reward)
        if config.normalize_rewards:
            reward = reward / reward_scale.std()
        alive = (jnp.cumsum(t.done, axis=0) - t.done) == 0  # the step belongs to the branch's episode
        obs = normalize(params.obs_stats, t.obs)
        # discounted returns, bootstrapped where the branch is cut (truncated, or at its last step)
        next_value = networks.value(value_net, params.critic, normalize(params.obs_stats, t.next_obs))
        cut = alive & (t.truncated | ((jnp.arange(steps) == steps - 1)[:, None] & ~t.done))
        discounts = config.discount ** jnp.arange(steps, dtype=reward.dtype)[:, None]
        returns = jnp.sum(discounts * (alive * reward + config.discount * cut * next_value), axis=0)
        by_state = lambda x: jnp.moveaxis(x.reshape((steps, config.vine_states, n) + x.shape[2:]), 1, 0)  # noqa: E731
        diversity = jax.vmap(pairwise_diversity, in_axes=(0, 0, None))(by_state(obs), by_state(alive),
                                                                        config.diversity_scale)
        set_keys = jax.random.split(key_sets, (config.vine_states, config.num_sets))
        members = jax.vmap(jax.vmap(lambda k: jax.random.permutation(k, n)[: config.set_size]))(set_keys)
        membership = jnp.any(members[..., None] == jnp.arange(n), axis=-2)  # (vine_states, num_sets, n)
        advantage = jax.vmap(polychromic_advantages)(returns.reshape(config.vine_states, n), diversity, membership)
        u, log_prob = t.info
        mean, log_std = distribution(policy_params, obs)
        weight = (alive & t.valid).astype(reward.dtype)
        batch = Batch(obs, u, log_prob, mean, log_std, jnp.broadcast_to(advantage.reshape(-1), weight.shape),
                      jnp.zeros_like(reward), weight)
        spread = jnp.sum(diversity) / (config.vine_states * n * (n - 1))
        return jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), batch), spread

    def adam_update(policy_params, opt_state, batch, lr_scale, key, iteration, vines=None):
        """Epochs of minibatch Adam steps on the update's samples (and the set objective's ``vines``)."""
        opt_state = opt_state._replace(hyperparams=dict(opt_state.hyperparams,
                                                        learning_rate=config.learning_rate * lr_scale))
        flat = jax.tree.map(lambda x: x.reshape((samples,) + x.shape[2:]), batch)
        if vines is not None:
            flat = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), flat, vines)

        def epoch(carry, key):
            key_order, key_masks = jax.random.split(key)
            order = jax.random.permutation(key_order, samples + config.vine_steps())[: minibatch * config.minibatches]
            batches = jax.tree.map(lambda x: x[order].reshape((config.minibatches, minibatch) + x.shape[1:]), flat)
            iterations = jnp.full(config.minibatches, iteration)
            return jax.lax.scan(minibatch_step, carry,
                                (batches, jax.random.split(key_masks, config.minibatches), iterations))

        (policy_params, opt_state), stats = jax.lax.scan(epoch, (policy_params, opt_state),
                                                         jax.random.split(key, config.epochs))
        stats = {name: (jnp.sum(v) if name == "skipped_updates" else jnp.mean(v)) for name, v in stats.items()}
        return policy_params, opt_state, stats

    def whole_batch_terms(batch, key):
        """The one-step optimisers' batch (advantages standardised over it), clipping bounds,
        sample weights and KL-Cov selection."""
        if config.normalize_advantages:
            batch = batch._replace(advantage=standardize(batch.advantage, batch.weight))
        bounds = (1.0 - config.clip_epsilon, 1.0 + config.clip_epsilon)
        weight, kl_selected = batch.weight, None
        if config.sample_mask in ("clip_cov", "kl_cov"):
            flat = jax.tree.map(lambda x: x.reshape((samples,) + x.shape[2:]), batch)
            cov = centred_covariance(flat.log_prob, flat.advantage, flat.weight)
            count = max(1, int(config.cov_fraction * samples))
            if config.sample_mask == "clip_cov":
                weight = weight * ~covariance_selection(cov, flat.weight, count, key,
                                                        config.clip_cov_bounds).reshape(weight.shape)
            else:
                kl_selected = covariance_selection(cov, flat.weight, count).reshape(weight.shape)
        return batch, bounds, weight, kl_selected

    def natural_update(theta, unravel, batch, lr_scale, key):
        """One natural-gradient step: ``w = F^-1 g`` by conjugate gradients on Fisher-vector
        products (the Hessian of the mean KL from the sampling policy, jvp of grad), then ``theta +
        sqrt(2 npg_max_kl / w' F w) w``."""
        batch, bounds, weight, kl_selected = whole_batch_terms(batch, key)
        objective = lambda f: -policy_loss(unravel(f), batch, bounds, weight, kl_selected)  # noqa: E731
        value, gradient = jax.value_and_grad(objective)(theta)
        n = jnp.maximum(jnp.sum(batch.weight), 1.0)

        def mean_kl(f):
            mean, log_std = distribution(unravel(f), batch.obs)
            return jnp.sum(batch.weight * gaussian_kl(batch.mean, batch.log_std, mean, log_std)) / n

        def fisher_product(v):
            return momentum.hessian_vector_product(mean_kl, theta, v) + config.cg_damping * v

        direction, _ = jax.scipy.sparse.linalg.cg(fisher_product, gradient, maxiter=config.cg_iterations)
        curvature = jnp.dot(direction, fisher_product(direction))
        step = lr_scale * jnp.sqrt(2.0 * config.npg_max_kl / jnp.maximum(curvature, 1e-30))
        new_theta = theta + step * direction
        finite = jnp.all(jnp.isfinite(new_theta))
        norm = jnp.linalg.norm(gradient)
        masked = jnp.sum(batch.weight * (weight == 0)) / n
        stats = dict(loss=-value, clip_fraction=jnp.zeros_like(value), masked_fraction=masked,
                     approx_kl=jnp.zeros_like(value), clip_low=jnp.asarray(bounds[0], value.dtype),
                     clip_high=jnp.asarray(bounds[1], value.dtype), grad_norm=norm,
                     clipped_grad_norm=jnp.where(finite, norm, 0.0), skipped_updates=(~finite).astype(jnp.int32))
        return unravel(jnp.where(finite, new_theta, theta)), stats

    def momentum_update(state, theta, unravel, batch, lr_scale, key, hat=None):
        """One N-PG-IGT / (N)-HARPG step; ``hat`` is HARPG's ``(theta^, batch^)``."""
        batch, bounds, weight, kl_selected = whole_batch_terms(batch, key)
        objective = lambda f: -policy_loss(unravel(f), batch, bounds, weight, kl_selected)  # noqa: E731
        value, gradient = jax.value_and_grad(objective)(sampling_point(state, theta))
        correction = None
        if hat is not None:
            theta_hat, batch_hat = hat
            if config.normalize_advantages:
                batch_hat = batch_hat._replace(advantage=standardize(batch_hat.advantage, batch_hat.weight))
            n = jnp.maximum(jnp.sum(batch_hat.weight), 1.0)

            def surrogates(f):  # per trajectory piece (environment): sum_t w log pi A / n
                lp = log_prob(unravel(f), batch_hat.obs, batch_hat.u)
                entropy = gaussian_entropy(distribution(unravel(f), batch_hat.obs)[1])
                return batch_hat.obs.shape[1] * jnp.sum(batch_hat.weight * (lp * batch_hat.advantage
                                                                            + config.entropy_coef * entropy), 0) / n

            def log_likelihoods(f):
                return jnp.sum(batch_hat.weight * log_prob(unravel(f), batch_hat.obs, batch_hat.u), axis=0)

            correction = momentum.hessian_estimate_product(surrogates, log_likelihoods, theta_hat,
                                                           theta - state.previous)
        finite = jnp.all(jnp.isfinite(gradient)) & (True if correction is None else jnp.all(jnp.isfinite(correction)))
        new_theta, new_state = momentum.step(state, theta, gradient, config.momentum_eta,
                                             config.pg_step_size * lr_scale, config.optimizer != "harpg", correction)
        keep = lambda a, b: jax.tree.map(lambda x, y: jnp.where(finite, x, y), a, b)  # noqa: E731
        new_theta, new_state = keep(new_theta, theta), keep(new_state, state)
        norm = jnp.linalg.norm(gradient)
        masked = jnp.sum(batch.weight * (weight == 0)) / jnp.maximum(jnp.sum(batch.weight), 1.0)
        stats = dict(loss=-value, clip_fraction=jnp.zeros_like(value), masked_fraction=masked,
                     approx_kl=jnp.zeros_like(value),
                     clip_low=jnp.asarray(bounds[0], value.dtype), clip_high=jnp.asarray(bounds[1], value.dtype),
                     grad_norm=norm, clipped_grad_norm=jnp.where(finite, norm, 0.0),
                     skipped_updates=(~finite).astype(jnp.int32))
        return unravel(new_theta), new_state, stats

    def sampling_point(state, theta):
        """Where the update's gradient is taken: IGT's look-ahead, else the current parameters."""
        return momentum.igt_lookahead(state, theta, config.momentum_eta) if config.optimizer == "npg_igt" else theta

    def update(state):
        key, key_roll, key_policy, key_critic, key_hat, key_hat_roll = jax.random.split(state.key, 6)
        params = state.params
        if momentum_method:
            theta, unravel = ravel_pytree(params.policy)
            behaviour = unravel(sampling_point(state.policy_opt_state, theta))
        else:
            behaviour = params.policy
        final, transitions = collect(behaviour, params.obs_stats, state.rollout, key_roll)
        reward_scale, reward = scale_rewards(state.reward_scale, transitions)
        batch, lr_scale = prepare(behaviour, params, transitions, reward)
        if config.optimizer == "npg":
            theta, unravel = ravel_pytree(params.policy)
            policy, stats = natural_update(theta, unravel, batch, lr_scale, key_policy)
            policy_opt_state = state.policy_opt_state
        elif momentum_method:
            hat = None
            if config.optimizer in ("harpg", "n_harpg"):
                theta_hat = momentum.harpg_point(state.policy_opt_state, theta, key_hat)
                _, hat_transitions = collect(unravel(theta_hat), params.obs_stats, state.rollout, key_hat_roll)
                _, hat_reward = scale_rewards(reward_scale, hat_transitions)
                hat = (theta_hat, prepare(unravel(theta_hat), params, hat_transitions, hat_reward)[0])
            policy, policy_opt_state, stats = momentum_update(state.policy_opt_state, theta, unravel, batch, lr_scale,
                                                              key_policy, hat)
        else:
            vines = None
            if config.set_objective:  # key_hat is HARPG's, which the set objective excludes
                vines, diversity = vine_batch(behaviour, params, state.rollout, reward_scale, key_hat)
            policy, policy_opt_state, stats = adam_update(params.policy, state.policy_opt_state, batch, lr_scale,
                                                          key_policy, state.iteration, vines)
            if config.set_objective:
                stats = dict(stats, set_diversity=diversity)
        critic_params, critic_opt_state, critic_loss, critic_skipped = critic.fit(
            value_net, critic_optimizer, params.critic, state.critic_opt_state, batch.obs, batch.target, batch.weight,
            key_critic, config.epochs, config.minibatches, config.max_grad_norm,
            None if critic_term is None else critic_term(behaviour, params.obs_stats, reward_scale))
        obs_stats = params.obs_stats
        if config.normalize_observations:
            obs_stats = update_stats(obs_stats, transitions.obs)
        iteration = state.iteration + 1
        entropy = jnp.mean(gaussian_entropy(distribution(policy, batch.obs)[1]))
        metrics = dict(**rollout.window_metrics(transitions), env_steps=iteration * config.steps_per_update(env),
                       horizon=jnp.asarray(config.horizon), critic_loss=critic_loss,
                       critic_skipped_updates=critic_skipped, entropy=entropy, lr_scale=lr_scale, **stats)
        new_state = PPOState(PPOParams(policy, critic_params, obs_stats), policy_opt_state, critic_opt_state,
                             reward_scale, final, key, iteration)
        return new_state, metrics

    return init, update


def make_train(env, config):
    """``train(key) -> (params, metrics)``: ``config.num_iterations`` updates in one compiled loop.

    ``params`` is a :class:`PPOParams`; ``metrics`` a dict of arrays, one entry per update:
    ``reward`` (mean raw reward per step), ``episode_return``, ``episodes``, ``solver_failures``,
    ``env_steps`` (so far), ``horizon``, ``loss`` (policy loss), ``critic_loss``, ``entropy``,
    ``approx_kl``, ``clip_fraction``, ``clip_low`` / ``clip_high`` (the bounds used),
    ``masked_fraction`` (samples dropped by a mask), ``lr_scale`` (the SNR factor, else 1),
    ``grad_norm``, ``clipped_grad_norm``, ``skipped_updates``, ``critic_skipped_updates``. Every
    random number derives from ``key``.
    """
    return make_train_fn(*make_learner(env, config), config.num_iterations)
