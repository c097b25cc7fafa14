"""The native CPU step kernel against the JAX reference.

``data/recorded_steps.npz`` holds steps of every built-in model taken by the JAX step before the
kernel existed (100 random-action steps of each robot at dt 0.02, 15 of each other model at its
default timestep, on models without armature: the test zeroes it); the kernel must reproduce them.
Tolerances: 1e-9 on the recorded next configurations (x, q); on the velocities, which are
configuration increments divided by the timestep h, 1e-9 / h or 1e-8 relative (both paths run the
same algorithm on the same equations and differ by round-off amplified through a handful of Newton
iterations on stiff contacts: up to 3.5e-9 relative on the robots' velocities at h = 0.02, e.g. 7e-8
on a 20 rad/s spin), 1e-10 on the solver's unknowns in live comparisons of small models, and 1e-8 on
derivatives.
"""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax import implicit
from dojax import residual as res
from dojax import solver
from dojax.joints import JOINT_TYPES
from dojax.minimal import minimal_index
from dojax.native import generate, kernel
from dojax.state import State

RECORDED = pathlib.Path(__file__).parent / "data" / "recorded_steps.npz"
ROBOTS = ("hopper", "walker2d", "halfcheetah", "ant", "humanoid", "quadruped")
NATIVE = dojax.SolverOptions(backend="native")
JAX = dojax.SolverOptions(backend="jax")

pytestmark = pytest.mark.skipif(not kernel.available(), reason="native kernel not built")


def _recorded(name):
    data = np.load(RECORDED)
    get = lambda f: jax.device_put(data[f"{name}/{f}"])
    state = State(x=get("x"), v=get("v"), q=get("q"), w=get("w"))
    following = State(x=get("next_x"), v=get("next_v"), q=get("next_q"), w=get("next_w"))
    return state, get("action"), following, np.asarray(data[f"{name}/converged"])


def test_generated_element_code_is_current():
    """csrc/elements.inc is exactly what the JAX residual generates today."""
    assert generate.source() == generate.default_path().read_text()


@pytest.mark.parametrize("name", sorted(dojax.MODELS))
def test_native_step_reproduces_recorded_jax_steps(name):
    mech = dojax.load(name, timestep=0.02) if name in ROBOTS else dojax.load(name)
    mech = mech.replace(armature=jax.device_put(np.zeros(mech.armature.shape)))  # recorded before armature was modelled
    states, actions, expected, converged = _recorded(name)
    step = jax.jit(jax.vmap(lambda s, a: dojax.step(mech, s, a, NATIVE)))
    got, info = step(states, actions)
    np.testing.assert_array_equal(np.asarray(info.converged), converged)
    assert converged.mean() > 0.95
    h = float(mech.timestep)
    for field, atol, rtol in (("x", 1e-9, 0), ("q", 1e-9, 0), ("v", 1e-9 / h, 1e-8), ("w", 1e-9 / h, 1e-8)):
        np.testing.assert_allclose(np.asarray(getattr(got, field))[converged],
                                   np.asarray(getattr(expected, field))[converged], rtol=rtol, atol=atol)
    jax.clear_caches()


def _collisions():
    """Free bodies touching each other (sphere-box, capsule-capsule, capsule-box, box-box) and the
    ground: border elements, every contact model."""
    b = dojax.MechanismBuilder(timestep=0.01)
    b.add_body("box", 1.0, shape=dojax.shapes.Box(0.2, 0.2, 0.2), position=(0, 0, 0.1))
    b.add_body("ball", 0.5, shape=dojax.shapes.Sphere(0.05), position=(0.02, 0, 0.251), velocity=(0, 0, -0.3))
    for k, corner in enumerate([(-0.1, -0.1, -0.1), (0.1, -0.1, -0.1), (-0.1, 0.1, -0.1), (0.1, 0.1, -0.1)]):
        b.add_contact("box", origin=corner, model=("soc", "linear", "impact", "soc")[k])
    b.add_collision("ball", ("sphere", (0, 0, 0), 0.05), "box", ("box", (0.1, 0.1, 0.1)), model="soc")
    b.add_collision("ball", ("capsule", (0, 0, 0), (0.0, 0.0, 0.01), 0.05), "box",
                    ("capsule", (-0.1, 0, 0.1), (0.1, 0, 0.1), 0.0), model="linear")
    # a rod (capsule-box) and a cube (box-box) lying on the box
    b.add_body("rod", 0.2, shape=dojax.shapes.Capsule(0.02, 0.1), position=(0, 0.06, 0.222))
    b.add_collision("rod", ("capsule", (-0.05, 0, 0), (0.05, 0, 0), 0.02), "box", ("box", (0.1, 0.1, 0.1)),
                    model="impact")
    b.add_body("cube", 0.2, shape=dojax.shapes.Box(0.06, 0.06, 0.06), position=(-0.05, -0.05, 0.231))
    b.add_collision("cube", ("box", (0.03, 0.03, 0.03)), "box", ("box", (0.1, 0.1, 0.1)), model="soc")
    return b.build()


