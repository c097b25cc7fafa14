"""C code from JAX functions: the native kernel's element equations, generated from the JAX residual.

The native step kernel (``csrc/``) evaluates the same per-element equations as the JAX residual
(:mod:`dojax.residual`): each body's discrete Euler-Lagrange rows, each joint's rows, each contact's
and limit's rows, and their Jacobians with respect to the unknowns. Rather than restating those
equations in C++, this module traces the JAX functions (and their ``jax.jacfwd``) to jaxprs and
translates each jaxpr into straight-line C, one scalar statement per array element. Constants are
folded as the statements are emitted, so the one-hot tangents of the forward-mode Jacobian turn
into sparse derivative code; repeated expressions are shared. Each function is also written for
four evaluations side by side, one per lane of a vector type (see :class:`Emitter`). The JAX
residual therefore stays the single definition of the physics, and ``tests/test_native.py`` checks
that the committed C is what the current JAX functions generate.

Only the primitives that the residual's element functions use are supported; anything else is an
error naming the primitive.
"""

import math
import re

import jax
import jax.extend
import numpy as np
from jax import lax

_FLOAT, _BOOL, _INT = "double", "bool", "long"
# the vector types of the four-lane variant: doubles, and 64-bit integers for integers and for
# booleans (a comparison's lane mask: all bits set for true)
_VECTOR = {_FLOAT: "V4", _BOOL: "L4", _INT: "L4"}


def _ctype(dtype):
    if np.issubdtype(dtype, np.floating):
        return _FLOAT
    if dtype == np.bool_:
        return _BOOL
    return _INT


def _lit(value, kind):
    """C literal of a Python constant."""
    if kind == _BOOL:
        return "true" if value else "false"
    if kind == _INT:
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    return repr(value)


def _vector_lit(value, kind):
    """A constant broadcast to the four lanes."""
    if kind == _BOOL:
        return f"v4_l({-1 if value else 0})"
    return f"v4_{'l' if kind == _INT else 'd'}({_lit(value, kind)})"


class Emitter:
    """Collects C statements; scalars are Python constants or names of emitted C variables.

    Each statement is written twice: as scalar C (``lines``), and for four independent evaluations
    side by side (``vector_lines``: the kernel's ``V4`` and ``L4`` vector types and ``v4_*`` helpers,
    one lane per evaluation, the same operations in the same order). Statements are shared by their
    scalar text."""

    def __init__(self):
        self.lines = []
        self.vector_lines = []
        self._cache = {}

    def emit(self, kind, expr, vector_expr):
        key = (kind, expr)
        if key not in self._cache:
            name = f"t{len(self._cache)}"
            self.lines.append(f"const {kind} {name} = {expr};")
            self.vector_lines.append(f"const {_VECTOR[kind]} {name} = {vector_expr};")
            self._cache[key] = name
        return self._cache[key]

    # scalar operations with constant folding
    def c(self, v, kind=_FLOAT):
        return v if isinstance(v, str) else _lit(v, kind)

    def v(self, v, kind=_FLOAT):
        """The vector form of an operand: a name, or a constant broadcast to every lane."""
        return v if isinstance(v, str) else _vector_lit(v, kind)

    def binary(self, op, a, b, kind=_FLOAT):
        ca, cb = not isinstance(a, str), not isinstance(b, str)
        if ca and cb:
            return _FOLD[op](a, b)
        if op == "+":
            if ca and a == 0.0:
                return b
            if cb and b == 0.0:
                return a
        elif op == "-":
            if cb and b == 0.0:
                return a
            if ca and a == 0.0:
                return self.emit(kind, f"-{b}", f"-{b}")
        elif op == "*":
            if (ca and a == 0.0) or (cb and b == 0.0):
                return 0.0
            if ca and a == 1.0:
                return b
            if cb and b == 1.0:
                return a
            if ca and a == -1.0:
                return self.emit(kind, f"-{b}", f"-{b}")
            if cb and b == -1.0:
                return self.emit(kind, f"-{a}", f"-{a}")
        elif op == "/":
            if cb and b == 1.0:
                return a
            if ca and a == 0.0:
                return 0.0
        return self.emit(kind, f"({self.c(a, kind)} {op} {self.c(b, kind)})",
                         f"({self.v(a, kind)} {op} {self.v(b, kind)})")

    def call(self, fn, *args, kind=_FLOAT):
        if all(not isinstance(a, str) for a in args):
            return _CALL_FOLD[fn](*args)
        return self.emit(kind, f"{fn}({', '.join(self.c(a) for a in args)})",
                         f"v4_{fn}({', '.join(self.v(a) for a in args)})")

    def compare(self, op, a, b, kind):
        if not isinstance(a, str) and not isinstance(b, str):
            return bool(_FOLD[op](a, b))
        return self.emit(_BOOL, f"({self.c(a, kind)} {op} {self.c(b, kind)})",
                         f"({self.v(a, kind)} {op} {self.v(b, kind)})")

    def select(self, pred, if_true, if_false, kind):
        if not isinstance(pred, str):
            return if_true if pred else if_false
        if if_true == if_false:
            return if_true
        return self.emit(kind, f"({pred} ? {self.c(if_true, kind)} : {self.c(if_false, kind)})",
                         f"v4_sel({pred}, {self.v(if_true, kind)}, {self.v(if_false, kind)})")

    def logical(self, op, a, b):
        ca, cb = not isinstance(a, str), not isinstance(b, str)
        if ca and cb:
            return bool(a and b) if op == "&&" else bool(a or b)
        if op == "&&":
            if (ca and not a) or (cb and not b):
                return False
            if ca:
                return b
            if cb:
                return a
        else:
            if (ca and a) or (cb and b):
                return True
            if ca:
                return b
            if cb:
                return a
        return self.emit(_BOOL, f"({a} {op} {b})", f"({a} {op[0]} {b})")


