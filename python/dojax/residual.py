"""The step's residual: bodies' discrete Euler-Lagrange equations, joints, contacts and limits.

Unknowns ``Unknowns(V, lam, y)``: V (nb, 6) the bodies' next midpoint velocities [v25; w25], lam
(nj, 6) the joints' impulses (used on constrained rows; zero on free rows), and y a tuple with one
(n_elements, n_variables) array per group of complementarity elements (:mod:`dojax.elements`).

Joint forces act through Jacobians taken at the current configuration (Dojo's convention, the one
that makes the integrator a discrete Euler-Lagrange equation with holonomic constraints): constraint
impulses through the constraint's Jacobian, inputs, springs and dampers through the Jacobian of the
joint coordinates. Constraints are imposed at the next configuration. Dampers act on the joint
rates of the new velocities (implicit), springs on the current configuration. Armature (joint-space
inertia a) adds the kinetic energy 0.5 a thetadot^2 of each free coordinate to the discrete
Lagrangian, with thetadot the coordinate's finite difference over the step; its discrete
Euler-Lagrange term is the change of joint momentum a (theta3 - theta2) / h - a (theta2 - theta1) / h
through the coordinate Jacobian at the current configuration. Being variational, it keeps the
integrator's exact momentum conservation (a coordinate invariant under rigid motions of the whole
system exerts no net wrench) and its bounded energy error. Contacts and limits
follow the same rule: impulse maps at the current configuration, gaps at the next.

The residual is one JAX function of (unknowns, problem, central-path target mu); its Newton matrix is
assembled blockwise from per-element Jacobians (vmapped ``jax.jacfwd``) in the tree layout of
:mod:`dojax.linalg`. Each element with the world, and each joint limit, is eliminated locally into
its bodies' blocks; loop-closing joints and body-body contacts form the border.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dojax import collision
from dojax import elements as el
from dojax import integrator
from dojax import joints as joint_lib
from dojax import linalg
from dojax import quaternion as quat
from dojax.minimal import joint_row, with_world


class Unknowns(NamedTuple):
    V: jax.Array  # (nb, 6)
    lam: jax.Array  # (nj, 6)
    y: tuple  # per element group, (n_elements, n_variables)


class Configuration(NamedTuple):
    """The current configuration as the elements read it: each joint, contact and body actuator
    holds its own copy of its bodies' poses (the world's pose where a body is the world).

    Every term of the residual is evaluated from its own copy alone (a joint limit from its joint's
    copy), so the derivative of one element's terms with respect to the configuration is their
    derivative with respect to that copy (:func:`local_jacobians`).
    """

    joints: tuple  # (x parent, q parent, x child, q child), each (nj, 3 or 4)
    elements: tuple  # per element group (xa, qa, xb, qb) (a limit: its joint's child, then parent)
    actuators: jax.Array  # (nu, 4) orientation of each actuator's body


class Group(NamedTuple):
    """One group of identical complementarity elements, evaluated at the current configuration."""

    a: np.ndarray  # (ne,) body a
    b: np.ndarray  # (ne,) body b (nb = world)
    config: tuple  # (xa, qa, xb, qb), each (ne, 3 or 4)
    pre: dict  # per-element arrays
    layout: el.Layout
    terms: callable  # (pre, h, xa, qa, xb, qb, Va, Vb, y) -> (equalities, impulse a, impulse b)
    border: bool  # eliminated through the border (body-body contacts) or locally


class Problem(NamedTuple):
    """Everything a step's residual needs, evaluated once at the current configuration."""

    joint_config: tuple  # Configuration.joints
    V15: jax.Array  # (nb, 6)
    force: jax.Array  # (nb, 3) world-frame force held over the step
    torque: jax.Array  # (nb, 3) body-frame torque
    jdata: dict  # per-joint arrays
    constraint_jacobian: jax.Array  # (nj, 6, 12) d constraint / d (parent, child) perturbation
    coordinate_jacobian: jax.Array  # (nj, 6, 12) d coordinates / d (parent, child) perturbation
    coordinates: jax.Array  # (nj, 6) joint coordinates at the current configuration
    joint_impulse: jax.Array  # (nj, 6) input + spring impulses and armature momentum on free rows
    groups: tuple  # Group per element group


def _point_velocity_map(x, q, point):
    """(3, 6): world velocity of a world point fixed to the body, from [v; w_body]."""
    r = quat.rotate_inverse(q, point - x)
    R = quat.to_matrix(q)
    skew = jnp.array([[0.0, -r[2], r[1]], [r[2], 0.0, -r[0]], [-r[1], r[0], 0.0]], dtype=x.dtype)
    return jnp.concatenate([jnp.eye(3, dtype=x.dtype), -R @ skew], axis=1)


def element_bodies(structure, kind, members):
    """Bodies (a, b) of an element group's members: a contact's two bodies, a limit's joint's child
    and parent (nb = the world)."""
    idx = np.asarray(members)
    if kind == "limit":
        k = structure.limit_joint[idx]
        return structure.joint_child[k], structure.joint_parent[k]
    return structure.contact_body_a[idx], structure.contact_body_b[idx]


def _contact_params(mech, members):
    """The parameters of a contact group's members."""
    idx = np.asarray(members)
    return dict(points=mech.contact_points[idx], radius=mech.contact_radius[idx], normal=mech.contact_normal[idx],
                offset=mech.contact_offset[idx], extent=mech.contact_extent[idx], friction=mech.friction[idx])


