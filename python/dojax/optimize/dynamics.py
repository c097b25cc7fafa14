"""Dynamics as the trajectory optimiser sees them: a step, its Jacobians, and the state's tangent space.

A :class:`Dynamics` is a set of pure functions of ``(model, y, ...)``: ``model`` is a pytree (for
dojax ``(mechanism, solver options)``), ``y`` a flat state vector. The optimiser perturbs states in a
tangent space: ``retract(model, y, d)`` moves ``y`` by the tangent ``d``, ``difference(model, y, ref)``
is its inverse, and ``jacobians`` differentiate the step in those tangent coordinates. Minimal
coordinates are a vector space (retract is addition); maximal coordinates hold a unit quaternion
per body, moved by a body-frame rotation vector, as :func:`dojax.jacobians` does.
"""

from typing import Callable, NamedTuple

import jax.numpy as jnp

import dojax
from dojax.state import State, difference, retract


class Dynamics(NamedTuple):
    """The functions iLQR needs of a system (each a JAX function, hashable as a whole).

    step(model, y, u) -> (y_next, ok): one step; ``ok`` False when the step failed (a solver that
    did not converge). jacobians(model, y, u) -> (A, B): derivatives of the next state's tangent with
    respect to the state's tangent and the action. retract(model, y, d) -> y: ``y`` moved by tangent
    ``d``. difference(model, y, reference) -> d: the tangent from ``reference`` to ``y``.
    """

    step: Callable
    jacobians: Callable
    retract: Callable
    difference: Callable


# ---------------------------------------------------------------- minimal coordinates

def _step_minimal(model, y, u):
    mech, opts = model
    state, info = dojax.step(mech, dojax.from_minimal(mech, y), u, opts)
    return dojax.to_minimal(mech, state), info.converged


def _jacobians_minimal(model, y, u):
    mech, opts = model
    jac = dojax.jacobians(mech, dojax.from_minimal(mech, y), u, opts, minimal=True)
    return jac["state"], jac["action"]


def _add(model, y, d):
    return y + d


def _subtract(model, y, reference):
    return y - reference


MINIMAL = Dynamics(step=_step_minimal, jacobians=_jacobians_minimal, retract=_add, difference=_subtract)


# ---------------------------------------------------------------- maximal coordinates

def state_vector(state):
    """Flat maximal coordinates (13 nb,): per body ``[x (3), v (3), q (4), w (3)]`` of a State."""
    return jnp.concatenate([state.x, state.v, state.q, state.w], axis=-1).reshape(-1)


def vector_state(y):
    """The State of flat maximal coordinates (inverse of :func:`state_vector`)."""
    table = y.reshape(-1, 13)
    return State(x=table[:, 0:3], v=table[:, 3:6], q=table[:, 6:10], w=table[:, 10:13])


def _step_maximal(model, y, u):
    mech, opts = model
    state, info = dojax.step(mech, vector_state(y), u, opts)
    return state_vector(state), info.converged


def _jacobians_maximal(model, y, u):
    mech, opts = model
    jac = dojax.jacobians(mech, vector_state(y), u, opts)
    return jac["state"], jac["action"]


def _retract_maximal(model, y, d):
    return state_vector(retract(vector_state(y), d.reshape(-1, 12)))


def _difference_maximal(model, y, reference):
    return difference(vector_state(y), vector_state(reference)).reshape(-1)


MAXIMAL = Dynamics(step=_step_maximal, jacobians=_jacobians_maximal, retract=_retract_maximal,
                   difference=_difference_maximal)

COORDINATES = {"minimal": MINIMAL, "maximal": MAXIMAL}


def to_coordinates(mech, state, coordinates):
    """A State as the flat state vector of ``coordinates`` ("minimal" or "maximal")."""
    return dojax.to_minimal(mech, state) if coordinates == "minimal" else state_vector(state)


def to_state(mech, y, coordinates):
    """The State of a flat state vector of ``coordinates`` (inverse of :func:`to_coordinates`)."""
    return dojax.from_minimal(mech, y) if coordinates == "minimal" else vector_state(y)
