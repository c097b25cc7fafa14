"""System identification of a tossed box: friction and the 8 corner positions (25 parameters).

Part (a), dojax's own data: N tosses of ``dojax.load("block")`` (a 0.5 m cube, 1 kg, one contact
point per corner) with known friction 0.3, each from a random height, orientation, velocity and
spin, T steps at dt 0.01. Only the measured configurations are used (positions and quaternions,
velocities differenced from them, as from a motion-capture system), with Gaussian noise of
--noise metres on every position coordinate and a random rotation of --noise / 0.25 rad (the
same displacement at a corner) on every orientation. Fitted from a wrong guess (friction 0.5,
every corner coordinate off by up to 10%) with ``dojax.optimize.identify``: one shared friction
and the 8 corners, one-step prediction windows (--horizon for longer ones). Reported: the
largest relative error of friction and of the 24 corner coordinates (relative to the half side
0.25 m), iterations, time.

Part (b), a different engine's data: the same kind of tosses simulated in MuJoCo (the ``mujoco``
package: a box geom of half size 0.25 m and mass 1 kg on a plane, friction 0.3, elliptic cones,
MuJoCo's default soft contact, timestep 0.001 s), the poses sampled every 0.01 s and written to a
CSV file in the documented layout, then read back. dojax identifies friction and corners from
the training tosses; held-out tosses then compare the identified model with the model that has
MuJoCo's true parameters plugged in (friction 0.3, corners at +-0.25 m), by the RMS position error
of one-step and 10-step predictions from observed states.

    flock /tmp/bench.lock taskset -c 1 python bench/identify_box.py
    python bench/identify_box.py --tosses 20 --steps 60 --parts a     # quicker, smaller
"""

import argparse
import os
import tempfile
import time

import numpy as np

FRICTION, HALF, MASS, DT = 0.3, 0.25, 1.0, 0.01


def random_tosses(n, seed):
    """(position (n, 3), quaternion (n, 4), velocity (n, 3), angular velocity (n, 3)) of toss starts."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    x = np.column_stack([np.zeros((n, 2)), rng.uniform(0.55, 0.8, n)])
    v = np.column_stack([rng.uniform(-3.0, 3.0, (n, 2)), rng.uniform(-1.0, 0.5, n)])
    w = rng.uniform(-6.0, 6.0, (n, 3))
    return x, q, v, w


def add_noise(tosses, noise, seed):
    """Keep only the configurations and add measurement noise (velocities are then differenced)."""
    import dojax.quaternion as quat

    rng = np.random.default_rng(seed)
    out = []
    for t in tosses:
        x = t["position"] + noise * rng.normal(size=t["position"].shape)
        turn = np.asarray(quat.from_rotation_vector(noise / HALF * rng.normal(size=t["position"].shape)))
        q = np.asarray(quat.multiply(t["orientation"], turn))
        out.append(dict(time=t["time"], position=x, orientation=q))
    return out


def dojax_tosses(mech, n, steps, seed):
    import dojax
    from dojax.optimize import from_rollout

    tosses = []
    for x, q, v, w in zip(*random_tosses(n, seed)):
        start = dojax.State(x=x[None], v=v[None], q=q[None], w=w[None])
        states, infos = dojax.rollout(mech, start, np.zeros((steps, mech.action_size)))
        assert bool(np.all(infos.converged)), "a toss did not converge"
        tosses.append(from_rollout(mech, start, states))
    return tosses


MJCF = """
<mujoco>
  <option timestep="0.001" gravity="0 0 -9.81" cone="elliptic"/>
  <worldbody>
    <geom type="plane" size="20 20 0.1" friction="{mu} 0.005 0.0001"/>
    <body name="box">
      <freejoint/>
      <geom type="box" size="{h} {h} {h}" mass="{m}" friction="{mu} 0.005 0.0001" condim="3"/>
    </body>
  </worldbody>