def _limit_params(mech, members):
    """A limit group's members' joint data, bounded row, sign and bound."""
    s = mech.structure
    idx = np.asarray(members)
    return dict(joint=jax.tree.map(lambda v: v[s.limit_joint[idx]], mech.joint_data()),
                row=jnp.asarray(s.limit_row[idx]), sign=jnp.asarray(s.limit_sign[idx]), bound=mech.limit[idx])


def _contact_group(mech, config, model, geometry, members):
    a, b = element_bodies(mech.structure, "contact", members)
    pre = jax.vmap(partial(_contact_data, geometry))(_contact_params(mech, members), *config)
    return Group(a, b, config, pre, el.LAYOUTS[model], partial(el.contact_terms, model, geometry),
                 border=geometry != "sphere_halfspace")


def _contact_data(geometry, params, xa, qa, xb, qb):
    """One contact's data at the current configuration (its ``Group.pre``) from its copy of its
    bodies' poses."""
    phi, n, point = collision.GEOMETRIES[geometry](xa, qa, xb, qb, params)
    return dict(params=params, gap=phi, normal=n, tangent=collision.tangent_basis(n),
                map_a=_point_velocity_map(xa, qa, point), map_b=_point_velocity_map(xb, qb, point))


def _limit_group(mech, config, members, Jt, theta2):
    a, b = element_bodies(mech.structure, "limit", members)
    k = mech.structure.limit_joint[np.asarray(members)]
    lim = _limit_params(mech, members)
    pre = jax.vmap(_limit_data)(lim["joint"], theta2[k], Jt[k], lim["row"], lim["sign"], lim["bound"])
    return Group(a, b, config, pre, el.LAYOUTS["limit"], el.limit_terms, border=False)


def _limit_data(jdata, theta2, Jt, row, sign, bound):
    """One joint limit's data (its ``Group.pre``) from its joint's coordinates (6,) and coordinate
    Jacobian (6, 12) at the current configuration; ``row`` is the bounded coordinate."""
    return dict(joint=jdata, theta2=theta2, row=row, gap=sign * (theta2[row] - bound), sign=sign, bound=bound,
                map=Jt[row])


def configuration(mech, state):
    """Each element's copy of its bodies' current poses (see :class:`Configuration`)."""
    return gather_poses(mech, *with_world(state.x, state.q))


def gather_poses(mech, x2, q2):
    """:class:`Configuration` layout of per-body rows (nb + 1, 3) and (nb + 1, 4), the world last."""
    s = mech.structure
    p, c = s.joint_parent, s.joint_child
    elements = []
    for kind, _, _, members, _ in s.element_groups:
        a, b = element_bodies(s, kind, members)
        elements.append((x2[a], q2[a], x2[b], q2[b]))
    return Configuration((x2[p], q2[p], x2[c], q2[c]), tuple(elements), q2[s.actuator_body])


def joint_velocities(mech, V15):
    """Each joint's (parent, child) rows of the velocities (nb, 6), the world's zero."""
    V15w = _with_world_velocity(V15)
    return V15w[mech.structure.joint_parent], V15w[mech.structure.joint_child]


def make_problem(mech, state, action):
    """Evaluate the step's data at the current configuration."""
    s = mech.structure
    config = configuration(mech, state)
    V15 = jnp.concatenate([state.v, state.w], axis=-1)
    jdata = mech.joint_data()
    Jc, Jt, theta2, impulse = jax.vmap(_joint_data, _JOINT_DATA_AXES)(
        *_joint_constants(mech), *config.joints, *joint_velocities(mech, V15), joint_inputs(mech, action))
    force, torque = body_wrenches(mech, config.actuators, action)
    groups = tuple(
        _contact_group(mech, poses, model, geometry, members) if kind == "contact"
        else _limit_group(mech, poses, members, Jt, theta2)
        for (kind, model, geometry, members, _), poses in zip(s.element_groups, config.elements))
    return Problem(
        joint_config=config.joints, V15=V15, force=force, torque=torque,
        jdata=jdata, constraint_jacobian=Jc, coordinate_jacobian=Jt, coordinates=theta2,
        joint_impulse=impulse, groups=groups,
    )


def _input_scale(mech):
    """Actions are forces (held over the step) or impulses; either way h * force = impulse."""
    return 1.0 if mech.structure.input_mode == "force" else 1.0 / mech.timestep


def joint_inputs(mech, action):
    """Each joint's input impulse on its rows (nj, 6) from the action (linear)."""
    s = mech.structure
    u = _input_scale(mech) * mech.gear * action
    joint_u = jnp.where(s.actuator_kind == 0, u, 0.0)
    slots = 6 * s.actuator_joint + s.actuator_row
    if len(np.unique(slots)) < len(slots):  # actuators that share a joint row add up
        return mech.timestep * jnp.zeros((mech.num_joints, 6), u.dtype).at[s.actuator_joint, s.actuator_row].add(joint_u)
    # one actuator per row at most: a gather (an index past the actuators reads 0), which XLA
    # fuses with what reads it, where a scatter is an operation of its own
    index = np.full(6 * mech.num_joints, len(slots))
    index[slots] = np.arange(len(slots))
    return mech.timestep * jnp.append(joint_u, 0.0)[index].reshape(mech.num_joints, 6)