def _joint_types():
    """One link of every joint type (the kernel's code for each), sprung, damped, actuated and with
    armature, on a spinning, drifting base."""
    b = dojax.MechanismBuilder(timestep=0.01)
    for k, joint_type in enumerate(JOINT_TYPES):
        base, link = f"base_{joint_type}", f"link_{joint_type}"
        b.add_body(base, 1.0, shape=dojax.shapes.Box(0.1, 0.1, 0.1), position=(2.0 * k, 0, 1),
                   velocity=(0.1, 0, 0.2), angular_velocity=(0.3, -0.2, 0.5))
        b.add_body(link, 0.5, shape=dojax.shapes.Box(0.05, 0.05, 0.3), position=(2.0 * k, 0, 0.7),
                   angular_velocity=(1.0, 0.5, -0.7))
        b.add_joint(joint_type, joint_type, base, link, axis=(0.6, 0.0, 0.8), parent_vertex=(0, 0, -0.1),
                    child_vertex=(0, 0, 0.2), spring=2.0, damper=0.5, armature=0.1, actuated=True)
    return b.build()


def _limited_joints():
    """Joints of several types limited on every free coordinate, so that one group holds limits of
    different joint rows (each row its own generated code), each row's lower and upper limit in
    turn, as the kernel pairs them; the links spin into their limits."""
    b = dojax.MechanismBuilder(timestep=0.01)
    for k, (joint_type, rows) in enumerate((("spherical", 3), ("revolute", 1), ("planar", 2), ("cylindrical", 2))):
        base, link = f"base_{joint_type}", f"link_{joint_type}"
        b.add_body(base, 1.0, shape=dojax.shapes.Box(0.1, 0.1, 0.1), position=(2.0 * k, 0, 1))
        b.add_body(link, 0.5, shape=dojax.shapes.Box(0.05, 0.05, 0.3), position=(2.0 * k, 0, 0.7),
                   velocity=(0.5, -0.4, 0.3), angular_velocity=(2.0, -1.5, 1.0))
        b.add_joint(joint_type, joint_type, base, link, axis=(0.6, 0.0, 0.8), parent_vertex=(0, 0, -0.1),
                    child_vertex=(0, 0, 0.2), limits=[(-0.05, 0.05)] * rows, actuated=True)
    return b.build()


def _fourbar_with_armature():
    mech = dojax.load("fourbar")
    tree = np.arange(mech.num_joints)[:, None] < mech.num_bodies  # a loop-closing joint has none
    return mech.replace(armature=jax.device_put(np.where(tree, 0.3 * mech.structure.free_mask, 0.0)))


@pytest.mark.parametrize("model", ["collisions", "fourbar", "joint_types", "limits"])
def test_native_unknowns_match_jax_solve(model):
    """Body-body contacts, a loop joint (the border of the Newton matrix) in a mechanism whose tree
    joints have armature, every joint type, and limits of several joint rows, live against JAX: the
    kernel's iterations on the JAX problem, and the kernel's step, which evaluates the problem and
    its starting point itself (or starts from given unknowns, as the derivative's re-centring
    does)."""
    mech = {"collisions": _collisions, "fourbar": _fourbar_with_armature, "joint_types": _joint_types,
            "limits": _limited_joints}[model]()
    state = mech.initial_state()
    action = jax.device_put(0.3 * np.ones(mech.action_size))

    @jax.jit
    def solves(state, action):
        prob = res.make_problem(mech, state, action)
        W0 = res.initial_unknowns(mech, prob)
        return (solver.solve(mech, prob, W0, NATIVE), kernel.solve_step(mech, state, action, NATIVE),
                kernel.solve_step(mech, state, action, NATIVE, W0), solver.solve(mech, prob, W0, JAX))

    for _ in range(5):
        *native, (Wj, info_j) = solves(state, action)
        for Wn, info_n in native:
            assert bool(info_n.converged) and int(info_n.iterations) == int(info_j.iterations)
            for a, b in zip(jax.tree.leaves(Wn), jax.tree.leaves(Wj)):
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
        state, _ = dojax.step(mech, state, action, NATIVE)  # the states to compare at (one JAX compile, not two)
    jax.clear_caches()


