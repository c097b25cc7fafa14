"""The step's residual: bodies' discrete Euler-Lagrange equations and joint constraints.

Unknowns ``Unknowns(V, lam)``: V (nb, 6) the bodies' next midpoint velocities [v25; w25] and lam
(nj, 6) the joints' impulses (used on constrained rows; zero on free rows).

Joint forces act through Jacobians taken at the current configuration (Dojo's convention, the one
that makes the integrator a discrete Euler-Lagrange equation with holonomic constraints): constraint
impulses through the constraint's Jacobian, inputs, springs and dampers through the Jacobian of the
joint coordinates. Constraints are imposed at the next configuration. Dampers act on the new
velocities (implicit), springs on the current configuration.

The residual is one JAX function of (unknowns, problem); its Newton matrix is assembled blockwise
from per-element Jacobians (vmapped ``jax.jacfwd``), in the tree layout of :mod:`dojax.linalg`.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from dojax import integrator
from dojax import joints as joint_lib
from dojax import linalg
from dojax import quaternion as quat
from dojax.minimal import with_world


class Unknowns(NamedTuple):
    V: jax.Array  # (nb, 6)
    lam: jax.Array  # (nj, 6)


class Problem(NamedTuple):
    """Everything a step's residual needs, evaluated once at the current configuration."""

    x2: jax.Array  # (nb + 1, 3) with the world as the last row
    q2: jax.Array  # (nb + 1, 4)
    V15: jax.Array  # (nb, 6)
    force: jax.Array  # (nb, 3) world-frame force held over the step
    torque: jax.Array  # (nb, 3) body-frame torque
    jdata: dict  # per-joint arrays
    constraint_jacobian: jax.Array  # (nj, 6, 12) d constraint / d (parent, child) perturbation
    coordinate_jacobian: jax.Array  # (nj, 6, 12) d coordinates / d (parent, child) perturbation
    joint_impulse: jax.Array  # (nj, 6) input + spring impulses on free rows


def _perturbation_jacobian(fn, jdata, xp, qp, xc, qc):
    """d fn / d (dx_p, dtheta_p, dx_c, dtheta_c) at zero: world translations, body-frame rotations."""

    def perturbed(delta):
        return fn(jdata, xp + delta[0:3], quat.perturb(qp, delta[3:6]),
                  xc + delta[6:9], quat.perturb(qc, delta[9:12]))

    return jax.jacfwd(perturbed)(jnp.zeros(12, xp.dtype))


def make_problem(mech, state, action):
    """Evaluate the step's data at the current configuration."""
    s = mech.structure
    h = mech.timestep
    jdata = mech.joint_data()
    x2, q2 = with_world(state.x, state.q)
    p, c = s.joint_parent, s.joint_child
    both = lambda *a: jnp.concatenate([joint_lib.constraint(*a), joint_lib.coordinates(*a)])
    J = jax.vmap(_perturbation_jacobian, (None, 0, 0, 0, 0, 0))(both, jdata, x2[p], q2[p], x2[c], q2[c])
    Jc, Jt = J[:, :6], J[:, 6:]
    theta2 = jax.vmap(joint_lib.coordinates)(jdata, x2[p], q2[p], x2[c], q2[c])

    free = jnp.asarray(s.free_mask)
    # actions are forces (held over the step) or impulses; either way h * force = impulse
    force_scale = 1.0 if s.input_mode == "force" else 1.0 / h
    u = force_scale * mech.gear * action
    joint_u = jnp.where(s.actuator_kind == 0, u, 0.0)
    inputs = h * jnp.zeros_like(theta2).at[s.actuator_joint, s.actuator_row].add(joint_u)
    spring = -h * mech.spring * (theta2 - mech.spring_offset)
    force, torque = _actuator_wrenches(mech, state, u)
    return Problem(
        x2=x2, q2=q2, V15=jnp.concatenate([state.v, state.w], axis=-1),
        force=mech.mass[:, None] * mech.gravity + force, torque=torque,
        jdata=jdata, constraint_jacobian=Jc, coordinate_jacobian=Jt,
        joint_impulse=free * (inputs + spring),
    )


