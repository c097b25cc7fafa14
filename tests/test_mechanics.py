"""Joints, loops, springs, dampers, inputs and external forces against analytic results."""

import jax
import jax.numpy as jnp
import numpy as np

import dojax
from dojax.shapes import Box

TIGHT = dojax.SolverOptions(rtol=1e-12)


def test_fourbar_loop_closure():
    # Parallelogram linkage: the loop joint keeps the coupler's tip on the rocker's tip, the crank
    # and rocker stay parallel and the coupler keeps its orientation (identities to 1e-6).
    mech = dojax.load("fourbar", timestep=0.01)
    state = mech.initial_state()
    states, infos = dojax.rollout(mech, state, np.zeros((200, 1)), TIGHT)
    assert bool(np.asarray(infos.converged).all())
    y = np.asarray(jax.jit(jax.vmap(dojax.to_minimal, in_axes=(None, 0)))(mech, states))
    crank, coupler, rocker = y[:, 0], y[:, 2], y[:, 4]
    assert float(np.max(crank) - np.min(crank)) > 0.5  # it really swung
    np.testing.assert_allclose(rocker, crank, atol=1e-6)
    np.testing.assert_allclose(coupler, -crank, atol=1e-6)
    # tip positions coincide (loop joint vertices)
    q = dojax.quaternion.numpy_ops
    x, qs = np.asarray(states.x), np.asarray(states.q)
    tip_coupler = x[:, 1] + q.rotate(qs[:, 1], np.array([0.0, 0.25, 0.0]))
    tip_rocker = x[:, 2] + q.rotate(qs[:, 2], np.array([0.0, 0.0, -0.5]))
    np.testing.assert_allclose(tip_coupler, tip_rocker, atol=1e-6)


def test_slider_spring_matches_harmonic_oscillator():
    # m x'' = -k x (no gravity): amplitude A and period 2 pi sqrt(m / k) (Dojo's slider test, 1e-4
    # on amplitude; the variational integrator's frequency error is O(h^2) = 1e-6 here).
    k, m, amplitude = 10.0, 1.0, 0.3
    mech = dojax.load("slider", timestep=0.001, gravity=0.0, spring=k, mass=m)
    state = jax.jit(dojax.from_minimal)(mech, np.array([amplitude, 0.0]))
    states, infos = dojax.rollout(mech, state, np.zeros((3000, 1)), TIGHT)
    z = np.asarray(states.x)[:, 0, 2]
    assert abs(z.max() - amplitude) < 1e-4 and abs(z.min() + amplitude) < 1e-4
    omega = np.sqrt(k / m)
    t = 0.001 * np.arange(1, 3001)
    np.testing.assert_allclose(z, amplitude * np.cos(omega * t), atol=2e-3)
    e = np.asarray(jax.jit(jax.vmap(lambda s: dojax.energy(mech, s)))(states))
    assert float(np.max(np.abs(e - e[0]))) / float(e[0]) < 1e-3


def test_damper_dissipates_and_settles():
    # An implicit damper removes energy (up to the integrator's bounded O(h^2) energy oscillation,
    # below 1e-4 J here) and the pendulum comes to rest hanging down.
    mech = dojax.load("pendulum", damper=2.0)
    state = jax.jit(dojax.from_minimal)(mech, np.array([1.0, 0.0]))
    states, _ = dojax.rollout(mech, state, np.zeros((1000, 1)), TIGHT)
    e = np.asarray(jax.jit(jax.vmap(lambda s: dojax.energy(mech, s)))(states))
    assert np.all(np.diff(e) <= 1e-4)
    assert e[-1] < e[0] - 2.0
    final = jax.jit(dojax.to_minimal)(mech, jax.tree.map(lambda a: np.asarray(a)[-1], states))
    np.testing.assert_allclose(final, [0.0, 0.0], atol=1e-3)


