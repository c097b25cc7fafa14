"""Step-solver convergence on contact models: Newton iterations and final violations per timestep.

For each model (block, sphere, the 5-link chain lying on the ground) and each timestep in
--timesteps (default 0.1 0.05 0.01 0.005), one rollout of --duration seconds (default 1 s) from a
start with some motion, under each solver setting:

  block   tossed from z = 1.25 with v = (1, 0.5, 2) m/s, w = (3, -2, 4) rad/s: flight, impact,
          tumbling, sliding to rest on its corners
  sphere  dropped from 0.2 m above the ground, moving at v = (1, 0, 0) m/s and spinning at
          w = (0, 0, 5) rad/s: impact, sliding, rolling
  chain   every link sliding at v = (1, 0.5, 0) m/s on the ground while the joints are driven by
          torques 2 sin(2 pi t + j) N m (joint j): sliding, bending, sticking

Settings: ``default`` is ``SolverOptions()`` (rtol 1e-6, btol 1e-4); ``tight`` is
``SolverOptions(rtol=1e-8, btol=1e-8)`` (hard contact).

Columns: steps, converged (fraction of steps that met the tolerances), mean and max Newton
iterations per step, and the last step's equality residual and complementarity (max |y o z|, about
btol / undercut on active contacts). Printed as a markdown table.

    python bench/contact_convergence.py
    python bench/contact_convergence.py --timesteps 0.01 --duration 2

Rollouts run in chunks of a fixed number of steps so that each model compiles once for every
timestep (the timestep is a leaf of the Mechanism, not a static shape).
"""

import argparse
import math

CHUNK = 60  # steps per rollout call: 6 s at 0.1, and a divisor of 6 s at 0.05, 0.01, 0.005
TIMESTEPS = (0.1, 0.05, 0.01, 0.005)
MODELS = ("block", "sphere", "chain")


def settings():
    import dojax

    return {"default": dojax.SolverOptions(), "tight": dojax.SolverOptions(rtol=1e-8, btol=1e-8)}


def simulate(mech, state, steps, opts, actions=None, chunk=CHUNK):
    """``steps`` steps as successive ``chunk``-step rollouts (one compile per mechanism structure).

    ``actions``: None (zeros) or a function of the step times (chunk,) -> (chunk, action_size).
    Returns stacked (states, infos) of exactly ``steps`` steps.
    """
    import jax
    import jax.numpy as jnp

    import dojax

    h = float(mech.timestep)
    outs = []
    for c in range(math.ceil(steps / chunk)):
        k = jnp.arange(c * chunk, (c + 1) * chunk)
        u = jnp.zeros((chunk, mech.action_size)) if actions is None else actions(h * (k + 1))
        states, infos = dojax.rollout(mech, state, u, opts)
        state = jax.tree.map(lambda a: a[-1], states)
        outs.append((states, infos))
    return jax.tree.map(lambda *a: jnp.concatenate(a)[:steps], *outs)


def start(name, timestep):
    """(mechanism, initial state, action function or None) of one model at one timestep."""
    import jax.numpy as jnp

    import dojax

    mech = dojax.load(name, timestep=timestep)
    state = mech.initial_state()
    if name == "block":
        state = state.replace(x=jnp.array([[0.0, 0.0, 1.25]]), v=jnp.array([[1.0, 0.5, 2.0]]),
                              w=jnp.array([[3.0, -2.0, 4.0]]))
        return mech, state, None
    if name == "sphere":
        state = state.replace(x=state.x.at[0, 2].add(0.2), v=jnp.array([[1.0, 0.0, 0.0]]),
                              w=jnp.array([[0.0, 0.0, 5.0]]))
        return mech, state, None
    if name == "chain":
        state = state.replace(v=jnp.tile(jnp.array([1.0, 0.5, 0.0]), (mech.num_bodies, 1)))
        phase = jnp.arange(mech.action_size)
        return mech, state, lambda t: 2.0 * jnp.sin(2.0 * jnp.pi * t[:, None] + phase)
    raise ValueError(f"no convergence start for model {name!r}")


def convergence_rows(models=MODELS, timesteps=TIMESTEPS, duration=1.0):
    """One dict per (model, timestep, setting) with the rollout's convergence statistics."""
    import numpy as np

    rows = []
    for name in models:
        for h in timesteps:
            steps = int(round(duration / h))
            for label, opts in settings().items():
                mech, state, actions = start(name, h)
                _, infos = simulate(mech, state, steps, opts, actions)
                it = np.asarray(infos.iterations)
                rows.append(dict(model=name, timestep=h, setting=label, steps=steps,
                                 converged=float(np.mean(np.asarray(infos.converged))),
                                 mean_iter=float(it.mean()), max_iter=int(it.max()),
                                 residual=float(infos.residual[-1]),
                                 complementarity=float(infos.complementarity[-1])))
    return rows


def markdown(rows):
    lines = ["| model | timestep | solver | steps | converged | mean iter | max iter | final residual | final complementarity |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['timestep']:g} | {r['setting']} | {r['steps']} | {r['converged']:.3f} | "
                     f"{r['mean_iter']:.1f} | {r['max_iter']} | {r['residual']:.1e} | {r['complementarity']:.1e} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--timesteps", type=float, nargs="+", default=list(TIMESTEPS))
    p.add_argument("--duration", type=float, default=1.0, help="simulated seconds per rollout")
    args = p.parse_args(argv)

    import jax

    import dojax  # noqa: F401  (float64)

    print(f"jax {jax.__version__}; {args.duration:g} s rollouts; default = SolverOptions(), "
          f"tight = SolverOptions(rtol=1e-8, btol=1e-8)\n")
    print(markdown(convergence_rows(args.models, args.timesteps, args.duration)))


if __name__ == "__main__":
    main()
