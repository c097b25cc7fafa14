"""The State pytree: maximal coordinates, one row per body (Dojo's conventions)."""

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from dojax import quaternion as quat


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class State:
    """Configuration at time k and midpoint velocities of the step that reached it.

    Attributes:
        x: (nb, 3) centre-of-mass position, world frame.
        v: (nb, 3) linear velocity over the last step, (x_k - x_{k-1}) / h, world frame.
        q: (nb, 4) unit quaternion body -> world, scalar first (w, x, y, z).
        w: (nb, 3) angular velocity over the last step, body frame.
    """

    x: jax.Array
    v: jax.Array
    q: jax.Array
    w: jax.Array

    def replace(self, **fields):
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **fields)


def previous_configuration(state, timestep):
    """(x_{k-1}, q_{k-1}) implied by the state's midpoint velocities."""
    x1 = state.x - timestep * state.v
    q1 = quat.multiply(state.q, quat.conjugate(quat.cayley(state.w, timestep)))
    return x1, q1


def from_configurations(x1, q1, x2, q2, timestep):
    """State at configuration 2 whose velocities carry the body from configuration 1 to 2."""
    dq = quat.multiply(quat.conjugate(q1), q2)
    dq = jnp.where(dq[..., :1] < 0.0, -dq, dq)
    w = 2.0 / timestep * dq[..., 1:]
    return State(x=x2, v=(x2 - x1) / timestep, q=q2, w=w)


def retract(state, dz):
    """The state moved by the tangent dz (..., 12) = [dx, dv, dtheta, dw] per body, dtheta a
    body-frame rotation of q (q ⊗ exp(dtheta)): the coordinates of :func:`dojax.jacobians`."""
    dq = quat.from_rotation_vector(dz[..., 6:9])
    return state.replace(x=state.x + dz[..., 0:3], v=state.v + dz[..., 3:6],
                         q=quat.multiply(state.q, dq), w=state.w + dz[..., 9:12])


def difference(state, reference):
    """The tangent (..., 12) that moves ``reference`` to ``state`` (the inverse of :func:`retract`)."""
    rot = quat.to_rotation_vector(quat.multiply(quat.conjugate(reference.q), state.q))
    return jnp.concatenate([state.x - reference.x, state.v - reference.v, rot, state.w - reference.w], axis=-1)
