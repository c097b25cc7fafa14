"""How large can each environment's dt be? Trajectories at several dt against a fine-step reference.

For each environment (--envs), from its reset state (seed 0) the robot is driven open loop by a
smooth action signal, a_j(t) = amplitude * sin(2 pi f t + j) (--amplitude 0.3, --frequency 1 Hz,
the same signal in continuous time at every dt), for --duration seconds (default 1 s), at each dt
of --dts and at a reference dt (--reference, default 0.002 s). The table reports, per dt, the
largest deviation from the reference over the run (compared at the coarse run's step times) of:

  pos_err   the root body's centre-of-mass position (m)
  ang_err   the root body's orientation (rad, angle of the relative rotation)
  fail      steps whose solver did not converge
  iters     mean solver iterations per step

and, under the harshest actions an RL agent sends early in training (uniformly random in [-1, 1]),
--random-steps steps through the functional environment with a reset after every termination or
solver failure (reset keys from seed 0):

  rand_fail  fraction of those steps whose solver failed (each would end an episode, truncated)

The default dt of each environment is the largest dt here at which rand_fail is 0.

    python bench/env_timestep.py
    python bench/env_timestep.py --envs Hopper --dts 0.01 0.02 0.05 0.1
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import dojax
from dojax import quaternion as quat


def trajectory(env, mech, dt, duration, amplitude, frequency):
    steps = int(round(duration / dt))
    t = dt * np.arange(steps)[:, None]
    phase = np.arange(env.action_size)[None, :]
    actions = amplitude * np.sin(2 * np.pi * frequency * t + phase)
    ctrl = jax.vmap(env.control)(jnp.asarray(actions))
    start = env.reset(jax.random.PRNGKey(0)).sim  # at rest (no reset noise): the same State at any dt
    mech = mech.replace(timestep=jnp.asarray(dt))
    states, infos = dojax.rollout(mech, start, ctrl)
    return states, infos


def random_action_failures(env, steps, seed=0):
    """Fraction of ``steps`` uniformly random actions whose solver failed (reset after each end)."""

    def body(state, key):
        k_act, k_reset = jax.random.split(key)
        nxt = env.step(state, jax.random.uniform(k_act, (env.action_size,), minval=-1.0, maxval=1.0))
        done = nxt.terminated | nxt.solver_failed
        return jax.tree.map(lambda a, b: jnp.where(done, a, b), env.reset(k_reset), nxt), nxt.solver_failed

    keys = jax.random.split(jax.random.PRNGKey(seed), steps + 1)
    _, failed = jax.jit(lambda s, k: jax.lax.scan(body, s, k))(env.reset(keys[0]), keys[1:])
    return float(np.mean(np.asarray(failed)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["Hopper", "Walker2d", "HalfCheetah", "Ant", "Humanoid"])
    parser.add_argument("--dts", type=float, nargs="+", default=[0.01, 0.02, 0.05])
    parser.add_argument("--reference", type=float, default=0.002)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--amplitude", type=float, default=0.3)
    parser.add_argument("--frequency", type=float, default=1.0)
    parser.add_argument("--random-steps", type=int, default=400)
    args = parser.parse_args()
    print("| env | dt | pos_err m | ang_err rad | fail | iters | rand_fail |")
    print("|---|---|---|---|---|---|---|")
    for name in args.envs:
        env = dojax.envs.make(name, dt=args.reference, reset_noise_scale=0.0)
        ref, _ = trajectory(env, env.mech, args.reference, args.duration, args.amplitude, args.frequency)
        for dt in args.dts:
            states, infos = trajectory(env, env.mech, dt, args.duration, args.amplitude, args.frequency)
            stride = int(round(dt / args.reference))
            r_x, r_q = np.asarray(ref.x)[stride - 1::stride, 0], np.asarray(ref.q)[stride - 1::stride, 0]
            n = min(len(r_x), len(states.x))
            pos = np.max(np.linalg.norm(np.asarray(states.x)[:n, 0] - r_x[:n], axis=-1))
            rel = quat.multiply(quat.conjugate(jnp.asarray(r_q[:n])), states.q[:n, 0])
            ang = float(np.max(np.linalg.norm(np.asarray(quat.to_rotation_vector(rel)), axis=-1)))
            fail = int(np.sum(~np.asarray(infos.converged)))
            rand_fail = random_action_failures(dojax.envs.make(name, dt=dt), args.random_steps)
            print(f"| {name} | {dt:g} | {pos:.3f} | {ang:.3f} | {fail} | {np.mean(infos.iterations):.1f} | {rand_fail:.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
