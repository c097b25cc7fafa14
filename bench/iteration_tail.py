"""Solver iterations per environment step under random actions, and what an iteration cap saves a
vector environment.

For each robot environment (--envs, default the five locomotion robots), --episodes episodes of
--steps steps from reset under uniformly random actions (seed 0), solved with the solver's own
default ``max_iter`` (50), print: failed steps, the converged steps' iterations (mean, 99th and
99.9th percentile, most) and, for a cap of --cap iterations (the environments' ``Env.max_iter``),
the expected most over 64 random steps (what a 64-lane batched while-loop waits for) without and
with the cap, and how many converged steps the cap would turn into failures.

    python bench/iteration_tail.py
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pinning  # noqa: E402,F401  (an empty compilation cache)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["Hopper", "Walker2d", "Humanoid", "Ant", "HalfCheetah"])
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--cap", type=int, default=25)
    args = parser.parse_args()

    import jax
    import numpy as np

    import dojax
    from dojax.solver import SolverOptions
    from dojax.step import _step

    for name in args.envs:
        env = dojax.envs.make(name)
        opts = SolverOptions()  # max_iter 50: the iterations a cap would cut
        actions = np.random.default_rng(0).uniform(-1, 1, (args.episodes, args.steps, env.action_size))

        def episode(key, actions):
            def body(s, a):
                return env.step(s, a), (s.sim, env.control(a))
            return jax.lax.scan(body, env.reset(key), actions)[1]

        sims, ctrls = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(0), args.episodes), actions)
        sims, ctrls = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), (sims, ctrls))
        info = jax.jit(lambda S, C: jax.lax.map(lambda sc: _step(env.mech, sc[0], sc[1], opts)[1], (S, C)))(sims, ctrls)
        its, ok = np.asarray(info.iterations), np.asarray(info.converged)
        draws = np.random.default_rng(0).integers(0, len(its), (20000, 64))
        worst, worst_capped = its[draws].max(axis=1).mean(), np.minimum(its, args.cap)[draws].max(axis=1).mean()
        c = its[ok]
        print(f"{name}: {len(its)} steps, {np.sum(~ok)} failed; converged: mean {c.mean():.2f}, "
              f"p99 {np.percentile(c, 99):.0f}, p99.9 {np.percentile(c, 99.9):.0f}, most {c.max()}, "
              f"{np.sum(c > args.cap)} above {args.cap}; most of 64 lanes: {worst:.1f}, capped at {args.cap}: "
              f"{worst_capped:.1f}", flush=True)


if __name__ == "__main__":
    main()