_FOLD = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b != 0 else math.copysign(math.inf, a) * math.copysign(1.0, b) if a != 0 else math.nan,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}
_CALL_FOLD = {
    "sqrt": math.sqrt, "sin": math.sin, "cos": math.cos, "atan2": math.atan2, "exp": math.exp,
    "log": math.log, "tanh": math.tanh, "fabs": abs, "fmod": math.fmod, "floor": math.floor,
}


def _runtime_symbols(arr):
    return sorted({v for v in arr.reshape(-1) if isinstance(v, str)})


def _with_runtime_index(fn, index_arrays, bound, em, kind):
    """fn(*constant index arrays) -> object array, for index arrays holding one runtime integer:
    evaluated for each value 0..bound-1 and chosen by selects."""
    symbols = sorted({s for a in index_arrays for s in _runtime_symbols(a)})
    if not symbols:
        return fn(*[a.astype(np.int64) for a in index_arrays])
    if len(symbols) > 1:
        raise NotImplementedError("indexing with more than one runtime integer")
    sym = symbols[0]
    result = None
    for value in reversed(range(bound)):
        sub = [np.vectorize(lambda v: value if v == sym else v, otypes=[np.int64])(a) if a.size else a.astype(np.int64)
               for a in index_arrays]
        out = fn(*sub)
        if result is None:
            result = out
        else:
            pred = em.compare("==", sym, value, _INT)
            result = np.vectorize(lambda t, f: em.select(pred, t, f, kind), otypes=[object])(out, result)
    return result


def _elementwise(fn, *arrays):
    shape = np.broadcast_shapes(*[a.shape for a in arrays])
    arrays = [np.broadcast_to(a, shape) for a in arrays]
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = fn(*[a[idx] for a in arrays])
    return out


def _reduce(arr, axes, op):
    moved = np.moveaxis(arr, axes, range(arr.ndim - len(axes), arr.ndim)) if axes else arr
    keep = moved.shape[: arr.ndim - len(axes)]
    flat = moved.reshape(keep + (-1,))
    out = np.empty(keep, dtype=object)
    for idx in np.ndindex(keep):
        acc = None
        for v in flat[idx]:
            acc = v if acc is None else op(acc, v)
        out[idx] = acc
    return out


