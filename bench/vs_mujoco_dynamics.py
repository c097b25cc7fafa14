"""Episodes under random actions: each dojax robot environment beside its gymnasium v5 counterpart.

For each robot (--robots, default hopper walker2d halfcheetah ant humanoid) and each of --episodes
seeds: reset with seed s, then step with actions drawn uniformly from the environment's own action
space (``action_space.seed(s)``) until the episode terminates or --max-steps steps pass. Three
environments per robot: gymnasium's MuJoCo v5 environment, dojax's at its default dt, and dojax's
at MuJoCo's dt (its frame_skip x the file's timestep). Printed per environment: median and
quartiles of episode length in steps and in simulated seconds, median return, and how episodes
ended: terminated (the robot fell or left its healthy range), truncated early (a dojax step whose
solver failed ends its episode that way), or at --max-steps.

    python bench/vs_mujoco_dynamics.py
    python bench/vs_mujoco_dynamics.py --robots hopper --episodes 10
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402

IDS = {"hopper": ("Hopper", "Hopper-v5"), "walker2d": ("Walker2d", "Walker2d-v5"),
       "halfcheetah": ("HalfCheetah", "HalfCheetah-v5"), "ant": ("Ant", "Ant-v5"),
       "humanoid": ("Humanoid", "Humanoid-v5")}


def episodes(env, n, max_steps):
    """(lengths, returns, how each ended) of n random-action episodes seeded 0..n-1; an episode
    ends "terminated", "truncated" (before max_steps) or "max"."""
    import numpy as np

    lengths, returns, ended = [], [], []
    for seed in range(n):
        env.reset(seed=seed)
        env.action_space.seed(seed)
        total, steps, how = 0.0, 0, "max"
        while steps < max_steps:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            steps += 1
            if terminated or truncated:
                how = "terminated" if terminated else ("truncated" if steps < max_steps else "max")
                break
        lengths.append(steps)
        returns.append(total)
        ended.append(how)
    return np.array(lengths), np.array(returns), np.array(ended)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", nargs="+", default=list(IDS), choices=list(IDS))
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--max-steps", type=int, default=1000)
    add_pinning_arguments(parser)
    args = parser.parse_args()
    core = None if args.no_pin else pin_single_core(args.core)
    import gymnasium as gym
    import numpy as np

    import dojax  # noqa: F401  (registers the dojax ids)

    print_environment(core)
    print("| robot | environment | dt | median steps (quartiles) | median seconds | median return | terminated "
          "| truncated early |")
    print("|---|---|---|---|---|---|---|---|")
    for robot in args.robots:
        name, mujoco_id = IDS[robot]
        reference = gym.make(mujoco_id)
        mujoco_dt = reference.unwrapped.dt
        envs = [(mujoco_id, reference), (f"dojax/{name}-v0", gym.make(f"dojax/{name}-v0")),
                (f"dojax/{name}-v0", gym.make(f"dojax/{name}-v0", dt=mujoco_dt))]
        for label, env in envs:
            dt = env.unwrapped.dt
            lengths, returns, ended = episodes(env, args.episodes, args.max_steps)
            q1, med, q3 = np.percentile(lengths, [25, 50, 75])
            print(f"| {robot} | {label} | {dt:g} | {med:.0f} ({q1:.0f}-{q3:.0f}) | {med * dt:.3f} | "
                  f"{np.median(returns):.2f} | {np.mean(ended == 'terminated'):.0%} | "
                  f"{np.mean(ended == 'truncated'):.0%} |", flush=True)
            env.close()


if __name__ == "__main__":
    main()
