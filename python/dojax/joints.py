"""Joints: one translational and one rotational part, each constrained along a masked set of axes.

A joint couples a parent (a body or the world) and a child body. Both parts are written in a joint
frame whose first axis is the joint ``axis`` and whose other two axes complete it to a right-handed
orthonormal frame. The translational part measures the displacement between the parent vertex and
the child vertex in the parent frame; the rotational part measures the rotation of the child
relative to the parent (after the orientation offset). A row of either part is *constrained* (held at
zero by an impulse) or *free* (a minimal coordinate, where inputs, springs and dampers act).

The sixteen joint types of Dojo are just the sixteen choices of which rows are free.
"""

import jax
import numpy as np
import jax.numpy as jnp

from dojax import quaternion as quat

# Free rows of each part in the joint frame [axis, ortho1, ortho2]:
#   translational: ()  none, (0,) along the axis, (1, 2) in the plane normal to the axis, all.
#   rotational:    ()  none, (0,) about the axis, (1, 2) about the two normal axes, all.
_T0, _T1, _T2, _T3 = (), (0,), (1, 2), (0, 1, 2)
_R0, _R1, _R2, _R3 = (), (0,), (1, 2), (0, 1, 2)

JOINT_TYPES = {
    "fixed": (_T0, _R0),
    "prismatic": (_T1, _R0),
    "planar": (_T2, _R0),
    "fixed_orientation": (_T3, _R0),
    "revolute": (_T0, _R1),
    "cylindrical": (_T1, _R1),
    "planar_axis": (_T2, _R1),
    "free_revolute": (_T3, _R1),
    "orbital": (_T0, _R2),
    "prismatic_orbital": (_T1, _R2),
    "planar_orbital": (_T2, _R2),
    "free_orbital": (_T3, _R2),
    "spherical": (_T0, _R3),
    "cylindrical_free": (_T1, _R3),
    "planar_free": (_T2, _R3),
    "floating": (_T3, _R3),
}


def free_mask(joint_type):
    """(6,) array, 1 on free rows [translational 3; rotational 3], 0 on constrained rows."""
    if joint_type not in JOINT_TYPES:
        raise ValueError(f"unknown joint type {joint_type!r}; valid: {', '.join(JOINT_TYPES)}")
    t_free, r_free = JOINT_TYPES[joint_type]
    mask = np.zeros(6)
    mask[list(t_free)] = 1.0
    mask[[3 + i for i in r_free]] = 1.0
    return mask


