"""Derivatives of the step (implicit function theorem) against finite differences and analytic results.

Compilation dominates the cost of these tests (each distinct mechanism structure and each distinct
transformed function compiles separately, tens of seconds on a small CPU machine), so the systems
under test are grouped into a few "zoo" mechanisms of independent parts: one structure, one compile,
and every part's Jacobian is a diagonal block of the zoo's (the parts do not interact, so the
off-diagonal blocks are zero). Each parametrized case checks its own block.

* JOINTS zoo: a 2-link twister (floating base + one joint with armature) for each of the 16 joint
  types, a pendulum with spring and damper, a double pendulum with armature, a four-bar (loop
  joint), a pendulum resting on its joint limit, a sliding block (soc contact), a resting block,
  a rolling and a sliding sphere. Checked with ``dojax.jacobians`` (maximal coordinates) against
  central differences of ``dojax.step``.
* CONTACTS zoo: blocks sliding on linear (pyramid) and impact (frictionless) contacts, and the
  body-body collision pairs sphere-sphere, sphere-capsule, capsule-capsule (two free bodies) and
  sphere-box (box on a fixed joint). Checked column by column with ``jax.jvp`` of the step (the same
  implicit-function rule ``dojax.jacobians`` uses; one compile instead of a step and a Jacobian).
* SMALL zoo: pendulum (spring, damper), double pendulum (armature), sliding block, resting block, free puck:
  minimal-coordinate Jacobians, parameter derivatives, jvp/vjp, vmap, rollouts, gradient smoothing,
  non-converged steps.

Finite differences are central with EPS = 1e-6 on the tangent coordinates of ``dojax.jacobians``
(per body [dx, dv, dtheta (q ⊗ exp(dtheta)), dw]). Their truncation error is O(EPS^2 f''') and their
noise is about (solver error ~1e-15) / EPS ~ 1e-9 (more where the derivative is small), so at smooth
points they agree with the exact derivative to 1e-11..1e-6 relative (measured; the numbers are in
each test's comment); the required 1e-5 leaves a margin. Smooth points: the solver runs
to rtol = 1e-12 and contacts are smoothed at btol = 1e-6 (the solver returns the central-path point
with complementarity kappa = btol / undercut = 1e-7), away from contact switches (every contact is
clearly touching, sliding or sticking). Parts sit near the origin: the residual's rounding floor grows
with |x| (a twister 36 m away stalls at ~1.2e-12 > rtol), so far parts would not converge to 1e-12.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax import quaternion as quat
from dojax.joints import JOINT_TYPES, free_mask
from dojax.shapes import Box, Capsule, Sphere
from dojax.state import difference, retract

EPS = 1e-6  # finite-difference step
REL = 1e-5  # required relative agreement with finite differences (see module docstring)
# Absolute floor for blocks whose exact derivative is (nearly) zero, e.g. the response of a resting
# block or of a pendulum resting on its limit to a force pushing into the contact (~1e-5 here): the
# finite differences' noise (solver error / EPS, measured ~5e-9) then dominates the relative error.
ABS = 1e-7
OPTS = dojax.SolverOptions(rtol=1e-12, btol=1e-6)  # kappa = 1e-7
H = 0.01  # timestep of every zoo
G = 9.81


# ---------------------------------------------------------------------------------------------
# zoo mechanisms
# ---------------------------------------------------------------------------------------------
class Zoo:
    """A MechanismBuilder that records, per named part, its body rows and action columns."""

    def __init__(self):
        self.builder = dojax.MechanismBuilder(timestep=H, gravity=-G)
        self.parts = {}
        self._part = None
        self._nb = 0
        self._nu = 0

    def part(self, name):
        self._part = name
        self.parts[name] = dict(bodies=[], actions=[])

    def body(self, name, **kw):
        self.builder.add_body(name, **kw)
        self.parts[self._part]["bodies"].append(self._nb)
        self._nb += 1

    def joint(self, name, joint_type, parent, child, actuated=False, **kw):
        self.builder.add_joint(name, joint_type, parent, child, actuated=actuated, **kw)
        if actuated:
            n = int(free_mask(joint_type).sum())
            self.parts[self._part]["actions"] += list(range(self._nu, self._nu + n))
            self._nu += n

    def force(self, body, axis):
        self.builder.add_body_force(body, [float(k == axis) for k in range(3)])
        self.parts[self._part]["actions"].append(self._nu)
        self._nu += 1

    def build(self):
        self.mech = self.builder.build()
        self.state = self.mech.initial_state()
        self.action = jax.device_put(np.random.default_rng(0).uniform(-0.5, 0.5, self.mech.action_size))
        return self

    def rows(self, part):
        """Tangent rows (12 per body) of a part."""
        return np.concatenate([np.arange(12 * i, 12 * i + 12) for i in self.parts[part]["bodies"]])

    def actions(self, part):
        return np.asarray(self.parts[part]["actions"], dtype=int)

    def contacts(self, prefix):
        return np.asarray([k for k, n in enumerate(self.mech.structure.contact_names) if n.startswith(prefix)])


def _rotation(phi):
    return quat.numpy_ops.from_rotation_vector(np.asarray(phi, dtype=float))


def _twister(z, joint_type, rng):
    """dojax.load("twister", links=2, joint_type=...) with random moderate initial coordinates."""
    z.part(f"twister_{joint_type}")
    n = int(free_mask(joint_type).sum())
    base, tip = f"{joint_type}_1", f"{joint_type}_2"
    z.body(base, mass=1.0, shape=Box(0.05, 0.05, 1.0), position=rng.uniform(-0.3, 0.3, 3),
           orientation=_rotation(rng.uniform(-0.5, 0.5, 3)), velocity=rng.uniform(-0.5, 0.5, 3),
           angular_velocity=rng.uniform(-0.5, 0.5, 3))
    z.body(tip, mass=1.0, shape=Box(0.05, 0.05, 1.0))
    z.joint(f"{joint_type}_joint", joint_type, base, tip, axis=(0.0, 1.0, 0.0), parent_vertex=(0, 0, -0.5),
            child_vertex=(0, 0, 0.5), initial_position=rng.uniform(-0.4, 0.4, n) if n else None,
            initial_velocity=rng.uniform(-0.5, 0.5, n) if n else None, actuated=True,
            armature=0.2)


def _pendulum(z, name, **kw):
    z.part(name)
    z.body(name, mass=1.0, shape=Box(0.05, 0.05, 1.0))
    z.joint(f"{name}_hinge", "revolute", "world", name, axis=(1, 0, 0), child_vertex=(0, 0, 0.5), actuated=True, **kw)


def _double_pendulum(z):
    z.part("double_pendulum")
    z.body("dp1", mass=1.0, shape=Box(0.05, 0.05, 1.0))
    z.body("dp2", mass=1.0, shape=Box(0.05, 0.05, 1.0))
    z.joint("dp_hinge1", "revolute", "world", "dp1", axis=(1, 0, 0), child_vertex=(0, 0, 0.5),
            initial_position=0.5, initial_velocity=0.4, actuated=True, armature=0.2)
    z.joint("dp_hinge2", "revolute", "dp1", "dp2", axis=(1, 0, 0), parent_vertex=(0, 0, -0.5),
            child_vertex=(0, 0, 0.5), initial_position=-0.3, initial_velocity=0.8, actuated=True, armature=0.1)


def _fourbar(z, angle=0.4, rate=0.5, span=0.5):
    """dojax.load("fourbar") moving: crank, coupler and rocker angles (angle, -angle, angle)."""
    z.part("fourbar")
    z.body("crank", mass=1.0, shape=Box(0.05, 0.05, 1.0))
    z.body("coupler", mass=1.0, shape=Box(0.05, span, 0.05))
    z.body("rocker", mass=1.0, shape=Box(0.05, 0.05, 1.0))
    z.joint("crank_pivot", "revolute", "world", "crank", axis=(1, 0, 0), child_vertex=(0, 0, 0.5),
            initial_position=angle, initial_velocity=rate, actuated=True)
    z.joint("coupler_pivot", "revolute", "crank", "coupler", axis=(1, 0, 0), parent_vertex=(0, 0, -0.5),
            child_vertex=(0, -0.5 * span, 0), initial_position=-angle, initial_velocity=-rate)
    z.joint("rocker_pivot", "revolute", "world", "rocker", axis=(1, 0, 0), parent_vertex=(0, span, 0),
            child_vertex=(0, 0, 0.5), initial_position=angle, initial_velocity=rate)
    z.joint("loop", "cylindrical_free", "coupler", "rocker", axis=(1, 0, 0), parent_vertex=(0, 0.5 * span, 0),
            child_vertex=(0, 0, -0.5))


def _block(z, name, model, velocity=(0.0, 0.0, 0.0), friction=0.5, side=0.5):
    """dojax.load("block", contact_model=model, friction=friction) on the ground with a velocity."""
    z.part(name)
    z.body(name, mass=1.0, shape=Box(side, side, side), position=(0, 0, 0.5 * side), velocity=velocity)
    for axis in range(3):
        z.force(name, axis)
    h = 0.5 * side
    for k, corner in enumerate(itertools.product((-h, h), repeat=3)):
        z.builder.add_contact(name, origin=corner, friction=friction, model=model, name=f"{name}_{k}")


def _sphere(z, name, velocity, angular_velocity, radius=0.5):
    """dojax.load("sphere", friction=0.5) on the ground with a velocity."""
    z.part(name)
    z.body(name, mass=1.0, shape=Sphere(radius), position=(0, 0, radius), velocity=velocity,
           angular_velocity=angular_velocity)
    for axis in range(3):
        z.force(name, axis)
    z.builder.add_contact(name, radius=radius, friction=0.5, name=name)


def _collisions(z):
    # a free ball (r 0.3) sliding over the top of a sphere fixed in the world (r 0.5)
    z.part("sphere_sphere")
    z.body("ss_ball", mass=1.0, shape=Sphere(0.3), position=(0, 0, 1.3), velocity=(0.3, 0.1, 0))
    z.builder.add_collision("ss_ball", ("sphere", (0, 0, 0), 0.3), "world", ("sphere", (0, 0, 0.5), 0.5),
                            friction=0.5, name="sphere_sphere")
    # a free ball sliding along the top of a capsule fixed in the world (axis along y)
    z.part("sphere_capsule")
    z.body("sc_ball", mass=1.0, shape=Sphere(0.3), position=(0, 0.2, 1.0), velocity=(0, 0.3, 0))
    z.builder.add_collision("sc_ball", ("sphere", (0, 0, 0), 0.3), "world",
                            ("capsule", (0, -1, 0.5), (0, 1, 0.5), 0.2), friction=0.5, name="sphere_capsule")
    # two free crossed capsules; the lower one is held up by an upward force (its action)
    z.part("capsule_capsule")
    z.body("cc_low", mass=1.0, shape=Capsule(0.1, 1.0), position=(0, 0, 0.5), velocity=(0.1, 0, 0))
    z.body("cc_top", mass=1.0, shape=Capsule(0.1, 1.0), position=(0.1, 0.05, 0.7), velocity=(0, 0.2, 0))
    z.force("cc_low", 2)
    z.builder.add_collision("cc_top", ("capsule", (0, -0.5, 0), (0, 0.5, 0), 0.1), "cc_low",
                            ("capsule", (-0.5, 0, 0), (0.5, 0, 0), 0.1), friction=0.5, name="capsule_capsule")
    # a free ball sliding on a box held by a fixed joint to the world
    z.part("sphere_box")
    z.body("sb_box", mass=2.0, shape=Box(1.0, 1.0, 0.5))
    z.joint("sb_fix", "fixed", "world", "sb_box", parent_vertex=(0, 0, 0.25))
    z.body("sb_ball", mass=1.0, shape=Sphere(0.2), position=(0.1, 0.2, 0.7), velocity=(0.2, -0.1, 0))
    z.builder.add_collision("sb_ball", ("sphere", (0, 0, 0), 0.2), "sb_box", ("box", (0.5, 0.5, 0.25)),
                            friction=0.5, name="sphere_box")


def _box_collisions(z):
    # a free capsule balanced across the edge of a fixed table box, tilted (only its segment touches
    # the box, at the edge; the radius makes the gap 0: the segment passes 0.1 m above the edge)
    z.part("capsule_box")
    z.body("table", mass=2.0, shape=Box(2.0, 1.0, 0.5))
    z.joint("table_fix", "fixed", "world", "table", parent_vertex=(0, 0, 0.25))
    z.body("cb_rod", mass=1.0, shape=Capsule(0.1, 0.4), position=(1.0, 0.0, 0.6), velocity=(0.0, 0.2, 0))
    z.force("cb_rod", 1)
    z.builder.add_collision("cb_rod", ("capsule", (-0.2, 0, 0.05), (0.2, 0, -0.05), 0.1 / np.sqrt(1.0625)),
                            "table", ("box", (1.0, 0.5, 0.25)), friction=0.5, name="capsule_box")
    # a free box sliding on the same table (each one's corners against the other)
    z.part("box_box")
    z.body("bb_cube", mass=1.0, shape=Box(0.4, 0.4, 0.2), position=(0.5, -0.1, 0.6), velocity=(0.2, -0.1, 0))
    z.force("bb_cube", 0)
    z.builder.add_collision("bb_cube", ("box", (0.2, 0.2, 0.1)), "table", ("box", (1.0, 0.5, 0.25)),
                            friction=0.5, name="box_box")


@functools.cache
def joints_zoo():
    z = Zoo()
    rng = np.random.default_rng(1)
    for joint_type in JOINT_TYPES:
        _twister(z, joint_type, rng)
    _pendulum(z, "pendulum", spring=2.0, damper=0.5, spring_offset=0.2, initial_position=0.7, initial_velocity=1.3)
    _double_pendulum(z)
    _fourbar(z)
    # resting on its lower limit, gravity pressing it in (the upper limit is open)
    _pendulum(z, "limited", limits=(0.3, 2.0), initial_position=0.3)
    _block(z, "block_soc", "soc", velocity=(1.0, 0.5, 0.0))
    _block(z, "block_rest", "soc")
    _sphere(z, "sphere_roll", (1.0, 0, 0), (0, 2.0, 0))  # rolling without slipping: w x r = -v
    _sphere(z, "sphere_slide", (1.0, 0.5, 0), (0, 0, 0))
    return z.build()


@functools.cache
def contacts_zoo():
    z = Zoo()
    _block(z, "block_linear", "linear", velocity=(1.0, 0.0, 0.0))  # along a pyramid edge direction: no tie
    _block(z, "block_impact", "impact", velocity=(1.0, 0.5, 0.0))
    _collisions(z)
    # the lower capsule carries both weights
    return _with_action(z.build(), "capsule_capsule", [2.0 * G])


def _with_action(z, part, values):
    action = np.array(z.action)
    action[z.actions(part)] = values
    z.action = jax.device_put(action)
    return z


@functools.cache
def small_zoo():
    z = Zoo()
    _pendulum(z, "pendulum", spring=2.0, damper=0.5, spring_offset=0.2, initial_position=0.7, initial_velocity=1.3)
    _double_pendulum(z)
    _block(z, "block_slide", "soc", velocity=(1.0, 0.5, 0.0))
    _block(z, "block_rest", "soc")
    z.part("puck")  # a free body under forces only (no contact, no joint)
    z.body("puck", mass=2.0, shape=Box(0.2, 0.2, 0.1), position=(0, 0, 1), velocity=(0.3, 0, 0))
    for axis in range(3):
        z.force("puck", axis)
    return z.build()


# ---------------------------------------------------------------------------------------------
# tangent coordinates and finite differences
# ---------------------------------------------------------------------------------------------
def _retract(state, dz):
    """State moved by the tangent dz (nb*12,) of dojax.jacobians (dojax.state.retract)."""
    return retract(state, jnp.asarray(dz).reshape(-1, 12))


def _local(state, reference):
    """Flat tangent coordinates of state relative to reference (dojax.state.difference)."""
    return difference(state, reference).reshape(-1)


_retract_jit = jax.jit(_retract)
_local_jit = jax.jit(_local)
# Outside jit, each jnp operation compiles a program of its own (once per shape): the helpers used
# eagerly run compiled, or in NumPy.


@jax.jit
def _tangent_to_state(state, dz):
    """The State tangent (dx, dv, dq, dw) of the retraction's tangent dz at state."""
    dz = jnp.asarray(dz).reshape(-1, 12)
    dq = 0.5 * quat.multiply(state.q, jnp.concatenate([jnp.zeros_like(dz[:, :1]), dz[:, 6:9]], -1))
    return dojax.State(x=dz[:, 0:3], v=dz[:, 3:6], q=dq, w=dz[:, 9:12])


