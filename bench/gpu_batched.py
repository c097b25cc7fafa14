"""Batched Humanoid on one accelerator: dojax beside MJX, environment steps per second.

For each batch size (--lanes, default 1024 4096 8192), one process per engine (dojax runs in
float64, MJX in its default float32), each variant stepped --inner steps per jitted call
(``jax.lax.scan`` over ``jax.vmap`` of one step) with uniformly random actions in [-1, 1]:

  dojax step       ``dojax.step`` on ``dojax.load("humanoid", timestep=0.01)``, JAX backend
                   (the path on accelerators), default SolverOptions
  dojax step+jac   the same and ``dojax.jacobians`` of every step (maximal coordinates: the
                   216 x 216 state and 216 x 17 action Jacobians, the implicit derivative)
  MJX step         ``mjx.step`` on gymnasium's humanoid.xml at dt 0.01 s with semi-implicit Euler
                   (the file asks for RK4) and the Newton solver (the file asks for PGS, which MJX
                   does not have), at the file's 50 iterations; and ``MJX fast``: 1 iteration and 4
                   line-search steps, the setting MJX's own humanoid examples train with
  MJX step+jac     the same and ``jax.jacfwd`` of the step in (qpos, qvel, ctrl)

All variants of one engine compile at once in threads (XLA compiles each on its own core); the
compile column is each variant's own compile time, the wall time of all of them is printed
after. env-steps/s = lanes * inner * calls / time, after one warm-up call. A vmapped solver loop
runs until its slowest lane converges: "iters" is the mean over calls of that maximum (dojax's
interior-point iterations), "fail" the fraction of lane-steps that did not converge (both
dojax's only).

    python bench/gpu_batched.py                       # on a machine with a GPU
    python bench/gpu_batched.py --lanes 4 8 --inner 2 # a quick check anywhere
    python bench/gpu_batched.py --variants "dojax step" "MJX step" "MJX fast step"
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time

HUMANOID_XML = ("gymnasium", "envs/mujoco/assets/humanoid.xml")
VARIANTS = ("dojax step", "dojax step+jac", "MJX step", "MJX step+jac", "MJX fast step", "MJX fast step+jac")


def _dojax_variants(lanes, inner):
    import jax
    import jax.numpy as jnp

    import dojax

    mech = dojax.load("humanoid", timestep=0.01)
    opts = dojax.SolverOptions(backend="jax")
    nu = mech.action_size

    def make(n, with_jacobian):
        def one(state, action):
            nxt, info = dojax.step(mech, state, action, opts)
            size = jnp.zeros(())
            if with_jacobian:  # reduce the Jacobians so that none of their work is dropped
                J = dojax.jacobians(mech, state, action, opts)
                size = jnp.abs(J["state"]).sum() + jnp.abs(J["action"]).sum()
            return nxt, info, size

        def run(states, key):
            def body(carry, k):
                s, iters, fails, size = carry
                actions = jax.random.uniform(k, (n, nu), minval=-1.0, maxval=1.0)
                s, info, z = jax.vmap(one)(s, actions)
                return (s, iters + info.iterations.max(), fails + jnp.sum(~info.converged), size + z.sum()), None

            zero = jnp.zeros((), jnp.int64)
            carry, _ = jax.lax.scan(body, (states, zero, zero, jnp.zeros(())), jax.random.split(key, inner))
            return carry

        states = jax.tree.map(lambda a: jnp.broadcast_to(a, (n,) + a.shape), mech.initial_state())
        return jax.jit(run), (states, jax.random.key(0))

    return [(f"dojax step{'+jac' if jac else ''}", n, make(n, jac)) for jac in (False, True) for n in lanes]


def _mjx_variants(lanes, inner):
    import importlib.util

    import jax
    import jax.numpy as jnp
    import mujoco
    from mujoco import mjx

    path = os.path.join(os.path.dirname(importlib.util.find_spec(HUMANOID_XML[0]).origin), HUMANOID_XML[1])

    def model(iterations, ls_iterations):
        m = mujoco.MjModel.from_xml_path(path)
        m.opt.timestep = 0.01
        m.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
        m.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
        m.opt.iterations, m.opt.ls_iterations = iterations, ls_iterations
        return mjx.put_model(m)

    def make(mx, n, with_jacobian):
        def one(d, ctrl):
            def f(qpos, qvel, ctrl):  # ((next qpos, next qvel), next data)
                out = mjx.step(mx, d.replace(qpos=qpos, qvel=qvel, ctrl=ctrl))
                return (out.qpos, out.qvel), out

            if not with_jacobian:
                return f(d.qpos, d.qvel, ctrl)[1], jnp.zeros(())
            # the step is jacfwd's primal: one step, not a second one beside the Jacobian
            J, nxt = jax.jacfwd(f, argnums=(0, 1, 2), has_aux=True)(d.qpos, d.qvel, ctrl)
            return nxt, sum(jnp.abs(j).sum() for j in jax.tree.leaves(J))

        def run(ds, key):
            def body(carry, k):
                d, size = carry
                ctrl = jax.random.uniform(k, (n, mx.nu), minval=-1.0, maxval=1.0)
                d, z = jax.vmap(one)(d, ctrl)
                return (d, size + z.sum()), None

            (ds, size), _ = jax.lax.scan(body, (ds, jnp.zeros(())), jax.random.split(key, inner))
            none = jnp.zeros((), jnp.int32)  # no iteration count nor failure flag to report
            return ds, none, none, size

        ds = jax.vmap(lambda _: mjx.make_data(mx))(jnp.arange(n))
        return jax.jit(run), (ds, jax.random.key(0))

    settings = {"MJX": model(50, 50), "MJX fast": model(1, 4)}
    return [(f"{name} step{'+jac' if jac else ''}", n, make(mx, n, jac))
            for name, mx in settings.items() for jac in (False, True) for n in lanes]


def run_engine(engine, lanes, inner, seconds, names=None):
    """Compile every variant of one engine (or those in ``names``) in threads, then time each; one
    JSON line per variant."""
    import jax

    variants = (_dojax_variants if engine == "dojax" else _mjx_variants)(lanes, inner)
    variants = [v for v in variants if names is None or v[0] in names]
    print(f"# {engine}: jax {jax.__version__}, {jax.devices()}, x64 {jax.config.jax_enable_x64}", flush=True)

    def compile_one(variant):
        fn, args = variant[2]
        start = time.perf_counter()
        try:
            compiled = fn.lower(*args).compile()
        except Exception as e:  # one variant that does not compile (memory, say) leaves the others
            print(f"# {variant[0]} at {variant[1]} lanes: {type(e).__name__}: {str(e)[:300]}", flush=True)
            compiled = None
        return compiled, time.perf_counter() - start

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() - 1)) as pool:
        compiled = list(pool.map(compile_one, variants))
    print(f"# {engine}: {len(variants)} variants compiled in {time.perf_counter() - start:.1f} s (wall)", flush=True)

    for (name, n, (_, (states, key))), (fn, compile_s) in zip(variants, compiled):
        if fn is not None:
            try:
                print(json.dumps(_time(fn, states, key, seconds, inner, n) | dict(
                    engine=engine, variant=name, lanes=n, compile_s=compile_s)), flush=True)
            except Exception as e:
                print(f"# {name} at {n} lanes: {type(e).__name__}: {str(e)[:300]}", flush=True)


def _time(fn, states, key, seconds, inner, n):
    """Rate of one compiled variant: calls after a warm-up until --seconds have passed (3 at least)."""
    import jax

    out = jax.block_until_ready(fn(states, key))  # warm-up
    calls, iters, fails = 0, 0, 0
    start = time.perf_counter()
    while calls < 3 or time.perf_counter() - start < seconds:
        out = jax.block_until_ready(fn(out[0], jax.random.fold_in(key, calls)))
        calls, iters, fails = calls + 1, iters + int(out[1]), fails + int(out[2])
    elapsed = time.perf_counter() - start
    return dict(env_steps_per_s=n * inner * calls / elapsed, ms_per_step=1e3 * elapsed / (inner * calls),
                iters=iters / (inner * calls), fail=fails / (n * inner * calls),
                finite=bool(jax.numpy.isfinite(out[3])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lanes", type=int, nargs="+", default=[1024, 4096, 8192])
    parser.add_argument("--inner", type=int, default=10, help="steps per jitted call")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timed seconds per variant")
    parser.add_argument("--engines", nargs="+", default=["dojax", "mjx"], choices=["dojax", "mjx"])
    parser.add_argument("--variants", nargs="+", default=None, choices=VARIANTS, help="default: all")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per engine's process")
    parser.add_argument("--out", default=None, help="also append the JSON lines to this file")
    parser.add_argument("--engine", default=None, help=argparse.SUPPRESS)  # one engine, in this process
    args = parser.parse_args()

    if args.engine:
        return run_engine(args.engine, args.lanes, args.inner, args.seconds, args.variants)

    rows = []
    for engine in args.engines:
        cmd = [sys.executable, __file__, "--engine", engine, "--inner", str(args.inner),
               "--seconds", str(args.seconds), "--lanes", *map(str, args.lanes)]
        cmd += ["--variants", *args.variants] if args.variants else []
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        timer = threading.Timer(args.timeout, proc.kill) if args.timeout else None
        if timer:
            timer.start()
        for line in proc.stdout:  # the engine's lines as they come (a run cut short keeps the earlier ones)
            print(line, end="", flush=True)
            if line.startswith("{"):
                rows.append(json.loads(line))
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(line)
        if proc.wait() != 0:
            print(f"# {engine}: process ended with {proc.returncode}"
                  + (f" (killed after --timeout {args.timeout:.0f} s?)" if timer else ""))
        if timer:
            timer.cancel()

    print("\n| variant | lanes | env-steps/s | ms per step | iters | fail | compile s |\n|---|---|---|---|---|---|---|")
    for r in rows:
        iters, fail = (f"{r['iters']:.1f}", f"{r['fail']:.4f}") if r["engine"] == "dojax" else ("-", "-")
        print(f"| {r['variant']} | {r['lanes']} | {r['env_steps_per_s']:,.0f} | {r['ms_per_step']:.2f} | "
              f"{iters} | {fail} | {r['compile_s']:.0f} |")


if __name__ == "__main__":
    main()
