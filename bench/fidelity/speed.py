"""Speed against accuracy (after Erez, Tassa and Todorov, ICRA 2015).

Each engine runs each model over a range of timesteps and solver settings; accuracy is the
deviation from that engine's own converged run (timestep ``reference_dt``, tight tolerances),
speed the simulated seconds per wall second. Each engine is measured against itself because the
two contact models differ (hard contact against MuJoCo's soft contact): there is no common exact
answer, and what a user trades is how far a cheap run strays from what the engine converges to.

Models (models.py; armature removed, self-collision off, in both engines):
* Hopper (gymnasium's hopper.xml) and Humanoid (humanoid.xml), standing on the floor at the
  start, driven open loop by smooth torques u_i(t) = 0.3 ctrlrange_i sin(2 pi f_i t + phi_i),
  f_i in [0.5, 2] Hz, sampled at each step's start;
* a box toss: the 0.2 m, 1 kg box thrown from 0.4 m above the floor at (1.5, 0, 1) m/s spinning
  at (2, 4, 1) rad/s; it lands, tumbles and slides (mu 0.5).

Deviation: the RMS over bodies and over times 0.1, 0.2, ... s of the distance between each
body's centre of mass and its position in the reference run. Wall time: the stepping alone
(dojax: compiled chunks of steps, after a warm-up; MuJoCo: ``mujoco.rollout`` in C), the fastest
of up to three runs when a run is shorter than 0.3 s. Pin the process to one core and hold the
benchmark lock when running it.
"""

import numpy as np

from fidelity import engines, models

MODELS = ("hopper", "humanoid", "box toss")
GRID = 0.1


def plan(quick):
    """(timesteps, reference timestep, horizon, dojax settings, MuJoCo settings)."""
    import dojax

    dojax_settings = {"dojax": dojax.SolverOptions(), "dojax loose (rtol 1e-4, btol 1e-3)":
                      dojax.SolverOptions(rtol=1e-4, btol=1e-3)}
    mujoco_settings = {"MuJoCo Euler": ("euler", None), "MuJoCo RK4": ("rk4", None)}
    if quick:
        return (0.02, 0.01, 0.005, 0.002), 2.5e-4, 0.5, dojax_settings, mujoco_settings
    dojax_settings["dojax tight (rtol 1e-8, btol 1e-6)"] = dojax.SolverOptions(rtol=1e-8, btol=1e-6)
    mujoco_settings["MuJoCo Euler loose (tolerance 1e-3, 3 iterations)"] = ("euler", (1e-3, 3))
    return (0.05, 0.02, 0.01, 0.005, 0.002, 0.001), 1e-4, 1.0, dojax_settings, mujoco_settings


def _load(name):
    if name == "box toss":
        return models.load_pair(models.box_xml(0.5, "pyramidal"), on_ground=True)
    path = models.gymnasium_xml(f"{name}.xml", name)
    return models.load_pair(path, on_ground=True)


def _controls(model, dt, steps):
    if model.nu == 0:
        return np.zeros((steps, 0))
    rng = np.random.default_rng(1)
    f = rng.uniform(0.5, 2.0, model.nu)
    phi = rng.uniform(0, 2 * np.pi, model.nu)
    amp = 0.3 * np.where(model.actuator_ctrllimited, model.actuator_ctrlrange[:, 1], 1.0)
    t = dt * np.arange(steps)[:, None]
    return amp * np.sin(2 * np.pi * f * t + phi)


TOSS = dict(lift=0.4, v=(1.5, 0.0, 1.0), w=(2.0, 4.0, 1.0))


def _timed(run):
    out = run()
    walls = [out[-1]]
    while walls[0] < 0.3 and len(walls) < 3:
        walls.append(run()[-1])
    return out[:-1] + (min(walls),)


def _dojax(mech, model, name, dt, horizon, opts):
    import jax.numpy as jnp

    mech = mech.replace(timestep=jnp.asarray(dt))
    state = mech.initial_state()
    if name == "box toss":
        state = state.replace(x=state.x.at[:, 2].add(TOSS["lift"]), v=jnp.asarray([TOSS["v"]]),
                              w=jnp.asarray([TOSS["w"]]))
    steps = int(round(horizon / dt))
    ctrl = _controls(model, dt, steps)
    real = [i for i, n in enumerate(mech.body_names) if "/" not in n]

    def run():
        states, ok, _, wall = engines.dojax_run(mech, state, ctrl, opts)
        return states["x"][:, real], bool(ok.all()), wall

    return _timed(run)


