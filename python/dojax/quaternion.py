"""Unit-quaternion algebra, scalar first (w, x, y, z), Hamilton product, body -> world.

All functions act on the last axis and broadcast over leading axes. :data:`numpy_ops` holds the same
functions evaluated by NumPy, for constants computed while a model is built.
"""

import types

import jax.numpy as jnp
import numpy as np

IDENTITY = (1.0, 0.0, 0.0, 0.0)


def multiply(p, q):
    """Hamilton product p ⊗ q."""
    pw, pv = p[..., :1], p[..., 1:]
    qw, qv = q[..., :1], q[..., 1:]
    w = pw * qw - jnp.sum(pv * qv, axis=-1, keepdims=True)
    v = pw * qv + qw * pv + jnp.cross(pv, qv)
    return jnp.concatenate([w, v], axis=-1)


def conjugate(q):
    """Inverse of a unit quaternion."""
    return q * jnp.array([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def rotate(q, v):
    """R(q) v: a body-frame vector expressed in the world frame."""
    qw, qv = q[..., :1], q[..., 1:]
    t = 2.0 * jnp.cross(qv, v)
    return v + qw * t + jnp.cross(qv, t)


def rotate_inverse(q, v):
    """R(q)^T v: a world-frame vector expressed in the body frame."""
    return rotate(conjugate(q), v)


def to_matrix(q):
    """Rotation matrix R(q) with shape (..., 3, 3)."""
    eye = jnp.eye(3, dtype=q.dtype)
    cols = [rotate(q, jnp.broadcast_to(eye[i], q.shape[:-1] + (3,))) for i in range(3)]
    return jnp.stack(cols, axis=-1)


def cayley(omega, timestep):
    """Quaternion of one step of body angular velocity omega: [sqrt(1 - |h w/2|^2), h w / 2].

    This is the map of Dojo's variational integrator (q3 = q2 ⊗ cayley(w25, h)); it is exactly
    unit norm while |w| < 2/h, which the solver enforces.
    """
    a = 0.5 * timestep * omega
    s = jnp.sqrt(jnp.maximum(1.0 - jnp.sum(a * a, axis=-1, keepdims=True), 0.0))
    return jnp.concatenate([s, a], axis=-1)


def _safe_norm(v):
    """Norm of v with a finite (zero) derivative at v = 0."""
    sq = jnp.sum(v * v, axis=-1, keepdims=True)
    nonzero = sq > 0.0
    return jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 0.0)


def to_rotation_vector(q):
    """Axis * angle of q, angle in [0, pi] (q and -q give the same vector)."""
    q = jnp.where(q[..., :1] < 0.0, -q, q)
    w, v = q[..., :1], q[..., 1:]
    n = _safe_norm(v)
    angle = 2.0 * jnp.arctan2(n, w)
    # angle / n -> 2 / w as n -> 0; the series keeps the derivative exact there.
    small = n < 1e-6
    n_safe = jnp.where(small, 1.0, n)
    w_safe = jnp.where(small, w, 1.0)
    scale = jnp.where(small, 2.0 / w_safe - (2.0 / 3.0) * n * n / w_safe**3, angle / n_safe)
    return scale * v


def from_rotation_vector(phi):
    """Unit quaternion of rotation vector phi (axis * angle)."""
    sq = jnp.sum(phi * phi, axis=-1, keepdims=True)
    small = sq < 1e-12
    angle = jnp.sqrt(jnp.where(small, 1.0, sq))
    half = 0.5 * angle
    sinc = jnp.where(small, 0.5 - sq / 48.0, jnp.sin(half) / angle)
    w = jnp.where(small, 1.0 - sq / 8.0, jnp.cos(half))
    return jnp.concatenate([w, sinc * phi], axis=-1)


def _evaluated_by_numpy(names):
    """The functions ``names`` of this module with ``jnp`` bound to NumPy: the same formulas,
    calling each other, on NumPy arrays and returning NumPy arrays."""
    namespace = {**globals(), "jnp": np}
    for name in names:
        f = globals()[name]
        namespace[name] = types.FunctionType(f.__code__, namespace, name, f.__defaults__, f.__closure__)
        namespace[name].__doc__ = f.__doc__
    return types.SimpleNamespace(**{name: namespace[name] for name in names})


#: This module's functions evaluated by NumPy (e.g. ``numpy_ops.to_matrix(q)`` of a NumPy ``q``), for
#: constants of a model: outside ``jit`` each ``jnp`` operation compiles an XLA program (once per
#: shape) and dispatches to the device, where NumPy computes a 4-vector in microseconds.
numpy_ops = _evaluated_by_numpy(["multiply", "conjugate", "rotate", "rotate_inverse", "to_matrix", "cayley",
                                 "_safe_norm", "to_rotation_vector", "from_rotation_vector"])
