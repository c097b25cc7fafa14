"""Collision geometry: signed distance, normal and contact point of a pair of shapes.

Every function takes the poses of body a and body b (world is the identity pose) and one contact's
parameters ``p`` (see :func:`dojax.mechanism.MechanismBuilder.add_contact`), and returns
``(phi, normal, point)``: the signed gap (negative when overlapping), the world unit normal pointing
from b towards a, and the world contact point. All are smooth JAX functions, so their derivatives
come from JAX.

Shapes on a body: a sphere (a point when its radius is 0) at ``points[0]``; a capsule, the segment
``points[0] -> points[1]`` swept by the radius; a box of half extents ``extent`` centred on the body.
"""

import jax
import jax.numpy as jnp
import numpy as np

from dojax import quaternion as quat


def _safe_normalize(v, fallback):
    sq = jnp.sum(v * v)
    ok = sq > 1e-24
    n = jnp.sqrt(jnp.where(ok, sq, 1.0))
    return jnp.where(ok, v / n, fallback), jnp.where(ok, n, 0.0)


def _closest_on_segment(p, a, b):
    ab = b - a
    t = jnp.clip(jnp.dot(p - a, ab) / jnp.maximum(jnp.dot(ab, ab), 1e-24), 0.0, 1.0)
    return a + t * ab


def _closest_between_segments(p1, q1, p2, q2):
    """Closest points of segments p1-q1 and p2-q2 (clamped parameters; parallel-safe)."""
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a, e, f = jnp.dot(d1, d1), jnp.dot(d2, d2), jnp.dot(d2, r)
    c, b = jnp.dot(d1, r), jnp.dot(d1, d2)
    denom = a * e - b * b
    s = jnp.where(denom > 1e-12 * jnp.maximum(a * e, 1e-24), jnp.clip((b * f - c * e) / jnp.where(denom > 0, denom, 1.0), 0, 1), 0.0)
    t = (b * s + f) / jnp.maximum(e, 1e-24)
    t_c = jnp.clip(t, 0.0, 1.0)
    s = jnp.where(t != t_c, jnp.clip((b * t_c - c) / jnp.maximum(a, 1e-24), 0.0, 1.0), s)
    return p1 + s * d1, p2 + t_c * d2


def _spheres(ca, ra, cb, rb):
    """Two spheres (centres ca, cb, radii ra, rb)."""
    n, dist = _safe_normalize(ca - cb, jnp.array([0.0, 0.0, 1.0], ca.dtype))
    phi = dist - ra - rb
    point = 0.5 * ((ca - ra * n) + (cb + rb * n))
    return phi, n, point


def _world_point(x, q, local):
    return x + quat.rotate(q, local)


def sphere_halfspace(xa, qa, xb, qb, p):
    """Sphere on body a against the plane {y : normalᵀ y = offset} fixed in the world."""
    centre = _world_point(xa, qa, p["points"][0])
    n = p["normal"]
    phi = jnp.dot(n, centre) - p["offset"] - p["radius"][0]
    return phi, n, centre - (p["radius"][0] + 0.5 * phi) * n


def sphere_sphere(xa, qa, xb, qb, p):
    return _spheres(_world_point(xa, qa, p["points"][0]), p["radius"][0],
                    _world_point(xb, qb, p["points"][2]), p["radius"][1])


def sphere_capsule(xa, qa, xb, qb, p):
    ca = _world_point(xa, qa, p["points"][0])
    cb = _closest_on_segment(ca, _world_point(xb, qb, p["points"][2]), _world_point(xb, qb, p["points"][3]))
    return _spheres(ca, p["radius"][0], cb, p["radius"][1])


def capsule_capsule(xa, qa, xb, qb, p):
    ca, cb = _closest_between_segments(
        _world_point(xa, qa, p["points"][0]), _world_point(xa, qa, p["points"][1]),
        _world_point(xb, qb, p["points"][2]), _world_point(xb, qb, p["points"][3]))
    return _spheres(ca, p["radius"][0], cb, p["radius"][1])


