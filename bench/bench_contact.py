"""Hard-contact benchmark: time per step of contact models, single and batched (vmapped), and the
Newton iterations they take, under both batching modes of the solver.

Cases (timestep --timestep, default 0.01 s; default ``SolverOptions``: rtol 1e-6, btol 1e-4):

  block     ``dojax.load("block")`` (a cube with 8 corner contacts) sliding and spinning on the
            ground: v = (3, 1, 0) m/s, w = (0, 0, 4) rad/s, pushed by a constant force (8, 2, 0) N
            (just above friction 0.8 * 9.81 N, so it keeps sliding)
  sphere    ``dojax.load("sphere")`` rolling with slip: v = (2, 0, 0) m/s, w = (0, 2, 0) rad/s
            (rolling without slip would be 4 rad/s); friction turns the slip into rolling
  chainN    ``dojax.load("chain", links=N)`` (N rods, 2N contact spheres) lying on the ground,
            pushed at v = (1, 0.5, 0) m/s, joints driven by torques 2 sin(2 pi t + j) N m

Each case is timed as a single environment (adaptive mode; --single-fixed adds the fixed mode)
and, for --batch-cases (default block, sphere, chain8: each batched rollout is a separate 15-30 s
compile), as vmapped batches (--batches, default 64 1024)
whose lanes start from the case's state with slightly randomised velocities (normal noise of
0.2 m/s on the horizontal velocity, 0.5 rad/s on the angular velocity; the chain's links share
one velocity so the joints stay consistent). Two solver modes:

  adaptive  default ``SolverOptions()``: a ``lax.while_loop`` that stops at convergence; under
            ``vmap`` it runs until the slowest lane converges (converged lanes are masked)
  fixed K   ``SolverOptions(fixed_iterations=True, max_iter=K)``: exactly K iterations, converged
            lanes hold still; K (--fixed-iter, default auto) is the largest iteration count the
            adaptive runs of that case needed, plus 2 (at most the default max_iter, 50)

Single environment: ``dojax.rollout`` of --steps steps (compiled, a ``lax.scan`` of the step;
one untimed warm-up call). Batches: ``jax.jit`` of a ``lax.scan`` over --batch-steps steps of
``jax.vmap(step)`` (the internal ``_step`` of ``dojax.step``, the same function ``dojax.rollout``
scans), so no Python dispatch per step either (no warm-up call: each call takes up to seconds;
the first call's one-off cost, some 10-20 ms, lands in one repeat, which the median leaves out).
Columns:

  compile_s    lowering + XLA compilation of that rollout
  us/step      median over repeats of wall time / steps (one step of the whole batch)
  min_us       the fastest repeat's us/step
  us/env       us/step / batch (time per environment-step)
  env-steps/s  batch * steps / time (median)
  it_mean      mean Newton iterations per environment-step (what each lane needed)
  it_max       largest iterations of any environment-step
  lane_max     mean over steps of the largest lane's iterations (what a vmapped while-loop runs)
  conv         fraction of environment-steps that met the tolerances
  x/doubling   (single env, chains) us/step over the previous chain's

The process is pinned to one CPU core (os.sched_setaffinity, like ``taskset -c 0``) with XLA's
Eigen multi-threading off, as in bench_chain.py; --no-pin turns both off.

    python bench/bench_contact.py                                   # the default grid
    python bench/bench_contact.py --cases block chain8 --batches 64 --steps 20 --repeats 2
"""

import argparse
import os
import statistics
import sys
import time

from pinning import add_pinning_arguments, pin_single_core, print_environment  # bench/ is on sys.path