@jax.jit
def _state_to_tangent(state, t):
    """Tangent coordinates of a State tangent t at state (body-frame rotation 2 vec(q* ⊗ dq))."""
    rot = 2.0 * quat.multiply(quat.conjugate(state.q), t.q)[:, 1:]
    return jnp.concatenate([t.x, t.v, rot, t.w], -1).reshape(-1)


def _flat(state):
    return jnp.concatenate([state.x.ravel(), state.v.ravel(), state.q.ravel(), state.w.ravel()])


def _flat_np(state):
    """_flat in NumPy."""
    return np.concatenate([np.ravel(state.x), np.ravel(state.v), np.ravel(state.q), np.ravel(state.w)])


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _assert_close(analytic, fd, label, rel=REL, atol=ABS):
    """||analytic - fd|| <= rel ||fd|| + atol (atol only matters for (near) zero derivatives)."""
    err = np.linalg.norm(np.asarray(analytic) - np.asarray(fd))
    print(f"{label}: |J - J_fd| / |J_fd| = {_rel(analytic, fd):.2e} (|J_fd| = {np.linalg.norm(fd):.2e})")
    assert err <= rel * np.linalg.norm(fd) + atol, (
        f"{label}: |J - J_fd| = {err:.3e}, |J_fd| = {np.linalg.norm(fd):.3e}, relative {_rel(analytic, fd):.3e}")