def test_native_derivatives_match_jax_backend():
    """jax.grad through native steps equals the JAX path's, with respect to the velocity and a
    physical parameter (friction)."""
    mech = dojax.load("sphere", timestep=0.01)
    state = mech.initial_state().replace(v=jax.device_put(np.array([[1.0, 0.0, -0.5]])))

    def loss(friction, v, opts):
        def body(s, _):
            return dojax.step(mech.replace(friction=friction), s, jnp.array([0.5, 0.0, 0.0]), opts)[0], None

        s = jax.lax.scan(body, state.replace(v=v), None, length=3)[0]  # one solve in the program, not three
        return jnp.sum(s.x ** 2) + jnp.sum(s.v)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    (gf_n, gv_n), (gf_j, gv_j) = grad(mech.friction, state.v, NATIVE), grad(mech.friction, state.v, JAX)
    np.testing.assert_allclose(gv_n, gv_j, rtol=0, atol=1e-8)
    np.testing.assert_allclose(gf_n, gf_j, rtol=0, atol=1e-8)
    assert np.any(np.asarray(gf_n) != 0)
    jax.clear_caches()  # (vmap of grad on the native path: tests/test_gradients.py)


def test_native_second_derivatives_match_jax_backend():
    """Second derivatives of a step with a sliding contact (jax.hessian: forward over reverse mode,
    through the kernel's solve and its transpose) equal the JAX path's to rounding (1e-8 of their
    size: the same implicit derivative on the same equations)."""
    mech = dojax.load("sphere", timestep=0.01)
    state = mech.initial_state().replace(v=jax.device_put(np.array([[1.0, 0.0, -0.5]])))
    f = lambda a, opts: jnp.sum(dojax.step(mech, state, a, opts)[0].v ** 2)
    hessian = jax.jit(jax.hessian(f), static_argnums=1)
    action = jax.device_put(np.array([0.5, 0.2, 0.0]))
    native, reference = hessian(action, NATIVE), hessian(action, JAX)
    scale = float(np.max(np.abs(reference)))
    assert scale > 0
    np.testing.assert_allclose(native, reference, rtol=0, atol=1e-8 * scale)
    jax.clear_caches()