def body_wrenches(mech, actuator_q, action):
    """Each body's world-frame force (nb, 3) (gravity and actuators) and body-frame torque (nb, 3),
    from the orientation (nu, 4) of each actuator's body and the action."""
    force, torque = _actuator_wrenches(mech, actuator_q, _input_scale(mech) * mech.gear * action)
    return mech.mass[:, None] * mech.gravity + force, torque


def _joint_constants(mech):
    return (mech.joint_data(), jnp.asarray(mech.structure.free_mask), mech.armature, mech.spring,
            mech.spring_offset, mech.timestep)


_JOINT_DATA_AXES = (0, 0, 0, 0, 0, None, 0, 0, 0, 0, 0, 0, 0)


def _joint_data(jdata, free, armature, spring, spring_offset, h, xp, qp, xc, qc, Vp, Vc, inputs):
    """One joint's data at the current configuration, from its copy of its bodies' poses and
    velocities (6,) and its input impulse (6,): (constraint Jacobian (6, 12), coordinate Jacobian
    (6, 12), coordinates (6,), impulse on its free rows (6,): input, spring and the armature's
    momentum of the last step)."""
    Jc, Jt = joint_lib.jacobians(jdata, xp, qp, xc, qc)
    # the coordinates and their rates over the last step (the minimal coordinates' definition)
    row = joint_row(jdata, h, (xp, qp, Vp[:3], Vp[3:]), (xc, qc, Vc[:3], Vc[3:]))
    theta2 = row[:6]
    momentum = armature * row[6:]  # armature momentum of the last step, a (theta2 - theta1) / h
    spring_impulse = -h * spring * (theta2 - spring_offset)
    return Jc, Jt, theta2, free * (inputs + spring_impulse + momentum)


def initial_unknowns(mech, prob):
    """Velocities from the last step, zero joint impulses, cone variables at the cone identity,
    except that slacks of elements far from contact start at their gap rate (gap / h): starting
    them at 1 leaves a large equality violation that can lead the first steps astray."""
    dtype = prob.V15.dtype
    y = tuple(jax.vmap(partial(initial_variables, g.layout), (0, None))(g.pre["gap"], mech.timestep) for g in prob.groups)
    return Unknowns(V=prob.V15, lam=jnp.zeros((mech.num_joints, 6), dtype), y=y)


def initial_variables(layout, gap, h):
    """One element's starting cone variables (see :func:`initial_unknowns`) from its gap."""
    at_gap = np.isin(np.arange(layout.size), layout.gap_slacks)
    return jnp.where(at_gap, jnp.maximum(gap / h, 1.0), jnp.asarray(layout.neutral, jnp.result_type(gap)))


def _actuator_wrenches(mech, q, u):
    """World forces (nb, 3) and body-frame torques (nb, 3) of the body force/torque actuators, from
    the orientation (nu, 4) of each actuator's body."""
    s = mech.structure
    body = s.actuator_body
    world = (u[:, None] * s.actuator_direction)  # (nu, 3)
    is_force = (s.actuator_kind == 1)[:, None]
    is_torque = (s.actuator_kind == 2)[:, None]
    force_body = quat.rotate_inverse(q, world)
    torque = jnp.where(is_force, jnp.cross(s.actuator_vertex, force_body), 0.0)
    torque = torque + jnp.where(is_torque, force_body, 0.0)
    force = jnp.where(is_force, world, 0.0)
    zeros = jnp.zeros((mech.num_bodies, 3), u.dtype)
    if not np.any(is_force | is_torque):  # joint actuators only (no operations for the bodies')
        return zeros, zeros
    return zeros.at[body].add(force), zeros.at[body].add(torque)


# -- per-element equations --------------------------------------------------------------------------

def _joint_terms(jdata, free, damper, armature, Jc, Jt, theta2, impulse, h, xp, qp, xc, qc, Vp, Vc, lam):
    """One joint: (parent body residual, child body residual, joint residual), each (6,)."""
    xp3, qp3 = integrator.next_configuration(xp, qp, Vp[:3], Vp[3:], h)
    xc3, qc3 = integrator.next_configuration(xc, qc, Vc[:3], Vc[3:], h)
    damping = -h * damper * free * (Jt @ jnp.concatenate([Vp, Vc]))  # implicit: new velocities
    theta3 = joint_lib.coordinates(jdata, xp3, qp3, xc3, qc3)
    momentum = armature * free * joint_lib.coordinate_difference(jdata, theta3, theta2) / h
    generalized = Jc.T @ ((1.0 - free) * lam) + Jt.T @ (impulse + damping - momentum)
    row = (1.0 - free) * joint_lib.constraint(jdata, xp3, qp3, xc3, qc3) / h + free * lam
    return -generalized[:6], -generalized[6:], row


def _body_terms(mass, inertia, h, V15, force, torque, V):
    return integrator.body_dynamics(mass, inertia, h, V15[:3], V15[3:], V[:3], V[3:], force, torque)


def _element_terms(layout, terms, pre, h, xa, qa, xb, qb, Va, Vb, y, mu, shift):
    """One element: (rows [equalities; y∘z - mu e + shift], body a residual, body b residual)."""
    eq, imp_a, imp_b = terms(pre, h, xa, qa, xb, qb, Va, Vb, y)
    comp = el.complementarity(layout, y) - mu * el.identity(layout, y.dtype) + shift
    return jnp.concatenate([eq, comp]), -imp_a, -imp_b


