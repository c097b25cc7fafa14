"""HNPG with a replay of another learner's rollouts, and off-policy MDPO against SAC, on the LQR task.

    python examples/learn_hnpg_mdpo_off.py        # writes hnpg_lqr.png

First PPO is trained through its front class (``dojax.learn.PPO``) and 2000 steps of its
stochastic policy are saved as a replay (``dojax.learn.replay.record``: an ``.npz`` of
observations, actions, rewards, ends of episodes and the actions' log-densities). HNPG
(``dojax.learn.hnpg``) then trains with that replay in its critic's loss, and NPG (the same learner
without offline data), four seeds each in one compiled call; the exact expected cost of each
learned linear gain is printed and the mean episode return plotted against environment steps.
Last, off-policy MDPO (``dojax.learn.MDPO_OFF``) and SAC train through their front classes; their
squashed policies are measured by the mean return of seeded episodes.
"""

import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dojax.learn import MDPO_OFF, PPO, SAC, DoubleIntegrator, evaluation, hnpg, replay
from dojax.learn.networks import make_gaussian_policy

LQR = dict(num_envs=8, horizon=64, epochs=5, minibatches=4, policy="linear", squash_actions=False,
           normalize_observations=False, learning_rate=0.01, critic_hidden_sizes=(16,), initial_log_std=-0.5)


def gain(policy_params):
    """``G`` of the linear Gaussian policy's mean ``u = G x``."""
    return np.asarray(policy_params["params"]["Linear_0"]["Dense_0"]["kernel"]).T


def main():
    env = DoubleIntegrator()
    print(f"episode cost: zero policy {env.episode_cost(np.zeros((1, 2))):.1f}, "
          f"Riccati gain {env.episode_cost(env.optimal_gain()):.2f}")
    teacher = PPO(env, seed=0, **LQR).learn(20 * 512, progress_bar=False)
    print(f"PPO teacher: episode cost {env.episode_cost(gain(teacher.state.params.policy)):.2f}")
    path = os.path.join(tempfile.mkdtemp(), "ppo_replay.npz")
    print(f"replay: {replay.record(teacher, 2000, path)} transitions in {path}")

    keys = jax.random.split(jax.random.key(0), 4)
    fig = Figure(figsize=(6.5, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name, options in {"NPG": {}, "HNPG (PPO's replay)": dict(offline_data=path)}.items():
        config = hnpg.HNPGConfig(num_iterations=20, npg_max_kl=0.05, **LQR, **options)
        params, metrics = jax.jit(jax.vmap(hnpg.make_train(env, config)))(keys)
        costs = [env.episode_cost(gain(jax.tree.map(lambda x: x[i], params.policy))) for i in range(len(keys))]
        print(f"{name:<20} episode cost per seed {np.round(costs, 2)}")
        steps, returns = np.asarray(metrics["env_steps"][0]), np.asarray(metrics["episode_return"])
        ended = np.isfinite(returns).any(axis=0)
        ax.plot(steps[ended], np.nanmean(returns[:, ended], axis=0), marker=".", label=name)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return of the episodes ended (4 seeds)")
    ax.set_yscale("symlog")
    ax.set_title("NPG and HNPG on the double-integrator LQR task")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig("hnpg_lqr.png")
    print("plot: hnpg_lqr.png")

    def mean_return(policy):
        return evaluation.mean_return(env, policy, jax.random.key(7))

    print(f"zero policy: mean return {mean_return(lambda obs: jnp.zeros(1)):.1f}")
    options = dict(learning_starts=200, hidden_sizes=(32, 32), batch_size=64, buffer_size=2000)
    for cls, extra in ((SAC, {}), (MDPO_OFF, dict(sgd_steps=10))):
        agent = cls(env, seed=0, **options, **extra).learn(1500, progress_bar=False)
        _, act = make_gaussian_policy(env.action_size, agent.config)
        params = agent.state.params
        print(f"{cls.__name__} after 1500 steps: mean return "
              f"{mean_return(lambda obs: act(params.policy, params.obs_stats, obs, None)):.1f}")


if __name__ == "__main__":
    main()