def _central(f, x, eps=EPS):
    """Central-difference Jacobian of f (numpy vector -> numpy vector) at x, column by column."""
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(cols, axis=-1)


def _converged_step(mech, state, action, opts=OPTS):
    nxt, info = dojax.step(mech, state, action, opts)
    assert bool(info.converged), info
    return nxt


# ---------------------------------------------------------------------------------------------
# maximal Jacobians: joints zoo with dojax.jacobians
# ---------------------------------------------------------------------------------------------
@functools.cache
def joints_jacobians():
    z = joints_zoo()
    mech, state, action = z.mech, z.state, z.action
    J = jax.tree.map(np.asarray, dojax.jacobians(mech, state, action, OPTS))
    ref = _converged_step(mech, state, action)

    def f(dz, u):
        return _local_jit(_converged_step(mech, _retract_jit(state, dz), u), ref)

    n = 12 * mech.num_bodies
    fd = {"state": _central(lambda dz: f(dz, action), np.zeros(n)),
          "action": _central(lambda u: f(np.zeros(n), u), np.asarray(action))}
    return J, fd


JOINT_PARTS = [f"twister_{t}" for t in JOINT_TYPES]
OTHER_PARTS = ["pendulum", "double_pendulum", "fourbar", "limited", "block_soc", "block_rest",
               "sphere_roll", "sphere_slide"]


def _check_block(z, J, fd, part):
    r, a = z.rows(part), z.actions(part)
    _assert_close(J["state"][np.ix_(r, r)], fd["state"][np.ix_(r, r)], f"{part} state")
    if len(a):
        _assert_close(J["action"][np.ix_(r, a)], fd["action"][np.ix_(r, a)], f"{part} action")


@pytest.mark.parametrize("part", JOINT_PARTS)
def test_jacobians_every_joint_type(part):
    # measured relative errors: state <= 2.5e-10, action <= 3e-7
    z = joints_zoo()
    _check_block(z, *joints_jacobians(), part)