@pytest.mark.parametrize("model", ["collisions", "fourbar"])
def test_native_linear_solve_matches_jax(model):
    """The kernel's Newton solve for many right-hand sides (the linear solve of the step's derivative
    on this backend) equals dojax.residual.newton_step at a solution, and its transpose (reverse mode)
    equals JAX's transpose of it: local contacts, body-body contacts and a loop joint in the border;
    vmapped right-hand sides share one factorisation and a batch of points (nested vmap) gives each
    its own. So does the solve for the columns of one matrix (kernel.newton_columns, the step
    Jacobian's), which with a border solves one column at a time; it equals the solve column by
    column to rounding (the same factorisation). (dojax.jacobians and jax.grad with it against central differences:
    tests/test_gradients.py.)"""
    mech = _collisions() if model == "collisions" else _fourbar_with_armature()
    state, action = mech.initial_state(), jax.device_put(0.3 * np.ones(mech.action_size))

    @jax.jit
    def solves(R):
        prob = res.make_problem(mech, state, action)
        W, info = solver.solve(mech, prob, res.initial_unknowns(mech, prob), NATIVE)
        native = lambda W: jax.vmap(lambda r: kernel.newton_step(mech, state, action, W, r))(R)
        reference = jax.vmap(lambda r: res.newton_step(mech, prob, res.linearize(mech, prob, W), r))(R)
        # two points (the second at W scaled), each with the same right-hand sides
        scaled = jax.tree.map(lambda w: 1.1 * w, W)
        both = jax.vmap(native)(jax.tree.map(lambda *w: jnp.stack(w), W, scaled))
        r0 = jax.tree.map(lambda r: r[0], R)
        transposed = lambda solve: jax.vmap(jax.linear_transpose(solve, r0))(R)[0]
        lin = res.linearize(mech, prob, W)
        native_t = transposed(lambda r: kernel.newton_step(mech, state, action, W, r))
        reference_t = transposed(lambda r: res.newton_step(mech, prob, lin, r))
        # the columns solve: the right-hand sides as the columns of one packed matrix, for both points
        packed = jax.vmap(kernel.pack_unknowns)(R).T
        columns = lambda W: kernel.newton_columns(mech, state, action, W, packed)
        columns_both = jax.vmap(columns)(jax.tree.map(lambda *w: jnp.stack(w), W, scaled))
        columns = (columns(W).T, columns_both[0].T, columns_both[1].T, jax.vmap(kernel.pack_unknowns)(native(scaled)))
        return info.converged, native(W), reference, both, native(scaled), native_t, reference_t, columns

    shapes = jax.eval_shape(lambda: res.initial_unknowns(mech, res.make_problem(mech, state, action)))
    leaves, tree = jax.tree.flatten(shapes)
    R = jax.jit(lambda: jax.tree.unflatten(tree, [jax.random.normal(k, (5,) + l.shape) for k, l in zip(
        jax.random.split(jax.random.PRNGKey(0), len(leaves)), leaves)]))()  # one program, not one per operation
    converged, native, reference, both, second, native_t, reference_t, columns = solves(R)
    assert bool(converged)
    single, first, other, second_packed = columns
    native_packed = jax.jit(jax.vmap(kernel.pack_unknowns))(native)
    for a, b in ((single, native_packed), (first, native_packed), (other, second_packed)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * max(1.0, float(np.max(np.abs(b)))))
    for a, b in zip(jax.tree.leaves((native, native_t)), jax.tree.leaves((reference, reference_t))):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * max(1.0, float(np.max(np.abs(b)))))
    for a, b, c in zip(jax.tree.leaves(both), jax.tree.leaves(native), jax.tree.leaves(second)):
        np.testing.assert_array_equal(np.asarray(a)[0], b)
        np.testing.assert_array_equal(np.asarray(a)[1], c)
    jax.clear_caches()


def test_native_columns_solve_in_blocks():
    """Without a border (the hopper: its contacts with the ground and its joint limits eliminated
    locally) the kernel solves a Jacobian's columns in blocks: 40 columns (a block of 32 and a
    padded one) equal the kernel's solve column by column to rounding. The hopper's step Jacobian
    columns (dojax.implicit.solve_columns: the kernel assembles the right-hand sides from the local
    Jacobians and the charts itself and computes the velocity rows alone, skipping the zero blocks
    of each body's columns) equal the JAX factorisation's of dojax.residual.column_blocks to the
    kernel's 1e-8. They are linear in the charts, so their derivative along the charts (the JVP
    rule: XLA's blocks, the kernel's solve) is their value at the tangent to rounding."""
    mech = dojax.load("hopper", timestep=0.01)
    state, action = mech.initial_state(), jax.device_put(0.3 * np.ones(mech.action_size))

    @jax.jit
    def solves(R):
        prob = res.make_problem(mech, state, action)
        W, info = solver.solve(mech, prob, res.initial_unknowns(mech, prob), NATIVE)
        gathered = kernel._gathered(mech, state, action)
        one_by_one = jax.vmap(lambda r: kernel._linear_solve(mech, gathered, W, r, False))(R)
        jacobian = [implicit.solve_columns(mech, state, action, W, info.converged, opts) for opts in (NATIVE, JAX)]
        velocities = lambda charts: kernel.velocity_columns(mech, state, action, W, charts)
        charts = res.charts(mech, state, action)
        tangent = jax.tree.map(lambda c: c[::-1], charts)
        linear = (jax.jvp(velocities, (charts,), (tangent,))[1], velocities(tangent))
        return kernel.newton_columns(mech, state, action, W, R.T).T, one_by_one, jacobian, linear

    n = jax.eval_shape(lambda: kernel.pack_unknowns(res.initial_unknowns(mech, res.make_problem(mech, state, action))))
    blocks, one_by_one, (native, reference), (tangent, solved) = solves(
        jax.jit(lambda: jax.random.normal(jax.random.PRNGKey(0), (40,) + n.shape))())
    # (the tangent's blocks are XLA's products, the value's the kernel's: they differ in the last bit,
    # which the Newton matrix's conditioning amplifies to ~2e-12 of the largest entry)
    np.testing.assert_allclose(tangent, solved, rtol=0, atol=1e-11 * float(np.max(np.abs(solved))))
    np.testing.assert_allclose(blocks, one_by_one, rtol=0, atol=1e-12 * float(np.max(np.abs(one_by_one))))
    assert float(np.max(np.abs(reference))) > 0
    np.testing.assert_allclose(native, reference, rtol=0, atol=1e-8 * float(np.max(np.abs(reference))))
    jax.clear_caches()


