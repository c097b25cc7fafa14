"""Simulate a double pendulum released from minimal coordinates, and animate it.

    python examples/simulate_pendulum.py [OUTPUT_DIR]

Writes double_pendulum.gif and double_pendulum_diagnostics.png into OUTPUT_DIR (default: the
current directory) and prints how far the energy drifted over the run.
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp

import dojax
from dojax import render

STEPS = 300


def main(out_dir):
    mech = dojax.load("double_pendulum")
    # minimal coordinates [theta1, theta1_dot, theta2, theta2_dot]; 0 = hanging straight down,
    # theta2 is the second link's angle relative to the first
    y = jnp.array([2.0, 0.0, -1.0, 0.0])
    state = dojax.from_minimal(mech, y)
    states, infos = dojax.rollout(mech, state, jnp.zeros((STEPS, mech.action_size)))

    e0 = dojax.energy(mech, state)
    e = jax.jit(jax.vmap(dojax.energy, in_axes=(None, 0)))(mech, states)
    drift = jnp.abs(e - e0)
    print(f"{STEPS} steps of {float(mech.timestep)} s, all converged: {bool(infos.converged.all())}")
    print(f"energy E0 = {float(e0):.6f} J; |E - E0| max {float(drift.max()):.3e} J, "
          f"final {float(drift[-1]):.3e} J")

    out_dir.mkdir(parents=True, exist_ok=True)
    gif, png = out_dir / "double_pendulum.gif", out_dir / "double_pendulum_diagnostics.png"
    render.animate(mech, states, gif)
    render.plot_diagnostics(mech, states, png)
    print(f"wrote {gif} and {png}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