@pytest.mark.parametrize("part", OTHER_PARTS)
def test_jacobians_springs_loops_limits_contacts(part):
    # measured: state <= 4e-9, action <= 1.4e-6 relative (fourbar); the resting block's and the limited
    # pendulum's action blocks are ~1e-5 (a push into a hard contact barely moves it) and agree to
    # the finite differences' noise, 4e-9 absolute.
    z = joints_zoo()
    _check_block(z, *joints_jacobians(), part)


def test_advance_tangents_match_forward_mode():
    # dojax.jacobians maps the solve's velocity Jacobian to the next state's tangent with the
    # integration's blocks in closed form (gradients._advance_tangents: R(f)^T and
    # h (s I + a a^T / s - [a]x) of the Cayley step f); the reference is jax.jacfwd of each body's
    # next tangent (retract, advance, difference) along its own state tangent and velocities, at
    # random poses and velocities up to 0.8 of the solver's angular speed limit: equal to rounding
    # (1e-14), and every other block 0, I or h I.
    from dojax.gradients import _advance_tangents
    from dojax.integrator import max_angular_speed
    from dojax.state import State
    from dojax.step import advance

    rng = np.random.default_rng(8)
    nb, h = 6, 0.05
    q = rng.normal(size=(nb, 4))
    state = State(x=rng.normal(size=(nb, 3)), v=rng.normal(size=(nb, 3)),
                  q=q / np.linalg.norm(q, axis=-1, keepdims=True), w=rng.normal(size=(nb, 3)))
    w = rng.normal(size=(nb, 3))
    w *= (0.8 * float(max_angular_speed(h)) * rng.uniform(0, 1, (nb, 1))) / np.linalg.norm(w, axis=-1, keepdims=True)
    V = np.concatenate([rng.normal(size=(nb, 3)), w], axis=-1)

    @jax.jit
    def both(state, V):
        nxt = advance(state, V, h)

        def tangent(x, v, q, w, after, dz, V):
            one = lambda a: a[None]  # noqa: E731
            moved = retract(State(x=one(x), v=one(v), q=one(q), w=one(w)), one(dz))
            return difference(advance(moved, one(V), h), jax.tree.map(one, after))[0]

        reference = jax.vmap(jax.jacfwd(tangent, argnums=(5, 6)))(state.x, state.v, state.q, state.w, nxt,
                                                                  jnp.zeros((nb, 12)), V)
        return reference, _advance_tangents(V, h)

    (Dz, DV), (rotation, rate) = both(state, V)
    eye = np.eye(3)
    expected_Dz = np.zeros((nb, 12, 12))
    expected_Dz[:, 0:3, 0:3], expected_Dz[:, 6:9, 6:9] = eye, rotation
    expected_DV = np.zeros((nb, 12, 6))
    expected_DV[:, 0:3, 0:3], expected_DV[:, 3:6, 0:3] = h * eye, eye
    expected_DV[:, 6:9, 3:6], expected_DV[:, 9:12, 3:6] = rate, eye
    np.testing.assert_allclose(expected_Dz, Dz, rtol=0, atol=1e-14)
    np.testing.assert_allclose(expected_DV, DV, rtol=0, atol=1e-14)


def test_jacobians_parts_do_not_couple():
    # the zoo's parts are independent: off-diagonal blocks are zero (to the FD noise), so each part's
    # block is its own mechanism's Jacobian
    z = joints_zoo()
    J, fd = joints_jacobians()
    for part in z.parts:
        r = z.rows(part)
        others = np.setdiff1d(np.arange(J["state"].shape[0]), r)
        assert np.abs(J["state"][np.ix_(others, r)]).max() < 1e-9
        assert np.abs(fd["state"][np.ix_(others, r)]).max() < 1e-6


def test_jacobians_whole_zoo_and_shapes():
    z = joints_zoo()
    J, fd = joints_jacobians()
    nb, nu = z.mech.num_bodies, z.mech.action_size
    assert J["state"].shape == (12 * nb, 12 * nb) and J["action"].shape == (12 * nb, nu)
    _assert_close(J["state"], fd["state"], "whole zoo state")
    _assert_close(J["action"], fd["action"], "whole zoo action")


# ---------------------------------------------------------------------------------------------
# contact models and collision pairs: contacts zoo, Jacobian columns by jax.jvp
# ---------------------------------------------------------------------------------------------
@jax.jit
def _step_jvp(mech, state, action, opts, tangents):
    """(next state, its tangent along tangents = (mech, state, action) tangents, SolveInfo)."""
    return jax.jvp(lambda m, s, a: dojax.step(m, s, a, opts), (mech, state, action), tangents, has_aux=True)


def _zeros_like(tree):
    """Zero tangents, NumPy arrays (strongly typed, as _random_like's)."""
    return jax.tree.map(lambda a: np.zeros(np.shape(a), a.dtype), tree)


def _jvp_jacobians(z, opts):
    """(next state, maximal Jacobians) of a zoo's step, one jax.jvp per column."""
    mech, state, action = z.mech, z.state, z.action
    n, nu = 12 * mech.num_bodies, mech.action_size
    ref, _, info = _step_jvp(mech, state, action, opts, _zeros_like((mech, state, action)))
    assert bool(info.converged), info
    cols = []
    for i in range(n + nu):
        dz, du = np.zeros(n), np.zeros(nu)
        if i < n:
            dz[i] = 1.0
        else:
            du[i - n] = 1.0
        tangents = (_zeros_like(mech), _tangent_to_state(state, dz), du)
        _, t, _ = _step_jvp(mech, state, action, opts, tangents)
        cols.append(np.asarray(_state_to_tangent(ref, t)))
    cols = np.stack(cols, axis=-1)
    return ref, {"state": cols[:, :n], "action": cols[:, n:]}


@functools.cache
def box_collisions_zoo():
    z = Zoo()
    _box_collisions(z)
    return z.build()


@functools.cache
def contacts_jacobians(zoo=contacts_zoo):
    z = zoo()
    mech, state, action = z.mech, z.state, z.action
    ref, J = _jvp_jacobians(z, OPTS)

    def f(dz, u):
        s = _retract_jit(state, dz)
        nxt, _, info = _step_jvp(mech, s, u, OPTS, _zeros_like((mech, s, action)))
        assert bool(info.converged), info
        return _local_jit(nxt, ref)

    n = 12 * mech.num_bodies
    fd = {"state": _central(lambda dz: f(dz, action), np.zeros(n)),
          "action": _central(lambda u: f(np.zeros(n), u), np.asarray(action))}
    return ref, J, fd


CONTACT_PARTS = ["block_linear", "block_impact", "sphere_sphere", "sphere_capsule", "capsule_capsule", "sphere_box"]
BOX_PARTS = ["capsule_box", "box_box"]  # their own small zoo: a table box carrying a capsule and a box


