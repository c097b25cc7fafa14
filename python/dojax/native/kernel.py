"""The native CPU step kernel: packing a step's problem for it, and calling it through XLA's FFI.

The kernel (``csrc/step_kernel.cc``, built into ``dojax/_step_kernel*.so`` by ``pip install``)
runs :func:`dojax.solver.solve`'s interior-point iterations in C++ on the element equations that
:mod:`dojax.native.generate` translates from the JAX residual. A step (:func:`solve_step`) hands it
the state, the bodies' wrenches, the joints' inputs and the mechanism's parameters; the kernel
gathers each term's local inputs from them by a plan fixed per model, and generated code evaluates
the problem and the starting point (or it starts from given unknowns: the derivative's
re-centring). The derivatives' calls (the Newton solves, the local Jacobians, the step Jacobian's
columns) gather the same inputs by the same plan (:func:`_gathered`). :func:`solve` takes a
problem evaluated by JAX (:func:`dojax.solver.solve` on a problem of one's own). Each is a
``jax.ffi`` custom call, so it works under ``jax.jit`` and ``jax.vmap`` (a batch is solved lane
by lane in one call), and derivatives come from the implicit-function rule
(:mod:`dojax.implicit`) at the kernel's solution, whose linear solve (and its transpose, for
reverse mode) the kernel also computes.
"""

import ctypes
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from dojax import elements as el
from dojax import residual as res
from dojax.joints import JOINT_TYPES, free_mask
from dojax.state import State

TARGET = "dojax_step_solve"
STEP_TARGET = "dojax_step_solve_local"
RESOLVE_TARGET = "dojax_step_resolve_local"
LINEAR_SOLVE = "dojax_linear_solve"
LOCAL_JACOBIANS = "dojax_local_jacobians"
COLUMNS_SOLVE = "dojax_columns_solve"
JACOBIAN_COLUMNS = "dojax_jacobian_columns"
MINIMAL = "dojax_minimal"
#: who evaluates a step's iterations (SolverOptions.backend) or the minimal coordinates
BACKENDS = ("auto", "jax", "native")


@functools.lru_cache(maxsize=None)
def _library():
    """The compiled kernel, registered with XLA once; None when it was not built."""
    here = pathlib.Path(__file__).resolve().parent.parent
    found = sorted(here.glob("_step_kernel*.so"))
    if not found:
        return None
    lib = ctypes.cdll.LoadLibrary(str(found[0]))
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.DojaxStepSolve), platform="cpu")
    jax.ffi.register_ffi_target(STEP_TARGET, jax.ffi.pycapsule(lib.DojaxStepSolveLocal), platform="cpu")
    jax.ffi.register_ffi_target(RESOLVE_TARGET, jax.ffi.pycapsule(lib.DojaxStepResolveLocal), platform="cpu")
    jax.ffi.register_ffi_target(LINEAR_SOLVE, jax.ffi.pycapsule(lib.DojaxLinearSolve), platform="cpu")
    jax.ffi.register_ffi_target(LOCAL_JACOBIANS, jax.ffi.pycapsule(lib.DojaxLocalJacobians), platform="cpu")
    jax.ffi.register_ffi_target(COLUMNS_SOLVE, jax.ffi.pycapsule(lib.DojaxColumnsSolve), platform="cpu")
    jax.ffi.register_ffi_target(JACOBIAN_COLUMNS, jax.ffi.pycapsule(lib.DojaxJacobianColumns), platform="cpu")
    jax.ffi.register_ffi_target(MINIMAL, jax.ffi.pycapsule(lib.DojaxMinimal), platform="cpu")
    return lib


def available():
    """Whether the native kernel was built with this installation."""
    return _library() is not None


def chosen(backend):
    """Whether ``backend`` (one of :data:`BACKENDS`) sends the work to the kernel: ``"auto"`` does
    when the kernel is built and JAX's default device is a CPU."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return available() and jax.default_backend() == "cpu"
    return backend == "native"


def _element_types(structure, kind, model, geometry, members):
    """The kernel's element type of each member of a group (joint limits: one per bounded row)."""
    from dojax.native.generate import ELEMENT_TYPES

    if kind == "limit":
        return [ELEMENT_TYPES.index(("limit", "joint", int(row))) for row in structure.limit_row[np.asarray(members)]]
    return [ELEMENT_TYPES.index((model, geometry))] * len(members)