def _dot_general(em, lhs, rhs, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    lf = [d for d in range(lhs.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(rhs.ndim) if d not in rc and d not in rb]
    L = np.transpose(lhs, list(lb) + lf + list(lc))
    R = np.transpose(rhs, list(rb) + rf + list(rc))
    nb = len(lb)
    bshape, lfs, rfs = L.shape[:nb], L.shape[nb:nb + len(lf)], R.shape[nb:nb + len(rf)]
    csize = int(np.prod(L.shape[nb + len(lf):], dtype=int))
    L = L.reshape(bshape + lfs + (csize,))
    R = R.reshape(bshape + rfs + (csize,))
    out = np.empty(bshape + lfs + rfs, dtype=object)
    for b in np.ndindex(bshape):
        for i in np.ndindex(lfs):
            for j in np.ndindex(rfs):
                acc = 0.0
                for k in range(csize):
                    acc = em.binary("+", acc, em.binary("*", L[b + i + (k,)], R[b + j + (k,)]))
                out[b + i + j] = acc
    return out


def _convert(em, x, src, dst):
    if src == dst:
        return x
    if not isinstance(x, str):
        return bool(x) if dst == _BOOL else (int(x) if dst == _INT else float(x))
    if dst == _FLOAT:
        if src == _BOOL:
            return em.emit(_FLOAT, f"({x} ? 1.0 : 0.0)", f"v4_sel({x}, v4_d(1.0), v4_d(0.0))")
        return em.emit(_FLOAT, f"(double){x}", f"__builtin_convertvector({x}, V4)")
    if dst == _BOOL:
        return em.emit(_BOOL, f"({x} != 0)", f"({x} != {_vector_lit(0, src)})")
    return em.emit(_INT, f"(long){x}", f"({x} & v4_l(1))" if src == _BOOL else f"__builtin_convertvector({x}, L4)")


def _eval_jaxpr(em, jaxpr, consts, args):
    env = {}

    def read(v):
        if isinstance(v, jax.extend.core.Literal):
            return np.asarray(v.val).astype(object) if np.ndim(v.val) else np.array(_py(v.val), dtype=object)
        return env[v]

    for var, val in zip(jaxpr.constvars, consts):
        env[var] = np.vectorize(_py, otypes=[object])(np.asarray(val)) if np.size(val) else np.empty(np.shape(val), object)
    for var, val in zip(jaxpr.invars, args):
        env[var] = val
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        kinds_in = [_ctype(v.aval.dtype) for v in eqn.invars]
        outs = _primitive(em, eqn, ins, kinds_in)
        for var, val in zip(eqn.outvars, outs):
            env[var] = np.asarray(val, dtype=object).reshape(var.aval.shape)
    return [read(v) for v in jaxpr.outvars]


def _py(v):
    v = np.asarray(v).item() if np.ndim(v) == 0 else v
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v)


_BINARY = {"add": "+", "add_any": "+", "sub": "-", "mul": "*", "div": "/"}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_UNARY_CALL = {"sqrt": "sqrt", "sin": "sin", "cos": "cos", "exp": "exp", "log": "log", "tanh": "tanh",
               "abs": "fabs", "floor": "floor"}


def _primitive(em, eqn, ins, kinds_in):
    name, p = eqn.primitive.name, eqn.params
    out_kind = _ctype(eqn.outvars[0].aval.dtype) if eqn.outvars else _FLOAT
    if name in ("jit", "pjit", "closed_call", "core_call", "remat", "checkpoint"):
        inner = p.get("jaxpr") or p.get("call_jaxpr")
        closed = inner if hasattr(inner, "consts") else None
        jp = closed.jaxpr if closed is not None else inner
        return _eval_jaxpr(em, jp, closed.consts if closed is not None else [], ins)
    if name in ("custom_jvp_call", "custom_vjp_call"):
        inner = p["call_jaxpr"]
        return _eval_jaxpr(em, inner.jaxpr, inner.consts, ins)
    if name in _BINARY:
        return [_elementwise(lambda a, b: em.binary(_BINARY[name], a, b, out_kind), *ins)]
    if name in _COMPARE:
        return [_elementwise(lambda a, b: em.compare(_COMPARE[name], a, b, kinds_in[0]), *ins)]
    if name in _UNARY_CALL:
        return [_elementwise(lambda a: em.call(_UNARY_CALL[name], a), ins[0])]
    if name == "neg":
        return [_elementwise(lambda a: em.binary("-", 0.0, a, out_kind) if isinstance(a, str) else -a, ins[0])]
    if name == "sign":
        return [_elementwise(lambda a: em.select(em.compare(">", a, 0.0, _FLOAT), 1.0,
                                                 em.select(em.compare("<", a, 0.0, _FLOAT), -1.0, a, _FLOAT), _FLOAT), ins[0])]
    if name == "rsqrt":
        return [_elementwise(lambda a: em.binary("/", 1.0, em.call("sqrt", a)), ins[0])]
    if name == "square":
        return [_elementwise(lambda a: em.binary("*", a, a), ins[0])]
    if name == "integer_pow":
        def power(a, n=p["y"]):
            if n < 0:
                return em.binary("/", 1.0, power(a, -n))
            acc = 1.0
            for _ in range(n):
                acc = em.binary("*", acc, a)
            return acc
        return [_elementwise(power, ins[0])]
    if name == "pow":
        return [_elementwise(lambda a, b: em.call("pow", a, b) if isinstance(a, str) or isinstance(b, str)
                             else a ** b, *ins)]
    if name in ("max", "min"):
        return [_elementwise(lambda a, b: _extremum(em, name, a, b, out_kind), *ins)]
    if name == "atan2":
        return [_elementwise(lambda a, b: em.call("atan2", a, b), *ins)]
    if name == "rem":
        if out_kind == _FLOAT:
            return [_elementwise(lambda a, b: em.call("fmod", a, b), *ins)]
        return [_elementwise(lambda a, b: a % b if not isinstance(a, str) and not isinstance(b, str)
                             else em.emit(_INT, f"({em.c(a, _INT)} % {em.c(b, _INT)})",
                                          f"({em.v(a, _INT)} % {em.v(b, _INT)})"), *ins)]
    if name == "and":
        return [_elementwise(lambda a, b: em.logical("&&", a, b), *ins)]
    if name == "or":
        return [_elementwise(lambda a, b: em.logical("||", a, b), *ins)]
    if name == "not":
        return [_elementwise(lambda a: (not a) if not isinstance(a, str) else em.emit(_BOOL, f"(!{a})", f"(~{a})"), ins[0])]
    if name == "select_n":
        pred, cases = ins[0], ins[1:]

        def choose(q, *vals):
            if len(vals) == 2 and kinds_in[0] == _BOOL:
                return em.select(q, vals[1], vals[0], out_kind)
            result = vals[-1]
            for k in reversed(range(len(vals) - 1)):
                result = em.select(em.compare("==", q, k, _INT), vals[k], result, out_kind)
            return result
        return [_elementwise(choose, pred, *cases)]
    if name == "clamp":
        lo, x, hi = ins
        mx = _elementwise(lambda a, b: _extremum(em, "max", a, b, out_kind), x, lo)
        return [_elementwise(lambda a, b: _extremum(em, "min", a, b, out_kind), mx, hi)]
    if name == "convert_element_type":
        return [_elementwise(lambda a: _convert(em, a, kinds_in[0], out_kind), ins[0])]
    if name in ("copy", "copy_p", "optimization_barrier", "stop_gradient"):
        return ins
    if name == "broadcast_in_dim":
        x = ins[0]
        shape, dims = p["shape"], p["broadcast_dimensions"]
        expanded = x.reshape([x.shape[dims.index(d)] if d in dims else 1 for d in range(len(shape))])
        return [np.broadcast_to(expanded, shape).copy()]
    if name == "reshape":
        return [ins[0].reshape(p["new_sizes"])]
    if name == "squeeze":
        return [np.squeeze(ins[0], axis=tuple(p["dimensions"]))]
    if name == "expand_dims":
        return [np.expand_dims(ins[0], p["dimensions"])]
    if name == "transpose":
        return [np.transpose(ins[0], p["permutation"])]
    if name == "slice":
        strides = p["strides"] or (1,) * ins[0].ndim
        idx = tuple(slice(s, e, st) for s, e, st in zip(p["start_indices"], p["limit_indices"], strides))
        return [ins[0][idx]]
    if name == "stack":
        return [np.stack(ins, axis=p["axis"])]
    if name == "concatenate":
        return [np.concatenate(ins, axis=p["dimension"])]
    if name == "split":
        bounds = np.cumsum(p["sizes"])[:-1]
        return np.split(ins[0], bounds, axis=p["axis"])
    if name == "iota":
        full = np.broadcast_to(
            np.arange(p["shape"][p["dimension"]]).reshape([-1 if d == p["dimension"] else 1 for d in range(len(p["shape"]))]),
            p["shape"])
        return [np.vectorize(_py, otypes=[object])(full.astype(eqn.outvars[0].aval.dtype))]
    if name == "reduce_sum":
        return [_reduce(ins[0], p["axes"], lambda a, b: em.binary("+", a, b, out_kind))]
    if name in ("reduce_max", "reduce_min"):
        return [_reduce(ins[0], p["axes"], lambda a, b: _extremum(em, name[-3:], a, b, out_kind))]
    if name in ("reduce_and", "reduce_or"):
        op = "&&" if name == "reduce_and" else "||"
        return [_reduce(ins[0], p["axes"], lambda a, b: em.logical(op, a, b))]
    if name in ("argmin", "argmax"):
        (axis,) = p["axes"]
        x = np.moveaxis(ins[0], axis, -1)
        out = np.empty(x.shape[:-1], dtype=object)
        op = "<" if name == "argmin" else ">"
        for idx in np.ndindex(out.shape):
            best, best_i = x[idx][0], 0
            for k, v in enumerate(x[idx][1:], start=1):
                better = em.compare(op, v, best, _FLOAT)
                best = em.select(better, v, best, _FLOAT)
                best_i = em.select(better, k, best_i, _INT)
            out[idx] = best_i
        return [out]
    if name == "dot_general":
        return [_dot_general(em, ins[0], ins[1], p["dimension_numbers"])]
    if name == "gather":
        operand, indices = ins
        bound = max(operand.shape) if operand.ndim else 1
        return [_with_runtime_index(
            lambda idx: _take(eqn.primitive, operand, [idx], p), [indices], bound, em, out_kind)]
    if name == "dynamic_slice":
        operand, starts = ins[0], ins[1:]
        bound = max(operand.shape)
        return [_with_runtime_index(
            lambda *s: _take(eqn.primitive, operand, list(s), p), list(starts), bound, em, out_kind)]
    if name in ("scatter", "dynamic_update_slice"):
        return [_scatter(em, eqn, ins, out_kind)]
    raise NotImplementedError(f"primitive {name!r} is not supported by the C generator")


def _extremum(em, name, a, b, kind):
    """max or min of two scalars; for floats NaN-propagating like XLA (a NaN on either side gives NaN)."""
    if not isinstance(a, str) and not isinstance(b, str):
        return max(a, b) if name == "max" else min(a, b)
    op = ">" if name == "max" else "<"
    sa, sb, va, vb = em.c(a, kind), em.c(b, kind), em.v(a, kind), em.v(b, kind)
    nan, vnan = (f" || ({sa} != {sa})", f" | ({va} != {va})") if kind == _FLOAT else ("", "")
    return em.emit(kind, f"(({sa} {op} {sb}){nan} ? {sa} : {sb})", f"v4_sel((({va} {op} {vb}){vnan}), {va}, {vb})")


def _by_ids(values, ids):
    """values.flat[ids] as an object array of ids' shape."""
    flat = values.reshape(-1)
    return np.array([flat[i] for i in ids.reshape(-1)], dtype=object).reshape(ids.shape)


def _take(prim, operand, index_arrays, params):
    """A gather/dynamic_slice with constant indices, on the element ids of ``operand``."""
    ids = np.arange(operand.size, dtype=np.int64).reshape(operand.shape)
    return _by_ids(operand, np.asarray(prim.bind(ids, *[np.asarray(i) for i in index_arrays], **params)))


def _scatter(em, eqn, ins, kind):
    """scatter / dynamic_update_slice with constant indices or one runtime index."""
    name, p = eqn.primitive.name, eqn.params
    operand = ins[0]
    if name == "dynamic_update_slice":
        update, starts = ins[1], ins[2:]
        index_arrays = list(starts)
    else:
        indices, update = ins[1], ins[2]
        index_arrays = [indices]
    n_op = operand.size
    upd_ids = np.arange(n_op, n_op + update.size, dtype=np.int64).reshape(update.shape)
    ids = np.arange(n_op, dtype=np.int64).reshape(operand.shape)
    flat = np.concatenate([operand.reshape(-1), update.reshape(-1)])

    def apply(*idx):
        if name == "dynamic_update_slice":
            return _by_ids(flat, np.asarray(lax.dynamic_update_slice(ids, upd_ids, [int(i) for i in idx])))
        return _by_ids(flat, np.asarray(eqn.primitive.bind(ids, np.asarray(idx[0]), upd_ids, **p)))

    bound = max(operand.shape)
    return _with_runtime_index(apply, index_arrays, bound, em, kind)


def translate(fn, example_args, runtime_inputs, outputs_name="out", skip_constants=False):
    """Straight-line C body computing ``fn(*example_args)`` for inputs read from C arrays.

    ``runtime_inputs`` maps each flattened input leaf to a C array name and offset: a list of
    (array name, offset) per leaf, in ``jax.tree.leaves(example_args)`` order. Returns the C lines;
    the number of flattened outputs; the four-lane variant's lines, which read each array as four
    arrays, one per lane, and write ``outputs_name`` likewise; and the outputs that are constants,
    {index: value}. With ``skip_constants`` the lines store only the outputs that vary.
    """
    closed = jax.make_jaxpr(fn)(*example_args)
    leaves = jax.tree.leaves(example_args)
    em = Emitter()
    args = []
    for leaf, (array, offset) in zip(leaves, runtime_inputs):
        leaf = np.asarray(leaf)
        kind = _ctype(leaf.dtype)
        vals = np.empty(leaf.shape, dtype=object)
        for k, idx in enumerate(np.ndindex(leaf.shape)):
            src = f"{array}[{offset + k}]"
            load = {_FLOAT: "v4_load", _INT: "v4_load_long", _BOOL: "v4_load_bool"}[kind]
            vals[idx] = em.emit(kind, src if kind == _FLOAT else f"({kind}){src}", f"{load}({array}, {offset + k})")
        args.append(vals)
    outs = _eval_jaxpr(em, closed.jaxpr, closed.consts, args)
    stores, vector_stores, constants = [], [], {}
    for k, v in enumerate(v for o in outs for v in o.reshape(-1)):
        if not isinstance(v, str):
            constants[k] = float(v)
            if skip_constants:
                continue
        stores.append(f"{outputs_name}[{k}] = {em.c(constants.get(k, v), _FLOAT)};")
        vector_stores.append(f"v4_store({outputs_name}, {k}, {em.v(constants.get(k, v), _FLOAT)});")
    live = _live(em.lines, stores)
    return ([em.lines[i] for i in live] + stores, sum(o.size for o in outs),
            [em.vector_lines[i] for i in live] + vector_stores, constants)


def literal(value):
    """The C literal of a float constant."""
    return _lit(value, _FLOAT)


def _live(statements, stores):
    """The indices of the statements that the stores depend on (dead ones dropped), in order."""
    used = set(_NAME.findall(" ".join(stores)))
    kept = []
    for i in reversed(range(len(statements))):
        line = statements[i]
        name = line.split()[2]
        if name in used:
            used.update(_NAME.findall(line.split("=", 1)[1]))
            kept.append(i)
    return kept[::-1]


_NAME = re.compile(r"\bt\d+\b")