@pytest.mark.parametrize("part", CONTACT_PARTS + BOX_PARTS)
def test_jacobians_contact_models_and_collisions(part):
    # measured relative errors: state <= 4e-8 (sphere-box), action <= 6e-7 (capsule-capsule)
    zoo = box_collisions_zoo if part in BOX_PARTS else contacts_zoo
    z = zoo()
    ref, J, fd = contacts_jacobians(zoo)
    _check_block(z, J, fd, part)
    # a smooth point in contact, not in flight: the supported bodies keep their height (free fall
    # would lose g h = 0.098 m/s of vertical speed in the step)
    for i in z.parts[part]["bodies"]:
        assert abs(float(np.asarray(ref.v)[i, 2] - np.asarray(z.state.v)[i, 2])) < 0.02


def test_jacobians_match_jvp_columns_on_contacts():
    # dojax.jacobians assembles dF/d(state, action) from each term's local Jacobian
    # (implicit.solve_step_columns); the contacts zoo's columns above take one jax.jvp of the whole
    # residual each (implicit.solve_step). Same derivative, different order of evaluation: equal up
    # to rounding (measured ~1e-12 relative; 1e-9), on every contact model and collision pair.
    z = contacts_zoo()
    _, J_jvp, _ = contacts_jacobians(contacts_zoo)  # the cached call of the tests above
    J = jax.tree.map(np.asarray, dojax.jacobians(z.mech, z.state, z.action, OPTS))
    for key in ("state", "action"):
        print(f"jvp columns vs dojax.jacobians, {key}: {_rel(J_jvp[key], J[key]):.2e}")
        np.testing.assert_allclose(J_jvp[key], J[key], rtol=1e-9, atol=1e-9 * np.abs(J[key]).max())


# ---------------------------------------------------------------------------------------------
# small zoo: minimal coordinates, parameters, jvp/vjp, vmap, rollouts, smoothing, failures
# ---------------------------------------------------------------------------------------------
# The small zoo's jvp/vjp run with gradient_btol = btol: the derivative is then taken at the same
# central-path point as with gradient_btol=None (the re-centring solve starts converged), and the
# one compiled function also serves the gradient_btol test. The None path is covered by
# dojax.jacobians above and the rollout gradients below.
SMOOTH = OPTS.replace(gradient_btol=OPTS.btol)


def test_jvp_columns_match_dojax_jacobians():
    # The column-by-column jvp used for the contacts zoo (and elsewhere with gradient_btol = btol) is
    # what dojax.jacobians computes with gradient_btol None: compare both on the small zoo (soc
    # contacts, joints, spring, damper): equal up to rounding (measured ~1e-12 relative; 1e-9).
    z = small_zoo()
    _, J_jvp = _jvp_jacobians(z, SMOOTH)
    J = jax.tree.map(np.asarray, dojax.jacobians(z.mech, z.state, z.action, OPTS))
    for key in ("state", "action"):
        print(f"jvp columns vs dojax.jacobians, {key}: {_rel(J_jvp[key], J[key]):.2e}")
        np.testing.assert_allclose(J_jvp[key], J[key], rtol=1e-9, atol=1e-9 * np.abs(J[key]).max())


def _small_primal(s, u, opts=SMOOTH):
    z = small_zoo()
    nxt, _, info = _step_jvp(z.mech, s, u, opts, _zeros_like((z.mech, s, u)))
    assert bool(info.converged), info
    return nxt


_to_minimal = jax.jit(dojax.to_minimal)
_from_minimal = jax.jit(dojax.from_minimal)


def test_minimal_jacobians_pendulum_and_double_pendulum():
    # minimal=True vs central differences of y -> to_minimal(step(from_minimal(y))); measured
    # relative errors: state <= 1.3e-8, action <= 6.5e-7
    z = small_zoo()
    mech, state, action = z.mech, z.state, z.action
    J = dojax.jacobians(mech, state, action, OPTS, minimal=True)
    y = np.asarray(_to_minimal(mech, state))
    m = mech.minimal_size
    assert J["state"].shape == (m, m) and J["action"].shape == (m, mech.action_size)
    f = lambda y, u: _to_minimal(mech, _small_primal(_from_minimal(mech, y), u))
    fd_state = _central(lambda y_: f(y_, action), y)
    fd_action = _central(lambda u: f(y, u), np.asarray(action))
    # per tree joint [positions; velocities]: the pendulum is rows 0:2, the double pendulum 2:6
    for part, rows in (("pendulum", np.arange(0, 2)), ("double_pendulum", np.arange(2, 6))):
        a = z.actions(part)
        _assert_close(np.asarray(J["state"])[np.ix_(rows, rows)], fd_state[np.ix_(rows, rows)], f"{part} minimal state")
        _assert_close(np.asarray(J["action"])[np.ix_(rows, a)], fd_action[np.ix_(rows, a)], f"{part} minimal action")
    # and the whole small zoo (the blocks' and the puck's floating coordinates too)
    _assert_close(J["state"], fd_state, "minimal state")
    _assert_close(J["action"], fd_action, "minimal action")


@jax.jit
def _step_vjp(mech, state, action, opts, cotangent):
    """Gradient of <cotangent, flat next state> with respect to (mech, state, action)."""
    _, pullback = jax.vjp(lambda m, s, a: _flat(dojax.step(m, s, a, opts)[0]), mech, state, action)
    return pullback(cotangent)


def _leaf_directions(mech, leaf):
    """(element index, direction) pairs for a leaf: unit entries; inertia perturbed symmetrically."""
    value = np.asarray(getattr(mech, leaf))
    if leaf == "inertia":
        out = []
        for b, i, j in itertools.product(range(value.shape[0]), range(3), range(3)):
            if i <= j:
                d = np.zeros_like(value)
                d[b, i, j] = d[b, j, i] = 1.0
                out.append(((b, i, j), d))
        return out
    if leaf == "contact_points":  # only a halfspace contact's own point matters (the rest are unused)
        indices = [(c, 0, k) for c in range(value.shape[0]) for k in range(3)]
    else:
        indices = list(np.ndindex(value.shape))
    out = []
    for idx in indices:
        d = np.zeros_like(value)
        d[idx] = 1.0
        out.append((idx, d))
    return out


def _plus(array, delta):
    """array + delta keeping array's type (a scalar leaf such as the timestep is weakly typed: a
    strongly typed replacement would compile the step again), added in NumPy."""
    if np.ndim(delta) == 0 and getattr(array, "weak_type", False):
        return jax.device_put(float(array) + float(delta))  # a Python float: weakly typed
    total = np.asarray(array) + delta
    return jax.device_put(total) if isinstance(array, jax.Array) else total


PARAMETERS = ["mass", "inertia", "friction", "contact_radius", "contact_points", "spring", "damper",
              "armature", "gravity", "timestep", "gear", "vertex_child"]