</mujoco>
"""


def mujoco_tosses(n, steps, seed):
    """Tosses simulated by MuJoCo, poses sampled every DT (velocities left to be differenced)."""
    import mujoco

    model = mujoco.MjModel.from_xml_string(MJCF.format(mu=FRICTION, h=HALF, m=MASS))
    data = mujoco.MjData(model)
    sub = int(round(DT / model.opt.timestep))
    tosses = []
    for x, q, v, w in zip(*random_tosses(n, seed)):
        mujoco.mj_resetData(model, data)
        data.qpos[:] = np.concatenate([x, q])
        data.qvel[:] = np.concatenate([v, w])  # free joint: world linear, body-frame angular velocity
        poses = [data.qpos.copy()]
        for _ in range(steps):
            mujoco.mj_step(model, data, nstep=sub)
            poses.append(data.qpos.copy())
        poses = np.array(poses)
        tosses.append(dict(time=DT * np.arange(steps + 1), position=poses[:, None, :3], orientation=poses[:, None, 3:]))
    return tosses


def initial_guess(mech, seed=7):
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    corners = np.asarray(mech.contact_points[:, 0]) * (1.0 + rng.uniform(-0.1, 0.1, (8, 3)))
    return mech.replace(friction=jnp.full(mech.num_contacts, 0.5),
                        contact_points=mech.contact_points.at[:, 0].set(corners))


def errors(result, true_corners):
    friction = abs(result.values["friction"] / FRICTION - 1.0)
    corners = np.abs(result.values["contact_points"] - true_corners).max() / HALF
    return friction, corners


def fit(mech, tosses, args):
    import dojax.optimize as opt

    params = [opt.Parameter("friction", shared=True), opt.Parameter("contact_points", np.s_[:, 0])]
    start = time.perf_counter()
    result = opt.identify(initial_guess(mech), tosses, params, horizon=args.horizon,
                          max_iterations=args.iterations, progress_bar=True)
    return result, time.perf_counter() - start


def report(label, result, seconds, true_corners):
    f_err, c_err = errors(result, true_corners)
    print(f"| {label} | {result.values['friction']:.4f} ± {result.std['friction']:.4f} | {100 * f_err:.2f}% | "
          f"{100 * c_err:.2f}% | {result.rms:.2e} | {result.iterations} ({int(result.accepted.sum())} accepted) | "
          f"{result.status} | {result.windows} | {seconds:.0f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tosses", type=int, default=100, help="training tosses (default 100)")
    parser.add_argument("--held-out", type=int, default=20, help="held-out tosses of part (b) (default 20)")
    parser.add_argument("--steps", type=int, default=50, help="steps per toss (default 50, 0.5 s)")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.0005, 0.001],
                        help="position noise levels of part (a), m (default 0, 0.0005 and 0.001)")
    parser.add_argument("--iterations", type=int, default=30, help="Levenberg-Marquardt iterations at most")
    parser.add_argument("--horizon", type=int, default=1, help="steps predicted per window (default 1)")
    parser.add_argument("--parts", default="ab", help="which parts to run: a, b or ab (default)")
    args = parser.parse_args()

    import dojax
    from dojax.optimize import Parameter, load_trajectories, prediction_residuals, save_trajectories

    print(f"load average {os.getloadavg()[0]:.2f}; {args.tosses} tosses x {args.steps} steps at dt {DT}")
    true = dojax.load("block", timestep=DT, friction=FRICTION, side=2 * HALF, mass=MASS)
    true_corners = np.asarray(true.contact_points[:, 0])
    header = ("| data | friction ± std | friction error | largest corner error (of 0.25 m) | rms residual (m) | "
              "iterations | status | windows | seconds |\n|---|---|---|---|---|---|---|---|---|")
    if "a" in args.parts:
        clean = dojax_tosses(true, args.tosses, args.steps, seed=0)
        print("\n(a) dojax data\n" + header)
        for noise in args.noise:
            result, seconds = fit(true, add_noise(clean, noise, seed=1), args)
            report(f"dojax, noise {1000 * noise:g} mm", result, seconds, true_corners)
    if "b" in args.parts:
        tosses = mujoco_tosses(args.tosses + args.held_out, args.steps, seed=2)
        with tempfile.TemporaryDirectory() as folder:  # through the documented file layout
            path = os.path.join(folder, "tosses.csv")
            save_trajectories(path, tosses, true.body_names)
            tosses = load_trajectories(path)
        train, held_out = tosses[:args.tosses], tosses[args.tosses:]
        print("\n(b) MuJoCo data\n" + header)
        result, seconds = fit(true, train, args)
        report("MuJoCo", result, seconds, true_corners)
        print("identified corners (m):\n" + np.array2string(result.values["contact_points"], precision=4))
        print(f"\nheld-out tosses ({len(held_out)}): RMS position error of predictions from observed states (mm)")
        print("| model | 1 step | 10 steps |\n|---|---|---|")
        params = [Parameter("friction", shared=True)]
        for label, mech in (("identified", result.mechanism), ("MuJoCo's true parameters", true)):
            cells = []
            for horizon in (1, 10):
                r, _, ok = prediction_residuals(mech, held_out, params, horizon=horizon)
                position = r[ok].reshape(ok.sum(), horizon, 6)[:, :, :3]
                cells.append(f"{1000 * np.sqrt(np.mean(position ** 2)):.3f}")
            print(f"| {label} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
