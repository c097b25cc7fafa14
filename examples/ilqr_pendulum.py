"""Swing a pendulum up by iLQR with an augmented Lagrangian, and animate the optimised motion.

    python examples/ilqr_pendulum.py [OUTPUT_DIR] [--coordinates maximal]

The pendulum (a 1 kg, 1 m link, theta = 0 hanging down) starts at rest and must be upright at rest
after 4 s (40 steps of 0.1 s): a final-state equality constraint. Its torque is bounded to 1.4 N m,
well below the 4.9 N m that holds the link horizontal, so it has to pump: an inequality constraint
on every action. The cost is the control effort. Writes ilqr_pendulum.png (cost and constraint
violation against iteration) and ilqr_pendulum.gif (the motion) into OUTPUT_DIR (default: the
current directory). With ``--coordinates maximal`` the planner's state is the link's maximal
coordinates [position, velocity, quaternion, angular velocity] and the final constraint holds its
centre of mass upright and at rest; it reaches the same optimum.
"""

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import dojax  # noqa: E402
from dojax import render  # noqa: E402
from dojax.optimize import action_bounds, ilqr  # noqa: E402
from dojax.optimize.dynamics import to_state  # noqa: E402

DT, HORIZON, TORQUE_LIMIT = 0.1, 40, 1.4


def upright(y):
    """Final-state constraint: theta = pi at rest, through sin and cos (the angle wraps at pi)."""
    return jnp.array([jnp.sin(y[0]), 1.0 + jnp.cos(y[0]), y[1]])


def upright_maximal(mech):
    """The same in maximal coordinates: the link's centre of mass above the pivot, at rest."""
    top = dojax.from_minimal(mech, jnp.array([jnp.pi, 0.0])).x[0]
    return lambda z: jnp.concatenate([z[0:3] - top, z[3:6], z[10:13]])


def effort(y, u):
    return 0.05 * u @ u


def main(out_dir, coordinates):
    mech = dojax.load("pendulum", timestep=DT)
    final = upright if coordinates == "minimal" else upright_maximal(mech)
    start = time.perf_counter()
    result = ilqr(mech, mech.initial_state(), jnp.full((HORIZON, 1), 0.5), effort, final_equality=final,
                  inequality=action_bounds(-TORQUE_LIMIT, TORQUE_LIMIT), penalty=10.0, cost_tolerance=1e-4,
                  coordinates=coordinates, verbose=True, progress_bar=True)
    seconds = time.perf_counter() - start
    theta, rate = dojax.to_minimal(mech, to_state(mech, jnp.asarray(result.states[-1]), coordinates))
    print(f"{result.status} after {result.iterations} iterations ({seconds:.1f} s with compilation): "
          f"cost {result.cost[-1]:.4f}, violation {result.violation[-1]:.1e}, final theta {theta:.5f} rad, "
          f"rate {rate:.1e} rad/s, peak torque {abs(result.actions).max():.4f} N m")

    out_dir.mkdir(parents=True, exist_ok=True)
    png, gif = out_dir / "ilqr_pendulum.png", out_dir / "ilqr_pendulum.gif"
    fig, (ax_cost, ax_violation) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_cost.plot(result.cost, marker=".")
    ax_cost.set(xlabel="iteration", ylabel="cost", title="objective")
    ax_violation.semilogy(result.violation, marker=".")
    ax_violation.set(xlabel="iteration", ylabel="max violation", title="constraint violation")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    states = jax.vmap(lambda y: to_state(mech, y, coordinates))(jnp.asarray(result.states[1:]))
    render.animate(mech, states, gif, fps=round(1 / DT))
    print(f"wrote {png} and {gif}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", nargs="?", type=Path, default=Path("."))
    parser.add_argument("--coordinates", choices=("minimal", "maximal"), default="minimal")
    args = parser.parse_args()
    main(args.output_dir, args.coordinates)
