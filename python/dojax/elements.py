"""Complementarity elements: contacts (three friction models) and joint limits.

An element couples body a and body b (b may be the world) through local variables y: primal and dual
blocks of cone pairs. Its residual rows are its equalities followed by its complementarity rows
y_primal ∘ y_dual - mu e. Its impulse on each body is linear in y, through a map fixed at the
current configuration (as for joints); its equalities are evaluated at the next configuration.

Contact models (Dojo's, section 2.1 of the method notes), with gap phi at the next configuration and
tangential velocity v_t of the contact point. The gap enters divided by the timestep, phi / h - s = 0:
the slack s is then a velocity, the complementarity gamma s = kappa has units of energy, and the gap
that a smoothing level kappa leaves under a contact force F = gamma / h is kappa / F, whatever the
timestep (with phi - s = 0, as in Dojo, it would grow as 1 / h).

* ``soc`` (default): y = [gamma, beta(3), s, eta(3)]; phi / h - s = 0, mu gamma - beta0 = 0,
  v_t - eta_1: = 0; gamma s = kappa, beta ∘ eta = kappa e in the second-order cone. Friction impulse
  beta_1: lies in the cone |beta_1:| <= mu gamma and opposes sliding (maximum dissipation).
* ``linear``: a four-sided pyramid: y = [gamma, psi, beta(4), s, s_psi, eta(4)];
  phi / h - s = 0, mu gamma - sum(beta) - s_psi = 0, P v_t + psi - eta = 0; all in the orthant.
* ``impact``: frictionless, y = [gamma, s]; phi / h - s = 0.

Joint limits, one per bound: y = [gamma, s]; s - sign (theta - bound) / h = 0 with sign +1 for a lower
and -1 for an upper bound; the impulse sign * gamma acts on the joint coordinate theta.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from dojax import cones
from dojax import integrator
from dojax import joints as joint_lib
from dojax.collision import GEOMETRIES

PYRAMID = np.array([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [-1.0, 0.0]])


class Layout(NamedTuple):
    """Static description of an element's variables."""

    size: int
    orthant: tuple  # ((primal index, dual index), ...)
    soc: tuple  # ((primal indices (3,), dual indices (3,)), ...)
    neutral: tuple  # initial value of each variable (the cone identity)
    gap_slacks: tuple  # variables started at the current gap rate (when it exceeds 1)

    @property
    def num_equalities(self):
        return self.size - len(self.orthant) - 3 * len(self.soc)


LAYOUTS = {
    "soc": Layout(8, ((0, 4),), (((1, 2, 3), (5, 6, 7)),), (1, 1, 0, 0, 1, 1, 0, 0), (4, 5)),
    "linear": Layout(12, tuple((i, i + 6) for i in range(6)), (), (1,) * 12, (6,)),
    "impact": Layout(2, ((0, 1),), (), (1, 1), (1,)),
    "limit": Layout(2, ((0, 1),), (), (1, 1), (1,)),
}


def contact_equalities(model, gap_rate, v_t, friction, y):
    """Equality rows of one contact of the given model (gap_rate = phi / h)."""
    if model == "soc":
        return jnp.concatenate([jnp.stack([gap_rate - y[4], friction * y[0] - y[1]]), v_t - y[6:8]])
    if model == "linear":
        beta, eta = y[2:6], y[8:12]
        return jnp.concatenate([
            jnp.stack([gap_rate - y[6], friction * y[0] - jnp.sum(beta) - y[7]]),
            jnp.asarray(PYRAMID, y.dtype) @ v_t + y[1] - eta])
    return jnp.stack([gap_rate - y[1]])


def contact_impulse(model, y):
    """(normal impulse, tangential impulse (2,)) of one contact."""
    if model == "soc":
        return y[0], y[2:4]
    if model == "linear":
        return y[0], jnp.asarray(PYRAMID, y.dtype).T @ y[2:6]
    return y[0], jnp.zeros(2, y.dtype)


def complementarity(layout, y):
    """Jordan products of the element's cone pairs, in row order (orthant pairs, then SOC pairs)."""
    parts = []
    if layout.orthant:
        p, d = (np.array(i) for i in zip(*layout.orthant))
        parts.append(cones.orthant_product(y[p], y[d]))
    for p, d in layout.soc:
        parts.append(cones.soc_product(y[np.array(p)], y[np.array(d)]))
    return jnp.concatenate(parts)


def identity(layout, dtype):
    """The cone identity e in complementarity-row order."""
    parts = [jnp.ones(len(layout.orthant), dtype)] + [jnp.array([1.0, 0.0, 0.0], dtype)] * len(layout.soc)
    return jnp.concatenate(parts)


def max_step(layout, y, dy):
    """Largest alpha keeping every cone block of y + alpha dy interior (inf if unbounded)."""
    alpha = jnp.inf
    if layout.orthant:
        idx = np.array([i for pair in layout.orthant for i in pair])
        alpha = jnp.minimum(alpha, cones.orthant_step(y[..., idx], dy[..., idx]))
    for p, d in layout.soc:
        for block in (np.array(p), np.array(d)):
            alpha = jnp.minimum(alpha, cones.soc_step(y[..., block], dy[..., block]))
    return alpha


def duality_measure(layout, y):
    """(sum of yᵀz over cone pairs, number of pairs) of a stack of elements."""
    total = 0.0
    for p, d in layout.orthant:
        total = total + jnp.sum(y[..., p] * y[..., d])
    for p, d in layout.soc:
        total = total + jnp.sum(y[..., np.array(p)] * y[..., np.array(d)])
    count = (len(layout.orthant) + len(layout.soc)) * (y.shape[0] if y.ndim > 1 else 1)
    return total, count


# -- element equations (one element; vmapped by the caller) ---------------------------------------

def contact_terms(model, geometry, pre, h, xa, qa, xb, qb, Va, Vb, y):
    """(equality rows, impulse on a (6,), impulse on b (6,)) of one contact."""
    xa3, qa3 = integrator.next_configuration(xa, qa, Va[:3], Va[3:], h)
    xb3, qb3 = integrator.next_configuration(xb, qb, Vb[:3], Vb[3:], h)
    phi = GEOMETRIES[geometry](xa3, qa3, xb3, qb3, pre["params"])[0]
    v_t = pre["tangent"].T @ (pre["map_a"] @ Va - pre["map_b"] @ Vb)
    rows = contact_equalities(model, phi / h, v_t, pre["params"]["friction"], y)
    normal_impulse, tangential = contact_impulse(model, y)
    force = pre["normal"] * normal_impulse + pre["tangent"] @ tangential
    return rows, pre["map_a"].T @ force, -pre["map_b"].T @ force


def limit_terms(pre, h, xa, qa, xb, qb, Va, Vb, y):
    """One joint limit; a = the joint's child, b = its parent."""
    xa3, qa3 = integrator.next_configuration(xa, qa, Va[:3], Va[3:], h)
    xb3, qb3 = integrator.next_configuration(xb, qb, Vb[:3], Vb[3:], h)
    theta3 = joint_lib.coordinates(pre["joint"], xb3, qb3, xa3, qa3)
    step = joint_lib.coordinate_difference(pre["joint"], theta3, pre["theta2"])
    theta = pre["theta2"][pre["row"]] + step[pre["row"]]
    rows = jnp.stack([y[1] - pre["sign"] * (theta - pre["bound"]) / h])
    generalized = pre["map"] * (pre["sign"] * y[0])  # (12,) on [parent; child]
    return rows, generalized[6:], generalized[:6]