_ELEMENT_AXES = (0, None, 0, 0, 0, 0, 0, 0, 0, None, 0)


def _element_args(mech, prob, W, g, y, mu, shift):
    V = _with_world_velocity(W.V)
    return (g.pre, mech.timestep, *g.config, V[g.a], V[g.b], y, mu, shift)


def _shifts(prob, shifts):
    if shifts is not None:
        return shifts
    return tuple(jnp.zeros((len(g.a), g.layout.size - g.layout.num_equalities)) for g in prob.groups)


def _with_world_velocity(V):
    return jnp.concatenate([V, jnp.zeros_like(V[:1])])


def _joint_args(mech, prob, W):
    s = mech.structure
    V = _with_world_velocity(W.V)
    p, c = s.joint_parent, s.joint_child
    return (prob.jdata, jnp.asarray(s.free_mask), mech.damper, mech.armature, prob.constraint_jacobian,
            prob.coordinate_jacobian, prob.coordinates, prob.joint_impulse, mech.timestep,
            *prob.joint_config, V[p], V[c], W.lam)


_JOINT_AXES = (0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, 0, 0, 0, 0, 0)
_BODY_AXES = (0, 0, None, 0, 0, 0, 0)


def _body_args(mech, prob, W):
    return (mech.mass, mech.inertia, mech.timestep, prob.V15, prob.force, prob.torque, W.V)


def residual_terms(mech, prob, W, mu=0.0, shifts=None):
    """Each body's, joint's and element's own terms of the residual, before :func:`collect` sums
    them: (body rows (nb, 6), joint (parent rows, child rows, joint rows), per group (element rows,
    body a rows, body b rows))."""
    body = jax.vmap(_body_terms, _BODY_AXES)(*_body_args(mech, prob, W))
    joints = jax.vmap(_joint_terms, _JOINT_AXES)(*_joint_args(mech, prob, W))
    groups = tuple(
        jax.vmap(partial(_element_terms, g.layout, g.terms), _ELEMENT_AXES)(*_element_args(mech, prob, W, g, y, mu, shift))
        for g, y, shift in zip(prob.groups, W.y, _shifts(prob, shifts)))
    return body, joints, groups


def collect(mech, prob, terms):
    """The residual (as Unknowns) from :func:`residual_terms`: each body's rows summed (linear)."""
    s = mech.structure
    body, (rp, rc, rj), groups = terms
    body = _with_world_velocity(body).at[s.joint_parent].add(rp).at[s.joint_child].add(rc)
    for g, (_, ra, rb) in zip(prob.groups, groups):
        body = body.at[g.a].add(ra).at[g.b].add(rb)
    return Unknowns(body[:mech.num_bodies], rj, tuple(r for r, _, _ in groups))


def residual(mech, prob, W, mu=0.0, shifts=None):
    """Residual pytree Unknowns(body rows (nb, 6), joint rows (nj, 6), element rows per group).

    Element rows are [equalities; y∘z - mu e + shift]; ``shifts`` (one array per group, the
    complementarity rows' extra term, e.g. Mehrotra's second-order correction) default to zero.
    """
    return collect(mech, prob, residual_terms(mech, prob, W, mu, shifts))


class LocalElimination(NamedTuple):
    """Per-element pieces of eliminating a local group: dy = -K r - Sa dVa - Sb dVb."""

    K: jax.Array  # (ne, n, n) inverse of d rows / d y
    Sa: jax.Array  # (ne, n, 6)
    Sb: jax.Array  # (ne, n, 6)
    BKa: jax.Array  # (ne, 6, n) d body a rows / d y @ K
    BKb: jax.Array  # (ne, 6, n)


class Linearization(NamedTuple):
    factors: linalg.TreeFactors
    local: tuple  # LocalElimination or None per group
    B: jax.Array  # (nb + 1, 12, m) tree rows x border unknowns
    C: jax.Array  # (m, nb + 1, 12) border rows x tree unknowns
    E: jax.Array  # (m, m)


def _border_layout(mech, prob):
    """Offsets of the border unknowns: loop joints (6 each), then border element groups."""
    offsets, m = [], 6 * (mech.num_joints - mech.num_bodies)
    for g in prob.groups:
        offsets.append(m if g.border else None)
        if g.border:
            m += len(g.a) * g.layout.size
    return offsets, m


