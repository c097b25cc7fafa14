"""What a step's derivatives cost, in steps and rollouts, per robot (issue target: a full step
Jacobian ≤ 1 step for the humanoid and ≤ 2 for every robot; reverse mode through a 50-step rollout
≤ 2 rollouts).

For each robot (dt 0.01, default SolverOptions, from its initial state with zero actions), each
function jitted and compiled first, then the median of repeated calls:

  step      ``dojax.step``
  jac       ``dojax.jacobians`` (maximal coordinates, state and action), a call of its own (it
            solves the step too)
  both      ``dojax.step`` and ``dojax.jacobians`` in one program, which solves the step once: the
            Jacobian's cost beside its step is (both - step) / step
  rollout   a 50-step scan of ``dojax.step`` and the sum of squared positions
  grad      ``jax.grad`` of that loss with respect to the 50 actions

    taskset -c 1 python bench/derivative_cost.py hopper humanoid

With ``--parts``, also the Jacobian's parts on the native backend, each jitted alone at the
step's solution (the solve; the kernel's local Jacobians alone, as the step's directional
derivatives use them; the charts, ``residual.charts``; the kernel's local Jacobians, assembly,
factorisation and solve of the columns, ``kernel.velocity_columns``), step and Jacobian
in one program, and the Jacobian's largest difference from ``jax.jacfwd`` of the step (maximal
coordinates, in the tangent of ``dojax.state.retract``):

    taskset -c 1 python bench/derivative_cost.py --parts humanoid
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import dojax


def median_ms(fn, *args, repeats=10):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def measure(robot):
    mech = dojax.load(robot, timestep=0.01)
    state, action = mech.initial_state(), jnp.zeros(mech.action_size)
    actions = jnp.zeros((50, mech.action_size))

    def loss(s0, acts):
        def body(s, u):
            s, _ = dojax.step(mech, s, u)
            return s, jnp.sum(s.x ** 2)
        return jnp.sum(jax.lax.scan(body, s0, acts)[1])

    step = median_ms(jax.jit(lambda s, a: dojax.step(mech, s, a)), state, action, repeats=50)
    jac = median_ms(jax.jit(lambda s, a: dojax.jacobians(mech, s, a)), state, action, repeats=50)
    both = median_ms(jax.jit(lambda s, a: (dojax.step(mech, s, a), dojax.jacobians(mech, s, a))), state, action,
                     repeats=50)
    roll = median_ms(jax.jit(loss), state, actions, repeats=5)
    grad = median_ms(jax.jit(jax.grad(loss, argnums=1)), state, actions, repeats=5)
    print(f"{robot}: step {step:.3f} ms, jacobian {jac:.2f} ms ({jac / step:.1f} steps), "
          f"step and jacobian {both:.2f} ms (the jacobian beside its step: {(both - step) / step:.1f} steps), "
          f"50-step rollout {roll:.1f} ms, its gradient {grad:.1f} ms ({grad / roll:.1f} rollouts)", flush=True)


def parts(robot):
    from dojax import implicit, residual
    from dojax.native import kernel
    from dojax.state import difference, retract

    mech = dojax.load(robot, timestep=0.01)
    state, action = mech.initial_state(), jnp.zeros(mech.action_size)
    opts = dojax.SolverOptions(backend="native")
    W, _ = implicit.solve_step(mech, state, action, opts)
    charts = jax.jit(residual.charts)(mech, state, action)
    timed = {
        "solve": (lambda s, a: implicit.solve_step(mech, s, a, opts), state, action),
        "local Jacobians": (lambda W: kernel.local_jacobians(mech, state, action, W), W),
        "charts": (lambda s, a: residual.charts(mech, s, a), state, action),
        "columns' solve": (lambda C: kernel.velocity_columns(mech, state, action, W, C), charts),
        "step": (lambda s, a: dojax.step(mech, s, a, opts), state, action),
        "step and Jacobian": (lambda s, a: (dojax.step(mech, s, a, opts), dojax.jacobians(mech, s, a, opts)),
                              state, action),
    }
    print(f"{robot}: " + ", ".join(f"{name} {median_ms(jax.jit(fn), *args, repeats=50):.3f} ms"
                                   for name, (fn, *args) in timed.items()), flush=True)

    nb = mech.num_bodies
    nxt, _ = dojax.step(mech, state, action, opts)
    f = lambda dz, u: difference(dojax.step(mech, retract(state, dz.reshape(nb, 12)), u, opts)[0], nxt).reshape(-1)
    reference = jax.jit(jax.jacfwd(f, argnums=(0, 1)))(jnp.zeros(12 * nb), action)
    got = dojax.jacobians(mech, state, action, opts)
    for name, ref in zip(("state", "action"), reference):
        print(f"{robot}: Jacobian {name} differs from jax.jacfwd of the step by "
              f"{float(jnp.max(jnp.abs(got[name] - ref))):.1e} (entries up to {float(jnp.max(jnp.abs(ref))):.1f})")


if __name__ == "__main__":
    robots = [a for a in sys.argv[1:] if a != "--parts"] or ["hopper", "humanoid"]
    for robot in robots:
        (parts if "--parts" in sys.argv[1:] else measure)(robot)
