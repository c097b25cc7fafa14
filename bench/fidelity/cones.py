"""Friction cones: a box shoved along the floor in several directions.

A 1 kg box (0.2 m cube, models.box_xml) on the floor, friction ``MU``, starts sliding at ``SPEED``
m/s at angle theta to the x axis without spin. Coulomb's law in the circular cone gives the
answer: it slides straight along theta, decelerating at mu g, and stops after SPEED^2 / (2 mu g).
Engines: dojax with the second-order cone ("soc") and the four-sided pyramid ("linear", edges
along the world axes), MuJoCo with its elliptic and pyramidal cones, all at dt ``DT``. Measured:
the direction of the final displacement against theta (degrees) and the stopping distance
against the analytic one.
"""

import numpy as np

from fidelity import engines, models

MU, SPEED, DT, HORIZON, G = 0.5, 2.0, 0.01, 1.0, 9.81
ENGINES = ("dojax SOC", "dojax pyramid", "MuJoCo elliptic", "MuJoCo pyramidal")


def angles(quick):
    return (0.0, 22.5, 45.0) if quick else (0.0, 15.0, 30.0, 45.0, 60.0, 75.0)


def _path_dojax(mech, theta):
    import jax.numpy as jnp

    import dojax

    state = mech.initial_state()
    v = SPEED * np.array([np.cos(theta), np.sin(theta), 0.0])
    state = state.replace(v=jnp.asarray(v)[None])
    steps = int(round(HORIZON / DT))
    states, ok, _, _ = engines.dojax_run(mech, state, np.zeros((steps, mech.action_size)), dojax.SolverOptions())
    return np.concatenate([np.asarray(state.x)[:1, :2], states["x"][:, 0, :2]]), bool(ok.all())


def _path_mujoco(model, theta):
    model.opt.timestep = DT
    qpos = model.qpos0.copy()
    qvel = np.zeros(model.nv)
    qvel[:3] = SPEED * np.array([np.cos(theta), np.sin(theta), 0.0])
    steps = int(round(HORIZON / DT))
    states, failed, _ = engines.mujoco_run(model, qpos, qvel, np.zeros((steps, 0)))
    xy = engines.mujoco_frames(model, states, lambda d: d.xipos[1, :2].copy(), forward=False)
    return np.concatenate([qpos[None, :2], xy]), not failed


def study(quick, progress):
    import jax.numpy as jnp

    distance = SPEED**2 / (2 * MU * G)
    mechs = {}
    for label, model in (("dojax SOC", "soc"), ("dojax pyramid", "linear")):
        mech, _, _ = models.load_pair(models.box_xml(MU), contact_model=model, on_ground=True)
        mechs[label] = mech.replace(timestep=jnp.asarray(DT))
    mj = {label: models.load_pair(models.box_xml(MU, cone), on_ground=True)[2]
          for label, cone in (("MuJoCo elliptic", "elliptic"), ("MuJoCo pyramidal", "pyramidal"))}
    rows, paths = [], {}
    for deg in angles(quick):
        theta = np.radians(deg)
        for label in ENGINES:
            path, ok = _path_dojax(mechs[label], theta) if label in mechs else _path_mujoco(mj[label], theta)
            d = path[-1] - path[0]
            heading = np.degrees(np.arctan2(d[1], d[0]))
            rows.append(dict(engine=label, angle=deg, direction_error_deg=float(heading - deg),
                             distance=float(np.linalg.norm(d)),
                             distance_error=float(np.linalg.norm(d) / distance - 1.0), ok=ok))
            paths[f"{label}|{deg}"] = path
            progress()
    return dict(rows=rows, analytic_distance=distance, mu=MU, speed=SPEED, dt=DT, paths=paths)


def study_steps(quick):
    return len(angles(quick)) * len(ENGINES)


def figure(result, path):
    """The boxes' paths, one panel per engine, with the analytic stopping points."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ENGINES), figsize=(11, 3.4), sharex=True, sharey=True)
    dist = result["analytic_distance"]
    for ax, label in zip(axes, ENGINES):
        for key, p in result["paths"].items():
            engine, deg = key.split("|")
            if engine != label:
                continue
            th = np.radians(float(deg))
            ax.plot([0, dist * np.cos(th)], [0, dist * np.sin(th)], color="0.8", lw=3)
            p = np.asarray(p)
            ax.plot(p[:, 0] - p[0, 0], p[:, 1] - p[0, 1], lw=1.2)
            ax.plot(p[-1, 0] - p[0, 0], p[-1, 1] - p[0, 1], "k.", ms=4)
        ax.set_title(label, fontsize=9)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.set_xlabel("x (m)", fontsize=8)
    axes[0].set_ylabel("y (m)", fontsize=8)
    fig.suptitle(f"Box shoved at {SPEED} m/s, mu = {MU}: paths (grey: Coulomb's answer, {dist:.3f} m)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