def _joint_types(structure):
    """The kernel's joint type of each joint: the index in :data:`dojax.joints.JOINT_TYPES` of its
    free rows."""
    masks = {tuple(free_mask(name)): i for i, name in enumerate(JOINT_TYPES)}
    return [masks[tuple(np.asarray(m, dtype=float))] for m in structure.free_mask]


@functools.lru_cache(maxsize=64)
def _structure(structure):
    """The static int64 description the kernel parses (see ``parse_structure`` in the C++)."""
    s = structure
    nb, nj = len(s.body_names), len(s.joint_names)
    levels = np.asarray(s.level_nodes)
    parts = [[nb, nj, levels.shape[0], levels.shape[1]], levels.reshape(-1), s.joint_parent, s.joint_child,
             _joint_types(s), [len(s.element_groups)]]
    for (kind, model, geometry, members, border) in s.element_groups:
        a, b = res.element_bodies(s, kind, members)
        parts += [[len(a), int(border)], _element_types(s, kind, model, geometry, members), a, b]
    return np.concatenate([np.asarray(p, dtype=np.int64).reshape(-1) for p in parts])


def _pack(args, axes, n):
    """Leaves of vmapped arguments as an (n, k) float64 block, in the generated code's order."""
    cols = []
    for arg, axis in zip(args, axes):
        for leaf in jax.tree.leaves(arg):
            leaf = jnp.asarray(leaf, jnp.float64)
            if axis is None:
                leaf = jnp.broadcast_to(leaf, (n,) + leaf.shape)
            cols.append(leaf.reshape(n, -1))
    return jnp.concatenate(cols, axis=1)


def pack_parameters(mech, prob, W):
    """One flat vector of every body's, joint's and element's parameters at the current configuration."""
    nb, nj = mech.num_bodies, mech.num_joints
    body = _pack(res._body_args(mech, prob, W)[:6], res._BODY_AXES[:6], nb)
    joint = _pack(res._joint_args(mech, prob, W)[:-3], res._JOINT_AXES[:-3], nj)
    blocks = [body.reshape(-1), joint.reshape(-1)]
    for g, y in zip(prob.groups, W.y):
        args = res._element_args(mech, prob, W, g, y, 0.0, None)
        blocks.append(_pack(args[:6], res._ELEMENT_AXES[:6], len(g.a)).reshape(-1))
    return jnp.concatenate(blocks)


def pack_unknowns(W):
    return jnp.concatenate([W.V.reshape(-1), W.lam.reshape(-1)] + [y.reshape(-1) for y in W.y])


def unpack_unknowns(w, like):
    sizes = [like.V.size, like.lam.size] + [y.size for y in like.y]
    parts = jnp.split(w, np.cumsum(sizes)[:-1])
    return res.Unknowns(parts[0].reshape(like.V.shape), parts[1].reshape(like.lam.shape),
                        tuple(p.reshape(y.shape) for p, y in zip(parts[2:], like.y)))


def _require():
    if not available():
        raise RuntimeError("dojax's native kernel was not built with this installation; "
                           "reinstall dojax (pip install -e .) or use SolverOptions(backend='jax')")


def _linear_solve(mech, gathered, W, r, transpose):
    """The kernel's solve at W of packed right-hand sides: -(dF/dW)^-1 r, or with ``transpose``
    -(dF/dW)^-T r, on the problem it evaluates from the step's local inputs (``gathered``:
    :func:`_gathered`). Entries that a non-finite factorisation leaves non-finite are zero."""
    _require()
    operands, plan = gathered
    call = jax.ffi.ffi_call(LINEAR_SOLVE, jax.ShapeDtypeStruct(r.shape, r.dtype), vmap_method="expand_dims")
    return call(*operands, pack_unknowns(W), r, transpose=np.int64(transpose), **plan)  # (non-finite: zeroed by the kernel)


def _residual_map(mech, state, action, W):
    """x -> -(dF/dW) x at W on packed unknowns: the JAX residual's linear map that the kernel's
    solves invert (their transposition and derivatives)."""
    prob = res.make_problem(mech, state, action)
    return lambda x: -pack_unknowns(jax.jvp(lambda w: res.residual(mech, prob, w), (W,), (unpack_unknowns(x, W),))[1])


