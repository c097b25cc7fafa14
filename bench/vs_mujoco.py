"""dojax environments against gymnasium's MuJoCo v5 environments, side by side on this machine.

For each robot (--robots, default hopper halfcheetah walker2d ant humanoid) and each engine:

  single env   the gymnasium ``Env`` stepped from Python with uniformly random actions in its action
               space (resetting when an episode ends), --steps steps after a warm-up; the process is
               pinned to one CPU core (dojax: XLA's Eigen threading off too)
  env-steps/s  environment steps per wall second
  sim s/s      simulated seconds per wall second: env-steps/s * dt (dt: one env step)
  compile_s    dojax: wall time of a new process's first reset + step (tracing and XLA
               compilation of both) with an empty compilation cache (bench/pinning.py gives each
               run one); MuJoCo: time to make and reset the environment
  cached_s     dojax: the same in a second new process, which finds the programs that the first
               wrote to the persistent compilation cache (tracing and loading only)
  vector N     dojax's native vector env (``gymnasium.make_vec(..., "vector_entry_point")``) with N
               environments (--batches, default 64 1024), stepped with random actions:
               env-steps/s = N * steps / time and sim s/s = that * dt; MuJoCo's row uses
               ``SyncVectorEnv`` (the vector mode gymnasium offers it) at N = 64
  fail         dojax: fraction of steps whose solver did not converge (each ends its episode)

The dojax environments run at their default dt (``env.unwrapped.dt``); MuJoCo's at gymnasium's
(frame_skip x the file's timestep). Requires ``pip install -e ".[bench]"`` (gymnasium's MuJoCo
environments import imageio).

    python bench/vs_mujoco.py
    python bench/vs_mujoco.py --robots hopper --steps 500 --batches 64
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402

NAMES = {"hopper": ("Hopper", "Hopper-v5"), "halfcheetah": ("HalfCheetah", "HalfCheetah-v5"),
         "walker2d": ("Walker2d", "Walker2d-v5"), "ant": ("Ant", "Ant-v5"), "humanoid": ("Humanoid", "Humanoid-v5")}


_FIRST_STEP = """
import sys, time
import gymnasium as gym
import dojax
env = gym.make(sys.argv[1])
start = time.perf_counter()
env.reset(seed=0)
env.step(env.action_space.sample())
print(time.perf_counter() - start)
"""


def _first_step_in_new_process(env_id):
    """Seconds of a new process's first reset + step (it inherits the cache directory and pinning)."""
    out = subprocess.run([sys.executable, "-c", _FIRST_STEP, env_id], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def _run_single(env, steps, rng):
    import numpy as np

    env.reset(seed=0)
    failures = 0
    start = time.perf_counter()
    for _ in range(steps):
        action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        _, _, terminated, truncated, info = env.step(action)
        failures += bool(info.get("solver_failed", False))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start), failures / steps


def _run_vector(env, steps, rng):
    env.reset(seed=0)
    low, high = env.action_space.low, env.action_space.high
    env.step(rng.uniform(low, high))  # warm-up (the dojax step compiles here)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(rng.uniform(low, high))
    return env.num_envs * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", nargs="+", default=list(NAMES), choices=list(NAMES))
    parser.add_argument("--steps", type=int, default=2000, help="single-env steps timed (default 2000)")
    parser.add_argument("--batches", type=int, nargs="*", default=[64, 1024])
    parser.add_argument("--batch-steps", type=int, default=20, help="vector steps timed (default 20)")
    add_pinning_arguments(parser)
    args = parser.parse_args()
    core = None if args.no_pin else pin_single_core(args.core)

    import gymnasium as gym
    import numpy as np

    import dojax  # noqa: F401  (registers the dojax/ ids)

    print_environment(core)
    rng = np.random.default_rng(0)
    header = "| robot | engine | dt | compile_s | cached_s | env-steps/s | sim s/s | fail |" + "".join(
        f" vec{n} env-steps/s | vec{n} sim s/s |" for n in args.batches)
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for robot in args.robots:
        ours, theirs = NAMES[robot]
        start = time.perf_counter()
        env = gym.make(theirs)
        env.reset(seed=0)
        make_s = time.perf_counter() - start
        dt = env.unwrapped.dt
        _run_single(env, 100, rng)
        rate, _ = _run_single(env, args.steps, rng)
        vec = gym.make_vec(theirs, num_envs=64, vectorization_mode="sync")
        vrate = _run_vector(vec, args.batch_steps, rng)
        cells = "".join(f" {vrate:.0f} | {vrate * dt:.0f} |" if n == 64 else " - | - |" for n in args.batches)
        print(f"| {robot} | MuJoCo {theirs} | {dt:g} | {make_s:.2f} | - | {rate:.0f} | {rate * dt:.1f} | - |{cells}",
              flush=True)

        compile_s = _first_step_in_new_process(f"dojax/{ours}-v0")  # the cache holds nothing of it yet
        cached_s = _first_step_in_new_process(f"dojax/{ours}-v0")
        env = gym.make(f"dojax/{ours}-v0")
        dt = env.unwrapped.dt
        _run_single(env, 20, rng)  # warm-up (loads the programs from the cache)
        rate, fail = _run_single(env, args.steps, rng)
        cells = ""
        for n in args.batches:
            vec = gym.make_vec(f"dojax/{ours}-v0", num_envs=n, vectorization_mode="vector_entry_point")
            vrate = _run_vector(vec, args.batch_steps, rng)
            cells += f" {vrate:.0f} | {vrate * dt:.0f} |"
        print(f"| {robot} | dojax/{ours}-v0 | {dt:g} | {compile_s:.2f} | {cached_s:.2f} | {rate:.0f} | {rate * dt:.1f} | {fail:.3f} |{cells}",
              flush=True)


if __name__ == "__main__":
    main()
