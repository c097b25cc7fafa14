"""Minimal coordinates: joint positions and velocities, grouped per tree joint.

For each tree joint (in joint order) the vector holds ``[positions; velocities]`` of its free rows:
translational rows are displacements along the joint frame, rotational rows are rotation-vector
components of the child's rotation relative to the parent. Velocities are the finite differences of
those coordinates over the last step, divided by the timestep, matching the State's midpoint
velocities exactly (so ``from_minimal(to_minimal(s)) == s``). A free body's implicit floating joint
contributes its world position and rotation vector.
"""

import jax
import jax.numpy as jnp
import numpy as np

from dojax import joints as joint_lib
from dojax import quaternion as quat
from dojax.state import State, from_configurations, previous_configuration


def minimal_index(structure):
    """Flat indices into the per-tree-joint (nb, 12) table [coordinates; velocities]."""
    mask = structure.free_mask[: len(structure.body_names)]
    rows = [np.concatenate([np.flatnonzero(m), 6 + np.flatnonzero(m)]) + 12 * i for i, m in enumerate(mask)]
    return np.concatenate(rows).astype(int)


def tree_joint_data(mech):
    nb = mech.num_bodies
    return jax.tree.map(lambda a: a[:nb], mech.joint_data())


def with_world(x, q):
    """Append the world's pose (origin, identity) as row nb."""
    return (jnp.concatenate([x, jnp.zeros_like(x[:1])]),
            jnp.concatenate([q, jnp.broadcast_to(jnp.asarray(quat.IDENTITY, q.dtype), q[:1].shape)]))


def joint_coordinates(mech, jdata, parent, child, x, q):
    """(n, 6) coordinates of joints with the given data / parent / child rows of (x, q) with world."""
    return jax.vmap(joint_lib.coordinates)(jdata, x[parent], q[parent], x[child], q[child])


def joint_row(jdata, h, parent, child):
    """One tree joint's row of :func:`to_minimal`'s table, its 6 coordinates and then their 6
    rates, from its data, the timestep and its parent's and child's ``(x, q, v, w)`` (the world's:
    zeros and the identity). The step's joint data read it (:func:`dojax.residual._joint_data`),
    and the native kernel's generated ``joint_minimal`` computes it."""
    theta2 = joint_lib.coordinates(jdata, *parent[:2], *child[:2])
    (xp1, qp1), (xc1, qc1) = (previous_configuration(State(x=x, q=q, v=v, w=w), h)
                              for x, q, v, w in (parent, child))
    theta1 = joint_lib.coordinates(jdata, xp1, qp1, xc1, qc1)
    return jnp.concatenate([theta2, joint_lib.coordinate_difference(jdata, theta2, theta1) / h])


def to_minimal(mech, state, backend="auto"):
    """Minimal coordinates ``[positions; velocities]`` per tree joint of a maximal State.

    ``backend`` as :class:`~dojax.solver.SolverOptions`' (who evaluates them): ``"jax"``, ``"native"``
    (the C++ kernel, CPU only, one operation in a compiled program instead of a few dozen) or
    ``"auto"`` (native when it is built and JAX's default device is a CPU). Their derivatives are
    the JAX function's on either path."""
    from dojax.native import kernel

    if kernel.chosen(backend):
        return kernel.to_minimal(mech, state)
    return _to_minimal(mech, state)


def _to_minimal(mech, state):
    """:func:`to_minimal` in JAX."""
    s = mech.structure
    nb = mech.num_bodies
    h = mech.timestep
    jdata = tree_joint_data(mech)
    parent, child = s.joint_parent[:nb], s.joint_child[:nb]
    x2, q2 = with_world(state.x, state.q)
    x1, q1 = with_world(*previous_configuration(state, h))
    # both configurations in one batch: half the operations in a compiled program
    theta2, theta1 = jax.vmap(lambda x, q: joint_coordinates(mech, jdata, parent, child, x, q))(
        jnp.stack([x2, x1]), jnp.stack([q2, q1]))
    rate = jax.vmap(joint_lib.coordinate_difference)(jdata, theta2, theta1) / h
    table = jnp.concatenate([theta2, rate], axis=-1)
    return table.reshape(-1)[minimal_index(s)]


def from_minimal(mech, y):
    """Maximal State from minimal coordinates (placing bodies from the root to the leaves)."""
    s = mech.structure
    nb = mech.num_bodies
    y = jnp.asarray(y)
    if y.shape != (mech.minimal_size,):
        raise ValueError(f"minimal coordinates must have shape ({mech.minimal_size},), got {y.shape}")
    h = mech.timestep
    table = jnp.zeros(nb * 12, y.dtype).at[minimal_index(s)].set(y).reshape(nb, 12)
    theta2, rate = table[:, :6], table[:, 6:]
    theta1 = theta2 - h * rate
    jdata = tree_joint_data(mech)
    parent = jnp.asarray(s.joint_parent[:nb])
    place = jax.vmap(joint_lib.child_pose)

    def level(carry, nodes):
        x2, q2, x1, q1 = carry
        real = (nodes < nb)[:, None]
        safe = jnp.where(nodes < nb, nodes, 0)
        data = jax.tree.map(lambda a: a[safe], jdata)
        p = parent[safe]
        cx2, cq2 = place(data, x2[p], q2[p], theta2[safe])
        cx1, cq1 = place(data, x1[p], q1[p], theta1[safe])
        keep = lambda new, old: jnp.where(real, new, old[nodes])
        return (x2.at[nodes].set(keep(cx2, x2)), q2.at[nodes].set(keep(cq2, q2)),
                x1.at[nodes].set(keep(cx1, x1)), q1.at[nodes].set(keep(cq1, q1))), None

    zeros_x = jnp.zeros((nb, 3), y.dtype)
    zeros_q = jnp.tile(jnp.asarray(quat.IDENTITY, y.dtype), (nb, 1))
    x2, q2 = with_world(zeros_x, zeros_q)
    carry = (x2, q2, x2, q2)
    carry, _ = jax.lax.scan(level, carry, jnp.asarray(s.level_nodes[::-1]))
    x2, q2, x1, q1 = (a[:nb] for a in carry)
    return from_configurations(x1, q1, x2, q2, h)