def newton_step(mech, state, action, W, R):
    """:func:`dojax.residual.newton_step` at W, the step from (state, action) (the unknowns' Newton
    step -(dF/dW)^-1 R), the problem, factorisation and solve computed by the kernel; entries that
    a non-finite factorisation leaves non-finite are zero.

    It is a linear function of R (``jax.lax.custom_linear_solve``): its transpose, for reverse
    mode, is the kernel's transposed solve with the same factorisation, and under ``jax.vmap``
    over R alone (the columns of a Jacobian) the matrix is factorised once for all of them. Its
    derivatives with respect to the point (second derivatives of a step) come from the JAX
    residual's Jacobian. (The right-hand side is one packed vector, so that a transposition never
    meets a partly known one.)"""
    gathered = _gathered(mech, state, action)
    dw = jax.lax.custom_linear_solve(_residual_map(mech, state, action, W), pack_unknowns(R),
                                     lambda _, r: _linear_solve(mech, gathered, W, r, False),
                                     lambda _, r: _linear_solve(mech, gathered, W, r, True))
    return unpack_unknowns(dw, R)


def _columns_solve(mech, gathered, W, R):
    _require()
    operands, plan = gathered
    call = jax.ffi.ffi_call(COLUMNS_SOLVE, jax.ShapeDtypeStruct(R.shape, R.dtype), vmap_method="broadcast_all")
    return call(*operands, pack_unknowns(W), R, **plan)  # (non-finite entries zeroed by the kernel)


def newton_columns(mech, state, action, W, R):
    """:func:`newton_step` for many right-hand sides: -(dF/dW)^-1 R at W with R (N, C), the
    columns packed as the unknowns (a step's Jacobian); one factorisation for all of them, which
    the kernel applies to blocks of columns at once. Entries that a non-finite factorisation
    leaves non-finite are zero. Differentiable as :func:`newton_step` is (its transpose: the
    kernel's transposed solve column by column)."""
    columns = lambda f: jax.vmap(f, in_axes=1, out_axes=1)
    gathered = _gathered(mech, state, action)
    return jax.lax.custom_linear_solve(columns(_residual_map(mech, state, action, W)), R,
                                       lambda _, r: _columns_solve(mech, gathered, W, r),
                                       lambda _, r: columns(lambda c: _linear_solve(mech, gathered, W, c, True))(r))


def _velocity_columns(mech, state, action, W, charts):
    _require()
    nb = mech.num_bodies
    out = jax.ShapeDtypeStruct((6 * nb, 12 * nb + charts.wrench_action.shape[-1]), W.V.dtype)
    operands, plan = _gathered(mech, state, action)
    call = jax.ffi.ffi_call(JACOBIAN_COLUMNS, out, vmap_method="broadcast_all")
    return call(*operands, pack_unknowns(W), *charts, **plan)  # (non-finite entries zeroed by the kernel)


def _velocity_columns_jvp(primals, tangents):
    def dense(mech, state, action, W, charts):
        blocks = res.column_blocks(mech, local_jacobians(mech, state, action, W), charts)
        return newton_columns(mech, state, action, W, blocks.matrix(W))[:6 * mech.num_bodies]

    return velocity_columns(*primals), jax.jvp(dense, primals, tangents)[1]


velocity_columns = jax.custom_jvp(_velocity_columns)
velocity_columns.__doc__ = """The velocities' rows (6 nb, 12 nb + nu) of the step Jacobian's solve at W, the step from
(state, action): :func:`newton_columns` of the residual's Jacobian with respect to the state's
tangent and the action, which the kernel assembles itself from the terms' local Jacobians and the
state's ``charts`` (:func:`dojax.residual.charts`) as :func:`dojax.residual.column_blocks` does;
it solves each block of columns skipping its zero rows (a body's columns reach the terms of that
body and the tree above it only) and computes no other rows. Entries that a non-finite
factorisation leaves non-finite are zero. Its derivatives are those of :func:`newton_columns` of
:func:`dojax.residual.column_blocks` of :func:`local_jacobians`."""
velocity_columns.defjvp(_velocity_columns_jvp)


def _flat_local(mech, inputs):
    """Local inputs (:func:`dojax.residual.local_inputs`) as one flat vector, in the generated
    code's order."""
    body, joint, groups = inputs
    blocks = [_pack(body, res._BODY_AXES[:-1], mech.num_bodies).reshape(-1),
              _pack(joint, res._JOINT_LOCAL_AXES[:-3], mech.num_joints).reshape(-1)]
    for args, (_, _, _, members, _) in zip(groups, mech.structure.element_groups):
        blocks.append(_pack(args, res._LOCAL_ELEMENT_AXES[:-3], len(members)).reshape(-1))
    return jnp.concatenate(blocks)