def linearize(mech, prob, W):
    """Factorised Newton matrix d residual / d unknowns at W (tree blocks, local eliminations, border)."""
    s = mech.structure
    nb, nj = mech.num_bodies, mech.num_joints
    body_jac = jax.vmap(jax.jacfwd(_body_terms, argnums=6), _BODY_AXES)(*_body_args(mech, prob, W))
    # (nj, 18, 18): rows [parent body, child body, joint], columns [Vp, Vc, lam]
    G = jax.vmap(jax.jacfwd(lambda *a: jnp.concatenate(_joint_terms(*a)), argnums=(13, 14, 15)),
                 _JOINT_AXES)(*_joint_args(mech, prob, W))
    G = jnp.concatenate(G, axis=-1)
    p, c = s.joint_parent, s.joint_child
    blk = lambda r, k: G[:, 6 * r: 6 * r + 6, 6 * k: 6 * k + 6]  # r, k in {0: parent, 1: child, 2: joint}
    zeros = jnp.zeros((nb + 1, 12, 12), G.dtype)
    Z6 = zeros[:, :6, :6]

    # diagonal body blocks collect the dynamics and every joint's damping on that body
    Dbb = Z6.at[:nb].add(body_jac).at[p].add(blk(0, 0)).at[c].add(blk(1, 1))
    t = slice(0, nb)  # tree joints: joint i places body i
    root = (p[:nb] == nb)[:, None, None]
    Lbb = Z6.at[t].set(jnp.where(root, 0.0, blk(1, 0)[t]))  # child body rows x parent velocity
    Ubb = Z6.at[t].set(jnp.where(root, 0.0, blk(0, 1)[t]))  # parent body rows x child velocity

    offsets, m = _border_layout(mech, prob)
    B = jnp.zeros((nb + 1, 12, m), G.dtype)
    C = jnp.zeros((m, nb + 1, 12), G.dtype)
    E = jnp.zeros((m, m), G.dtype)
    for k in range(nj - nb):  # loop joints are few; each adds one 6-column border
        j, cols = nb + k, slice(6 * k, 6 * k + 6)
        B = B.at[p[j], :6, cols].add(blk(0, 2)[j]).at[c[j], :6, cols].add(blk(1, 2)[j])
        C = C.at[cols, p[j], :6].add(blk(2, 0)[j]).at[cols, c[j], :6].add(blk(2, 1)[j])
        E = E.at[cols, cols].set(blk(2, 2)[j])

    local = []
    for g, y, offset in zip(prob.groups, W.y, offsets):
        n = g.layout.size
        jac = jax.vmap(jax.jacfwd(partial(_element_terms, g.layout, g.terms), argnums=(6, 7, 8)), _ELEMENT_AXES)
        (Ca, Cb, J), (_, _, Ba), (_, _, Bb) = jac(*_element_args(mech, prob, W, g, y, 0.0, jnp.zeros((len(g.a), n - g.layout.num_equalities))))
        if g.border:
            rows = offset + np.arange(len(g.a) * n).reshape(len(g.a), n)
            B = B.at[g.a[:, None], :6, rows].add(jnp.swapaxes(Ba, 1, 2)).at[g.b[:, None], :6, rows].add(jnp.swapaxes(Bb, 1, 2))
            C = C.at[rows, g.a[:, None], :6].add(Ca).at[rows, g.b[:, None], :6].add(Cb)
            E = E.at[rows[:, :, None], rows[:, None, :]].add(J)
            local.append(None)
            continue
        # rows equilibrated before inverting: complementarity rows scale with the (tiny) slacks
        scale = 1.0 / jnp.max(jnp.abs(J), axis=-1)
        K = jnp.linalg.inv(scale[..., :, None] * J) * scale[..., None, :]
        Sa, Sb = K @ Ca, K @ Cb
        Dbb = Dbb.at[g.a].add(-Ba @ Sa).at[g.b].add(-Bb @ Sb)
        # b is the world or a's parent: the a-b coupling lives in a's tree blocks
        coupled = (g.b != nb)[:, None, None]
        Lbb = Lbb.at[g.a].add(jnp.where(coupled, -Ba @ Sb, 0.0))
        Ubb = Ubb.at[g.a].add(jnp.where(coupled, -Bb @ Sa, 0.0))
        local.append(LocalElimination(K, Sa, Sb, Ba @ K, Bb @ K))

    D = zeros.at[:, :6, :6].set(Dbb)
    D = D.at[t, :6, 6:].set(blk(1, 2)[t]).at[t, 6:, :6].set(blk(2, 1)[t]).at[t, 6:, 6:].set(blk(2, 2)[t])
    D = D.at[nb].set(jnp.eye(12, dtype=G.dtype))
    L = zeros.at[:, :6, :6].set(Lbb).at[t, 6:, :6].set(jnp.where(root, 0.0, blk(2, 0)[t]))
    U = zeros.at[:, :6, :6].set(Ubb).at[t, :6, 6:].set(jnp.where(root, 0.0, blk(0, 2)[t]))
    L, U = L.at[nb].set(0.0), U.at[nb].set(0.0)
    parent = jnp.asarray(list(p[:nb]) + [nb])
    factors = linalg.factor(D, L, U, parent, jnp.asarray(s.level_nodes))
    return Linearization(factors, tuple(local), B.at[nb].set(0.0), C.at[:, nb].set(0.0), E)


def newton_step(mech, prob, lin, R):
    """Solve (d residual / d unknowns) dW = -R."""
    nb = mech.num_bodies
    b = jnp.concatenate([R.V, R.lam[:nb]], axis=-1)
    b = -_with_world_velocity(b)
    border_rhs = [-R.lam[nb:].reshape(-1)]
    for g, r, loc in zip(prob.groups, R.y, lin.local):
        if loc is None:
            border_rhs.append(-r.reshape(-1))
            continue
        b = b.at[g.a, :6].add(jnp.einsum("eij,ej->ei", loc.BKa, r))
        b = b.at[g.b, :6].add(jnp.einsum("eij,ej->ei", loc.BKb, r))
    b = b * (jnp.arange(nb + 1) < nb)[:, None]  # the padding node's rows stay zero
    if lin.E.shape[0] == 0:
        x = linalg.solve(lin.factors, b)
        border = jnp.zeros(0, b.dtype)
    else:
        x, border = linalg.solve_bordered(lin.factors, lin.B, lin.C, lin.E, b, jnp.concatenate(border_rhs))
    dV = x[:nb, :6]
    dVw = _with_world_velocity(dV)
    nl = mech.num_joints - nb
    dlam = jnp.concatenate([x[:nb, 6:], border[: 6 * nl].reshape(nl, 6)])
    offsets, _ = _border_layout(mech, prob)
    dy = []
    for g, r, loc, offset in zip(prob.groups, R.y, lin.local, offsets):
        if loc is None:
            dy.append(border[offset: offset + r.size].reshape(r.shape))
        else:
            dy.append(-jnp.einsum("eij,ej->ei", loc.K, r) - jnp.einsum("eij,ej->ei", loc.Sa, dVw[g.a])
                      - jnp.einsum("eij,ej->ei", loc.Sb, dVw[g.b]))
    return Unknowns(dV, dlam, tuple(dy))