def _sphere_in_box(local, radius, xb, qb, half):
    """A sphere of centre ``local`` (in the frame of box b, half extents ``half``) against the box."""
    clamped = jnp.clip(local, -half, half)
    outside = jnp.any(jnp.abs(local) > half)
    n_out, dist = _safe_normalize(local - clamped, jnp.array([0.0, 0.0, 1.0], local.dtype))
    # inside: leave through the nearest face
    depth = half - jnp.abs(local)
    axis = jnp.argmin(depth)
    n_in = jnp.zeros(3, local.dtype).at[axis].set(jnp.where(local[axis] >= 0, 1.0, -1.0))
    n_local = jnp.where(outside, n_out, n_in)
    surface = jnp.where(outside, clamped, local.at[axis].set(n_in[axis] * half[axis]))
    phi = jnp.where(outside, dist, -jnp.min(depth)) - radius
    n = quat.rotate(qb, n_local)
    point = xb + quat.rotate(qb, surface) + 0.5 * phi * n
    return phi, n, point


def sphere_box(xa, qa, xb, qb, p):
    """Sphere on body a against a box (half extents ``extent``) centred on body b."""
    centre = _world_point(xa, qa, p["points"][0])
    return _sphere_in_box(quat.rotate_inverse(qb, centre - xb), p["radius"][0], xb, qb, p["extent"])


_CAPSULE_BOX_ITERATIONS = 8


def capsule_box(xa, qa, xb, qb, p):
    """Capsule on body a against a box (half extents ``extent``) centred on body b.

    The capsule is the sphere centred at one point of its segment: the segment point closest to the
    box centre, then moved by alternating projections (onto the box, back onto the segment; a fixed
    8 rounds) towards the point closest to the box. Separated, this converges to the closest pair
    (exactly so for a segment parallel to a face, as a capsule lying on a box); when the segment
    enters the box the point stays where it entered the projections, and the gap is the depth of
    that point below the nearest face (exact for a segment through the box centre, shallower than
    the deepest point otherwise). One contact per pair: a capsule resting across a box edge or
    lying on a face is held at one point, so it may roll about that point.
    """
    half = p["extent"]
    s0 = quat.rotate_inverse(qb, _world_point(xa, qa, p["points"][0]) - xb)
    s1 = quat.rotate_inverse(qb, _world_point(xa, qa, p["points"][1]) - xb)
    point = _closest_on_segment(jnp.zeros(3, s0.dtype), s0, s1)
    for _ in range(_CAPSULE_BOX_ITERATIONS):
        point = _closest_on_segment(jnp.clip(point, -half, half), s0, s1)
    return _sphere_in_box(point, p["radius"][0], xb, qb, half)


GEOMETRIES = {
    "sphere_halfspace": sphere_halfspace,
    "sphere_sphere": sphere_sphere,
    "sphere_capsule": sphere_capsule,
    "capsule_capsule": capsule_capsule,
    "sphere_box": sphere_box,
    "capsule_box": capsule_box,
}


def halfspace_gaps(mech, x, q):
    """(indices, gaps) of a mechanism's sphere-half-space contacts with bodies at positions ``x``
    and orientations ``q``: each sphere's signed distance to its half-space (negative inside)."""
    members = [m for kind, model, geometry, ms, _ in mech.structure.element_groups
               if kind == "contact" and geometry == "sphere_halfspace" for m in ms]
    k = np.array(sorted(members), dtype=int)
    a = mech.structure.contact_body_a[k]
    centre = x[a] + jax.vmap(quat.rotate)(q[a], mech.contact_points[k, 0])
    height = jnp.einsum("ij,ij->i", mech.contact_normal[k], centre)
    gap = height - mech.contact_offset[k] - mech.contact_radius[k, 0]
    return k, gap


def tangent_basis(n):
    """(3, 2) orthonormal tangent directions of unit normal n (a fixed helper axis, switched away
    from n; friction in the second-order cone does not depend on this choice)."""
    helper = jnp.where(jnp.abs(n[0]) < 0.9, jnp.array([1.0, 0.0, 0.0], n.dtype), jnp.array([0.0, 1.0, 0.0], n.dtype))
    t1 = jnp.cross(n, helper)
    t1 = t1 / jnp.linalg.norm(t1)
    return jnp.stack([t1, jnp.cross(n, t1)], axis=-1)