# The geometry of a single corner of a block (its radius or body-frame point) is checked on a softer
# contact. Four coplanar corners make the normal forces statically indeterminate; the central path
# resolves them through the gaps, kappa / impulse ~ 1e-7 / 0.025 = 4e-6 m at btol 1e-6, which is then
# the length scale of the solution map in one corner's geometry: a 1e-6 change redistributes the
# forces nonlinearly, and central differences err by 20-30% at EPS 1e-6 (5e-4 at the noise floor,
# EPS 1e-8). At btol 1e-2 (gap ~0.04 m) the map is smooth on the EPS scale and they agree to 2e-7.
# (A shift of all corners together, the sphere's radius, and every other leaf are smooth at btol 1e-6.)
LEAF_BTOL = {"contact_radius": 1e-2, "contact_points": 1e-2}


@pytest.mark.parametrize("leaf", PARAMETERS)
def test_parameter_derivatives(leaf):
    # Forward mode (jvp along each element = a jax.jacfwd column) and reverse mode (jax.grad of a
    # scalar loss, which returns a Mechanism) against central differences of the step in that
    # element. Measured relative errors <= 8e-7 (spring) for the jvp columns; the projected gradients
    # agree to <= 4.7e-6 (gravity: its gradient is small, 5e-3, after cancellation; FD noise).
    z = small_zoo()
    mech, state, action = z.mech, z.state, z.action
    btol = LEAF_BTOL.get(leaf, SMOOTH.btol)
    opts = SMOOTH.replace(btol=btol, gradient_btol=btol)
    zero_m = _zeros_like(mech)
    cot = jax.device_put(np.random.default_rng(3).normal(size=13 * mech.num_bodies))
    grad_m, _, _ = _step_vjp(mech, state, action, opts, cot)
    assert isinstance(grad_m, dojax.Mechanism)
    grad_leaf = np.asarray(getattr(grad_m, leaf))
    cols, fd_cols, grads, fd_grads = [], [], [], []
    for idx, d in _leaf_directions(mech, leaf):
        tm = zero_m.replace(**{leaf: _plus(getattr(zero_m, leaf), d)})
        _, t, _ = _step_jvp(mech, state, action, opts, (tm, _zeros_like(state), _zeros_like(action)))
        cols.append(_flat_np(t))

        def f(e):
            m = mech.replace(**{leaf: _plus(getattr(mech, leaf), e * d)})
            nxt, _, info = _step_jvp(m, state, action, opts, _zeros_like((m, state, action)))
            assert bool(info.converged), (leaf, idx)
            return _flat_np(nxt)

        fd_cols.append((f(EPS) - f(-EPS)) / (2 * EPS))
        grads.append(float(np.sum(grad_leaf * d)))
        fd_grads.append(float(np.dot(np.asarray(cot), fd_cols[-1])))
    cols, fd_cols = np.stack(cols, -1), np.stack(fd_cols, -1)
    assert np.linalg.norm(fd_cols) > 1e-6  # the leaf matters to this step
    _assert_close(cols, fd_cols, f"d next / d {leaf} (jvp)")
    _assert_close(np.asarray(grads), np.asarray(fd_grads), f"d loss / d {leaf} (grad)")


def _friction_tangent(z, part):
    d = np.zeros(z.mech.num_contacts)
    d[z.contacts(part)] = 1.0
    return _zeros_like(z.mech).replace(friction=d)


def test_friction_derivative_of_sliding_block_is_minus_g_h():
    # A block sliding on the ground (no action) keeps sliding: v' = v - mu g h v_hat (horizontal), so
    # dv'/dmu = -g h v_hat = -0.0981 v_hat for hard Coulomb contact. The solver returns the central-
    # path point (every complementarity product = kappa = btol / undercut), a slightly soft contact:
    # the gap of a corner is kappa / gamma (gamma = m g h / 4 = 0.0245 its normal impulse), so the
    # friction torque tilts the block by O(kappa / gamma^2), which shifts the normal impulses and hence
    # the friction. Measured relative deviation: 0.597 kappa / gamma^2, exactly linear in kappa over
    # btol 1e-4..1e-9 (9.9e-5 at btol 1e-6; 9.9e-7 at btol 1e-8, i.e. -0.0981000905 along x for a
    # block sliding along x). Bound: kappa / gamma^2, and the deviation must shrink 100x with kappa.
    z = small_zoo()
    mech, state = z.mech, z.state
    action = np.zeros(mech.action_size)
    i = z.parts["block_slide"]["bodies"][0]
    v_hat = np.array([1.0, 0.5, 0.0]) / np.hypot(1.0, 0.5)
    expected = -G * H * v_hat
    gamma = float(np.asarray(mech.mass)[i]) * G * H / 4
    deviation = {}
    for btol in (1e-6, 1e-8):
        opts = SMOOTH.replace(btol=btol, gradient_btol=btol)
        _, t, info = _step_jvp(mech, state, action, opts,
                               (_friction_tangent(z, "block_slide"), _zeros_like(state), _zeros_like(action)))
        assert bool(info.converged)
        dv = np.asarray(t.v)[i]
        deviation[btol] = np.linalg.norm(dv - expected) / np.linalg.norm(expected)
        kappa = btol / opts.undercut
        print(f"btol {btol:g}: dv'/dmu = {dv}, relative deviation {deviation[btol]:.3e} "
              f"= {deviation[btol] / (kappa / gamma**2):.3f} kappa/gamma^2")
        assert deviation[btol] <= kappa / gamma**2, (btol, dv, expected)
    assert 50 < deviation[1e-6] / deviation[1e-8] < 200