def _sources(mech, state, action):
    """What a step's local inputs select from besides the mechanism's parameters, flat: the state's
    x, q, v and w, the bodies' forces and torques and the joints' input impulses."""
    parts = (state.x, state.q, state.v, state.w, *res.applied_inputs(mech, state, action))
    return jnp.concatenate([jnp.ravel(jnp.asarray(p, jnp.float64)) for p in parts])


def _parameters(mech):
    """The mechanism's parameters (its pytree leaves), flat."""
    return jnp.concatenate([jnp.ravel(jnp.asarray(leaf, jnp.float64)) for leaf in jax.tree.leaves(mech)])


def _gather_plan(mech):
    """How the kernel fills a step's flat local inputs (:func:`_flat_local` of
    :func:`dojax.residual.local_inputs`) itself: ``(base, dst, src)`` with the inputs ``base``
    except ``inputs[dst] = concatenate([sources, parameters])[src]`` (:func:`_sources`,
    :func:`_parameters`). :func:`dojax.residual.selected_inputs` only selects, so the plan depends
    on the structure and the parameters' shapes alone; it is found by evaluating the selection at
    zero and at distinct tags, and checked at other values."""
    leaves, treedef = jax.tree.flatten(mech)
    return _plan(treedef, tuple(np.shape(leaf) for leaf in leaves))


def _gathered(mech, state, action):
    """What every kernel call on the step from (state, action) evaluates its problem from:
    ``((sources, parameters), attributes)``, the operands and the structure and gather plan
    (:func:`_gather_plan`) as the call's attributes."""
    base, dst, src = _gather_plan(mech)
    return ((_sources(mech, state, action), _parameters(mech)),
            dict(structure=_structure(mech.structure), base=base, dst=dst, src=src))


@functools.lru_cache(maxsize=64)
def _plan(treedef, shapes):
    structure = jax.tree.unflatten(treedef, [np.zeros(shape) for shape in shapes]).structure
    nb, nj = len(structure.body_names), len(structure.joint_names)
    state_shapes = ((nb, 3), (nb, 4), (nb, 3), (nb, 3), (nb, 3), (nb, 3), (nj, 6))
    sizes = [int(np.prod(shape)) for shape in state_shapes + shapes]

    def select(values):
        pieces = [p.reshape(shape) for p, shape in zip(jnp.split(values, np.cumsum(sizes)[:-1]),
                                                       state_shapes + shapes)]
        x, q, v, w, force, torque, inputs = pieces[:7]
        mech = jax.tree.unflatten(treedef, pieces[7:])
        return _flat_local(mech, res.selected_inputs(mech, State(x=x, v=v, q=q, w=w), force, torque, inputs))

    total = sum(sizes)
    probe = np.random.default_rng(0).uniform(1.0, 2.0, total)
    values = np.stack([np.zeros(total), np.arange(1.0, total + 1.0), probe])
    # compiled and run now, also while a caller is being traced; it runs once, so it is compiled
    # without LLVM's optimisations (half the compilation time)
    lowered = jax.jit(jax.vmap(select)).lower(jax.ShapeDtypeStruct(values.shape, values.dtype))
    base, tagged, probed = np.asarray(lowered.compile({"xla_backend_optimization_level": 0})(values))
    tags = tagged - base
    dst = np.flatnonzero(tags)
    src = tags[dst].astype(np.int64) - 1
    expected = base.copy()
    expected[dst] = probe[src]
    if not (np.all(tags[dst] == src + 1) and np.array_equal(probed, expected)):
        raise RuntimeError("dojax kernel: the step's local inputs are not a selection of its sources")
    return base, dst.astype(np.int64), src


def _local_jacobians(mech, state, action, W):
    _require()
    nb, nj = mech.num_bodies, mech.num_joints
    shapes = [(nb, 6, 12), (nj, 18, 32)] + [(y.shape[0], y.shape[1] + 12, 14) for y in W.y]
    sizes = [int(np.prod(shape)) for shape in shapes]
    operands, plan = _gathered(mech, state, action)
    call = jax.ffi.ffi_call(LOCAL_JACOBIANS, jax.ShapeDtypeStruct((sum(sizes),), W.V.dtype), vmap_method="broadcast_all")
    flat = call(*operands, pack_unknowns(W), **plan)
    parts = [p.reshape(shape) for p, shape in zip(jnp.split(flat, np.cumsum(sizes)[:-1]), shapes)]
    return res.LocalJacobians(parts[0], parts[1], tuple(parts[2:]))