def test_batched_lanes_equal_single_steps():
    """A vmapped batch (solved in parallel lanes) gives each lane its unbatched step: the same
    iterations, and values equal to rounding (the problem's assembly in XLA rounds its small
    matrix products batched and unbatched differently in the last bit; the kernel then solves
    each lane on its own)."""
    mech = dojax.load("hopper", timestep=0.02)
    mech = mech.replace(armature=jax.device_put(np.zeros(mech.armature.shape)))  # the recorded states' model
    states, actions, _, _ = _recorded("hopper")
    states, actions = jax.tree.map(lambda a: np.asarray(a)[:6], (states, actions))  # sliced in NumPy
    step = jax.jit(lambda s, a: dojax.step(mech, s, a, NATIVE))
    batched, info = jax.vmap(step)(states, actions)
    batched, iterations = jax.tree.map(np.asarray, batched), np.asarray(info.iterations)
    for k in range(6):
        single, single_info = step(jax.tree.map(lambda a: a[k], states), actions[k])
        assert int(iterations[k]) == int(single_info.iterations)
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched)):
            np.testing.assert_allclose(a, b[k], rtol=1e-14, atol=1e-15)
    jax.clear_caches()


@pytest.mark.parametrize("model", ["humanoid", "collisions", "fourbar", "joint_types"])
def test_kernel_gathers_the_local_inputs_exactly(model):
    """The kernel fills a step's local inputs itself from the state's sources and the mechanism's
    parameters by the model's gather plan: entry for entry the inputs XLA would assemble."""
    builders = {"collisions": _collisions, "fourbar": _fourbar_with_armature, "joint_types": _joint_types}
    mech = builders[model]() if model in builders else dojax.load(model)
    rng = np.random.default_rng(3)
    state = mech.initial_state()
    state = state.replace(v=state.v + rng.normal(size=state.v.shape), w=state.w + rng.normal(size=state.w.shape))
    action = rng.uniform(-1, 1, mech.action_size)
    base, dst, src = kernel._gather_plan(mech)
    local, sources = jax.jit(lambda s, a: (kernel._flat_local(mech, res.local_inputs(mech, s, a)),
                                           kernel._sources(mech, s, a)))(state, action)
    gathered = base.copy()
    gathered[dst] = np.concatenate([np.asarray(sources), np.asarray(kernel._parameters(mech))])[src]
    np.testing.assert_array_equal(gathered, np.asarray(local))
    jax.clear_caches()


def test_kernel_step_with_traced_and_batched_parameters():
    """The mechanism's parameters reach the kernel as an operand: traced (system identification
    differentiates them) and batched under vmap, each lane's step is the step of its own mechanism."""
    mech = dojax.load("hopper", timestep=0.02)
    state, action = mech.initial_state(), jax.device_put(0.5 * np.ones(mech.action_size))
    scales = np.array([1.0, 1.5])
    step = lambda m: kernel.solve_step(m, state, action, NATIVE)[0]  # noqa: E731
    batched = jax.jit(jax.vmap(lambda k: step(mech.replace(mass=mech.mass * k))))(scales)
    for i, k in enumerate(scales):
        single = jax.jit(step)(mech.replace(mass=mech.mass * k))  # traced parameters, not constants
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched)):
            np.testing.assert_allclose(b[i], a, rtol=0, atol=1e-12)
    assert not np.allclose(jax.tree.leaves(batched)[0][0], jax.tree.leaves(batched)[0][1])  # the masses matter
    jax.clear_caches()