DEFAULT_CASES = ["block", "sphere", "chain2", "chain4", "chain8", "chain16"]
DEFAULT_BATCH_CASES = ["block", "sphere", "chain8"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", nargs="+", default=DEFAULT_CASES,
                   help="block, sphere, chainN (N links); single-environment runs")
    p.add_argument("--batch-cases", nargs="*", default=None,
                   help=f"cases also run batched (default: those of --cases among {DEFAULT_BATCH_CASES})")
    p.add_argument("--batches", type=int, nargs="*", default=[64, 1024], help="batch sizes")
    p.add_argument("--modes", nargs="+", default=["adaptive", "fixed"], choices=["adaptive", "fixed"])
    p.add_argument("--fixed-iter", default="auto",
                   help="max_iter of the fixed mode: an integer, or auto (largest adaptive count + 2)")
    p.add_argument("--single-fixed", action="store_true",
                   help="also run the single environment in the fixed mode (default: batches only)")
    p.add_argument("--steps", type=int, default=100, help="steps per timed single-env rollout")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats, single env (median reported)")
    p.add_argument("--batch-steps", type=int, default=10, help="steps per timed batched rollout")
    p.add_argument("--batch-repeats", type=int, default=3, help="timed repeats, batches")
    p.add_argument("--timestep", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    add_pinning_arguments(p)
    return p.parse_args(argv)


def make_case(name, timestep):
    """(mechanism, initial state, actions(t) -> (len(t), nu), lane perturbation(key, state))."""
    import jax
    import jax.numpy as jnp

    import dojax

    def horizontal(key, s, v_sigma=0.2, w_sigma=0.5, w_axes=(2,), shared=False):
        kv, kw = jax.random.split(key)
        rows = 1 if shared else s.v.shape[0]
        dv = v_sigma * jax.random.normal(kv, (rows, 3)) * jnp.array([1.0, 1.0, 0.0])
        dw = w_sigma * jax.random.normal(kw, (rows, 3)) * jnp.zeros(3).at[jnp.array(w_axes)].set(1.0)
        return s.replace(v=s.v + dv, w=s.w + (0.0 if shared else dw))

    if name == "block":
        mech = dojax.load("block", timestep=timestep)
        s = mech.initial_state()
        s = s.replace(v=jnp.array([[3.0, 1.0, 0.0]]), w=jnp.array([[0.0, 0.0, 4.0]]))
        push = jnp.array([8.0, 2.0, 0.0])
        return mech, s, lambda t: jnp.broadcast_to(push, (len(t), 3)), horizontal
    if name == "sphere":
        mech = dojax.load("sphere", timestep=timestep)
        s = mech.initial_state()
        s = s.replace(v=jnp.array([[2.0, 0.0, 0.0]]), w=jnp.array([[0.0, 2.0, 0.0]]))
        return (mech, s, lambda t: jnp.zeros((len(t), 3)),
                lambda key, s: horizontal(key, s, w_axes=(0, 1, 2)))
    if name.startswith("chain"):
        n = int(name[len("chain"):])
        mech = dojax.load("chain", links=n, timestep=timestep)
        s = mech.initial_state()
        s = s.replace(v=jnp.tile(jnp.array([1.0, 0.5, 0.0]), (mech.num_bodies, 1)))
        phase = jnp.arange(mech.action_size)
        return (mech, s, lambda t: 2.0 * jnp.sin(2.0 * jnp.pi * jnp.asarray(t)[:, None] + phase),
                lambda key, s: horizontal(key, s, shared=True))
    raise ValueError(f"unknown case {name!r}")


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        import jax

        jax.block_until_ready(out)
        times.append(time.perf_counter() - t0)
    return times


def run_single(mech, state, actions, opts, repeats):
    import jax
    import numpy as np

    step_module = sys.modules["dojax.step"]
    t0 = time.perf_counter()
    compiled = step_module._rollout.lower(mech, state, actions, opts).compile()
    compile_s = time.perf_counter() - t0
    _, infos = jax.block_until_ready(compiled(mech, state, actions, opts))  # warm-up; statistics
    times = timed(lambda: compiled(mech, state, actions, opts), repeats)
    it = np.asarray(infos.iterations)
    return dict(batch=1, compile_s=compile_s, times=times, steps=actions.shape[0], it_mean=float(it.mean()),
                it_max=int(it.max()), lane_max=float(it.mean()), conv=float(np.mean(np.asarray(infos.converged))))


def batched_rollout(mech, states, actions, opts):
    import jax

    step_module = sys.modules["dojax.step"]
    vstep = jax.vmap(step_module._step, in_axes=(None, 0, None, None))

    def body(s, a):
        s, info = vstep(mech, s, a, opts)
        return s, info

    return jax.lax.scan(body, states, actions)


def run_batch(mech, states, actions, opts, repeats):
    import jax
    import numpy as np

    t0 = time.perf_counter()
    compiled = jax.jit(batched_rollout).lower(mech, states, actions, opts).compile()
    compile_s = time.perf_counter() - t0
    # no separate warm-up call (each call of a large batch takes seconds): the statistics come from
    # the last timed call
    outputs = []
    times = timed(lambda: outputs.append(compiled(mech, states, actions, opts)) or outputs[-1], repeats)
    _, infos = outputs[-1]
    it = np.asarray(infos.iterations)  # (steps, batch)
    return dict(batch=states.x.shape[0], compile_s=compile_s, times=times, steps=actions.shape[0],
                it_mean=float(it.mean()), it_max=int(it.max()), lane_max=float(it.max(axis=1).mean()),
                conv=float(np.mean(np.asarray(infos.converged))))


def lanes(state, perturb, batch, key):
    import jax

    keys = jax.random.split(key, batch)
    return jax.vmap(perturb, in_axes=(0, None))(keys, state)


HEADER = (f"{'case':>8} {'batch':>5} {'mode':>9} {'compile_s':>9} {'us/step':>10} {'min_us':>10} {'us/env':>8} "
          f"{'env-steps/s':>11} {'it_mean':>7} {'it_max':>6} {'lane_max':>8} {'conv':>5} {'x/doubling':>10}")


def print_row(case, mode, r, ratio=None):
    us = 1e6 * statistics.median(r["times"]) / r["steps"]
    mn = 1e6 * min(r["times"]) / r["steps"]
    r.update(us_step=us, min_us=mn)
    eps = r["batch"] * r["steps"] / statistics.median(r["times"])
    ratio_text = f"{ratio:10.2f}" if ratio is not None else f"{'-':>10}"
    print(f"{case:>8} {r['batch']:5d} {mode:>9} {r['compile_s']:9.2f} {us:10.1f} {mn:10.1f} {us / r['batch']:8.1f} "
          f"{eps:11.0f} {r['it_mean']:7.2f} {r['it_max']:6d} {r['lane_max']:8.2f} {r['conv']:5.3f} {ratio_text}",
          flush=True)


def main(argv=None):
    args = parse_args(argv)
    core = None if args.no_pin else pin_single_core(args.core)

    import jax
    import jax.numpy as jnp

    import dojax

    batch_cases = ([c for c in args.cases if c in DEFAULT_BATCH_CASES] if args.batch_cases is None
                   else args.batch_cases)
    print_environment(core)
    print(f"timestep {args.timestep}; single env: {args.steps} steps x {args.repeats} repeats; "
          f"batches {args.batches} for {batch_cases}: {args.batch_steps} steps x {args.batch_repeats} repeats; "
          f"medians; modes {args.modes}, fixed max_iter {args.fixed_iter}")
    print(HEADER)
    print("-" * len(HEADER))
    start = time.perf_counter()
    results = {}
    previous_chain = {}
    key = jax.random.PRNGKey(args.seed)
    for case in args.cases:
        mech, state, action_fn, perturb = make_case(case, args.timestep)
        h = float(mech.timestep)
        actions = action_fn(h * jnp.arange(1, args.steps + 1))
        batch_actions = action_fn(h * jnp.arange(1, args.batch_steps + 1))
        batches = args.batches if case in batch_cases else []
        key, sub = jax.random.split(key)
        lane_states = {b: lanes(state, perturb, b, jax.random.fold_in(sub, b)) for b in batches}

        def run(b, opts):
            if b == 1:
                return run_single(mech, state, actions, opts, args.repeats)
            return run_batch(mech, lane_states[b], batch_actions, opts, args.batch_repeats)

        observed = 0
        mode_opts = {"adaptive": dojax.SolverOptions()}
        for mode in ("adaptive", "fixed"):
            if mode not in args.modes:
                continue
            if mode == "fixed":
                if args.fixed_iter == "auto":
                    if observed == 0:  # no adaptive run to size it from: one untimed adaptive rollout
                        _, infos = dojax.rollout(mech, state, actions)
                        observed = int(infos.iterations.max())
                    k = min(observed + 2, dojax.SolverOptions().max_iter)
                else:
                    k = int(args.fixed_iter)
                mode_opts[mode] = dojax.SolverOptions(fixed_iterations=True, max_iter=k)
            opts = mode_opts[mode]
            label = "adaptive" if mode == "adaptive" else f"fixed {opts.max_iter}"
            sizes = ([1] if mode == "adaptive" or args.single_fixed else []) + list(batches)
            for b in sizes:
                r = run(b, opts)
                observed = max(observed, r["it_max"])
                ratio = None
                if b == 1 and case.startswith("chain"):
                    us = 1e6 * statistics.median(r["times"]) / r["steps"]
                    prev = previous_chain.get(mode)
                    ratio = us / prev if prev else None
                    previous_chain[mode] = us
                print_row(case, label, r, ratio)
                results[(case, b, mode)] = r
    print(f"load average at the end: {os.getloadavg()}; total {time.perf_counter() - start:.0f} s")
    return results


if __name__ == "__main__":
    main()