def test_force_and_impulse_inputs_agree():
    # input_mode="impulse" with u*h equals input_mode="force" with u (Dojo's mechanism.jl check).
    def build(mode):
        b = dojax.MechanismBuilder(timestep=0.01, gravity=-9.81, input_mode=mode)
        b.add_body("link", mass=1.0, shape=Box(0.05, 0.05, 1.0))
        b.add_joint("hinge", "revolute", "world", "link", axis=(1, 0, 0), child_vertex=(0, 0, 0.5), actuated=True)
        return b.build()

    force, impulse = build("force"), build("impulse")
    u = np.full((50, 1), 3.0)
    sf, _ = dojax.rollout(force, force.initial_state(), u, TIGHT)
    si, _ = dojax.rollout(impulse, impulse.initial_state(), 0.01 * u, TIGHT)
    np.testing.assert_allclose(sf.x, si.x, atol=1e-10)


def test_joint_torque_accelerates_as_expected():
    # Torque tau on a pendulum in zero gravity: theta(t) = tau t^2 / (2 I) about the pivot.
    mech = dojax.load("pendulum", timestep=0.001, gravity=0.0)
    inertia = float(np.asarray(mech.inertia)[0, 0, 0]) + 0.25
    states, _ = dojax.rollout(mech, mech.initial_state(), np.full((500, 1), 0.2), TIGHT)
    theta = np.asarray(jax.jit(dojax.to_minimal)(mech, jax.tree.map(lambda a: np.asarray(a)[-1], states)))[0]
    np.testing.assert_allclose(theta, 0.2 * 0.5**2 / (2 * inertia), rtol=1e-2)


