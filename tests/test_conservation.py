"""Conservation laws of the variational integrator (Dojo's momentum.jl / energy.jl behaviours)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax.joints import JOINT_TYPES
from dojax.shapes import Box

TIGHT = dojax.SolverOptions(rtol=1e-12)


def _series(fn, mech, states):
    return jax.vmap(lambda s: fn(mech, s))(states)


def assert_same_state(a, b, atol=1e-10):
    """Equal states; quaternions q and -q are the same orientation."""
    for name in ("x", "v", "w"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=atol)
    sign = np.sign(np.sum(np.asarray(a.q) * np.asarray(b.q), axis=-1, keepdims=True))
    np.testing.assert_allclose(sign * np.asarray(a.q), b.q, atol=atol)


def _drift(series, reference):
    return float(jnp.max(jnp.abs(series - reference)))


@pytest.fixture(scope="module")
def tumbling_box():
    """A non-cubic free box in zero gravity, translating and tumbling about no principal axis."""
    b = dojax.MechanismBuilder(timestep=0.01, gravity=0.0)
    b.add_body("box", mass=1.3, shape=Box(0.1, 0.4, 0.9), velocity=(1, 2, 3), angular_velocity=(1.0, 5.0, 0.2))
    mech = b.build()
    state = mech.initial_state()
    states, infos = dojax.rollout(mech, state, jnp.zeros((500, 0)), TIGHT)
    assert bool(infos.converged.all())
    return mech, state, states


def test_free_box_momentum(tumbling_box):
    # Exact discrete conservation: the only error is the solver tolerance (1e-12) and round-off.
    mech, state, states = tumbling_box
    p0, l0 = dojax.momentum(mech, state)
    p, l = _series(dojax.momentum, mech, states)
    assert _drift(p, p0) < 1e-8
    assert _drift(l, l0) < 1e-8


def test_free_box_energy(tumbling_box):
    # A free body's kinetic energy is conserved by the discrete Euler equation to solver precision.
    mech, state, states = tumbling_box
    e0 = dojax.energy(mech, state)
    e = _series(dojax.energy, mech, states)
    assert _drift(e, e0) / e0 < 1e-8


@pytest.mark.parametrize("joint_type", sorted(JOINT_TYPES))
def test_twister_momentum_and_minimal_round_trip(joint_type):
    # Joint impulses are internal (equal and opposite, invariant constraints), so total momentum is
    # conserved to solver precision; minimal <-> maximal maps are exact inverses (round-off 1e-10).
    mech = dojax.load("twister", joint_type=joint_type, links=3, gravity=0.0)
    rng = np.random.default_rng(1)
    y = jnp.asarray(rng.uniform(-0.6, 0.6, mech.minimal_size))
    state = dojax.from_minimal(mech, y)
    np.testing.assert_allclose(dojax.to_minimal(mech, state), y, atol=1e-10)
    assert_same_state(dojax.from_minimal(mech, dojax.to_minimal(mech, state)), state)

    states, infos = dojax.rollout(mech, state, jnp.zeros((500, mech.action_size)), TIGHT)
    assert bool(infos.converged.all())
    p0, l0 = dojax.momentum(mech, state)
    p, l = _series(dojax.momentum, mech, states)
    assert _drift(p, p0) < 1e-8
    assert _drift(l, l0) < 1e-8
    # and the round trip holds on a state the dynamics produced, too
    last = jax.tree.map(lambda a: a[-1], states)
    assert_same_state(dojax.from_minimal(mech, dojax.to_minimal(mech, last)), last)


def test_pendulum_energy_drift():
    # Undamped pendulum, 20 s at dt = 0.01 from 1 rad: a symplectic integrator's energy error
    # oscillates without drift; Dojo's bar for its pendulum is 1e-3 relative.
    mech = dojax.load("pendulum", timestep=0.01)
    state = dojax.from_minimal(mech, jnp.array([1.0, 0.0]))
    states, infos = dojax.rollout(mech, state, jnp.zeros((2000, 1)), TIGHT)
    assert bool(infos.converged.all())
    e = _series(dojax.energy, mech, states)
    e0 = dojax.energy(mech, state)
    assert _drift(e, e0) / abs(e0) < 1e-3


def test_pendulum_small_amplitude_period():
    # Compound pendulum: T = 2 pi sqrt(I / (m g l)), I about the pivot, l the pivot-COM distance.
    mech = dojax.load("pendulum", timestep=0.001)
    m, l, g = 1.0, 0.5, 9.81
    inertia = float(mech.inertia[0, 0, 0]) + m * l**2
    expected = 2 * np.pi * np.sqrt(inertia / (m * g * l))
    state = dojax.from_minimal(mech, jnp.array([0.01, 0.0]))
    states, _ = dojax.rollout(mech, state, jnp.zeros((4000, 1)), TIGHT)
    theta = np.asarray(jax.jit(jax.vmap(dojax.to_minimal, in_axes=(None, 0)))(mech, states)[:, 0])
    t = 0.001 * np.arange(1, 4001)
    up = np.flatnonzero((theta[:-1] < 0) & (theta[1:] >= 0))  # upward zero crossings
    crossing = t[up] - theta[up] * (t[up + 1] - t[up]) / (theta[up + 1] - theta[up])
    period = np.mean(np.diff(crossing))
    assert abs(period - expected) / expected < 5e-3


def test_dzhanibekov_flip():
    # Spin about the intermediate axis is unstable: the arm swings from +x to -x of the system's
    # centre of mass within 4 s (Dojo's behaviours test uses the same criterion, x < -0.05).
    mech = dojax.load("dzhanibekov")
    state = mech.initial_state()
    states, infos = dojax.rollout(mech, state, jnp.zeros((400, 0)), TIGHT)
    assert bool(infos.converged.all())
    com = jnp.einsum("b,tbi->ti", mech.mass, states.x) / jnp.sum(mech.mass)
    arm = states.x[:, 1, 0] - com[:, 0]
    assert float(arm[0]) > 0.05
    assert float(jnp.min(arm)) < -0.05
    p0, l0 = dojax.momentum(mech, state)
    assert _drift(_series(dojax.momentum, mech, states)[1], l0) < 1e-8