def _actuator_wrenches(mech, state, u):
    """World forces (nb, 3) and body-frame torques (nb, 3) of the body force/torque actuators."""
    s = mech.structure
    body = s.actuator_body
    world = (u[:, None] * s.actuator_direction)  # (nu, 3)
    is_force = (s.actuator_kind == 1)[:, None]
    is_torque = (s.actuator_kind == 2)[:, None]
    q = state.q[body]
    force_body = quat.rotate_inverse(q, world)
    torque = jnp.where(is_force, jnp.cross(s.actuator_vertex, force_body), 0.0)
    torque = torque + jnp.where(is_torque, force_body, 0.0)
    force = jnp.where(is_force, world, 0.0)
    zeros = jnp.zeros_like(state.x)
    return zeros.at[body].add(force), zeros.at[body].add(torque)


def _joint_terms(jdata, free, damper, Jc, Jt, impulse, h, xp, qp, xc, qc, Vp, Vc, lam):
    """One joint: (parent body residual, child body residual, joint residual), each (6,)."""
    xp3, qp3 = integrator.next_configuration(xp, qp, Vp[:3], Vp[3:], h)
    xc3, qc3 = integrator.next_configuration(xc, qc, Vc[:3], Vc[3:], h)
    damping = -h * damper * free * (Jt @ jnp.concatenate([Vp, Vc]))  # implicit: new velocities
    generalized = Jc.T @ ((1.0 - free) * lam) + Jt.T @ (impulse + damping)
    row = (1.0 - free) * joint_lib.constraint(jdata, xp3, qp3, xc3, qc3) / h + free * lam
    return -generalized[:6], -generalized[6:], row


def _body_terms(mass, inertia, h, V15, V, force, torque):
    return integrator.body_dynamics(mass, inertia, h, V15[:3], V15[3:], V[:3], V[3:], force, torque)


def _joint_args(mech, prob, W):
    s = mech.structure
    V = jnp.concatenate([W.V, jnp.zeros_like(W.V[:1])])  # the world does not move
    p, c = s.joint_parent, s.joint_child
    return (prob.jdata, jnp.asarray(s.free_mask), mech.damper, prob.constraint_jacobian,
            prob.coordinate_jacobian, prob.joint_impulse, mech.timestep,
            prob.x2[p], prob.q2[p], prob.x2[c], prob.q2[c], V[p], V[c], W.lam)


_JOINT_AXES = (0, 0, 0, 0, 0, 0, None, 0, 0, 0, 0, 0, 0, 0)
_BODY_AXES = (0, 0, None, 0, 0, 0, 0)


def residual(mech, prob, W):
    """Residual pytree Unknowns(body rows (nb, 6), joint rows (nj, 6))."""
    s = mech.structure
    nb = mech.num_bodies
    body = jax.vmap(_body_terms, _BODY_AXES)(
        mech.mass, mech.inertia, mech.timestep, prob.V15, W.V, prob.force, prob.torque)
    rp, rc, rj = jax.vmap(_joint_terms, _JOINT_AXES)(*_joint_args(mech, prob, W))
    body = jnp.concatenate([body, jnp.zeros_like(body[:1])])
    body = body.at[s.joint_parent].add(rp).at[s.joint_child].add(rc)
    return Unknowns(body[:nb], rj)


class Linearization(NamedTuple):
    factors: linalg.TreeFactors
    B: jax.Array  # (nb + 1, 12, 6 nl) tree rows x loop impulses
    C: jax.Array  # (6 nl, nb + 1, 12) loop rows x tree unknowns
    E: jax.Array  # (6 nl, 6 nl)


