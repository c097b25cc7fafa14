"""The quadruped drop: penetration against the timestep (the Dojo paper's Table II) and the
resting pose and trajectory against the sample rate.

The quadruped (models.quadruped_xml: joint springs towards the standing pose, so that it stands
without a controller) starts in its standing pose with its feet ``DROP`` m above the floor and
falls onto them. Measured per engine and timestep, from the bodies' poses (the same geometric
measure for both engines): the deepest foot penetration (each foot sphere's signed distance to
the floor), the torso's centre-of-mass path, and whether the simulation failed (dojax: a step
whose solver did not converge, or a non-finite state; MuJoCo: its bad-acceleration warning, after
which it resets the state, or a non-finite state; either engine: the torso ends below the standing
height's half, the robot having gone through the floor).
"""

import numpy as np

from fidelity import engines, models

DROP = 0.2  # m, feet above the floor at the start
_STAND = 0.31  # m, the torso's centre-of-mass height standing (for the went-through-the-floor test)


def _setup():
    path = models.quadruped_xml()
    mech, info, model = models.load_pair(path, qpos=models.stance_qpos(), on_ground=True)
    return mech, info, model


def run_dojax(mech, dt, horizon, opts):
    import jax
    import jax.numpy as jnp

    from dojax.collision import halfspace_gaps

    mech = mech.replace(timestep=jnp.asarray(dt))
    state = mech.initial_state()
    state = state.replace(x=state.x.at[:, 2].add(DROP))
    steps = int(round(horizon / dt))
    states, ok, iterations, _ = engines.dojax_run(mech, state, np.zeros((steps, mech.action_size)), opts)
    gaps = np.asarray(jax.jit(jax.vmap(lambda x, q: halfspace_gaps(mech, x, q)[1]))(states["x"], states["q"]))
    torso = mech.body_names.index("torso")
    return dict(gap=gaps.min(axis=1), torso=states["x"][:, torso], ok=bool(ok.all()),
                iterations=float(iterations.mean()), max_iterations=int(iterations.max()))


def run_mujoco(model, info, dt, horizon):
    model.opt.timestep = dt
    qpos = info.qpos.copy()
    qpos[2] += DROP
    steps = int(round(horizon / dt))
    states, failed, _ = engines.mujoco_run(model, qpos, np.zeros(model.nv), np.zeros((steps, model.nu)))
    feet = [g for g in range(model.ngeom) if model.geom_contype[g] or model.geom_conaffinity[g]]
    feet = [g for g in feet if model.geom_bodyid[g] != 0]
    torso = model.body("torso").id

    def measure(d):
        gap = (d.geom_xpos[feet, 2] - model.geom_size[feet, 0]).min()
        return np.concatenate([[gap], d.xipos[torso]])

    m = engines.mujoco_frames(model, states, measure, forward=False)
    return dict(gap=m[:, 0], torso=m[:, 1:4], ok=not failed)


def _grid(traj, dt, grid_dt, horizon):
    """Rows of a per-step trajectory at times grid_dt, 2 grid_dt, ..., horizon."""
    idx = [int(round(k * grid_dt / dt)) - 1 for k in range(1, int(round(horizon / grid_dt)) + 1)]
    return traj[idx]


def study(quick, progress):
    """Penetration table (dt 0.1, 0.01, 0.001) and sample-rate table (20 ... 500 Hz)."""
    import dojax

    mech, info, model = _setup()
    horizon = 2.0
    settings = {"dojax": dojax.SolverOptions(), "dojax (rtol = btol = 1e-5)": dojax.SolverOptions(rtol=1e-5, btol=1e-5)}
    weight = float(np.sum(np.asarray(mech.mass))) * 9.81
    penetration = []
    for dt in (0.1, 0.01, 0.001):
        row = dict(dt=dt)
        for label, opts in settings.items():
            r = run_dojax(mech, dt, horizon, opts)
            rest = r["gap"][-1]
            fell = r["torso"][-1, 2] < 0.5 * _STAND
            row[label] = dict(min_gap_mm=1e3 * float(r["gap"].min()), rest_gap_mm=1e3 * float(rest),
                              stated_gap_mm=1e3 * opts.btol / opts.undercut / (weight / 4),
                              failed=not r["ok"] or bool(fell), iterations=r["iterations"],
                              max_iterations=r["max_iterations"])
            progress()
        r = run_mujoco(model, info, dt, horizon)
        fell = r["torso"][-1, 2] < 0.5 * _STAND
        row["MuJoCo"] = dict(min_gap_mm=1e3 * float(np.min(r["gap"])), rest_gap_mm=1e3 * float(r["gap"][-1]),
                             failed=not r["ok"] or bool(fell))
        progress()
        penetration.append(row)

    rates = {}
    grid_dt = 0.05
    for engine in ("dojax", "MuJoCo"):
        runs = {}
        for hz in (20, 50, 100, 200, 500):
            dt = 1.0 / hz
            if engine == "dojax":
                r = run_dojax(mech, dt, horizon, settings["dojax"])
            else:
                r = run_mujoco(model, info, dt, horizon)
            ok = r["ok"] and r["torso"][-1, 2] >= 0.5 * _STAND
            runs[hz] = dict(path=_grid(r["torso"], dt, grid_dt, horizon), ok=bool(ok), gap=float(np.min(r["gap"])))
            progress()
        ref = runs[500]["path"]
        rates[engine] = [dict(hz=hz, final=[float(v) for v in run["path"][-1]], ok=run["ok"],
                              min_gap_mm=1e3 * run["gap"],
                              rms_mm=1e3 * float(np.sqrt(np.mean(np.sum((run["path"] - ref) ** 2, axis=1)))),
                              max_mm=1e3 * float(np.max(np.linalg.norm(run["path"] - ref, axis=1))),
                              final_mm=1e3 * float(np.linalg.norm(run["path"][-1] - ref[-1])),
                              height=[float(v) for v in run["path"][:, 2]])
                         for hz, run in runs.items()]
    return dict(penetration=penetration, rates=rates, horizon=horizon, drop=DROP, grid_dt=grid_dt,
                mass=float(np.sum(np.asarray(mech.mass))))


#: progress-bar units of the study
STUDY_STEPS = 3 * 3 + 10


def figure(result, path):
    """Torso height against time at each sample rate, one panel per engine."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.0), sharey=True)
    for ax, (engine, runs) in zip(axes, result["rates"].items()):
        for run in runs:
            h = np.asarray(run["height"])
            t = result["grid_dt"] * np.arange(1, len(h) + 1)
            ax.plot(t, h, lw=1, label=f"{run['hz']} Hz" + ("" if run["ok"] else " (failed)"))
        ax.set_title(f"{engine}: quadruped drop, torso height", fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("torso centre of mass z (m)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
