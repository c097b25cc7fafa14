"""Energy and momentum of a State, in the integrator's discrete sense."""

import jax
import jax.numpy as jnp

from dojax import integrator
from dojax import quaternion as quat
from dojax.joints import coordinate_difference as joint_coordinate_difference
from dojax.minimal import joint_coordinates, with_world
from dojax.state import previous_configuration


def _coordinates(mech, x, q):
    s = mech.structure
    xw, qw = with_world(x, q)
    return joint_coordinates(mech, mech.joint_data(), s.joint_parent, s.joint_child, xw, qw)


def _potential(mech, x, theta):
    """Gravitational + spring potential energy of a configuration: positions x, joint coordinates theta."""
    gravity = -jnp.sum(mech.mass * (x @ mech.gravity))
    spring = 0.5 * jnp.sum(mech.spring * (theta - mech.spring_offset) ** 2)
    return gravity + spring


@jax.jit
def energy(mech, state):
    """Kinetic (bodies and armature) + gravitational + spring energy (J).

    Kinetic energy uses the step's midpoint velocities, and the armature's the joint coordinates'
    rates over the same step; the potential is averaged over the two configurations that bound the
    step (the trapezoid of the discrete Lagrangian), so both refer to the same instant.
    """
    kinetic = 0.5 * jnp.sum(mech.mass * jnp.sum(state.v**2, axis=-1))
    kinetic += 0.5 * jnp.sum(state.w * jnp.einsum("bij,bj->bi", mech.inertia, state.w))
    x1, q1 = previous_configuration(state, mech.timestep)
    theta1, theta2 = _coordinates(mech, x1, q1), _coordinates(mech, state.x, state.q)
    rate = jax.vmap(joint_coordinate_difference)(mech.joint_data(), theta2, theta1) / mech.timestep
    kinetic += 0.5 * jnp.sum(mech.armature * rate**2)
    return kinetic + 0.5 * (_potential(mech, x1, theta1) + _potential(mech, state.x, theta2))


@jax.jit
def momentum(mech, state):
    """(linear (3,), angular about the world origin (3,)) discrete momenta.

    These are the quantities the integrator conserves exactly in the absence of external forces:
    linear m v and angular x × m v + R(q) pi(w), with pi the body's discrete angular momentum.
    """
    linear = mech.mass[:, None] * state.v
    spin = integrator.rotational_momentum(mech.inertia, state.w, mech.timestep, -1.0)
    angular = jnp.cross(state.x, linear) + quat.rotate(state.q, spin)
    return jnp.sum(linear, axis=0), jnp.sum(angular, axis=0)