# -- each term's Jacobian with respect to its own inputs -------------------------------------------

class LocalJacobians(NamedTuple):
    """Each term's Jacobian with respect to its local inputs: the only values through which the
    state and the action reach it (see :mod:`dojax.implicit`). Quaternions are differentiated as
    4-vectors."""

    body: jax.Array  # (nb, 6, 12): body rows x [V15 (6), force (3), torque (3)]
    joints: jax.Array  # (nj, 18, 32): [parent, child, joint rows] x [xp, qp, xc, qc, Vp15, Vc15, inputs]
    groups: tuple  # per group (ne, n + 12, 14): [element rows, body a rows, body b rows] x [xa, qa, xb, qb]


class ColumnBlocks(NamedTuple):
    """The residual's Jacobian with respect to the state's tangent and the action (a step
    Jacobian's right-hand sides, :func:`column_blocks`) as its nonzero blocks.

    Row t of ``data`` (n, 12) is the packed residual row ``rows[t]`` (rows packed as the unknowns,
    :func:`dojax.native.kernel.pack_unknowns`) in the 12 tangent columns of body ``bodies[t]``;
    entries for the same row and body add up. ``action`` (6 nb + 6 nj, nu) holds the bodies' and
    the joints' rows of the action's columns (the elements' rows do not read the action)."""

    data: jax.Array
    rows: jax.Array
    bodies: jax.Array
    action: jax.Array

    def matrix(self, like):
        """The dense (N, 12 nb + nu) matrix, its N rows packed as the unknowns ``like``
        (:class:`Unknowns`, nb bodies)."""
        num_rows, num_bodies = sum(leaf.size for leaf in jax.tree.leaves(like)), like.V.shape[0]
        tangent = jnp.zeros((num_rows, num_bodies, 12), self.data.dtype).at[self.rows, self.bodies].add(self.data)
        action = jnp.zeros((num_rows, self.action.shape[1]), self.data.dtype).at[:self.action.shape[0]].set(self.action)
        return jnp.concatenate([tangent.reshape(num_rows, 12 * num_bodies), action], axis=1)


def _body_local(mass, inertia, h, V15, force, torque, V):
    """One body's rows' Jacobian (6, 12) with respect to its last velocities and its wrench."""
    return jnp.concatenate(jax.jacfwd(_body_terms, argnums=(3, 4, 5))(mass, inertia, h, V15, force, torque, V), axis=1)


def _joint_local(jdata, free, damper, armature, spring, spring_offset, h, xp, qp, xc, qc, Vp15, Vc15, inputs,
                 Vp, Vc, lam):
    """One joint's rows' Jacobian (18, 32) with respect to its copy of its bodies' poses and last
    velocities and its input impulse."""
    def terms(*local):
        data = _joint_data(jdata, free, armature, spring, spring_offset, h, *local)
        return jnp.concatenate(_joint_terms(jdata, free, damper, armature, *data, h, *local[:4], Vp, Vc, lam))

    return jnp.concatenate(jax.jacfwd(terms, argnums=tuple(range(7)))(xp, qp, xc, qc, Vp15, Vc15, inputs), axis=1)


def element_pre(kind, geometry, data, xa, qa, xb, qb):
    """One contact's or limit's data (its ``Group.pre``) from its parameters (a contact's, or a
    limit's joint data, row, sign and bound) and its copy of its bodies' poses (a limit's a is the
    joint's child, b its parent)."""
    if kind == "contact":
        return _contact_data(geometry, data, xa, qa, xb, qb)
    _, Jt = joint_lib.jacobians(data["joint"], xb, qb, xa, qa)
    theta2 = joint_lib.coordinates(data["joint"], xb, qb, xa, qa)
    return _limit_data(data["joint"], theta2, Jt, data["row"], data["sign"], data["bound"])


def _element_local(kind, model, geometry, data, h, xa, qa, xb, qb, Va, Vb, y):
    """One contact's or limit's rows' Jacobian (n + 12, 14) with respect to its copy of its bodies'
    poses. ``data``: as for :func:`element_pre`."""
    if kind == "contact":
        layout, fn = el.LAYOUTS[model], partial(el.contact_terms, model, geometry)
    else:
        layout, fn = el.LAYOUTS["limit"], el.limit_terms
    pre = partial(element_pre, kind, geometry, data)
    terms = lambda *pose: jnp.concatenate(_element_terms(layout, fn, pre(*pose), h, *pose, Va, Vb, y, 0.0, 0.0))
    return jnp.concatenate(jax.jacfwd(terms, argnums=(0, 1, 2, 3))(xa, qa, xb, qb), axis=1)


