"""dojax's newer policy-gradient learners against their base learners on dojax/Pendulum-v0, at
equal environment steps.

Pairs (each learner with the hyperparameters of bench/ppo_vs_sb3.py, which this imports):

  sac       SAC, 10,000 steps                 mdpo_off  off-policy MDPO (sgd_steps 100), same steps
  npg       PPO's optimizer="npg", 102,400    hnpg      HNPG with a replay of 5,000 steps of the
                                                        seed's trained SAC policy, same steps
  ppo       plain PPO, 102,400 steps          ppo_set   PPO with set_objective=True (its vine steps
                                                        count: fewer updates at the same steps)

For each seed (--seeds, default 0 1 2) every learner trains with its functional core (one
compiled loop, the compilation timed apart and shared by the seeds); the final policy is
evaluated deterministically on 10 seeded episodes of the gymnasium env (seeds 1000-1009, as
ppo_vs_sb3.py). Reported per run: ``return`` (mean of the 10 episodes), ``train_s`` (wall time
without compilation), ``compile_s`` (first seed only) and ``s/Msteps``.

    flock /tmp/bench.lock taskset -c 1 python bench/pg_family.py
    python bench/pg_family.py --learners sac mdpo_off --seeds 0
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402
from ppo_vs_sb3 import EVAL_EPISODES, EVAL_SEED, print_summary, PPO, SAC  # noqa: E402

LEARNERS = ("sac", "mdpo_off", "npg", "hnpg", "ppo", "ppo_set")
REPLAY_STEPS = 5_000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    parser.add_argument("--env", default="dojax/Pendulum-v0")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--ppo-steps", type=int, default=102_400, help="environment steps per PPO-family run")
    parser.add_argument("--sac-steps", type=int, default=10_000, help="environment steps per SAC-family run")
    add_pinning_arguments(parser)
    args = parser.parse_args()
    if "hnpg" in args.learners and "sac" not in args.learners:
        parser.error("hnpg's replay comes from the seed's SAC run: include sac in --learners")
    core = None if args.no_pin else pin_single_core(args.core)
    import gymnasium
    import jax

    from dojax import learn
    from dojax.learn import evaluate_policy, hnpg, mdpo_off, ppo, replay, sac

    print_environment(core)
    replay_dir = tempfile.mkdtemp()
    specs = {  # name: (front class, module, config class, options, steps)
        "sac": (learn.SAC, sac, sac.SACConfig, SAC, args.sac_steps),
        "mdpo_off": (learn.MDPO_OFF, mdpo_off, mdpo_off.MDPOOffConfig, dict(SAC, sgd_steps=100), args.sac_steps),
        "npg": (learn.PPO, ppo, ppo.PPOConfig, dict(PPO, optimizer="npg"), args.ppo_steps),
        "hnpg": (learn.HNPG, hnpg, hnpg.HNPGConfig, PPO, args.ppo_steps),
        "ppo": (learn.PPO, ppo, ppo.PPOConfig, PPO, args.ppo_steps),
        "ppo_set": (learn.PPO, ppo, ppo.PPOConfig, dict(PPO, set_objective=True), args.ppo_steps),
    }
    order = [name for name in LEARNERS if name in args.learners]
    print(f"{'learner':<10}{'seed':>5}{'steps':>9}{'return':>10}{'train_s':>9}{'compile_s':>10}{'s/Msteps':>10}")
    results = {}
    for name in order:
        agent_class, module, config_class, options, steps = specs[name]
        compiled = {}
        for seed in args.seeds:
            if name == "hnpg":  # a replay per seed: its compiled loop closes over the data
                options = dict(PPO, offline_data=os.path.join(replay_dir, f"sac_{seed}.npz"))
                compiled = {}
            agent = agent_class(args.env, seed=seed, env_kwargs=dict(smooth_reward=True), **options)
            per_update = agent.config.steps_per_update(agent.env)
            config = config_class(**options, num_iterations=-(-steps // per_update))
            key = jax.random.key(seed)
            compile_s = 0.0
            if not compiled:
                start = time.perf_counter()
                compiled["train"] = jax.jit(module.make_train(agent.env, config)).lower(key).compile()
                compile_s = time.perf_counter() - start
            start = time.perf_counter()
            params, _ = jax.block_until_ready(compiled["train"](key))
            train_s = time.perf_counter() - start
            agent.state = agent._init(key)._replace(params=params)  # act with the trained parameters
            if name == "sac":
                replay.record(agent, REPLAY_STEPS, os.path.join(replay_dir, f"sac_{seed}.npz"), seed=seed)
            taken = config.num_iterations * per_update
            env = gymnasium.make(args.env, smooth_reward=True)
            mean, _ = evaluate_policy(agent, env, EVAL_EPISODES, deterministic=True, seed=EVAL_SEED)
            env.close()
            results.setdefault(name, []).append((mean, train_s / taken * 1e6))
            print(f"{name:<10}{seed:>5}{taken:>9}{mean:>10.1f}{train_s:>9.1f}{compile_s:>10.1f}"
                  f"{train_s / taken * 1e6:>10.0f}", flush=True)
    print_summary(results, 10)


if __name__ == "__main__":
    main()
