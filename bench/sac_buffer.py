"""SAC's cost per environment step against its replay buffer's capacity.

For each capacity (--capacities) dojax's SAC (bench/locomotion_learners.py's settings: 1 env,
batch 256, (64, 64) networks) runs on --env with ``smooth_reward=True``: a compiled chunk of
``learning_starts`` updates (uniformly random actions; not timed), then a compiled chunk of --steps
updates that learn (one environment step and one gradient step each), timed after its compilation
and run twice (the faster is reported). Each chunk is one ``lax.scan`` of the update with the
training state donated, as a learner's ``learn`` loop and ``make_train`` run it.

    flock /tmp/bench.lock taskset -c 1 python bench/sac_buffer.py --capacities 100000 1000000
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from locomotion_learners import ENV_KWARGS, SAC  # noqa: E402
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper")
    parser.add_argument("--capacities", nargs="+", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--steps", type=int, default=500, help="timed updates (environment steps) per capacity")
    add_pinning_arguments(parser)
    args = parser.parse_args()
    core = None if args.no_pin else pin_single_core(args.core)
    import jax

    from dojax import envs
    from dojax.learn import sac

    print_environment(core)
    env = envs.make(args.env, **ENV_KWARGS)
    print(f"{'capacity':>10}{'ms/step':>10}{'compile_s':>11}")
    for capacity in args.capacities:
        config = sac.SACConfig(**dict(SAC, buffer_size=capacity))
        init, update = sac.make_learner(env, config)

        def chunk(length):
            return jax.jit(lambda s: jax.lax.scan(lambda s, _: update(s), s, None, length=length)[0], donate_argnums=0)

        state = jax.block_until_ready(chunk(config.learning_starts)(jax.jit(init)(jax.random.key(0))))
        start = time.perf_counter()
        timed = chunk(args.steps).lower(state).compile()
        compile_s = time.perf_counter() - start
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            state = jax.block_until_ready(timed(state))
            best = min(best, time.perf_counter() - start)
        print(f"{capacity:>10}{best / args.steps * 1e3:>10.2f}{compile_s:>11.1f}", flush=True)


if __name__ == "__main__":
    main()
