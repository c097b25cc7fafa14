"""What a step's derivatives cost, in steps and rollouts, per robot (issue target: a full step
Jacobian ≤ 1 step for the humanoid and ≤ 2 for every robot; reverse mode through a 50-step rollout
≤ 2 rollouts).

For each robot (dt 0.01, default SolverOptions, from its initial state with zero actions), each
function jitted and compiled first, then the median of repeated calls:

  step      ``dojax.step``
  jac       ``dojax.jacobians`` (maximal coordinates, state and action)
  rollout   a 50-step scan of ``dojax.step`` and the sum of squared positions
  grad      ``jax.grad`` of that loss with respect to the 50 actions

    taskset -c 1 python bench/derivative_cost.py hopper humanoid
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
    jac = median_ms(jax.jit(lambda s, a: dojax.jacobians(mech, s, a)), state, action)
    roll = median_ms(jax.jit(loss), state, actions, repeats=5)
    grad = median_ms(jax.jit(jax.grad(loss, argnums=1)), state, actions, repeats=5)
    print(f"{robot}: step {step:.3f} ms, jacobian {jac:.2f} ms ({jac / step:.1f} steps), "
          f"50-step rollout {roll:.1f} ms, its gradient {grad:.1f} ms ({grad / roll:.1f} rollouts)", flush=True)


if __name__ == "__main__":
    for robot in sys.argv[1:] or ["hopper", "humanoid"]:
        measure(robot)