def test_mass_derivative_of_free_body_under_force():
    # v' = v + h (F / m + g)  =>  dv'/dm = -h F / m^2 and dx'/dm = h dv'/dm (x' = x + h v'); exact
    # up to rounding (1e-12 relative) since no constraint acts
    z = small_zoo()
    mech, state, action = z.mech, z.state, z.action
    i = z.parts["puck"]["bodies"][0]
    F = np.asarray(action)[z.actions("puck")]
    m = float(np.asarray(mech.mass)[i])
    d = np.zeros(mech.num_bodies)
    d[i] = 1.0
    tm = _zeros_like(mech).replace(mass=d)
    _, t, info = _step_jvp(mech, state, action, SMOOTH, (tm, _zeros_like(state), _zeros_like(action)))
    assert bool(info.converged)
    np.testing.assert_allclose(np.asarray(t.v)[i], -H * F / m**2, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(np.asarray(t.x)[i], -H * H * F / m**2, rtol=1e-10, atol=1e-16)


def _random_like(tree, seed):
    leaves, treedef = jax.tree.flatten(tree)
    rng = np.random.default_rng(seed)
    return jax.tree.unflatten(treedef, [rng.normal(size=np.shape(l)) for l in leaves])  # NumPy


def test_jvp_and_vjp_agree():
    # <u, J v> by forward mode (jax.jvp) and by reverse mode (jax.vjp, the transposed rule) for random
    # tangents of the mechanism, state and action: equal up to rounding in sums with cancellation
    # (measured 3e-13..3e-11 relative; tolerance 1e-9)
    z = small_zoo()
    mech, state, action = z.mech, z.state, z.action
    for seed in range(3):
        tangents = _random_like((mech, state, action), seed)
        u = np.random.default_rng(100 + seed).normal(size=13 * mech.num_bodies)
        _, t, _ = _step_jvp(mech, state, action, SMOOTH, tangents)
        forward = float(np.dot(u, _flat_np(t)))
        cots = _step_vjp(mech, state, action, SMOOTH, u)
        reverse = sum(float(np.vdot(a, b)) for a, b in zip(jax.tree.leaves(cots), jax.tree.leaves(tangents)))
        assert abs(forward - reverse) <= 1e-9 * abs(forward), (forward, reverse)


def _batch_of_states(z, n=4):
    rng = np.random.default_rng(7)
    v, w = np.asarray(z.state.v), np.asarray(z.state.w)
    states = [jax.tree.map(np.asarray, z.state).replace(v=v + 0.1 * rng.normal(size=v.shape) * np.array([1, 1, 0]),
                                                        w=w + 0.1 * rng.normal(size=w.shape)) for _ in range(n)]
    return states, jax.tree.map(lambda *a: np.stack(a), *states)


def test_vmap_of_grad_matches_per_state():
    # jax.vmap(jax.grad(f)) over 4 states equals jax.grad per state: the same arithmetic, evaluated in
    # batched kernels in another order, so they differ by rounding amplified by the derivative's
    # conditioning (|grad| ~ 1e2, contact at kappa 1e-7): tolerance 1e-8. One sliding block (8
    # contacts) keeps this compilation small; the per-element derivatives are checked above.
    z = Zoo()
    _block(z, "block_slide", "soc", velocity=(1.0, 0.5, 0.0))
    z = z.build()
    mech, action = z.mech, z.action
    cot = jax.device_put(np.random.default_rng(5).normal(size=13 * mech.num_bodies))

    def f(state):
        return jnp.dot(cot, _flat(dojax.step(mech, state, action, SMOOTH)[0]))

    states, batch = _batch_of_states(z)
    batched = jax.tree.map(np.asarray, jax.jit(jax.vmap(jax.grad(f)))(batch))
    grad = jax.jit(jax.grad(f))  # only the state's gradient (a smaller program than _step_vjp's)
    for k, s in enumerate(states):
        single = grad(s)
        for name in ("x", "v", "q", "w"):
            np.testing.assert_allclose(getattr(batched, name)[k], getattr(single, name), rtol=1e-8, atol=1e-10)


# -- rollouts ------------------------------------------------------------------------------------
STEPS = 100
PUSH = 8.0  # N along x on the sliding block: above the friction limit mu m g = 4.9 N, it keeps sliding


def _rollout_inputs():
    z = small_zoo()
    actions = np.random.default_rng(11).uniform(-0.5, 0.5, (STEPS, z.mech.action_size))
    actions[:, z.actions("block_slide")[0]] = PUSH
    actions[:, z.actions("block_rest")] = 0.0
    return z, jax.device_put(actions)


def _rollout_loss(state, actions):
    """Final pendulum and double-pendulum coordinates and the pushed block's final position."""
    z = small_zoo()
    states, _ = dojax.rollout(z.mech, state, actions, OPTS)
    p, d1, d2 = z.parts["pendulum"]["bodies"][0], *z.parts["double_pendulum"]["bodies"]
    b = z.parts["block_slide"]["bodies"][0]
    return (jnp.sum(states.x[-1, p] * jnp.array([0.3, 1.0, -0.7])) + jnp.sum(states.w[-1, d2]) + states.x[-1, d1, 1]
            + jnp.sum(states.x[-1, b] * jnp.array([1.0, -0.4, 0.0])) + jnp.sum(states.v[-1, b]))


# The finite differences evaluate the loss as it stands (dojax.rollout, compiled once for every
# rollout in this file, and a few eager ops); only the gradient compiles a program of its own.
_rollout_grad = jax.jit(jax.grad(_rollout_loss, argnums=(0, 1)))


def test_rollout_gradient_matches_finite_differences():
    # jax.grad of a 100-step dojax.rollout loss (reverse mode through lax.scan and each step's implicit
    # rule, gradient_btol None) against central differences along random directions of the pendulum's,
    # the double pendulum's and the pushed block's actions and of the initial state. Measured relative
    # errors 1.3e-8 (pendulum), 1.5e-8 (double pendulum), 2e-7 (block), 2e-8 (initial state); 1e-5.
    z, actions = _rollout_inputs()
    state = z.state
    states, infos = dojax.rollout(z.mech, state, actions, OPTS)
    assert bool(np.asarray(infos.converged).all())
    b = z.parts["block_slide"]["bodies"][0]
    assert float(np.asarray(states.v)[-1, b, 0]) > 1.0  # still sliding (no stick-slip switch on the way)
    g_state, g_actions = _rollout_grad(state, actions)
    rng = np.random.default_rng(13)
    for part in ("pendulum", "double_pendulum", "block_slide"):
        d = np.zeros(actions.shape)
        d[:, z.actions(part)] = rng.normal(size=(STEPS, len(z.actions(part))))
        analytic = float(np.sum(np.asarray(g_actions) * d))
        fd = (float(_rollout_loss(state, np.asarray(actions) + EPS * d))
              - float(_rollout_loss(state, np.asarray(actions) - EPS * d))) / (2 * EPS)
        assert abs(analytic - fd) <= REL * abs(fd), (part, analytic, fd)
    dz = rng.normal(size=12 * z.mech.num_bodies) * 0.1
    t = _tangent_to_state(state, dz)
    analytic = sum(float(np.vdot(getattr(g_state, n), getattr(t, n))) for n in ("x", "v", "q", "w"))
    fd = (float(_rollout_loss(_retract_jit(state, EPS * dz), actions))
          - float(_rollout_loss(_retract_jit(state, -EPS * dz), actions))) / (2 * EPS)
    assert abs(analytic - fd) <= REL * abs(fd), ("initial state", analytic, fd)


# -- failures ------------------------------------------------------------------------------------
# A step that did not converge has zero derivatives of the solver's unknowns (the next velocities);
# the next configuration x' = x + h v', q' = q ⊗ cayley(w') still carries the state's own tangent
# (dx' = dx + dh v', and dq' from dq), so its Jacobian rows for x and q are not zero.

def _nan_action(z):
    action = np.array(z.action)
    action[z.actions("pendulum")[0]] = np.nan
    return jax.device_put(action)


def test_non_converged_step_has_zero_velocity_derivatives():
    # An unreachable tolerance (rtol 1e-30: the solve runs its 50 iterations and reports failure) and a
    # NaN action: info.converged is False, the next velocities' tangents are exactly zero and every
    # tangent is finite. (rtol is a traced option, so this reuses the compiled functions, whereas
    # max_iter is static and would compile the step again.)
    z = small_zoo()
    mech, state, action = z.mech, z.state, z.action
    for opts, u in ((SMOOTH.replace(rtol=1e-30), action), (SMOOTH, _nan_action(z))):
        tangents = _random_like((mech, state, u), 0)
        _, t, info = _step_jvp(mech, state, u, opts, tangents)
        assert not bool(info.converged)
        assert np.all(np.asarray(t.v) == 0.0) and np.all(np.asarray(t.w) == 0.0)
        for leaf in jax.tree.leaves(t):
            assert np.all(np.isfinite(leaf))


def test_non_converged_jacobians_are_finite():
    # dojax.jacobians of a non-converged step (joints zoo, rtol 1e-30, and a NaN action): finite, the
    # velocity rows zero, the action Jacobian zero, and the x rows the identity (x' = x + h v')
    z = joints_zoo()
    nan_action = _nan_action(z)
    for opts, u in ((OPTS.replace(rtol=1e-30), z.action), (OPTS, nan_action)):
        _, info = dojax.step(z.mech, z.state, u, opts)
        assert not bool(info.converged)
        J = jax.tree.map(np.asarray, dojax.jacobians(z.mech, z.state, u, opts))
        assert np.all(np.isfinite(J["state"])) and np.all(np.isfinite(J["action"]))
        rows = np.arange(J["state"].shape[0]).reshape(-1, 12)
        velocity_rows = np.concatenate([rows[:, 3:6], rows[:, 9:12]], axis=1).ravel()
        assert np.all(J["state"][velocity_rows] == 0.0) and np.all(J["action"] == 0.0)
        x_rows = rows[:, 0:3].ravel()
        np.testing.assert_array_equal(J["state"][x_rows][:, x_rows], np.eye(len(x_rows)))


def test_non_converged_step_reverse_mode_unreachable_tolerance():
    # reverse mode of the rtol 1e-30 step: finite, and zero for everything that acts only through the
    # solve (the action, the masses)
    z = small_zoo()
    mech, state, action = z.mech, z.state, z.action
    cots = _step_vjp(mech, state, action, SMOOTH.replace(rtol=1e-30), np.ones(13 * mech.num_bodies))
    for leaf in jax.tree.leaves(cots):
        assert np.all(np.isfinite(leaf))
    assert np.all(np.asarray(cots[2]) == 0.0) and np.all(np.asarray(cots[0].mass) == 0.0)


def test_non_converged_step_reverse_mode_nan_action():
    z = small_zoo()
    cots = _step_vjp(z.mech, z.state, _nan_action(z), SMOOTH, np.ones(13 * z.mech.num_bodies))
    for leaf in jax.tree.leaves(cots):
        assert np.all(np.isfinite(leaf))
    assert np.all(np.asarray(cots[2]) == 0.0)


def test_non_converged_rollout_gradient_is_finite():
    # a NaN action midway: that step does not converge and contributes zero derivatives; the gradient
    # of the rollout stays finite
    z, actions = _rollout_inputs()
    actions = np.array(actions)
    actions[STEPS // 2, z.actions("pendulum")[0]] = np.nan
    actions = jax.device_put(actions)
    _, infos = dojax.rollout(z.mech, z.state, actions, OPTS)
    converged = np.asarray(infos.converged)
    assert not bool(converged[STEPS // 2]) and bool(converged[: STEPS // 2].all())
    for leaf in jax.tree.leaves(_rollout_grad(z.state, actions)):
        assert np.all(np.isfinite(leaf)), "gradient through a non-converged step is not finite"


# -- gradient smoothing ---------------------------------------------------------------------------
def test_gradient_btol_smooths_a_resting_block():
    # A resting block pushed along x by 1 N, below the friction limit mu m g = 4.9 N: with hard contact
    # (btol 1e-8) it does not move, so d(next x)/dF ~ 0 (measured 2.3e-10, vs h^2/m = 1e-4 in free
    # space); with gradient_btol 1e-2 the derivative is taken on the smoothed contact and is clearly
    # non-zero (measured 5.4e-5; 1.7e-5 at 1e-3, 7.4e-5 at 1e-1), while the returned state is the
    # hard one.
    z, _ = _rollout_inputs()
    mech, state = z.mech, z.state
    action = np.zeros(mech.action_size)
    action[z.actions("block_rest")[0]] = 1.0
    i = z.parts["block_rest"]["bodies"][0]
    du = np.zeros(mech.action_size)
    du[z.actions("block_rest")[0]] = 1.0
    tangents = (_zeros_like(mech), _zeros_like(state), du)
    hard_opts = dojax.SolverOptions(rtol=1e-10, btol=1e-8, gradient_btol=1e-8)
    soft_opts = hard_opts.replace(gradient_btol=1e-2)
    hard, t_hard, info_h = _step_jvp(mech, state, action, hard_opts, tangents)
    soft, t_soft, info_s = _step_jvp(mech, state, action, soft_opts, tangents)
    assert bool(info_h.converged) and bool(info_s.converged)
    free = H * H / float(np.asarray(mech.mass)[i])  # dx'/dF of a free body
    assert abs(float(np.asarray(t_hard.x)[i, 0])) < 1e-3 * free
    assert float(np.asarray(t_soft.x)[i, 0]) > 0.1 * free
    # the value does not depend on gradient_btol, and equals the plain (gradient_btol=None) step:
    # the first step of a rollout with that action
    for name in ("x", "v", "q", "w"):
        np.testing.assert_array_equal(getattr(soft, name), getattr(hard, name))
    states, _ = dojax.rollout(mech, state, np.broadcast_to(action, (STEPS, mech.action_size)),
                              dojax.SolverOptions(rtol=1e-10, btol=1e-8))
    np.testing.assert_allclose(np.asarray(states.x)[0], hard.x, atol=1e-12)
    # and dojax.jacobians (gradient_btol None) agrees that the hard derivative is ~0: joints zoo
    zj = joints_zoo()
    uj = np.zeros(zj.mech.action_size)
    uj[zj.actions("block_rest")[0]] = 1.0
    J = dojax.jacobians(zj.mech, zj.state, uj, dojax.SolverOptions(rtol=1e-10, btol=1e-8))
    j = zj.parts["block_rest"]["bodies"][0]
    assert abs(float(np.asarray(J["action"])[12 * j, zj.actions("block_rest")[0]])) < 1e-3 * free
