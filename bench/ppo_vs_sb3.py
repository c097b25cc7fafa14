"""dojax's PPO and SAC against Stable-Baselines3's on the same dojax environment, at equal environment steps.

For each algorithm (--algos, default ppo sac) and seed (--seeds, default 0 1 2), both libraries
train on ``dojax/Pendulum-v0`` with ``smooth_reward=True`` (--env) with the same hyperparameters
(below; SB3's PPO gets ``VecNormalize`` for the observation and reward normalisation dojax's PPO
does in-graph), then the final policy is evaluated deterministically on 10 seeded episodes of the
same gymnasium env (``dojax.learn.evaluate_policy``, seeds 1000-1009). Reported per run:

  return      mean return of the 10 evaluation episodes of the final policy
  train_s     training wall time (dojax: the compiled loop, without compilation; SB3: ``learn``)
  compile_s   dojax: tracing and XLA compilation of the training loop (empty compilation cache)
  s/Msteps    train_s per million environment steps

dojax trains with its functional core (``make_train``, one compiled loop per seed, the
environments stepped in-graph); SB3 steps the gymnasium env from Python (``DummyVecEnv``).
Differences that remain: dojax's policies squash actions by ``tanh`` where SB3's PPO clips them;
dojax's MLPs use ELU, SB3's tanh (PPO) and ReLU (SAC); SB3's PPO uses orthogonal initialisation.
The process is pinned to one core (XLA's Eigen threading off, ``torch.set_num_threads(1)``).

    flock /tmp/bench.lock taskset -c 1 python bench/ppo_vs_sb3.py
    python bench/ppo_vs_sb3.py --algos ppo --ppo-steps 40960 --seeds 0
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402

# shared hyperparameters (SB3 names on the left where they differ)
PPO = dict(num_envs=4, horizon=512, minibatches=32, epochs=10, learning_rate=1e-3, discount=0.9, gae_lambda=0.95,
           clip_epsilon=0.2, entropy_coef=0.0, max_grad_norm=0.5, hidden_sizes=(64, 64), critic_hidden_sizes=(64, 64))
SAC = dict(num_envs=1, horizon=1, batch_size=256, buffer_size=100_000, learning_starts=1000, discount=0.99, tau=0.005,
           learning_rate=1e-3, hidden_sizes=(64, 64), gradient_steps=1)
EVAL_EPISODES, EVAL_SEED = 10, 1000


def dojax_run(algo, env_id, steps, seed):
    import jax

    from dojax import learn
    from dojax.learn import ppo, sac

    module, options = (ppo, PPO) if algo == "ppo" else (sac, SAC)
    config_class = ppo.PPOConfig if algo == "ppo" else sac.SACConfig
    agent_class = learn.PPO if algo == "ppo" else learn.SAC
    agent = agent_class(env_id, seed=seed, env_kwargs=dict(smooth_reward=True), **options)
    per_update = agent.config.steps_per_update(agent.env)
    config = config_class(**options, num_iterations=-(-steps // per_update))
    train = jax.jit(module.make_train(agent.env, config))
    key = jax.random.key(seed)
    start = time.perf_counter()
    compiled = train.lower(key).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    params, _ = jax.block_until_ready(compiled(key))
    train_s = time.perf_counter() - start
    agent.state = agent._init(key)._replace(params=params)  # act with the trained parameters
    return agent, train_s, compile_s, config.num_iterations * per_update


def sb3_model(algo, env_id, seed, ppo, sac, env_kwargs):
    """SB3's PPO (over ``VecNormalize``) or SAC on the gymnasium env, with the settings of ``ppo``
    or ``sac`` (dojax's names, as PPO and SAC above); returns (model, env)."""
    import stable_baselines3 as sb3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    make = dict(env_kwargs=env_kwargs, seed=seed)
    if algo == "ppo":
        env = VecNormalize(make_vec_env(env_id, n_envs=ppo["num_envs"], **make), gamma=ppo["discount"])
        model = sb3.PPO("MlpPolicy", env, n_steps=ppo["horizon"], batch_size=ppo["num_envs"] * ppo["horizon"]
                        // ppo["minibatches"], n_epochs=ppo["epochs"], learning_rate=ppo["learning_rate"],
                        gamma=ppo["discount"], gae_lambda=ppo["gae_lambda"], clip_range=ppo["clip_epsilon"],
                        ent_coef=ppo["entropy_coef"], max_grad_norm=ppo["max_grad_norm"],
                        policy_kwargs=dict(net_arch=dict(pi=list(ppo["hidden_sizes"]), vf=list(ppo["hidden_sizes"]))),
                        seed=seed, device="cpu")
    else:
        env = make_vec_env(env_id, n_envs=1, **make)
        model = sb3.SAC("MlpPolicy", env, batch_size=sac["batch_size"], buffer_size=sac["buffer_size"],
                        learning_starts=sac["learning_starts"], gamma=sac["discount"], tau=sac["tau"],
                        learning_rate=sac["learning_rate"], gradient_steps=sac["gradient_steps"],
                        policy_kwargs=dict(net_arch=list(sac["hidden_sizes"])), seed=seed, device="cpu")
    return model, env


def sb3_act(model, env):
    """The deterministic policy of an SB3 model, on raw observations."""
    from stable_baselines3.common.vec_env import VecNormalize

    def act(obs):
        if isinstance(env, VecNormalize):
            obs = env.normalize_obs(obs)
        return model.predict(obs, deterministic=True)[0]

    return act


def sb3_run(algo, env_id, steps, seed):
    model, env = sb3_model(algo, env_id, seed, PPO, SAC, dict(smooth_reward=True))
    start = time.perf_counter()
    model.learn(steps)
    train_s = time.perf_counter() - start
    return sb3_act(model, env), train_s, 0.0, model.num_timesteps


def print_summary(results, width):
    """Mean and spread over seeds of each run's (final return, training seconds per million steps),
    ``results`` keyed by the run's label."""
    import numpy as np

    print("\nsummary (mean +- std over seeds)")
    for label, rows in results.items():
        returns, per_million = np.array(rows).T
        print(f"{label:<{width}} return {returns.mean():8.1f} +- {returns.std():6.1f}   s/Msteps {per_million.mean():8.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["ppo", "sac"], choices=["ppo", "sac"])
    parser.add_argument("--libs", nargs="+", default=["dojax", "sb3"], choices=["dojax", "sb3"])
    parser.add_argument("--env", default="dojax/Pendulum-v0")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--ppo-steps", type=int, default=102_400, help="environment steps per PPO run")
    parser.add_argument("--sac-steps", type=int, default=10_000, help="environment steps per SAC run")
    add_pinning_arguments(parser)
    args = parser.parse_args()
    core = None if args.no_pin else pin_single_core(args.core)
    import gymnasium
    import torch

    import dojax  # noqa: F401  (registers the ids)
    from dojax.learn import evaluate_policy

    torch.set_num_threads(1)
    print_environment(core)
    print(f"{'algo':<5}{'lib':<7}{'seed':>5}{'steps':>9}{'return':>10}{'train_s':>9}{'compile_s':>10}{'s/Msteps':>10}")
    results = {}
    for algo in args.algos:
        steps = args.ppo_steps if algo == "ppo" else args.sac_steps
        for lib in args.libs:
            for seed in args.seeds:
                run = dojax_run if lib == "dojax" else sb3_run
                policy, train_s, compile_s, taken = run(algo, args.env, steps, seed)
                env = gymnasium.make(args.env, smooth_reward=True)
                mean, _ = evaluate_policy(policy, env, EVAL_EPISODES, deterministic=True, seed=EVAL_SEED)
                env.close()
                results.setdefault(f"{algo:<5}{lib}", []).append((mean, train_s / taken * 1e6))
                print(f"{algo:<5}{lib:<7}{seed:>5}{taken:>9}{mean:>10.1f}{train_s:>9.1f}{compile_s:>10.1f}"
                      f"{train_s / taken * 1e6:>10.0f}", flush=True)
    print_summary(results, 12)


if __name__ == "__main__":
    main()
