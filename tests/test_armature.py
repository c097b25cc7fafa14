"""Armature (joint-space inertia on joint coordinates): conservation, physics, and input checks.

The step's derivatives with armature present (in the armature itself and in the state) are checked
against finite differences in tests/test_gradients.py (its zoos give joints armature); the native
kernel's solution with armature against the JAX path's in tests/test_native.py; the gymnasium robots'
motion with their armature against MuJoCo's in tests/test_mujoco.py; the import in tests/test_import.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax.shapes import Box

TIGHT = dojax.SolverOptions(rtol=1e-12)


def _chain(armature, gravity=0.0):
    """A free box and a second box hinged to it about an oblique axis, tumbling in zero gravity."""
    b = dojax.MechanismBuilder(timestep=0.01, gravity=gravity)
    b.add_body("a", 1.5, shape=Box(0.1, 0.3, 0.6), velocity=(0.3, -0.2, 0.5), angular_velocity=(0.4, 1.0, -0.7))
    b.add_body("b", 0.7, shape=Box(0.1, 0.1, 0.5))
    b.add_joint("hinge", "revolute", "a", "b", axis=(1, 0.3, 0), parent_vertex=(0, 0, 0.3),
                child_vertex=(0, 0, -0.25), initial_position=0.4, initial_velocity=3.0, armature=armature)
    return b.build()


def test_armature_conserves_momentum_and_energy():
    # Momentum: the armature's impulses act through the Jacobian of a coordinate that rigid motions of
    # the whole chain leave unchanged, so they carry no net wrench; measured drift ~1e-12 over 5 s.
    # Energy (bodies' and armature's kinetic energy): the term is variational, so the error oscillates
    # without drift; measured 7.4e-4 relative over 5 s, the same in the first and the second half.
    mech = _chain(armature=0.2)
    state = mech.initial_state()
    states, infos = dojax.rollout(mech, state, jnp.zeros((500, 0)), TIGHT)
    assert bool(infos.converged.all())
    p0, l0 = dojax.momentum(mech, state)
    p, l = jax.vmap(lambda s: dojax.momentum(mech, s))(states)
    assert float(jnp.abs(p - p0).max()) < 1e-10
    assert float(jnp.abs(l - l0).max()) < 1e-10
    e0 = float(dojax.energy(mech, state))
    error = np.abs(np.asarray(jax.vmap(lambda s: dojax.energy(mech, s))(states)) - e0) / e0
    assert error.max() < 2e-3
    assert error[250:].max() < 1.5 * error[:250].max()  # no drift
    # the armature holds a real share of it: the bodies' energy alone varies by tens of percent
    bodies = mech.replace(armature=jnp.zeros_like(mech.armature))
    assert np.abs(np.asarray(jax.vmap(lambda s: dojax.energy(bodies, s))(states)) - e0).max() / e0 > 0.1


def test_hinge_with_armature_accelerates_as_torque_over_total_inertia():
    # A box on a hinge about its own principal z axis through its centre, torque tau from rest:
    # rate(t) = tau t / (I + a). Without armature the discrete motion differs from it by about
    # (2/3) (h w / 2)^2 relative (the body's discrete momentum J w sqrt(1 - (h w / 2)^2) and the
    # angle 2 asin(h w / 2) of a step): 1.4e-5 at the final w = 0.92 rad/s; the bound 1e-4. With
    # armature the speed is lower and the error smaller.
    tau, steps, h = 0.02, 100, 0.01
    for armature in (0.0, 0.05):
        b = dojax.MechanismBuilder(timestep=h, gravity=0.0)
        b.add_body("box", 2.0, shape=Box(0.3, 0.2, 0.1))
        b.add_joint("hinge", "revolute", "world", "box", axis=(0, 0, 1), actuated=True, armature=armature)
        mech = b.build()
        inertia = float(mech.inertia[0, 2, 2])
        states, infos = dojax.rollout(mech, mech.initial_state(), jnp.full((steps, 1), tau), TIGHT)
        assert bool(infos.converged.all())
        rate = float(dojax.to_minimal(mech, jax.tree.map(lambda a: a[-1], states))[1])
        assert rate == pytest.approx(tau * steps * h / (inertia + armature), rel=1e-4)


def test_slider_armature_adds_to_the_mass():
    # A prismatic joint's armature is a mass on its coordinate: force f on mass m + a.
    mech = dojax.load("slider", gravity=0.0)
    mech = mech.replace(armature=mech.armature.at[0, 0].set(3.0))
    states, _ = dojax.rollout(mech, mech.initial_state(), jnp.full((10, 1), 2.0), TIGHT)
    rate = float(dojax.to_minimal(mech, jax.tree.map(lambda a: a[-1], states))[1])
    assert rate == pytest.approx(2.0 * 0.1 / (float(mech.mass[0]) + 3.0), rel=1e-12)


def test_bad_armature_is_refused():
    b = dojax.MechanismBuilder()
    b.add_body("a", 1.0, shape=Box(0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match="armature of joint 'j' must be non-negative"):
        b.add_joint("j", "revolute", "world", "a", armature=-1.0)
    with pytest.raises(ValueError, match="armature of 'j'"):
        b.add_joint("j", "revolute", "world", "a", armature=[1.0, 2.0])
    b.add_body("b", 1.0, shape=Box(0.1, 0.1, 0.1))
    b.add_joint("j", "revolute", "world", "a")
    b.add_joint("k", "revolute", "a", "b")
    b.add_joint("loop", "revolute", "world", "b", armature=0.1)
    with pytest.raises(ValueError, match="loop-closing joint 'loop' cannot have an armature"):
        b.build()