def test_external_force_and_torque():
    # Dojo's behaviours test: unit-mass cube, force 1 N at the COM and a torque J rad/s^2 for
    # 0.5 s give v = 0.5 m/s and w = 0.5 rad/s (to 1e-3).
    b = dojax.MechanismBuilder(timestep=0.01, gravity=0.0)
    b.add_body("box", mass=1.0, shape=Box(1.0, 1.0, 1.0))
    b.add_body_force("box", (1, 0, 0))
    b.add_body_torque("box", (0, 0, 1))
    mech = b.build()
    J = float(np.asarray(mech.inertia)[0, 2, 2])
    states, _ = dojax.rollout(mech, mech.initial_state(), np.tile(np.array([1.0, J]), (50, 1)), TIGHT)
    np.testing.assert_allclose(np.asarray(states.v)[-1, 0], [0.5, 0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(np.asarray(states.w)[-1, 0], [0.0, 0.0, 0.5], atol=1e-3)


def test_force_at_vertex_spins_the_body():
    # A force off the centre of mass adds the torque r x F (body frame).
    b = dojax.MechanismBuilder(timestep=0.01, gravity=0.0)
    b.add_body("box", mass=1.0, shape=Box(1.0, 1.0, 1.0))
    b.add_body_force("box", (0, 1, 0), vertex=(0.5, 0.0, 0.0))
    mech = b.build()
    J = float(np.asarray(mech.inertia)[0, 2, 2])
    state, _ = dojax.step(mech, mech.initial_state(), np.array([1.0]), TIGHT)
    np.testing.assert_allclose(np.asarray(state.w)[0], [0.0, 0.0, 0.01 * 0.5 / J], rtol=1e-6)


def test_joint_jacobians_match_forward_mode():
    # joints.jacobians is hand-derived; jax.jacfwd of the constraint and coordinates along the pose
    # perturbations it is defined by (world translations, q -> q ⊗ [1, dtheta / 2]) is the reference.
    # (The joint type only masks rows, elsewhere.) Random poses, vertices, axis and orientation
    # offset, with relative rotations on both sides of pi (the rotation vector's sign flip at w < 0).
    # The two agree to rounding (1e-12).
    from dojax import joints, quaternion as quat

    rng = np.random.default_rng(3)
    unit = lambda v: v / np.linalg.norm(v)
    frame = joints.axis_frame(rng.normal(size=3))
    joint = dict(vertex_parent=rng.normal(size=3), vertex_child=rng.normal(size=3),
                 orientation_offset=unit(rng.normal(size=4)), frame_translation=frame, frame_rotation=frame)
    perturb = lambda q, dtheta: quat.multiply(q, jnp.concatenate([jnp.ones(1), 0.5 * dtheta]))

    # each compiled once (run eagerly, each of their operations compiles a program of its own)
    @jax.jit
    def both(joint, xp, qp, xc, qc):
        def perturbed(fn, delta):
            return fn(joint, xp + delta[0:3], perturb(qp, delta[3:6]), xc + delta[6:9], perturb(qc, delta[9:12]))

        references = [jax.jacfwd(lambda d: perturbed(fn, d))(jnp.zeros(12))
                      for fn in (joints.constraint, joints.coordinates)]
        relative = joints.relative_rotation(qp, qc, joint["orientation_offset"])
        return joints.jacobians(joint, xp, qp, xc, qc), references, relative

    signs = set()
    for _ in range(6):
        xp, xc = rng.normal(size=3), rng.normal(size=3)
        qp, qc = unit(rng.normal(size=4)), unit(rng.normal(size=4))
        (Jc, Jt), references, relative = both(joint, xp, qp, xc, qc)
        for J, reference in zip((Jc, Jt), references):
            np.testing.assert_allclose(J, reference, rtol=0, atol=1e-12)
        signs.add(bool(np.asarray(relative)[0] < 0))
    assert signs == {True, False}


def _every_term_point():
    """A moving mechanism with a limited, sprung, damped, actuated joint with armature, a body force,
    a body torque, a contact of every model with the ground and a body-body contact of every
    geometry; an action, and unknowns away from the solver's start."""
    from dojax import residual as res
    from dojax.native.generate import template_mechanism

    mech = template_mechanism(collision_models=("soc",))  # every geometry once, every model on the ground
    rng = np.random.default_rng(4)
    state = mech.initial_state()
    state = state.replace(v=jax.device_put(rng.normal(size=state.v.shape)),
                          w=jax.device_put(rng.normal(size=state.w.shape)))
    action = jax.device_put(rng.normal(size=mech.action_size))
    W = jax.jit(lambda state, action: res.initial_unknowns(mech, res.make_problem(mech, state, action)))(state, action)
    W = jax.device_put(jax.tree.map(lambda w: np.asarray(w) + 0.1 * rng.normal(size=w.shape), W))
    return mech, state, action, W


def test_local_jacobians_give_the_residual_tangent():
    # The step's derivative evaluates dF/d(state, action) from each term's Jacobian with respect to
    # its local inputs (residual.local_jacobians, contracted by implicit.apply_local; on the native
    # backend the kernel evaluates them from generated C). The reference is jax.jvp of the
    # residual's terms through the problem's assembly, at random tangents (quaternion tangents
    # unconstrained: the local inputs take q as a 4-vector): equal to rounding (measured ~3e-16
    # relative; 1e-12). The kernel's local Jacobians equal the JAX ones to 1e-10 of their size
    # (measured ~1e-16).
    from dojax import implicit, residual as res
    from dojax.native import kernel

    mech, state, action, W = _every_term_point()
    rng = np.random.default_rng(5)
    state_dot = jax.tree.map(lambda z: jax.device_put(rng.normal(size=z.shape)), state)
    action_dot = jax.device_put(rng.normal(size=action.shape))

    @jax.jit
    def both(state_dot, action_dot):
        terms = lambda s, a: res.residual_terms(mech, res.make_problem(mech, s, a), W)
        reference = jax.jvp(terms, (state, action), (state_dot, action_dot))[1]
        local = res.local_jacobians(mech, state, action, W)
        native = kernel.local_jacobians(mech, state, action, W) if kernel.available() else None
        return reference, implicit.apply_local(mech, state, action, local, state_dot, action_dot), local, native

    reference, assembled, local, native = both(state_dot, action_dot)
    scale = max(float(np.max(np.abs(r))) for r in jax.tree.leaves(reference))
    assert len(jax.tree.leaves(reference)) == 1 + 3 + 3 * len(mech.structure.element_groups)
    for r, a in zip(jax.tree.leaves(reference), jax.tree.leaves(assembled)):
        np.testing.assert_allclose(a, r, rtol=0, atol=1e-12 * scale)
    if native is not None:
        for n, r in zip(jax.tree.leaves(native), jax.tree.leaves(local)):
            np.testing.assert_allclose(n, r, rtol=0, atol=1e-10 * float(np.max(np.abs(r))))


def test_charts_match_forward_mode():
    # residual.charts is hand-derived (the pose chart in closed form, the joints' inputs linear in the
    # action, the wrenches' zero without body actuators); the reference is jax.jacfwd of what each
    # chart differentiates: dojax.state.retract's pose, residual.body_wrenches at the rotated
    # orientations and residual.joint_inputs. Random orientations and actions, a mechanism with
    # body force and torque actuators and one with joint actuators alone: equal to rounding (1e-14).
    from dojax import quaternion as quat, residual as res
    from dojax.state import State, retract

    def reference(mech, state, action):
        nb = mech.num_bodies

        def pose(x, v, q, w, dz):
            moved = retract(State(x=x, v=v, q=q, w=w), dz)
            return jnp.concatenate([moved.x, moved.q, moved.v, moved.w])

        T = jax.vmap(jax.jacfwd(pose, argnums=4))(state.x, state.v, state.q, state.w, jnp.zeros((nb, 12)))

        def wrenches(theta, u):
            q = quat.multiply(state.q, quat.from_rotation_vector(theta))
            return jnp.concatenate(res.body_wrenches(mech, q[mech.structure.actuator_body], u), axis=-1)

        dtheta, du = jax.jacfwd(wrenches, argnums=(0, 1))(jnp.zeros((nb, 3)), action)
        return res.Charts(jnp.concatenate([T, jnp.zeros_like(T[:1])]), dtheta[np.arange(nb), :, np.arange(nb)], du,
                          jax.jacfwd(lambda u: res.joint_inputs(mech, u))(action))

    body_actuated, _, _, _ = _every_term_point()
    rng = np.random.default_rng(7)
    for mech in (body_actuated, dojax.load("hopper")):
        state = mech.initial_state()
        q = rng.normal(size=state.q.shape)
        state = state.replace(q=jax.device_put(q / np.linalg.norm(q, axis=-1, keepdims=True)))
        action = jax.device_put(rng.normal(size=mech.action_size))
        got, expected = jax.jit(lambda s, a: (res.charts(mech, s, a), reference(mech, s, a)))(state, action)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=0, atol=1e-14)
        assert np.any(np.asarray(expected.input_action) != 0)
        assert np.any(np.asarray(expected.wrench) != 0) == (mech is body_actuated)


def test_quaternion_numpy_ops_match_jax():
    # dojax.quaternion.numpy_ops (a model's constants) are the module's formulas evaluated by NumPy:
    # NumPy arrays out, equal to the JAX functions' values to rounding (1e-15), at small angles too.
    from dojax import quaternion as quat

    rng = np.random.default_rng(6)
    q = rng.normal(size=(6, 4))
    q[4] = (1.0, 1e-9, -2e-9, 0.0)  # the rotation vector's small-angle series
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    v = rng.normal(size=(6, 3))
    v[5] = 1e-7 * v[5]
    calls = lambda ops: dict(
        multiply=ops.multiply(q, q[::-1]), conjugate=ops.conjugate(q), rotate=ops.rotate(q, v),
        rotate_inverse=ops.rotate_inverse(q, v), to_matrix=ops.to_matrix(q), cayley=ops.cayley(v, 0.01),
        to_rotation_vector=ops.to_rotation_vector(q), from_rotation_vector=ops.from_rotation_vector(v))
    numpy_values, jax_values = calls(quat.numpy_ops), jax.jit(lambda: calls(quat))()
    for name, value in numpy_values.items():
        assert type(value) is np.ndarray, name
        np.testing.assert_allclose(value, jax_values[name], rtol=0, atol=1e-15, err_msg=name)
