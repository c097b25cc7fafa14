"""Chain scaling benchmark: compile time, time per step and Newton iterations of n-link pendulums.

For each n in --links, the n-link pendulum (``dojax.load("npendulum", links=n)``) starts from
non-zero joint angles at rest and swings freely (zero actions, default SolverOptions). Reported:

  lower_s     tracing + lowering of one jitted step (``jax.jit(_step).lower``)
  compile_s   XLA compilation of that lowered step (``.compile()``)
  us/step     median over --repeats of (wall time of a --steps-step ``dojax.rollout``) / --steps,
              the rollout compiled beforehand (pure compute, no Python dispatch per step)
  min_us      the fastest repeat's us/step (less sensitive to other load on a shared machine)
  us/iter     us/step divided by the mean Newton iterations (cost of one Newton iteration)
  us/call     median over --repeats of the mean time of one ``dojax.step`` call in a Python loop
              (includes JAX dispatch overhead; the compiled step is reused)
  newton      mean Newton iterations per step over the rollout
  x/doubling  us/step divided by the previous row's us/step (the per-doubling cost ratio when
              --links are successive doublings)

By default, before JAX is imported, the process (all its threads, XLA's thread pools included) is
pinned to one CPU core with ``os.sched_setaffinity`` (like ``taskset -c 0``) and XLA's Eigen
multi-threading is turned off (``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false``), so the numbers
are single-core numbers; --no-pin turns both off. The load average is printed: on a shared machine
other processes on the same core inflate every timing.

    python bench/bench_chain.py                       # n = 2, 4, 8, 16, 32
    python bench/bench_chain.py --links 2 8 --steps 100 --repeats 3
"""

import argparse
import statistics
import sys
import time

from pinning import add_pinning_arguments, pin_single_core, print_environment  # bench/ is on sys.path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--links", type=int, nargs="+", default=[2, 4, 8, 16, 32], help="chain lengths")
    p.add_argument("--steps", type=int, default=200, help="steps per timed rollout")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats (median reported)")
    p.add_argument("--timestep", type=float, default=0.01, help="simulation timestep in seconds")
    p.add_argument("--calls", type=int, default=50, help="dojax.step calls per repeat for us/call (0: skip)")
    add_pinning_arguments(p)
    return p.parse_args(argv)


def initial_angles(n):
    """A swinging start: the first joint at 0.6 rad, the others alternating +-0.2 rad."""
    import numpy as np

    angles = 0.2 * (-1.0) ** np.arange(n)
    angles[0] = 0.6
    return angles


def bench_one(n, args):
    import jax
    import jax.numpy as jnp

    import dojax

    step_module = sys.modules["dojax.step"]  # the module (dojax.step is the function)
    mech = dojax.load("npendulum", links=n, timestep=args.timestep)
    y = jnp.zeros(mech.minimal_size).at[0::2].set(jnp.asarray(initial_angles(n)))
    state = dojax.from_minimal(mech, y)
    opts = dojax.SolverOptions()
    action = jnp.zeros(mech.action_size)

    # compile time of one step: a fresh jit of the step function, traced/lowered, then compiled
    fresh = jax.jit(step_module._step)
    t0 = time.perf_counter()
    lowered = fresh.lower(mech, state, action, opts)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    lower_s, compile_s = t1 - t0, t2 - t1
    jax.block_until_ready(compiled(mech, state, action, opts))

    # time per step inside a compiled rollout
    actions = jnp.zeros((args.steps, mech.action_size))
    states, infos = dojax.rollout(mech, state, actions, opts)  # compile + warm up
    jax.block_until_ready(states)
    converged = bool(infos.converged.all())
    newton = float(infos.iterations.mean())
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(dojax.rollout(mech, state, actions, opts))
        times.append((time.perf_counter() - t0) / args.steps)
    us_step = 1e6 * statistics.median(times)
    min_us = 1e6 * min(times)

    # time per dojax.step call from Python (dispatch included)
    us_call = float("nan")
    if args.calls > 0:
        s, _ = dojax.step(mech, state, action, opts)  # compile + warm up
        jax.block_until_ready(s)
        calls = []
        for _ in range(args.repeats):
            s = state
            t0 = time.perf_counter()
            for _ in range(args.calls):
                s, info = dojax.step(mech, s, action, opts)
            jax.block_until_ready(s)
            calls.append((time.perf_counter() - t0) / args.calls)
        us_call = 1e6 * statistics.median(calls)
    return dict(n=n, lower_s=lower_s, compile_s=compile_s, us_step=us_step, min_us=min_us, us_call=us_call,
                newton=newton, converged=converged)


def main(argv=None):
    args = parse_args(argv)
    core = None if args.no_pin else pin_single_core(args.core)

    import dojax  # noqa: F401  (float64)

    print_environment(core)
    print(f"npendulum, timestep {args.timestep}, {args.steps} steps x {args.repeats} repeats "
          f"(median), default SolverOptions")
    header = (f"{'links':>5} {'lower_s':>8} {'compile_s':>9} {'us/step':>9} {'min_us':>9} {'us/iter':>8} "
              f"{'us/call':>9} "
              f"{'newton':>6} {'x/doubling':>10} {'converged':>9}")
    print(header)
    print("-" * len(header))
    rows, previous = [], None
    for n in args.links:
        r = bench_one(n, args)
        ratio = r["us_step"] / previous["us_step"] if previous else float("nan")
        r["ratio"] = ratio
        ratio_text = f"{ratio:10.2f}" if previous else f"{'-':>10}"
        print(f"{n:5d} {r['lower_s']:8.2f} {r['compile_s']:9.2f} {r['us_step']:9.1f} {r['min_us']:9.1f} "
              f"{r['us_step'] / r['newton']:8.1f} {r['us_call']:9.1f} "
              f"{r['newton']:6.2f} {ratio_text} {str(r['converged']):>9}", flush=True)
        rows.append(r)
        previous = r
    return rows


if __name__ == "__main__":
    main()
