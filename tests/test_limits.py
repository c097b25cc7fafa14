"""Joint limits: one-sided complementarity constraints on joint coordinates."""

import jax
import jax.numpy as jnp
import numpy as np

import dojax
from dojax.shapes import Box

# Hard limits: the limit's complementarity gamma s = kappa = btol / undercut = 1e-9 leaves the
# coordinate kappa / (impulse / h) inside its bound, below 1e-8 here for impulses of 0.1 N s and
# more; equalities to 1e-10.
HARD = dojax.SolverOptions(rtol=1e-10, btol=1e-8)


def test_pendulum_rests_on_lower_limit():
    # Dojo's joint_limits test: a pendulum limited to [pi/4, pi] (0 = hanging straight down),
    # released at rest at 0.4 pi, swings down, hits the lower limit pi/4 and stays there. The
    # limit's impact is inelastic (the velocity into the bound is removed in one step) and gravity
    # then holds the link on the limit, so after 3 s it rests at pi/4; 1e-3 is Dojo's tolerance,
    # the smoothing offset is ~1e-9 rad.
    mech = dojax.load("npendulum", links=1, limits=(np.pi / 4, np.pi))
    state = dojax.from_minimal(mech, jnp.array([0.4 * np.pi, 0.0]))
    states, infos = dojax.rollout(mech, state, jnp.zeros((300, 1)), HARD)
    assert bool(infos.converged.all())
    y = np.asarray(jax.jit(jax.vmap(dojax.to_minimal, in_axes=(None, 0)))(mech, states))
    theta = y[:, 0]
    assert theta.min() > np.pi / 4 - 1e-6  # never through the limit (beyond round-off)
    assert abs(theta[-1] - np.pi / 4) < 1e-3
    assert abs(y[-1, 1]) < 1e-6  # at rest
    assert theta[10] < 0.4 * np.pi - 0.05  # it did swing down from its start


def test_limits_apply_to_every_npendulum_joint():
    mech = dojax.load("npendulum", links=3, limits=(-0.5, 0.25))
    assert mech.limit.shape == (6,)  # a lower and an upper bound per joint
    np.testing.assert_allclose(np.sort(np.asarray(mech.limit)), [-0.5] * 3 + [0.25] * 3)


def test_slider_stops_at_upper_limit():
    # A box on a horizontal prismatic joint (coordinate along x, limits [-inf, 0.5]), sliding at
    # 1 m/s and pushed by a constant 2 N, hits the upper limit and stays on it: position 0.5 to
    # 1e-6 (the smoothing offset is kappa / F ~ 1e-9 m), velocity zero, never beyond the bound.
    b = dojax.MechanismBuilder(timestep=0.01)
    b.add_body("box", mass=1.0, shape=Box(0.2, 0.2, 0.2))
    b.add_joint("slider", "prismatic", "world", "box", axis=(1.0, 0.0, 0.0), limits=(-np.inf, 0.5),
                initial_velocity=1.0, actuated=True)
    mech = b.build()
    assert mech.limit.shape == (1,)  # the open side adds no limit
    states, infos = dojax.rollout(mech, mech.initial_state(), jnp.full((100, 1), 2.0), HARD)
    assert bool(infos.converged.all())
    x = np.asarray(states.x[:, 0, 0])
    assert x.max() < 0.5 + 1e-8
    assert abs(x[-1] - 0.5) < 1e-6
    assert abs(float(states.v[-1, 0, 0])) < 1e-6
    # it got there by sliding: 0.5 m at >= 1 m/s takes under 0.5 s (50 steps)
    assert np.argmax(x > 0.5 - 1e-6) < 50