def test_kernel_derivatives_with_batched_parameters():
    """The derivatives' kernel calls gather the step's local inputs as the step does: under vmap over
    the joints' dampers alone (batched parameters, unbatched sources: the linear solve broadcasts
    them) the gradient of a step with respect to the mechanism and the action, and its velocity
    Jacobian, are each lane's own, to rounding."""
    mech = dojax.load("hopper", timestep=0.02)
    state, action = mech.initial_state(), jax.device_put(0.3 * np.ones(mech.action_size))
    loss = lambda m, a: jnp.sum(dojax.step(m, state, a, NATIVE)[0].v ** 2)  # noqa: E731
    derivatives = lambda m: (jax.grad(loss, argnums=(0, 1))(m, action),  # noqa: E731
                             dojax.jacobians(m, state, action, NATIVE))
    with_damper = lambda d: mech.replace(damper=mech.damper + d)  # noqa: E731
    dampers = np.array([0.0, 2.0])
    batched = jax.jit(jax.vmap(lambda d: derivatives(with_damper(d))))(dampers)
    for i, d in enumerate(dampers):
        single = jax.jit(derivatives)(with_damper(d))
        for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(batched)):
            np.testing.assert_allclose(b[i], a, rtol=0, atol=1e-12 * max(1.0, float(np.max(np.abs(a)))))
    action_gradients = batched[0][1]
    assert not np.allclose(action_gradients[0], action_gradients[1])  # the dampers matter
    jax.clear_caches()


@pytest.mark.parametrize("model", ["joint_types", "fourbar", "humanoid"])
def test_native_minimal_coordinates_match_jax(model):
    """dojax.to_minimal by the kernel (the generated joint_minimal per tree joint) against JAX and
    against the minimal coordinates the states were placed from, on a batch of states whose
    single-axis rotations are near +-pi and turn across it within the last step (their rates must
    wrap): every joint type, a loop-closing joint (not a tree joint: not in the vector) and a
    floating base. The rates divide coordinate differences by h = 0.01, so the paths agree to
    1e-12 rather than 1e-14, and the placement to 1e-9; the derivatives are JAX's on both paths
    (compiled in different programs: equal to rounding)."""
    builders = {"fourbar": _fourbar_with_armature, "joint_types": _joint_types}
    mech = builders[model]() if model in builders else dojax.load(model, timestep=0.01)
    index = minimal_index(mech.structure)  # each entry's place in the (joint, 12) table
    joint, row = index // 12, index % 12
    turning = np.asarray(mech.structure.wrap)[joint, row % 6]
    rng = np.random.default_rng(5)
    y = mech.structure.initial_minimal + 0.3 * rng.normal(size=(2, mech.minimal_size))
    y[:, turning & (row < 6)] = -3.05  # -pi + 0.09
    y[:, turning & (row >= 6)] = 20.0  # a step back: -3.25, i.e. +3.03
    states = jax.jit(jax.vmap(lambda y: dojax.from_minimal(mech, y)))(y)
    minimal = lambda backend: jax.jit(jax.vmap(lambda s: dojax.to_minimal(mech, s, backend)))(states)  # noqa: E731
    native, reference = np.asarray(minimal("native")), np.asarray(minimal("jax"))
    assert native.shape == (2, mech.minimal_size)
    np.testing.assert_allclose(native, reference, rtol=0, atol=1e-12 * max(1.0, float(np.max(np.abs(reference)))))
    np.testing.assert_allclose(native, y, rtol=0, atol=1e-9)
    state = jax.tree.map(lambda a: a[0], states)
    jacobian = lambda backend: jax.jit(jax.jacfwd(  # noqa: E731
        lambda w: dojax.to_minimal(mech, state.replace(w=w), backend)))(state.w)
    np.testing.assert_allclose(jacobian("native"), jacobian("jax"), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="backend"):
        dojax.to_minimal(mech, state, "c++")
    jax.clear_caches()


def test_backend_option():
    assert dojax.SolverOptions().backend == "auto"
    assert solver.use_native(dojax.SolverOptions()) == (jax.default_backend() == "cpu")
    with pytest.raises(ValueError, match="backend"):
        dojax.SolverOptions(backend="c++")


def test_missing_kernel_is_reported(monkeypatch):
    monkeypatch.setattr(kernel, "available", lambda: False)
    assert not solver.use_native(dojax.SolverOptions())
    mech = dojax.load("pendulum")

    @jax.jit  # traced, not run operation by operation (each would compile): tracing reports it
    def solve(state, action):
        prob = res.make_problem(mech, state, action)
        return kernel.solve(mech, prob, res.initial_unknowns(mech, prob), NATIVE)

    with pytest.raises(RuntimeError, match="native kernel was not built"):
        solve(mech.initial_state(), np.zeros(mech.action_size))