_LOCAL_ELEMENT_AXES = (0, None, 0, 0, 0, 0, 0, 0, 0)


def local_inputs(mech, state, action):
    """Each term's local inputs, from which it evaluates its share of the problem: (body, joint,
    per group) tuples; :func:`local_args` without the unknowns."""
    return selected_inputs(mech, state, *applied_inputs(mech, state, action))


def applied_inputs(mech, state, action):
    """``(force, torque, inputs)`` of a step: the bodies' forces and torques
    (:func:`body_wrenches`) and the joints' input impulses (:func:`joint_inputs`)."""
    force, torque = body_wrenches(mech, configuration(mech, state).actuators, action)
    return force, torque, joint_inputs(mech, action)


def selected_inputs(mech, state, force, torque, inputs):
    """:func:`local_inputs` from the step's :func:`applied_inputs`: each of its entries is one of
    theirs, the state's or the mechanism's parameters', or a constant of the structure (no
    arithmetic), so that the native kernel can gather them itself."""
    s = mech.structure
    config = configuration(mech, state)
    V15 = jnp.concatenate([state.v, state.w], axis=-1)
    body = (mech.mass, mech.inertia, mech.timestep, V15, force, torque)
    jdata, free, *constants = _joint_constants(mech)
    joint = (jdata, free, mech.damper, *constants, *config.joints, *joint_velocities(mech, V15), inputs)
    groups = []
    for (kind, _, _, members, _), poses in zip(s.element_groups, config.elements):
        data = _contact_params(mech, members) if kind == "contact" else _limit_params(mech, members)
        groups.append((data, mech.timestep, *poses))
    return body, joint, tuple(groups)


def local_args(mech, state, action, W):
    """The arguments of each term's local Jacobian: (body, joint, per group), each a tuple whose
    last entries are the unknowns the term reads (bodies 1, joints 3, elements 3)."""
    s = mech.structure
    body, joint, groups = local_inputs(mech, state, action)
    V = _with_world_velocity(W.V)
    p, c = s.joint_parent, s.joint_child
    elements = []
    for (kind, _, _, members, _), inputs, y in zip(s.element_groups, groups, W.y):
        a, b = element_bodies(s, kind, members)
        elements.append(inputs + (V[a], V[b], y))
    return body + (W.V,), joint + (V[p], V[c], W.lam), tuple(elements)


_JOINT_LOCAL_AXES = (0, 0, 0, 0, 0, 0, None) + (0,) * 10


def local_jacobians(mech, state, action, W):
    """:class:`LocalJacobians` at the unknowns W (they do not depend on the central-path target)."""
    body, joint, groups = local_args(mech, state, action, W)
    return LocalJacobians(
        jax.vmap(_body_local, _BODY_AXES)(*body),
        jax.vmap(_joint_local, _JOINT_LOCAL_AXES)(*joint),
        tuple(jax.vmap(partial(_element_local, kind, model, geometry), _LOCAL_ELEMENT_AXES)(*args)
              for (kind, model, geometry, _, _), args in zip(mech.structure.element_groups, groups)))


# -- the step Jacobian's right-hand sides ----------------------------------------------------------

class Charts(NamedTuple):
    """How the terms' local inputs move with the state's tangent dz (12 per body,
    :func:`dojax.state.retract`: [x, v, theta, w]) and the action, at a state: the factors that
    turn the terms' :class:`LocalJacobians` into the step Jacobian's right-hand sides
    (:func:`column_blocks`)."""

    pose: jax.Array  # (nb + 1, 13, 12): each body's d(x, q, v, w) / d dz; the world's (last) is zero
    wrench: jax.Array  # (nb, 6, 3): each body's d(force, torque) / d theta, its own rotation
    wrench_action: jax.Array  # (nb, 6, nu): each body's d(force, torque) / d action
    input_action: jax.Array  # (nj, 6, nu): each joint's d(input impulse) / d action


def _pose_chart():
    """A body's pose chart d(x, q, v, w) / d dz (13 x 12) as its constant part and the coefficients
    (4, 13, 12) of q's entries: identities but for the quaternion's rows,
    d(q ⊗ exp(dtheta)) / d dtheta at 0 = 0.5 [-q_v^T; q_w I + [q_v]x], linear in q."""
    constant, linear = np.zeros((13, 12)), np.zeros((4, 13, 12))
    constant[0:3, 0:3] = constant[7:10, 3:6] = constant[10:13, 9:12] = np.eye(3)
    linear[0, 4:7, 6:9] = 0.5 * np.eye(3)
    for i, (j, k) in enumerate(((1, 2), (2, 0), (0, 1))):  # e_i x e_j = e_k
        linear[1 + i, 3, 6 + i] = -0.5
        linear[1 + i, 4 + k, 6 + j] = 0.5  # [q_v]x dtheta: q_i dtheta_j e_i x e_j
        linear[1 + i, 4 + j, 6 + k] = -0.5
    return constant, linear


_POSE_CHART = _pose_chart()


