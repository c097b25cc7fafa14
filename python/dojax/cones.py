"""Cones of the complementarity constraints: the nonnegative orthant and the second-order cone.

A cone *pair* couples a primal block y and a dual block z of the same cone. Complementarity is the
Jordan product y ∘ z = kappa e (e the cone's identity); kappa -> 0 gives hard contact.

* orthant pair (scalars): y ∘ z = y z, e = 1.
* second-order cone pair (3-vectors, u0 >= |u_1:|): y ∘ z = (yᵀz, y0 z_1: + z0 y_1:), e = (1, 0, 0).
"""

import jax.numpy as jnp


def orthant_product(y, z):
    return y * z


def soc_product(y, z):
    """Jordan product of (..., 3) second-order-cone blocks."""
    head = jnp.sum(y * z, axis=-1, keepdims=True)
    tail = y[..., :1] * z[..., 1:] + z[..., :1] * y[..., 1:]
    return jnp.concatenate([head, tail], axis=-1)


def orthant_step(y, dy):
    """Largest alpha in (0, inf] with y + alpha dy >= 0 (elementwise), for y > 0."""
    return jnp.min(jnp.where(dy < 0.0, -y / jnp.where(dy < 0.0, dy, -1.0), jnp.inf), initial=jnp.inf)


def soc_step(u, du):
    """Largest alpha in (0, inf] keeping (..., 3) blocks u + alpha du in the second-order cone.

    The boundary is the smallest positive root of det(u + alpha du) = 0 with
    det(v) = v0^2 - |v_1:|^2 (u is interior, det(u) > 0).
    """
    a = du[..., 0] ** 2 - jnp.sum(du[..., 1:] ** 2, axis=-1)
    b = u[..., 0] * du[..., 0] - jnp.sum(u[..., 1:] * du[..., 1:], axis=-1)
    c = u[..., 0] ** 2 - jnp.sum(u[..., 1:] ** 2, axis=-1)
    disc = b * b - a * c
    root = jnp.sqrt(jnp.maximum(disc, 0.0))
    # roots of a t^2 + 2 b t + c: t = c / (-b -+ root) (stable form, c > 0)
    r1 = c / jnp.where(jnp.abs(-b - root) > 0, -b - root, -1.0)
    r2 = c / jnp.where(jnp.abs(-b + root) > 0, -b + root, -1.0)
    r1 = jnp.where((r1 > 0) & (disc >= 0), r1, jnp.inf)
    r2 = jnp.where((r2 > 0) & (disc >= 0), r2, jnp.inf)
    # the head must stay positive too: guards the near-degenerate case where round-off makes
    # disc slightly negative while the step runs out along the cone's axis
    head = jnp.where(du[..., 0] < 0.0, -u[..., 0] / jnp.where(du[..., 0] < 0.0, du[..., 0], -1.0), jnp.inf)
    return jnp.min(jnp.minimum(jnp.minimum(r1, r2), head), initial=jnp.inf)
