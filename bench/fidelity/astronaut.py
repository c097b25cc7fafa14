"""The astronaut: a humanoid in zero gravity, driven by random joint torques for 1 s, then free.

With no gravity, floor or dissipation, its linear and angular momentum are constant after the
torques stop, and so is its energy. The model (models.gymnasium_xml): gymnasium's humanoid without
floor, joint limits, springs, dampers, tendons and armature; its hinge groups (hips, abdomen,
shoulders) as ball joints, so that no configuration is singular; 5 motors (abdomen, knees,
elbows). Torques: uniform in +-``AMPLITUDE`` of the motors' ctrl (gears 25-200), a new draw every
0.1 s, the same sequence at every timestep. The largest limb speed stays near 5 rad/s, within
dojax's limit of 2/h at h = 0.1 s.

Drift: the largest deviation over the free phase (1 s to the horizon) from the value when the
torques stop. dojax: :func:`dojax.momentum` and :func:`dojax.energy` (the integrator's discrete
momenta); MuJoCo: ``subtree_linvel`` x mass, ``subtree_angmom`` of the world body and
``data.energy``.
"""

import numpy as np

from fidelity import engines, models

AMPLITUDE = 0.005
FORCED = 1.0  # s of random torques
DTS = (0.1, 0.01, 0.001)


def _controls(nu, dt, steps, seed=0):
    rng = np.random.default_rng(seed)
    per = int(round(0.1 / dt))
    forced = np.repeat(rng.uniform(-AMPLITUDE, AMPLITUDE, (int(round(FORCED / 0.1)), nu)), per, axis=0)
    return np.concatenate([forced, np.zeros((steps - len(forced), nu))])


def _drift(series, release):
    series = np.asarray(series)
    ref = series[release]
    dev = series[release:] - ref
    return np.abs(dev).max() if dev.ndim == 1 else np.linalg.norm(dev, axis=-1).max()


def study(quick, progress):
    import jax
    import jax.numpy as jnp
    import mujoco

    import dojax

    horizon = 10.0
    path = models.gymnasium_xml("humanoid.xml", "astronaut", gravity=0.0, floor=False, limits=False,
                                passive=False, ball_joints=True)
    mech, info, model = models.load_pair(path, on_ground=False)
    momentum = jax.jit(jax.vmap(dojax.momentum, in_axes=(None, 0)))
    energy = jax.jit(jax.vmap(dojax.energy, in_axes=(None, 0)))
    rows, series = [], {}
    for dt in DTS:
        steps = int(round(horizon / dt))
        release = int(round(FORCED / dt)) - 1
        ctrl = _controls(model.nu, dt, steps)
        times = dt * np.arange(1, steps + 1)
        row = dict(dt=dt)
        for label, rtol in (("dojax (rtol 1e-6, default)", 1e-6), ("dojax (rtol 1e-10)", 1e-10)):
            m = mech.replace(timestep=jnp.asarray(dt))
            states, ok, iterations, wall = engines.dojax_run(m, m.initial_state(), ctrl, dojax.SolverOptions(rtol=rtol))
            s = dojax.State(**{k: states[k] for k in ("x", "v", "q", "w")})
            p, L = (np.asarray(a) for a in momentum(m, s))
            E = np.asarray(energy(m, s))
            row[label] = dict(dp=float(_drift(p, release)), dL=float(_drift(L, release)), dE=float(_drift(E, release)),
                              E=float(E[release]), failed=not bool(ok.all()), iterations=float(iterations.mean()),
                              max_speed=float(np.abs(states["w"]).max()))
            if rtol == 1e-10:
                series[f"dojax|{dt}"] = (times, p, L, E)
            progress()
        for label, integrator in (("MuJoCo Euler", mujoco.mjtIntegrator.mjINT_EULER),
                                  ("MuJoCo RK4", mujoco.mjtIntegrator.mjINT_RK4)):
            model.opt.timestep = dt
            model.opt.integrator = integrator
            model.opt.enableflags |= mujoco.mjtEnableBit.mjENBL_ENERGY
            states, failed, _ = engines.mujoco_run(model, info.qpos, np.zeros(model.nv), ctrl)
            mass = model.body_subtreemass[0]

            def measure(d):
                mujoco.mj_subtreeVel(model, d)
                return np.concatenate([d.subtree_linvel[0] * mass, d.subtree_angmom[0], [d.energy.sum()]])

            q = engines.mujoco_frames(model, states, measure)
            if failed:
                row[label] = dict(dp=None, dL=None, dE=None, E=None, failed=True)
            else:
                row[label] = dict(dp=float(_drift(q[:, :3], release)), dL=float(_drift(q[:, 3:6], release)),
                                  dE=float(_drift(q[:, 6], release)), E=float(q[release, 6]), failed=False)
                series[f"{label}|{dt}"] = (times, q[:, :3], q[:, 3:6], q[:, 6])
            progress()
        rows.append(row)
    return dict(rows=rows, horizon=horizon, amplitude=AMPLITUDE, forced=FORCED, series=series)


STUDY_STEPS = 4 * len(DTS)


def figure(result, path, dt=0.01):
    """Drift of linear momentum, angular momentum and energy against time at one timestep."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.0))
    for key, (times, p, L, E) in result["series"].items():
        label, step = key.split("|")
        if float(step) != dt:
            continue
        release = int(round(FORCED / dt)) - 1
        for ax, s in zip(axes, (p, L, E)):
            s = np.asarray(s)
            dev = np.abs(s[release:] - s[release])
            dev = dev if dev.ndim == 1 else np.linalg.norm(dev, axis=-1)
            ax.semilogy(times[release:], np.maximum(dev, 1e-17), label=label, lw=1)
    for ax, title in zip(axes, ("|p(t) - p(1 s)| (kg m/s)", "|L(t) - L(1 s)| (kg m²/s)", "|E(t) - E(1 s)| (J)")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Astronaut (humanoid, zero gravity), free after 1 s of random torques, dt = {dt} s", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