def linearize(mech, prob, W):
    """Factorised Newton matrix d residual / d unknowns at W (tree blocks + loop border)."""
    s = mech.structure
    nb, nj = mech.num_bodies, mech.num_joints
    body_jac = jax.vmap(jax.jacfwd(_body_terms, argnums=4), _BODY_AXES)(
        mech.mass, mech.inertia, mech.timestep, prob.V15, W.V, prob.force, prob.torque)
    # (nj, 18, 18): rows [parent body, child body, joint], columns [Vp, Vc, lam]
    G = jax.vmap(jax.jacfwd(lambda *a: jnp.concatenate(_joint_terms(*a)), argnums=(11, 12, 13)),
                 _JOINT_AXES)(*_joint_args(mech, prob, W))
    G = jnp.concatenate(G, axis=-1)
    p, c = s.joint_parent, s.joint_child
    blk = lambda r, k: G[:, 6 * r: 6 * r + 6, 6 * k: 6 * k + 6]  # r, k in {0: parent, 1: child, 2: joint}
    zeros = jnp.zeros((nb + 1, 12, 12), G.dtype)

    # diagonal body blocks collect the dynamics and every joint's damping on that body
    Dbb = zeros[:, :6, :6].at[:nb].add(body_jac).at[p].add(blk(0, 0)).at[c].add(blk(1, 1))
    t = slice(0, nb)  # tree joints: joint i places body i
    D = zeros.at[:, :6, :6].set(Dbb)
    D = D.at[t, :6, 6:].set(blk(1, 2)[t]).at[t, 6:, :6].set(blk(2, 1)[t]).at[t, 6:, 6:].set(blk(2, 2)[t])
    D = D.at[nb].set(jnp.eye(12, dtype=G.dtype))
    root = (p[:nb] == nb)[:, None, None]
    L = zeros.at[t, :6, :6].set(jnp.where(root, 0.0, blk(1, 0)[t]))
    L = L.at[t, 6:, :6].set(jnp.where(root, 0.0, blk(2, 0)[t]))
    U = zeros.at[t, :6, :6].set(jnp.where(root, 0.0, blk(0, 1)[t]))
    U = U.at[t, :6, 6:].set(jnp.where(root, 0.0, blk(0, 2)[t]))
    parent = jnp.asarray(list(p[:nb]) + [nb])
    factors = linalg.factor(D, L, U, parent, jnp.asarray(s.level_nodes))

    nl = nj - nb
    B = jnp.zeros((nb + 1, 12, 6 * nl), G.dtype)
    C = jnp.zeros((6 * nl, nb + 1, 12), G.dtype)
    E = jnp.zeros((6 * nl, 6 * nl), G.dtype)
    for k in range(nl):  # loop joints are few; each adds one 6-column border
        j, cols = nb + k, slice(6 * k, 6 * k + 6)
        B = B.at[p[j], :6, cols].add(blk(0, 2)[j]).at[c[j], :6, cols].add(blk(1, 2)[j])
        C = C.at[cols, p[j], :6].add(blk(2, 0)[j]).at[cols, c[j], :6].add(blk(2, 1)[j])
        E = E.at[cols, cols].set(blk(2, 2)[j])
    B = B.at[nb].set(0.0)
    C = C.at[:, nb].set(0.0)
    return Linearization(factors, B, C, E)


def newton_step(mech, lin, R):
    """Solve (d residual / d unknowns) dW = -R."""
    nb = mech.num_bodies
    b = jnp.concatenate([R.V, R.lam[:nb]], axis=-1)
    b = -jnp.concatenate([b, jnp.zeros_like(b[:1])])
    if lin.E.shape[0] == 0:
        x = linalg.solve(lin.factors, b)
        return Unknowns(x[:nb, :6], x[:nb, 6:])
    x, y = linalg.solve_bordered(lin.factors, lin.B, lin.C, lin.E, b, -R.lam[nb:].reshape(-1))
    return Unknowns(x[:nb, :6], jnp.concatenate([x[:nb, 6:], y.reshape(-1, 6)]))
