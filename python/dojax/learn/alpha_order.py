"""The alpha-order gradient estimator (Suh, Simchowitz, Zhang, Tedrake, ICML 2022): the first-order
gradient of a window mixed with a zeroth-order one, weighted by their empirical variances.

The first-order learners' objective is an expectation over the policy's action noise. Each
environment ``i`` of a window gives two estimates of its gradient:

- first order (FoBG): the gradient of its own return through the physics, ``N dL_i/dtheta``;
- zeroth order (ZoBG, the score-function estimate of the same smoothed objective): its loss times
  the gradient of the log-probability of the actions it took, ``(N L_i - b_i) sum_t
  d log pi(a_t | s_t)/dtheta``, with the leave-one-out mean ``b_i`` of the other environments' as
  baseline; unbiased even where the return is discontinuous in the actions (contact switching),
  where the first-order estimate is not.

With ``g_F``, ``g_Z`` their means over the ``N`` environments and ``v_F``, ``v_Z`` the variances of
those means (trace of the covariance), the step uses ``alpha g_F + (1 - alpha) g_Z`` with the
variance-minimising ``alpha* = v_Z / (v_F + v_Z)``, reduced where the two means disagree by more
than the zeroth-order estimate's own uncertainty (the sign of a biased first-order gradient):
``alpha = alpha*`` if ``alpha* |g_F - g_Z| <= z sqrt(v_Z)``, else ``z sqrt(v_Z) / |g_F - g_Z|``
(Suh et al.'s robust choice with tolerance ``gamma = 2 z sqrt(v_Z)``, ``z = CONFIDENCE``), so the
mixed estimate stays within the zeroth-order estimate's confidence radius of it. On a smooth
problem ``v_F << v_Z`` and the step is the first-order one.

Per-environment gradients take one backward pass: the loss is evaluated with one copy of the
policy parameters per environment (``per_env=True``) and environment ``i`` depends only on copy
``i``.
"""

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from dojax.learn import rollout
from dojax.learn.networks import noise_std
from dojax.learn.normalization import normalize
from dojax.learn.optim import apply_gradients, descend

CONFIDENCE = 2.0  # z: the zeroth-order mean's confidence radius in standard deviations (about 95%)


def mix(first_order, zeroth_order, z=CONFIDENCE):
    """``(gradient, alpha)`` from per-environment first- and zeroth-order estimates, each ``(N, d)``
    (row ``i`` an estimate of the same gradient from environment ``i``); see the module's docstring."""
    n = first_order.shape[0]
    mean_f, mean_z = jnp.mean(first_order, axis=0), jnp.mean(zeroth_order, axis=0)
    var_f = jnp.sum((first_order - mean_f) ** 2) / (n * (n - 1))
    var_z = jnp.sum((zeroth_order - mean_z) ** 2) / (n * (n - 1))
    total = var_f + var_z
    alpha = jnp.where(total > 0, var_z / jnp.where(total > 0, total, 1.0), 1.0)
    gap = jnp.linalg.norm(mean_f - mean_z)
    radius = z * jnp.sqrt(var_z)
    alpha = jnp.where(alpha * gap <= radius, alpha, radius / jnp.where(gap > 0, gap, 1.0))
    return alpha * mean_f + (1.0 - alpha) * mean_z, alpha


def window_noise(key, num_envs, horizon, action_size):
    """The standard normal action noise of each step and environment of the window drawn with
    ``key`` (:func:`dojax.learn.rollout.window_keys`, :func:`dojax.learn.networks.noisy_action`),
    shaped ``(horizon, num_envs, action_size)``."""
    _, step_keys = rollout.window_keys(key, num_envs, horizon)
    return jax.vmap(lambda k: jax.random.normal(k, (num_envs, action_size), jnp.float64))(step_keys)


def gradient_samples(loss, window_of, network, obs_stats, key, std_of, params, num_envs):
    """Per-environment first- and zeroth-order estimates of the gradient of ``loss`` at ``params``.

    ``loss(stacked_params) -> (per-environment losses (N,), aux)`` (their sum is the learner's
    loss), evaluated with one copy of the parameters per environment; ``window_of(aux) -> (obs,
    taken)``: the observations the window's actions were chosen at and which steps were taken;
    ``std_of(stacked_params)``: the standard deviation of the action noise (a constant, or the
    parameters' learned one, :func:`dojax.learn.networks.noise_std`).
    Returns ``(first_order (N, d), zeroth_order (N, d), loss, aux, unravel)``.
    """
    stacked = jax.tree.map(lambda p: jnp.broadcast_to(p, (num_envs,) + p.shape), params)
    losses, pullback, aux = jax.vjp(loss, stacked, has_aux=True)
    (first,) = pullback(jnp.ones_like(losses))  # copy i only reaches environment i's loss
    obs, taken = jax.lax.stop_gradient(window_of(aux))
    action_size = jax.eval_shape(network.apply, params, obs[0, 0]).shape[-1]
    noise = window_noise(key, num_envs, obs.shape[0], action_size)

    def log_probability(stacked):
        # a surrogate whose gradient is that of log pi(a | s) at the taken a = mean + std * noise:
        # d/dmean = noise / std, d/dlog_std = noise^2 - 1
        mean = jax.vmap(jax.vmap(network.apply), in_axes=(None, 0))(stacked, normalize(obs_stats, obs))
        std = std_of(stacked)
        terms = noise * mean / jax.lax.stop_gradient(std) + (noise**2 - 1.0) * jnp.log(std)
        return jnp.sum(jnp.where(taken[..., None], terms, 0.0))

    score = jax.grad(log_probability)(stacked)
    flat = jax.vmap(lambda tree: ravel_pytree(tree)[0])
    per_env = num_envs * jax.lax.stop_gradient(losses)
    baseline = (jnp.sum(per_env) - per_env) / (num_envs - 1)
    unravel = ravel_pytree(params)[1]
    return num_envs * flat(first), (per_env - baseline)[:, None] * flat(score), jnp.sum(losses), aux, unravel


def unrolled(aux):
    """``window_of`` for a loss whose aux is ``(rollout_state, transitions)`` of
    :func:`dojax.learn.rollout.unroll`: the observations of the window's actions, every step taken."""
    transitions = aux[1]
    return transitions.obs, jnp.ones(transitions.reward.shape, bool)


def policy_step(config, loss, window_of, network, obs_stats, key, optimizer, params, opt_state):
    """A first-order learner's policy update: one clipped optimiser step on the gradient of
    ``loss(params, per_env) -> (loss, aux)`` (per-environment losses with ``per_env``), or, with
    ``config.alpha_order``, on the alpha-order mix of it with the zeroth-order estimate; ``key`` is
    the key the window was drawn with and ``window_of`` as in :func:`gradient_samples`.

    Returns ``(params, opt_state, loss, aux, gradient stats, alpha)`` (``alpha`` 1 without
    ``alpha_order``).
    """
    if not config.alpha_order:
        params, opt_state, value, aux, stats = descend(lambda p: loss(p, False), optimizer, params, opt_state,
                                                       config.max_grad_norm)
        return params, opt_state, value, aux, stats, jnp.ones((), jnp.float64)
    first, zeroth, value, aux, unravel = gradient_samples(lambda p: loss(p, True), window_of, network, obs_stats,
                                                          key, lambda p: noise_std(p, config), params,
                                                          config.num_envs)
    gradient, alpha = mix(first, zeroth)
    params, opt_state, stats = apply_gradients(optimizer, unravel(gradient), opt_state, params, config.max_grad_norm)
    return params, opt_state, value, aux, stats, alpha
