"""Where a robot's physics step spends its time: iterations, cost per iteration, batching, program size.

For one robot environment (--env, default Hopper) at its default dt, the states of a
--steps-step episode under uniformly random actions (seed 0, no resets) are collected; then:

  iterations      interior-point iterations per step over those states: mean, median, 99th
                  percentile, most, and the mean over 100 random draws of 64 states of the most
                  (what a 64-lane batched while-loop waits for)
  us/iter         one compiled ``lax.map`` of ``dojax.step`` over the states: wall time / iterations
  vmap N          the step vmapped over N states: µs per environment-iteration, N = 1, 8, 64. The
                  JAX path runs a fixed 8 iterations (``fixed_iterations``) in every lane; the native
                  kernel solves the lanes one after another, each to convergence, so its figure is
                  wall time / the lanes' iterations
  kernel          native backend only: one call of the kernel alone (no problem assembly) on the
                  first state, µs per iteration
  memory maps     the process's memory mappings added by compiling one step, on each backend (XLA:CPU
                  keeps mappings per compiled program; Linux caps a process at vm.max_map_count)
  stablehlo       lines of the lowered program of each piece of the step (make_problem, residual,
                  linearize, linearize + one Newton solve, the whole solve from a problem that JAX
                  evaluated, the physics step as it runs (native: the kernel evaluates the
                  problem itself), the environment step)

Pinned to one core unless --no-pin; timings are the best of --repeats.

    python bench/profile_step.py
    python bench/profile_step.py --env Humanoid --steps 50
    python bench/profile_step.py --backend jax          # the JAX path (default: native on a CPU)
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402
from timing import timed  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--backend", default="auto", choices=["auto", "jax", "native"])
    add_pinning_arguments(parser)
    args = parser.parse_args()
    core = None if args.no_pin else pin_single_core(args.core)

    import jax
    import jax.numpy as jnp
    import numpy as np

    import dojax
    from dojax import residual as res
    from dojax import solver
    from dojax.step import _step

    print_environment(core)
    env = dojax.envs.make(args.env)
    mech = env.mech
    opts = env.solver.replace(backend=args.backend)
    native = solver.use_native(opts)
    actions = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (args.steps, env.action_size)))

    def episode(state, actions):
        def body(s, a):
            s = env.step(s, a)
            return s, (s.sim, env.control(a))
        return jax.lax.scan(body, state, actions)[1]

    sims, ctrls = jax.jit(episode)(env.reset(jax.random.PRNGKey(0)), actions)

    run = jax.jit(lambda S, C: jax.lax.map(lambda sc: _step(mech, sc[0], sc[1], opts)[1].iterations, (S, C)))
    its = np.asarray(run(sims, ctrls))
    worst64 = np.mean([its[np.random.default_rng(i).integers(0, len(its), 64)].max() for i in range(100)])
    print(f"{args.env}, dt {env.dt:g} s, {args.steps} states, {'native kernel' if native else 'JAX'} backend")
    print(f"iterations: mean {its.mean():.2f}, median {np.median(its):.0f}, p99 {np.percentile(its, 99):.1f}, "
          f"most {its.max()}, most of 64 (mean of 100 draws) {worst64:.1f}")
    t = timed(lambda: run(sims, ctrls), args.repeats)[1]
    print(f"us/iter: {t / its.sum() * 1e6:.0f} ({t / args.steps * 1e6:.0f} us/step)")

    fixed = opts if native else opts.replace(max_iter=8, fixed_iterations=True)
    batched = jax.jit(jax.vmap(lambda s, a: _step(mech, s, a, fixed)[1].iterations))
    for n in (1, 8, 64):
        S, C = jax.tree.map(lambda x: x[np.arange(n) % args.steps], (sims, ctrls))
        lane_iterations = int(np.sum(batched(S, C))) if native else 8 * n
        t = timed(lambda: batched(S, C), args.repeats)[1]
        print(f"vmap {n:3d}: {t / lane_iterations * 1e6:.0f} us per environment-iteration")

    s0, a0 = jax.tree.map(lambda x: x[0], sims), ctrls[0]
    if native:
        from dojax.native import kernel

        prob = res.make_problem(mech, s0, a0)
        W0 = res.initial_unknowns(mech, prob)
        solve_only = jax.jit(lambda P, w0: kernel.solve_packed(mech, P, w0, opts))
        P, w0 = kernel.pack_parameters(mech, prob, W0), kernel.pack_unknowns(W0)
        iterations = int(solve_only(P, w0)[1][1])
        t = timed(lambda: solve_only(P, w0), args.repeats * 20)[1]
        print(f"kernel: {t / iterations * 1e6:.1f} us per iteration ({iterations} iterations, {t * 1e6:.0f} us per call)")

    def problem(s, a):
        prob = res.make_problem(mech, s, a)
        return prob, res.initial_unknowns(mech, prob)

    def mappings():
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)

    for backend in ("jax", "native"):
        before = mappings()
        compiled = jax.jit(lambda s, a: _step(mech, s, a, opts.replace(backend=backend))[0]).lower(s0, a0).compile()
        print(f"memory maps of one compiled step, {backend} backend: {mappings() - before}")
        del compiled

    pieces = {
        "make_problem": lambda s, a: [x for x in jax.tree.leaves(problem(s, a)) if isinstance(x, jax.Array)],
        "residual": lambda s, a: res.residual(mech, *problem(s, a)),
        "linearize": lambda s, a: res.linearize(mech, *problem(s, a)),
        "linearize + newton": lambda s, a: (lambda p, W: res.newton_step(
            mech, p, res.linearize(mech, p, W), res.residual(mech, p, W)))(*problem(s, a)),
        "solve": lambda s, a: solver.solve(mech, *problem(s, a), opts)[0],
        "physics step": lambda s, a: _step(mech, s, a, opts)[0],
        "environment step": lambda s, a: env.step(env.reset(jax.random.PRNGKey(0))._replace(sim=s), a),
    }
    for label, fn in pieces.items():
        lines = jax.jit(fn).lower(s0, a0).as_text().count("\n")
        print(f"stablehlo {label}: {lines} lines")


if __name__ == "__main__":
    main()
