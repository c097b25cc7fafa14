"""Dojo's variational integrator: configuration update and the forced discrete Euler-Lagrange equation.

The unknowns of a step are the midpoint velocities (v25, w25) of every body; the next configuration
follows from them exactly: x3 = x2 + h v25, q3 = q2 ⊗ cayley(w25). The discrete Euler-Lagrange
residual of a free rigid body is

    translational:  m (v25 - v15) - h F
    rotational:     pi+(w25) - pi-(w15) - h tau,

with the body-frame discrete momenta pi±(w) = J w sqrt(1 - |h w / 2|^2) ± (h/2) w × J w. It conserves
linear and angular momentum exactly (see :func:`body_momentum`).
"""

import jax.numpy as jnp

from dojax import quaternion as quat


def max_angular_speed(timestep):
    """Largest |w| the solver accepts: |w|^2 <= 3.9 / h^2, inside the map's limit 4 / h^2."""
    return jnp.sqrt(3.9) / timestep


def next_configuration(x2, q2, v25, w25, timestep):
    return x2 + timestep * v25, quat.multiply(q2, quat.cayley(w25, timestep))


def rotational_momentum(inertia, w, timestep, sign):
    """Body-frame discrete angular momentum pi±(w) (sign = +1 for the step ahead, -1 behind)."""
    a = 0.5 * timestep * w
    s = jnp.sqrt(jnp.maximum(1.0 - jnp.sum(a * a, axis=-1, keepdims=True), 0.0))
    Jw = jnp.einsum("...ij,...j->...i", inertia, w)
    return s * Jw + sign * 0.5 * timestep * jnp.cross(w, Jw)


def body_dynamics(mass, inertia, timestep, v15, w15, v25, w25, force, torque):
    """(6,) discrete Euler-Lagrange residual of one body.

    ``force`` is a world-frame force and ``torque`` a body-frame torque, both held over the step.
    """
    lin = mass * (v25 - v15) - timestep * force
    ang = (rotational_momentum(inertia, w25, timestep, 1.0)
           - rotational_momentum(inertia, w15, timestep, -1.0) - timestep * torque)
    return jnp.concatenate([lin, ang])