def _mujoco(model, info, name, dt, horizon, setting):
    import mujoco

    integrator, loose = setting
    model.opt.timestep = dt
    model.opt.integrator = mujoco.mjtIntegrator.mjINT_RK4 if integrator == "rk4" else mujoco.mjtIntegrator.mjINT_EULER
    model.opt.tolerance, model.opt.iterations = loose if loose else (1e-8, 100)
    qpos, qvel = info.qpos.copy(), np.zeros(model.nv)
    if name == "box toss":
        qpos[2] += TOSS["lift"]
        qvel[:3], qvel[3:6] = TOSS["v"], TOSS["w"]
    steps = int(round(horizon / dt))
    ctrl = _controls(model, dt, steps)

    def run():
        states, failed, wall = engines.mujoco_run(model, qpos, qvel, ctrl)
        x = engines.mujoco_frames(model, states, lambda d: d.xipos[1:].copy(), forward=False)
        return x, not failed, wall

    return _timed(run)


def _deviation(x, dt, ref, ref_dt, horizon):
    idx = lambda h: [int(round(k * GRID / h)) - 1 for k in range(1, int(round(horizon / GRID)) + 1)]
    a, b = x[idx(dt)], ref[idx(ref_dt)]
    if not np.all(np.isfinite(a)):
        return None
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1))))


def study(quick, progress):
    import dojax

    dts, ref_dt, horizon, dojax_settings, mujoco_settings = plan(quick)
    curves = []
    for name in MODELS:
        mech, info, model = _load(name)
        for chunk in engines.CHUNKS:  # compile
            engines.dojax_run(mech, mech.initial_state(), np.zeros((chunk, mech.action_size)))
        ref, _, _ = _dojax(mech, model, name, ref_dt, horizon, dojax.SolverOptions(rtol=1e-10, btol=1e-6))
        progress()
        for label, opts in dojax_settings.items():
            points = []
            for dt in dts:
                x, ok, wall = _dojax(mech, model, name, dt, horizon, opts)
                points.append(dict(dt=dt, deviation=_deviation(x, dt, ref, ref_dt, horizon), ok=ok,
                                   rate=horizon / wall))
                progress()
            curves.append(dict(model=name, engine="dojax", setting=label, points=points))
        ref, _, _ = _mujoco(model, info, name, ref_dt, horizon, ("rk4", None))
        progress()
        for label, setting in mujoco_settings.items():
            points = []
            for dt in dts:
                x, ok, wall = _mujoco(model, info, name, dt, horizon, setting)
                points.append(dict(dt=dt, deviation=_deviation(x, dt, ref, ref_dt, horizon), ok=ok,
                                   rate=horizon / wall))
                progress()
            curves.append(dict(model=name, engine="MuJoCo", setting=label, points=points))
    return dict(curves=curves, dts=list(dts), reference_dt=ref_dt, horizon=horizon, grid=GRID)


def study_steps(quick):
    dts, _, _, d, m = plan(quick)
    return len(MODELS) * (2 + len(dts) * (len(d) + len(m)))


def figure(result, path):
    """Simulated seconds per wall second against deviation, one panel per model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(MODELS), figsize=(12, 4.2))
    for ax, name in zip(axes, MODELS):
        count = {"dojax": 0, "MuJoCo": 0}
        for curve in result["curves"]:
            if curve["model"] != name:
                continue
            style = ["-", "--", ":"][count[curve["engine"]] % 3]
            count[curve["engine"]] += 1
            pts = [p for p in curve["points"] if p["deviation"] is not None]
            if not pts:
                continue
            color = "C0" if curve["engine"] == "dojax" else "C3"
            dev = np.maximum([p["deviation"] for p in pts], 1e-9)
            ax.loglog(dev, [p["rate"] for p in pts], style, color=color, lw=1.2, label=curve["setting"])
            for p, d in zip(pts, dev):
                ax.plot(d, p["rate"], "o" if p["ok"] else "x", color=color, ms=3 if p["ok"] else 6,
                        mfc=color if p["ok"] else "none")
            ax.annotate(f"{pts[0]['dt']:g}", (dev[0], pts[0]["rate"]), fontsize=6, color=color)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("deviation from own converged run (m, RMS)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("simulated s per wall s (1 core)", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("Speed against accuracy over timesteps (labels: largest dt) and solver settings; "
                 "up and left is better; x: a failed run", fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)