def axis_frame(axis):
    """Rows [a; b; c]: the unit axis a and two unit vectors completing a right-handed frame."""
    a = np.asarray(axis, dtype=float)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise ValueError(f"joint axis must be a finite 3-vector, got {axis!r}")
    n = np.linalg.norm(a)
    if n < 1e-12:
        raise ValueError("joint axis must have non-zero length")
    a = a / n
    helper = np.array([1.0, 0.0, 0.0]) if abs(a[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    b = np.cross(a, helper)
    b /= np.linalg.norm(b)
    c = np.cross(a, b)
    return np.stack([a, b, c])


def relative_rotation(q_parent, q_child, q_offset):
    """q_offset^-1 ⊗ q_parent^-1 ⊗ q_child: the child's rotation in the joint frame."""
    return quat.multiply(quat.conjugate(q_offset), quat.multiply(quat.conjugate(q_parent), q_child))


def displacement(x_parent, q_parent, x_child, q_child, vertex_parent, vertex_child):
    """Child vertex minus parent vertex, in the parent frame."""
    gap = x_child + quat.rotate(q_child, vertex_child) - x_parent - quat.rotate(q_parent, vertex_parent)
    return quat.rotate_inverse(q_parent, gap)


def constraint(joint, x_parent, q_parent, x_child, q_child):
    """(6,) joint-frame measure whose constrained rows must vanish.

    Translational rows: the vertex displacement; rotational rows: the vector part of the relative
    quaternion (smooth everywhere, as in Dojo). ``joint`` holds one joint's arrays (see JointData).
    """
    d = displacement(x_parent, q_parent, x_child, q_child, joint["vertex_parent"], joint["vertex_child"])
    r = relative_rotation(q_parent, q_child, joint["orientation_offset"])[..., 1:]
    frame_t, frame_r = joint["frame_translation"], joint["frame_rotation"]
    return jnp.concatenate([frame_t @ d, frame_r @ r])


def coordinates(joint, x_parent, q_parent, x_child, q_child):
    """(6,) joint coordinates: displacement and rotation vector in the joint frame.

    Their free rows are the joint's minimal coordinates, conjugate to its inputs and springs.
    """
    d = displacement(x_parent, q_parent, x_child, q_child, joint["vertex_parent"], joint["vertex_child"])
    phi = quat.to_rotation_vector(relative_rotation(q_parent, q_child, joint["orientation_offset"]))
    return jnp.concatenate([joint["frame_translation"] @ d, joint["frame_rotation"] @ phi])


def _skew(v):
    """[v]x: the matrix of v x ."""
    zero = jnp.zeros_like(v[0])
    return jnp.stack([jnp.stack([zero, -v[2], v[1]]), jnp.stack([v[2], zero, -v[0]]),
                      jnp.stack([-v[1], v[0], zero])])


def jacobians(joint, x_parent, q_parent, x_child, q_child):
    """(6, 12) derivatives of :func:`constraint` and of :func:`coordinates` with respect to the
    perturbation (dx_p, dtheta_p, dx_c, dtheta_c) of the two poses: world translations and body-frame
    rotations, q -> q ⊗ [1, dtheta / 2], at zero.

    Hand-derived: with g the child vertex's world position relative to the parent's origin and
    d = R_p^T g - v_p the displacement, d d = R_p^T (dx_c - dx_p) + [R_p^T g]x dtheta_p
    - R_p^T R_c [v_c]x dtheta_c; the relative rotation r = o* ⊗ q_p* ⊗ q_c moves by
    -1/2 o* ⊗ [0, dtheta_p] ⊗ (q_p* ⊗ q_c) and 1/2 r ⊗ [0, dtheta_c], and the rotation vector by the
    derivative of the logarithm at r. (Checked against ``jax.jacfwd`` of the perturbed functions in
    tests/test_mechanics.py.)
    """
    Rp, Rc = quat.to_matrix(q_parent), quat.to_matrix(q_child)
    vertex_child = joint["vertex_child"]
    g = x_child + Rc @ vertex_child - x_parent
    translation = jnp.concatenate([-Rp.T, _skew(Rp.T @ g), Rp.T, -Rp.T @ Rc @ _skew(vertex_child)], axis=1)

    units = jnp.eye(4, dtype=q_parent.dtype)[1:]  # [0, e_k], k = 1..3
    offset = quat.conjugate(joint["orientation_offset"])
    parent_to_child = quat.multiply(quat.conjugate(q_parent), q_child)
    r = quat.multiply(offset, parent_to_child)
    dr_parent = -0.5 * quat.multiply(quat.multiply(offset, units), parent_to_child).T
    dr_child = 0.5 * quat.multiply(r, units).T
    zeros = jnp.zeros((4, 3), dtype=r.dtype)
    dr = jnp.concatenate([zeros, dr_parent, zeros, dr_child], axis=1)  # (4, 12)
    dphi = jax.jacfwd(quat.to_rotation_vector)(r) @ dr

    frame_t, frame_r = joint["frame_translation"], joint["frame_rotation"]
    dt = frame_t @ translation
    return jnp.concatenate([dt, frame_r @ dr[1:]]), jnp.concatenate([dt, frame_r @ dphi])


def coordinate_difference(joint, theta_new, theta_old):
    """theta_new - theta_old, with single-axis rotations wrapped into (-pi, pi]."""
    diff = theta_new - theta_old
    wrapped = jnp.mod(diff + jnp.pi, 2.0 * jnp.pi) - jnp.pi
    return jnp.where(joint["wrap"], wrapped, diff)


def child_pose(joint, x_parent, q_parent, theta):
    """Child (x, q) from the parent pose and full joint coordinates theta (6,): inverse of `coordinates`."""
    phi = joint["frame_rotation"].T @ theta[3:]
    q_child = quat.multiply(quat.multiply(q_parent, joint["orientation_offset"]), quat.from_rotation_vector(phi))
    d = joint["frame_translation"].T @ theta[:3]
    x_child = (
        x_parent
        + quat.rotate(q_parent, joint["vertex_parent"] + d)
        - quat.rotate(q_child, joint["vertex_child"])
    )
    return x_child, q_child