local_jacobians = jax.custom_jvp(_local_jacobians)
local_jacobians.__doc__ = """:func:`dojax.residual.local_jacobians` evaluated by the kernel. Its own derivative (for
second derivatives of a step) is the JAX function's."""
local_jacobians.defjvp(lambda primals, tangents: jax.jvp(res.local_jacobians, primals, tangents))


def _options(mech, opts, dtype):
    return jnp.stack([jnp.asarray(v, dtype) for v in (
        opts.rtol, opts.btol, opts.undercut, opts.no_progress_max, opts.no_progress_undercut, mech.timestep)])


def _iterations(opts):
    return dict(max_iter=np.int64(opts.max_iter), max_ls=np.int64(opts.max_ls), verbose=np.int64(opts.verbose))


def _info(info):
    from dojax.solver import SolveInfo

    count = jnp.asarray(0).dtype
    return SolveInfo(converged=info[0] > 0.5, iterations=info[1].astype(count), residual=info[2],
                     complementarity=info[3], kappa=info[4])


def solve_packed(mech, params, w0, opts):
    """The kernel call on packed parameters and unknowns: (unknowns, [converged, iterations,
    residual, complementarity, kappa])."""
    _require()
    dtype = w0.dtype
    call = jax.ffi.ffi_call(
        TARGET, (jax.ShapeDtypeStruct(w0.shape, dtype), jax.ShapeDtypeStruct((5,), dtype)),
        vmap_method="broadcast_all")
    return call(params, w0, _options(mech, opts, dtype), structure=_structure(mech.structure), **_iterations(opts))


def solve(mech, prob, W0, opts):
    """:func:`dojax.solver.solve` computed by the native kernel; returns (unknowns, SolveInfo)."""
    w, info = solve_packed(mech, pack_parameters(mech, prob, W0), pack_unknowns(W0), opts)
    return unpack_unknowns(w, W0), _info(info)


def solve_step(mech, state, action, opts, W0=None):
    """:func:`dojax.solver.solve` of the step from (state, action), from W0 or (None) from
    :func:`dojax.residual.initial_unknowns`, with the problem (:func:`dojax.residual.make_problem`)
    and the starting point evaluated by the kernel too, from each term's local inputs, which the
    kernel gathers itself (:func:`_gather_plan`) from the step's sources and the mechanism's
    parameters: XLA computes only the sources. Returns (unknowns, SolveInfo)."""
    _require()
    (sources, parameters), plan = _gathered(mech, state, action)
    like = res.Unknowns(np.empty((mech.num_bodies, 6)), np.empty((mech.num_joints, 6)),
                        tuple(np.empty((len(members), el.LAYOUTS[model].size))
                              for _, model, _, members, _ in mech.structure.element_groups))
    n = sum(x.size for x in jax.tree.leaves(like))
    results = (jax.ShapeDtypeStruct((n,), sources.dtype), jax.ShapeDtypeStruct((5,), sources.dtype))
    start = () if W0 is None else (pack_unknowns(W0),)
    call = jax.ffi.ffi_call(STEP_TARGET if W0 is None else RESOLVE_TARGET, results, vmap_method="broadcast_all")
    w, info = call(sources, parameters, *start, _options(mech, opts, sources.dtype), **plan, **_iterations(opts))
    return unpack_unknowns(w, like), _info(info)


def _to_minimal(mech, state):
    _require()
    from dojax.minimal import minimal_index, tree_joint_data

    s, nb = mech.structure, mech.num_bodies
    joints = _pack((tree_joint_data(mech), mech.timestep), (0, None), nb).reshape(-1)
    flat = jnp.concatenate([jnp.ravel(jnp.asarray(p, jnp.float64)) for p in (state.x, state.q, state.v, state.w)])
    call = jax.ffi.ffi_call(MINIMAL, jax.ShapeDtypeStruct((mech.minimal_size,), flat.dtype), vmap_method="broadcast_all")
    return call(flat, joints, parent=np.asarray(s.joint_parent[:nb], np.int64),
                child=np.asarray(s.joint_child[:nb], np.int64), index=np.asarray(minimal_index(s), np.int64))


def _to_minimal_jvp(primals, tangents):
    from dojax.minimal import _to_minimal as reference

    return to_minimal(*primals), jax.jvp(reference, primals, tangents)[1]


to_minimal = jax.custom_jvp(_to_minimal)
to_minimal.__doc__ = """:func:`dojax.minimal.to_minimal` evaluated by the kernel: each tree joint's row by the
generated ``joint_minimal`` (:func:`dojax.minimal.joint_row`). Its derivatives are the JAX
function's."""
to_minimal.defjvp(_to_minimal_jvp)
