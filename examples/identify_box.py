"""Identify a tossed box's friction and corner positions from noisy pose measurements, and plot the fit.

    python examples/identify_box.py [OUTPUT_DIR]

Twenty tosses of dojax's block (a 0.5 m cube, friction 0.3, a contact point at each corner) are
simulated for 0.5 s each from random poses, velocities and spins; only the poses are kept, with
0.5 mm of noise on positions (and the matching 2 mrad on orientations), and written to
tosses.csv in OUTPUT_DIR (the documented layout) as a measurement system would. The fit starts
from a wrong box (friction 0.5, every corner coordinate off by up to 10%), reads the file back
and identifies one friction coefficient and the 8 corners (25 parameters) by Levenberg-Marquardt
on one-step predictions. Writes identify_box.png: identified against true values with their
standard deviations, and the cost and parameter error against iteration (default OUTPUT_DIR: the
current directory).
"""

import sys
from pathlib import Path

import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import dojax  # noqa: E402
from dojax import quaternion as quat  # noqa: E402
from dojax.optimize import Parameter, from_rollout, identify, load_trajectories, save_trajectories  # noqa: E402

FRICTION, NOISE, TOSSES, STEPS = 0.3, 0.0005, 20, 50


def measured_tosses(mech, rng):
    """Simulated tosses, reduced to noisy poses (velocities are then differenced from them)."""
    tosses = []
    for _ in range(TOSSES):
        q = rng.normal(size=4)
        start = dojax.State(x=np.array([[0.0, 0.0, rng.uniform(0.55, 0.8)]]),
                            v=np.array([[*rng.uniform(-3.0, 3.0, 2), rng.uniform(-1.0, 0.5)]]),
                            q=(q / np.linalg.norm(q))[None], w=rng.uniform(-6.0, 6.0, (1, 3)))
        states, infos = dojax.rollout(mech, start, np.zeros((STEPS, mech.action_size)))
        toss = from_rollout(mech, start, states)
        T = len(toss["time"])
        turn = np.asarray(quat.from_rotation_vector(NOISE / 0.25 * rng.normal(size=(T, 1, 3))))
        tosses.append(dict(time=toss["time"], position=toss["position"] + NOISE * rng.normal(size=(T, 1, 3)),
                           orientation=np.asarray(quat.multiply(toss["orientation"], turn))))
    return tosses


def main(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    true = dojax.load("block", friction=FRICTION)
    path = out_dir / "tosses.csv"
    save_trajectories(path, measured_tosses(true, rng), true.body_names)

    corners = np.asarray(true.contact_points[:, 0])
    wrong = corners * (1 + rng.uniform(-0.1, 0.1, (8, 3)))
    guess = true.replace(friction=jnp.full(8, 0.5), contact_points=true.contact_points.at[:, 0].set(wrong))
    params = [Parameter("friction", shared=True), Parameter("contact_points", np.s_[:, 0])]
    result = identify(guess, load_trajectories(path), params, max_iterations=25, verbose=True)
    print(result.status)
    print(f"friction {result.values['friction']:.4f} ± {result.std['friction']:.4f} (true {FRICTION})")
    error = np.abs(result.values["contact_points"] - corners).max()
    print(f"largest corner error {1000 * error:.2f} mm ({100 * error / 0.25:.2f}% of the half side)")

    truth = np.concatenate([[FRICTION], corners.ravel()])
    start = result.history[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    k = np.arange(len(truth))
    left.plot(k, start - truth, "x", color="0.6", label="initial guess")
    left.errorbar(k, result.theta - truth, yerr=2 * np.sqrt(np.diag(result.covariance)), fmt="o", ms=4,
                  label="identified (± 2 std)")
    left.axhline(0.0, color="k", lw=0.8)
    left.set_xticks(k, ["μ"] + [f"c{i // 3 + 1}{'xyz'[i % 3]}" for i in range(24)], rotation=90, fontsize=7)
    left.set_ylabel("value - true value (friction; m for corners)")
    left.set_title("identified against true parameters")
    left.legend()
    errors = np.abs(result.history - truth).max(axis=1)
    right.semilogy(result.cost, "o-", label="cost ½|r|²")
    right.semilogy(errors, "s-", label="largest parameter error")
    right.set_xlabel("iteration")
    right.set_title(f"fit ({result.windows} one-step windows, {TOSSES} tosses)")
    right.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "identify_box.png", dpi=120)
    print(f"wrote {out_dir / 'identify_box.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
