"""Armature: a hinged bar spun up by the same torque with different joint-space inertias, and a
free-floating two-body chain with armature conserving its momentum.

    python examples/armature.py [OUTPUT_DIR]

Writes armature.png into OUTPUT_DIR (default: the current directory): the bar's angle against
tau t^2 / (2 (I + a)) for each armature a, and prints the chain's momentum and energy errors.
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import dojax  # noqa: E402
from dojax.shapes import Box  # noqa: E402

TORQUE, STEPS, H = 0.05, 200, 0.01


def bar(armature):
    """A bar on a hinge about its own z axis, through its centre, in zero gravity."""
    b = dojax.MechanismBuilder(timestep=H, gravity=0.0)
    b.add_body("bar", 2.0, shape=Box(0.6, 0.1, 0.1))
    b.add_joint("hinge", "revolute", "world", "bar", axis=(0, 0, 1), actuated=True, armature=armature)
    return b.build()


def chain():
    """A free box with a second box hinged to it (armature 0.2), tumbling in zero gravity."""
    b = dojax.MechanismBuilder(timestep=H, gravity=0.0)
    b.add_body("a", 1.5, shape=Box(0.1, 0.3, 0.6), velocity=(0.3, -0.2, 0.5), angular_velocity=(0.4, 1.0, -0.7))
    b.add_body("b", 0.7, shape=Box(0.1, 0.1, 0.5))
    b.add_joint("hinge", "revolute", "a", "b", axis=(1, 0.3, 0), parent_vertex=(0, 0, 0.3),
                child_vertex=(0, 0, -0.25), initial_position=0.4, initial_velocity=3.0, armature=0.2)
    return b.build()


def main(out_dir):
    t = H * jnp.arange(1, STEPS + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for armature in (0.0, 0.05, 0.2):
        mech = bar(armature)
        states, infos = dojax.rollout(mech, mech.initial_state(), jnp.full((STEPS, 1), TORQUE))
        angle = jax.vmap(lambda s: dojax.to_minimal(mech, s)[0])(states)
        inertia = float(mech.inertia[0, 2, 2])
        ax.plot(t, angle, label=f"armature {armature} (I = {inertia:.3f})")
        ax.plot(t, TORQUE * t**2 / (2 * (inertia + armature)), "k:", lw=1)
        print(f"armature {armature}: angle after {float(t[-1]):.1f} s {float(angle[-1]):.4f} rad, "
              f"tau t^2 / (2 (I + a)) {float(TORQUE * t[-1] ** 2 / (2 * (inertia + armature))):.4f} rad")
    ax.set(xlabel="time (s)", ylabel="hinge angle (rad)", title=f"torque {TORQUE} N m; dotted: tau t^2 / (2 (I + a))")
    ax.legend()

    mech = chain()
    state = mech.initial_state()
    states, infos = dojax.rollout(mech, state, jnp.zeros((500, 0)), dojax.SolverOptions(rtol=1e-12))
    (p0, l0), e0 = dojax.momentum(mech, state), dojax.energy(mech, state)
    p, l = jax.vmap(lambda s: dojax.momentum(mech, s))(states)
    e = jax.vmap(lambda s: dojax.energy(mech, s))(states)
    print(f"chain, 5 s: all converged {bool(infos.converged.all())}; |p - p0| max {float(jnp.abs(p - p0).max()):.1e}, "
          f"|L - L0| max {float(jnp.abs(l - l0).max()):.1e}, |E - E0| / E0 max {float(jnp.abs(e - e0).max() / e0):.1e}")

    out_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out_dir / "armature.png", dpi=120)
    print(f"wrote {out_dir / 'armature.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
