"""The Dojo paper's Table V protocol: a step and its full Jacobian, dojax against MuJoCo, one process.

For each robot (--robots, default humanoid hopper ant quadruped): --steps steps (default 1000) at
dt 0.01 s with uniformly random actions, each followed by the Jacobian of the next state with
respect to the state and the action.

  dojax   ``dojax.step`` and ``dojax.jacobians`` (maximal coordinates: 12 per body, the implicit
          derivative) in one jitted call per step, default SolverOptions (native kernel on a CPU)
  MuJoCo  ``mj_step`` and ``mjd_transitionFD`` (forward differences, eps 1e-6) on the same MJCF
          (URDF for the quadruped) with its timestep set to 0.01 s (and semi-implicit Euler where
          the file asks for RK4, which mjd_transitionFD does not support)

Printed per robot: seconds per 1000 steps for each engine (step and Jacobian, and the step
alone), their ratio, and dojax's mean solver iterations and failures. Dojo.jl's published figure
for the humanoid is 1.75 s per 1000 steps with gradients (shared/design/paper-benchmarks.md).

    python bench/table5.py
    python bench/table5.py --robots hopper --steps 200
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402

ROBOTS = ("humanoid", "hopper", "ant", "quadruped")


def model_file(robot):
    from dojax.models import robots

    if robot == "quadruped":
        return os.path.join(robots.ASSETS, "quadruped.urdf")
    return robots.gymnasium_asset({"hopper": "hopper.xml", "ant": "ant.xml", "humanoid": "humanoid.xml"}[robot])


def time_dojax(robot, steps, seed):
    import jax
    import numpy as np

    import dojax

    mech = dojax.load(robot, timestep=0.01)
    state = mech.initial_state()
    actions = np.random.default_rng(seed).uniform(-1.0, 1.0, (steps, mech.action_size))

    @jax.jit
    def step_and_jacobian(state, action):
        nxt, info = dojax.step(mech, state, action)
        return nxt, info, dojax.jacobians(mech, state, action)

    step = jax.jit(lambda s, a: dojax.step(mech, s, a))

    def run(fn):
        s, infos = state, []
        start = time.perf_counter()
        for a in actions:  # each step's NumPy action as it is (as MuJoCo's loop below takes it)
            out = fn(s, a)
            s, info = out[0], out[1]
            jax.block_until_ready(out)
            infos.append(info)  # read after the loop: reading it here would wait on the host each step
        seconds = time.perf_counter() - start
        iters = sum(int(info.iterations) for info in infos)
        failed = sum(not bool(info.converged) for info in infos)
        return seconds, iters / steps, failed / steps

    start = time.perf_counter()
    jax.block_until_ready(step_and_jacobian(state, actions[0]))
    jax.block_until_ready(step(state, actions[0]))
    compile_s = time.perf_counter() - start
    with_jac, iters, failed = run(step_and_jacobian)
    alone, _, _ = run(step)
    return dict(with_jac=with_jac, alone=alone, iters=iters, failed=failed, compile_s=compile_s)


def time_mujoco(robot, steps, seed):
    import mujoco
    import numpy as np

    model = mujoco.MjModel.from_xml_path(model_file(robot))
    model.opt.timestep = 0.01
    if model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4:  # mjd_transitionFD does not support RK4
        model.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
    data = mujoco.MjData(model)
    mujoco.mj_resetData(model, data)
    low, high = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    limited = model.actuator_ctrllimited.astype(bool)
    low, high = np.where(limited, low, -1.0), np.where(limited, high, 1.0)
    controls = np.random.default_rng(seed).uniform(low, high, (steps, model.nu))
    nx = 2 * model.nv + model.na
    A, B = np.zeros((nx, nx)), np.zeros((nx, model.nu))

    def run(with_jacobian):
        mujoco.mj_resetData(model, data)
        start = time.perf_counter()
        for u in controls:
            data.ctrl[:] = u
            mujoco.mj_step(model, data)
            if with_jacobian:
                mujoco.mjd_transitionFD(model, data, 1e-6, False, A, B, None, None)
        return time.perf_counter() - start

    return dict(with_jac=run(True), alone=run(False))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", nargs="+", default=list(ROBOTS), choices=ROBOTS)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    add_pinning_arguments(parser)
    args = parser.parse_args()
    core = None if args.no_pin else pin_single_core(args.core)
    print_environment(core)
    per = 1000.0 / args.steps
    print(f"{'robot':10s} {'dojax s':>8s} {'MuJoCo s':>9s} {'ratio':>6s} | {'dojax step s':>12s} {'MuJoCo step s':>13s}"
          f" | {'iters':>5s} {'fail':>5s} {'compile s':>9s}   (seconds per 1000 steps)")
    for robot in args.robots:
        d = time_dojax(robot, args.steps, args.seed)
        m = time_mujoco(robot, args.steps, args.seed)
        print(f"{robot:10s} {d['with_jac'] * per:8.3f} {m['with_jac'] * per:9.3f} {d['with_jac'] / m['with_jac']:6.1f} | "
              f"{d['alone'] * per:12.3f} {m['alone'] * per:13.3f} | {d['iters']:5.2f} {d['failed']:5.1%} "
              f"{d['compile_s']:9.1f}", flush=True)


if __name__ == "__main__":
    main()