def charts(mech, state, action):
    """The :class:`Charts` of the step from (state, action), in closed form: each body's pose chart
    (:func:`_pose_chart`), the joints' inputs' (linear in the action: each joint actuator's
    h * scale * gear on its row), and the wrenches' (zero without body force or torque actuators;
    otherwise forward-mode derivatives of :func:`body_wrenches`)."""
    s = mech.structure
    nb, nu, dtype = mech.num_bodies, mech.action_size, state.x.dtype
    constant, linear = (jnp.asarray(c, dtype) for c in _POSE_CHART)
    pose = constant + jnp.einsum("bi,irc->brc", state.q, linear)
    joint_actuated = (s.actuator_kind == 0)[None, None, :] & (
        (s.actuator_joint[None, :] == np.arange(mech.num_joints)[:, None])[:, None, :]
        & (s.actuator_row[None, :] == np.arange(6)[:, None])[None, :, :])
    input_action = jnp.where(joint_actuated, mech.timestep * (_input_scale(mech) * mech.gear), 0.0)
    if np.all(s.actuator_kind == 0):  # the wrenches are gravity alone
        wrench, wrench_action = jnp.zeros((nb, 6, 3), dtype), jnp.zeros((nb, 6, nu), dtype)
    else:
        def wrenches(theta, u):
            q = quat.multiply(state.q, quat.from_rotation_vector(theta))
            return jnp.concatenate(body_wrenches(mech, q[s.actuator_body], u), axis=-1)

        dwrench_dtheta, wrench_action = jax.jacfwd(wrenches, argnums=(0, 1))(jnp.zeros((nb, 3), dtype), action)
        wrench = dwrench_dtheta[np.arange(nb), :, np.arange(nb)]  # a body's wrench reads its own rotation only
    return Charts(jnp.concatenate([pose, jnp.zeros_like(pose[:1])]), wrench, wrench_action,
                  input_action.astype(dtype))


def column_blocks(mech, local, charts):
    """dF/d(dz, u), the residual's Jacobian with respect to the state's tangent dz (12 per body,
    :func:`dojax.state.retract`) and the action, from the terms' local Jacobians
    (:class:`LocalJacobians`) and the state's :class:`Charts`, as its nonzero blocks
    (:class:`ColumnBlocks`).

    Each term reads the tangent of its own bodies only: its block is its local Jacobian times
    those bodies' charts, placed in their columns (a few multiply-adds per nonzero, where a
    contraction column by column would touch every term for every column). The native kernel
    assembles the same blocks itself (:func:`dojax.native.kernel.velocity_columns`).
    """
    s = mech.structure
    nb, nj = mech.num_bodies, mech.num_joints
    T = charts.pose
    pieces = []  # (block (k, r, 12), first packed row (k,), column body (k,), whether its rows exist (k,))

    def add(block, first_row, body, rows_exist=True):
        body = np.asarray(body)
        pieces.append((block, np.asarray(first_row), body, np.broadcast_to(rows_exist, body.shape)))

    own = jnp.einsum("brk,bkc->brc", local.body[:, :, :6], T[:nb, 7:])
    own = own.at[:, :, 6:9].add(jnp.einsum("brk,bkt->brt", local.body[:, :, 6:], charts.wrench))
    add(own, 6 * np.arange(nb), np.arange(nb))
    body_u = jnp.einsum("brk,bku->bru", local.body[:, :, 6:], charts.wrench_action)

    J = local.joints
    p, c = s.joint_parent, s.joint_child
    parent = jnp.einsum("jrk,jkc->jrc", jnp.concatenate([J[:, :, 0:7], J[:, :, 14:20]], axis=-1), T[p])
    child = jnp.einsum("jrk,jkc->jrc", jnp.concatenate([J[:, :, 7:14], J[:, :, 20:26]], axis=-1), T[c])
    for blk, col in ((parent, p), (child, c)):
        add(blk[:, 0:6], 6 * p, col, p != nb)
        add(blk[:, 6:12], 6 * c, col)
        add(blk[:, 12:], 6 * nb + 6 * np.arange(nj), col)
    inputs = jnp.einsum("jrk,jku->jru", J[:, :, 26:], charts.input_action)
    body_u = jnp.concatenate([body_u, jnp.zeros_like(body_u[:1])]).at[p].add(inputs[:, 0:6]).at[c].add(inputs[:, 6:12])

    offset = 6 * nb + 6 * nj
    for (kind, _, _, members, _), G in zip(s.element_groups, local.groups):
        a, b = element_bodies(s, kind, members)
        n = G.shape[1] - 12
        on_a = jnp.einsum("erk,ekc->erc", G[:, :, 0:7], T[a, :7])
        on_b = jnp.einsum("erk,ekc->erc", G[:, :, 7:14], T[b, :7])
        for blk, col in ((on_a, a), (on_b, b)):
            add(blk[:, :n], offset + n * np.arange(len(a)), col)
            add(blk[:, n:n + 6], 6 * a, col, a != nb)
            add(blk[:, n + 6:], 6 * b, col, b != nb)
        offset += n * len(a)

    data, rows, bodies = [], [], []
    for block, first, body, exist in pieces:
        keep = np.flatnonzero(exist & (body != nb))  # the world has neither rows nor columns
        data.append(block[keep].reshape(-1, 12))
        rows.append((first[keep, None] + np.arange(block.shape[1])).reshape(-1))
        bodies.append(np.repeat(body[keep], block.shape[1]))
    action_rows = jnp.concatenate([body_u[:nb].reshape(6 * nb, -1), inputs[:, 12:].reshape(6 * nj, -1)])
    return ColumnBlocks(jnp.concatenate(data), np.concatenate(rows), np.concatenate(bodies), action_rows)
