"""PPO, its options, and SAC on the LQR task, with the exact cost of the learned gains and a plot.

    python examples/learn_ppo.py            # writes ppo_lqr.png

The task (``dojax.learn.DoubleIntegrator``) has a known optimum, the Riccati gain, and the exact
expected cost of any linear gain, so PPO's linear Gaussian policy is measured without sampling.
The first part trains plain PPO and four of its options (BAPO's adaptive clipping, OBLR-PO's
gradient-weighted baseline with its SNR step size, N-PG-IGT's normalised momentum step, the
polychromic set objective with vine sampling), four seeds each in one compiled call
(``jax.vmap`` over keys), and plots the mean episode return against environment steps. The
second part trains SAC through the front class (``dojax.learn.SAC``: ``learn``, ``predict``) on
the same task; its actions are squashed into [-1, 1], so its policy is not linear and is measured
by the mean return of seeded episodes.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dojax.learn import SAC, DoubleIntegrator, evaluation, ppo
from dojax.learn.networks import make_gaussian_policy

LQR = dict(num_iterations=20, num_envs=8, horizon=64, epochs=5, minibatches=4, policy="linear", squash_actions=False,
           normalize_observations=False, learning_rate=0.01, critic_hidden_sizes=(16,), initial_log_std=-0.5)
VARIANTS = {
    "plain PPO": {},
    "BAPO clipping": dict(clipping="bapo"),
    "gradient-weighted baseline + SNR step": dict(baseline="gradient_weighted", snr_learning_rate=True),
    "N-PG-IGT step": dict(optimizer="npg_igt", pg_step_size=0.2, momentum_eta=0.3),
    "polychromic set objective (vines)": dict(set_objective=True),
}


def gain(policy_params):
    """``G`` of the linear Gaussian policy's mean ``u = G x``."""
    return np.asarray(policy_params["params"]["Linear_0"]["Dense_0"]["kernel"]).T


def main():
    env = DoubleIntegrator()
    print(f"episode cost: zero policy {env.episode_cost(np.zeros((1, 2))):.1f}, "
          f"Riccati gain {env.episode_cost(env.optimal_gain()):.2f}")
    keys = jax.random.split(jax.random.key(0), 4)
    fig = Figure(figsize=(6.5, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name, options in VARIANTS.items():
        config = ppo.PPOConfig(**LQR, **options)
        start = time.perf_counter()
        params, metrics = jax.jit(jax.vmap(ppo.make_train(env, config)))(keys)
        costs = [env.episode_cost(gain(jax.tree.map(lambda x: x[i], params.policy))) for i in range(len(keys))]
        print(f"{name:<40} episode cost per seed {np.round(costs, 2)}  ({time.perf_counter() - start:.1f} s)")
        steps, returns = np.asarray(metrics["env_steps"][0]), np.asarray(metrics["episode_return"])
        ended = np.isfinite(returns).any(axis=0)  # updates in which some seed's episode ended
        ax.plot(steps[ended], np.nanmean(returns[:, ended], axis=0), marker=".", label=name)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return of the episodes ended (4 seeds)")
    ax.set_yscale("symlog")
    ax.set_title("PPO and its options on the double-integrator LQR task")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig("ppo_lqr.png")
    print("plot: ppo_lqr.png")

    agent = SAC(env, seed=0, learning_starts=200, hidden_sizes=(32, 32), batch_size=64, buffer_size=2000)
    agent.learn(1500, progress_bar=False)

    def mean_return(policy):
        return evaluation.mean_return(env, policy, jax.random.key(7))

    _, act = make_gaussian_policy(env.action_size, agent.config)  # the policy as a jittable function
    params = agent.state.params
    trained = mean_return(lambda obs: act(params.policy, params.obs_stats, obs, None))
    print(f"SAC after 1500 steps: mean return {trained:.1f} (zero policy {mean_return(lambda obs: jnp.zeros(1)):.1f}); "
          f"action at x = [1, 0]: {agent.predict(np.array([1.0, 0.0]))}")


if __name__ == "__main__":
    main()
