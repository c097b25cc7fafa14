"""System identification: fit a mechanism's physical parameters to observed trajectories.

The fit is a nonlinear least-squares problem over short prediction windows. From each observed
state s_k the model predicts the next ``horizon`` configurations with the parameters theta, and
the residual is their difference from the observed ones::

    r_kj(theta) = [ x_pred,k+j - x_k+j ;  w_o * 2 vec(q_k+j^-1 q_pred,k+j) ]     (j = 1 .. horizon)

(position error in m; orientation error as a small rotation vector in rad, times
``orientation_weight`` in m/rad). It minimises 1/2 |r|^2 by Levenberg-Marquardt: the residual
Jacobian J = dr/dtheta comes from ``jax.jacfwd`` through :func:`dojax.rollout`, i.e. from the
engine's implicit-function derivatives with respect to the mechanism's leaves; each iteration
solves (J^T J + lambda D) delta = -J^T r over the parameters not held at a bound (D: the largest
diagonal of J^T J seen so far, Moré's scaling),
projects theta + delta onto the bounds, and keeps the step if it lowers the cost (lambda falls)
or rejects it (lambda rises). Starting each window from an observed state keeps the problem
close to linear, however long the trajectories (Dojo's system identification does the same).

At the fit, the parameters' covariance is the Gauss-Newton estimate sigma^2 (J^T J)^-1 with
sigma^2 = |r|^2 / (rows - parameters), the residual variance.
"""

import dataclasses
from functools import partial
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

import dojax
from dojax import quaternion as quat
from dojax.mechanism import Mechanism
from dojax.optimize.trajectories import as_tosses, check_toss, windows

#: the Mechanism leaves that can be identified (every differentiable field)
LEAVES = tuple(f.name for f in dataclasses.fields(Mechanism) if f.name != "structure")

#: lower bounds used when a Parameter gives none (leaves that must stay positive or non-negative)
DEFAULT_LOWER = {"mass": 1e-9, "friction": 1e-9, "timestep": 1e-9, "contact_radius": 0.0, "spring": 0.0,
                 "damper": 0.0}


class Parameter(NamedTuple):
    """Entries of one Mechanism leaf to identify.

    name: the leaf (one of :data:`LEAVES`, e.g. ``"friction"``, ``"mass"``, ``"inertia"``,
    ``"contact_points"``, ``"contact_radius"``). index: a numpy index into the leaf selecting the
    entries (``None``: all of them), e.g. ``np.s_[:, 0]`` for the sphere centres of
    ``contact_points`` (nc, 4, 3) or ``np.s_[:, [0, 1, 2], [0, 1, 2]]`` for inertia diagonals.
    shared: fit one value for all selected entries (e.g. one friction for every contact).
    lower, upper: bounds on every entry (defaults: :data:`DEFAULT_LOWER`, else unbounded).

    A plain leaf name in ``params`` means ``Parameter(name)``.
    """

    name: str
    index: Any = None
    shared: bool = False
    lower: Optional[float] = None
    upper: Optional[float] = None


class IdentifyResult(NamedTuple):
    """What :func:`identify` returns.

    mechanism: the mechanism with the identified values. values, std: per parameter name, the
    identified entries and their standard deviations (a float for a shared parameter, else an array
    of the selected entries' shape). labels: (p,) names of the fitted entries, e.g.
    ``"contact_points[3, 0, 2]"``. theta: (p,) the fitted entries; covariance: (p, p) their
    Gauss-Newton covariance (infinite variance for directions the data does not determine).
    history: (iterations + 1, p) theta after each iteration (index 0: the initial values).
    cost: (iterations + 1,) 1/2 |r|^2 after each iteration. damping: (iterations,) the
    Levenberg-Marquardt lambda each iteration used. accepted: (iterations,) whether its step was
    kept. rms: root mean square residual at the fit. at_bound: (p,) entries held at a bound.
    windows: prediction windows fitted; excluded: windows left out because the model's prediction
    from them failed (the solver did not converge) at the initial parameters. iterations,
    converged, status: how the fit ended.
    """

    mechanism: Mechanism
    values: dict
    std: dict
    labels: tuple
    theta: np.ndarray
    covariance: np.ndarray
    history: np.ndarray
    cost: np.ndarray
    damping: np.ndarray
    accepted: np.ndarray
    rms: float
    at_bound: np.ndarray
    windows: int
    excluded: int
    iterations: int
    converged: bool
    status: str


class _Layout(NamedTuple):
    """Where the entries of theta go: per Parameter (leaf name, flat indices into the leaf, shared)."""

    entries: tuple

    def apply(self, mech, theta):
        updates, offset = {}, 0
        for name, flat, shared in self.entries:
            leaf = getattr(mech, name)
            k = 1 if shared else len(flat)
            values = jnp.broadcast_to(theta[offset:offset + k], (len(flat),))
            offset += k
            updates[name] = leaf.ravel().at[np.asarray(flat)].set(values.astype(leaf.dtype)).reshape(leaf.shape)
        return mech.replace(**updates)


def _layout(mech, params):
    """(layout, initial theta, lower, upper, labels, per-parameter slices) of ``params``; ValueError on bad ones."""
    if isinstance(params, (str, Parameter)):
        params = [params]
    if not params:
        raise ValueError(f"params must name at least one Mechanism leaf; valid: {', '.join(LEAVES)}")
    entries, theta, lower, upper, labels, slices = [], [], [], [], [], {}
    for p in params:
        p = Parameter(p) if isinstance(p, str) else p
        if not isinstance(p, Parameter):
            raise ValueError(f"params entries must be leaf names or Parameter, got {p!r}")
        if p.name not in LEAVES:
            raise ValueError(f"{p.name!r} is not a Mechanism leaf; valid: {', '.join(LEAVES)}")
        leaf = np.asarray(getattr(mech, p.name))
        positions = np.arange(leaf.size).reshape(leaf.shape)
        try:
            selected = positions if p.index is None else positions[p.index]
        except (IndexError, TypeError) as error:
            raise ValueError(f"index {p.index!r} of parameter {p.name!r} does not fit its shape {leaf.shape}: "
                             f"{error}") from None
        flat = np.ravel(selected)
        if flat.size == 0:
            raise ValueError(f"parameter {p.name!r} selects no entries (leaf shape {leaf.shape})")
        if p.name in slices:
            raise ValueError(f"parameter {p.name!r} is given twice; select all its entries with one index")
        if len(set(flat.tolist())) != flat.size:
            raise ValueError(f"parameter {p.name!r} selects an entry more than once")
        lo = DEFAULT_LOWER.get(p.name, -np.inf) if p.lower is None else float(p.lower)
        hi = np.inf if p.upper is None else float(p.upper)
        if np.isnan(lo) or np.isnan(hi) or not lo < hi:
            raise ValueError(f"bounds of parameter {p.name!r} are infeasible: lower {lo} must be below upper {hi}")
        values = leaf.ravel()[flat]
        if p.shared:
            values, names = values.mean(keepdims=True), [f"{p.name} (shared)"]
        else:
            names = [f"{p.name}[{', '.join(map(str, np.unravel_index(i, leaf.shape)))}]" if leaf.ndim else p.name
                     for i in flat]
        slices[p.name] = (slice(len(theta), len(theta) + len(values)), None if p.shared else np.shape(selected))
        entries.append((p.name, tuple(int(i) for i in flat), bool(p.shared)))
        theta += list(values)
        lower += [lo] * len(values)
        upper += [hi] * len(values)
        labels += names
    lower, upper = np.array(lower), np.array(upper)
    return _Layout(tuple(entries)), np.clip(np.array(theta), lower, upper), lower, upper, tuple(labels), slices


@partial(jax.jit, static_argnums=(1,))
def _chunk(mech, layout, theta, opts, orientation_weight, start, action, position, orientation):
    """(residuals (C, n), their Jacobian (C, n, p), prediction converged (C,)) of a chunk of windows."""

    def residual(theta):
        m = layout.apply(mech, theta)

        def one(s, a, x_obs, q_obs):
            states, infos = dojax.rollout(m, s, a, opts)
            dq = quat.multiply(quat.conjugate(q_obs), states.q)
            angle = 2.0 * jnp.where(dq[..., :1] < 0.0, -dq[..., 1:], dq[..., 1:])
            r = jnp.concatenate([states.x - x_obs, orientation_weight * angle], axis=-1).ravel()
            ok = jnp.all(infos.converged) & jnp.all(jnp.isfinite(r))
            return jnp.where(ok, r, 0.0), ok

        r, ok = jax.vmap(one)(start, action, position, orientation)
        return r, (r, ok)

    J, (r, ok) = jax.jacfwd(residual, has_aux=True)(theta)
    return r, J, ok


class _Problem:
    """Checked data cut into windows, and the residuals and Jacobian over them in fixed-size chunks."""

    def __init__(self, mech, data, params, horizon, stride, orientation_weight, opts, chunk_size):
        if not isinstance(mech, Mechanism):
            raise ValueError(f"mech must be a Mechanism, got {type(mech).__name__}")
        for name, value in (("horizon", horizon), ("stride", stride), ("chunk_size", chunk_size)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not orientation_weight >= 0.0 or not np.isfinite(orientation_weight):
            raise ValueError(f"orientation_weight must be finite and non-negative, got {orientation_weight}")
        self.layout, self.theta0, self.lower, self.upper, self.labels, self.slices = _layout(mech, params)
        tosses = [check_toss(mech, t, f"toss {i}") for i, t in enumerate(as_tosses(data))]
        self.windows = windows(mech, tosses, int(horizon), int(stride))
        # host copies of the leaves: the compiled evaluation is then found again whichever way the
        # caller made the mechanism's arrays (weak types, committed devices)
        self.mech = jax.tree.map(np.asarray, mech)
        self.opts = dojax.SolverOptions() if opts is None else opts
        self.orientation_weight = float(orientation_weight)
        W = len(self.windows.toss)
        self.chunk_size = min(int(chunk_size), W)
        self.keep = np.ones(W, bool)

    def evaluate(self, theta, bar=None):
        """(residuals (W, n), Jacobian (W, n, p), converged (W,)) at theta."""
        W, C = len(self.windows.toss), self.chunk_size
        pad = -W % C
        arrays = jax.tree.map(lambda a: np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]),
                              (self.windows.start, self.windows.action, self.windows.position,
                               self.windows.orientation))
        parts = []
        for c in range(0, W + pad, C):
            chunk = jax.tree.map(lambda a: a[c:c + C], arrays)
            parts.append(_chunk(self.mech, self.layout, jnp.asarray(theta), self.opts, self.orientation_weight,
                                *chunk))
            if bar is not None:
                bar.set_postfix_str(f"windows {min(c + C, W)}/{W}")
        r, J, ok = (np.concatenate([np.asarray(p[i]) for p in parts])[:W] for i in range(3))
        return r, J, ok


def prediction_residuals(mech, data, params, *, horizon=1, stride=1, orientation_weight=1.0, opts=None,
                         chunk_size=256):
    """The residuals :func:`identify` fits, and their Jacobian, at the mechanism's current values.

    Returns ``(residuals, jacobian, converged)``: residuals (W, n) of the W prediction windows
    (n = horizon * num_bodies * 6: per predicted sample and body, position error then orientation
    error), jacobian (W, n, p) with respect to the ``params`` entries (in
    :attr:`IdentifyResult.labels` order; a shared parameter is one column), and converged (W,),
    False where the model's prediction failed (its residual and Jacobian rows are zero). Arguments
    as for :func:`identify`.
    """
    problem = _Problem(mech, data, params, horizon, stride, orientation_weight, opts, chunk_size)
    return problem.evaluate(problem.theta0)


def _normal_equations(r, J, keep):
    r, J = r[keep].reshape(-1), J[keep].reshape(-1, J.shape[-1])
    return 0.5 * float(r @ r), J.T @ r, J.T @ J, r.size


def _covariance(H, cost, rows, free):
    """sigma^2 (J^T J)^-1 over the free entries (zero for entries held at a bound, infinite where undetermined)."""
    p = H.shape[0]
    cov = np.zeros((p, p))
    f = np.flatnonzero(free)
    if f.size == 0:
        return cov
    sigma2 = 2.0 * cost / max(rows - f.size, 1)
    eig, V = np.linalg.eigh(H[np.ix_(f, f)])
    null = eig <= 1e-14 * max(eig.max(), 1e-300)  # directions the data does not touch at all
    inv = np.where(null, 0.0, 1.0 / np.where(null, 1.0, eig))
    block = sigma2 * (V * inv) @ V.T
    undetermined = np.abs(V[:, null]).max(axis=1, initial=0.0) > 1e-6
    block[undetermined, :] = np.inf
    block[:, undetermined] = np.inf
    cov[np.ix_(f, f)] = block
    return cov


def identify(mech, data, params, *, horizon=1, stride=1, orientation_weight=1.0, opts=None, max_iterations=20,
             damping=1e-2, tolerance=1e-6, chunk_size=256, verbose=False, progress_bar=False):
    """Fit chosen leaves of ``mech`` to observed trajectories by Levenberg-Marquardt (see the module).

    Args:
        mech: the Mechanism whose current values are the initial guess (values outside their
            bounds are moved onto them).
        data: observed tosses (:mod:`dojax.optimize.trajectories` gives the layout): a mapping of
            arrays (one toss, or several with a leading toss axis), a sequence of mappings, or what
            :func:`~dojax.optimize.trajectories.load_trajectories` read from a file.
        params: leaf names and/or :class:`Parameter` (entries, sharing, bounds), e.g.
            ``[Parameter("friction", shared=True), Parameter("contact_points", np.s_[:, 0])]``
            (one friction coefficient and the centres of the contact spheres).
        horizon: steps predicted from each observed state (1: one-step prediction).
        stride: samples between the starts of consecutive windows of a toss.
        orientation_weight: metres per radian of orientation error in the residual.
        opts: SolverOptions of the predictions and their derivatives.
        max_iterations: Levenberg-Marquardt iterations at most (accepted or rejected steps).
        damping: initial lambda (relative to the diagonal of J^T J); after an accepted step it falls by up to
            a factor 3 as the step's actual decrease matches the linearised one, after a rejected
            step it grows by 2, 4, 8... (Nielsen's rule).
        tolerance: converged when an accepted step lowers the cost by less than ``tolerance``
            times the cost, or moves theta by less than ``tolerance * (|theta| + tolerance)``, or the
            gradient over the free entries is below ``tolerance * (cost + tolerance)``.
        chunk_size: windows per compiled evaluation (bounds memory; the last chunk is padded).
        verbose: print one line per iteration.
        progress_bar: show a tqdm bar over ``max_iterations``.

    Returns:
        An :class:`IdentifyResult`. Windows whose prediction fails at the initial values are left
        out (counted in ``excluded``); a step after which any kept window's prediction fails is
        rejected, so the result never holds NaN.
    """
    problem = _Problem(mech, data, params, horizon, stride, orientation_weight, opts, chunk_size)
    for name, value in (("damping", damping), ("tolerance", tolerance)):
        if not value > 0.0 or not np.isfinite(value):
            raise ValueError(f"{name} must be positive and finite, got {value}")
    if int(max_iterations) != max_iterations or max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive integer, got {max_iterations!r}")
    bar = None
    if progress_bar:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_iterations, desc="identify", unit="it")
    theta, lo, hi = problem.theta0.copy(), problem.lower, problem.upper
    r, J, ok = problem.evaluate(theta, bar)
    problem.keep = ok
    if not ok.any():
        raise ValueError("the model's prediction fails from every observed state at the initial parameters "
                         "(check the data's units, timestep and velocity convention)")
    cost, g, H, rows = _normal_equations(r, J, ok)
    lam, growth, scale = float(damping), 2.0, np.zeros_like(theta)
    history, costs, lams, accepted = [theta.copy()], [cost], [], []
    status, converged = f"reached max_iterations ({max_iterations})", False
    if verbose:
        print(f"{'iter':>5} {'cost':>13} {'rms':>10} {'lambda':>8} {'step':>10} accepted")
    for it in range(1, int(max_iterations) + 1):
        free = ~(((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0)))
        if np.abs(g[free]).max(initial=0.0) <= tolerance * (cost + tolerance):
            status, converged = "converged (gradient below tolerance)", True
            break
        # Moré's scaling: the largest curvature seen so far per entry, so that an entry whose
        # curvature vanishes at the current point (a contact out of touch) is still damped
        scale = np.maximum(scale, np.maximum(np.diag(H), 1e-6 * np.diag(H).max()))
        f = np.flatnonzero(free)
        delta = np.zeros_like(theta)
        delta[f] = np.linalg.solve(H[np.ix_(f, f)] + lam * np.diag(scale[f]), -g[f])
        trial = np.clip(theta + delta, lo, hi)
        r_t, J_t, ok_t = problem.evaluate(trial, bar)
        good = bool(np.all(ok_t[problem.keep]))
        cost_t, g_t, H_t, _ = _normal_equations(r_t, J_t, problem.keep) if good else (np.inf, g, H, rows)
        step = trial - theta
        predicted = -(g @ step + 0.5 * step @ H @ step)  # decrease the linearised model promises
        ratio = (cost - cost_t) / predicted if predicted > 0.0 else -1.0
        take = cost_t < cost
        lams.append(lam)
        accepted.append(take)
        if verbose:
            print(f"{it:5d} {min(cost_t, cost):13.6e} {np.sqrt(2 * min(cost_t, cost) / rows):10.3e} {lam:8.1e} "
                  f"{np.linalg.norm(step):10.3e} {'yes' if take else 'no'}")
        if take:  # Nielsen's update of the damping from the gain ratio
            decrease = cost - cost_t
            theta, cost, g, H = trial, cost_t, g_t, H_t
            lam, growth = lam * max(1.0 / 3.0, 1.0 - (2.0 * min(ratio, 1.0) - 1.0) ** 3), 2.0
        else:
            lam, growth = lam * growth, 2.0 * growth
        history.append(theta.copy())
        costs.append(cost)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(cost=f"{cost:.4g}", damping=f"{lam:.0e}")
        small_step = np.linalg.norm(step) <= tolerance * (np.linalg.norm(theta) + tolerance)
        if take and (decrease <= tolerance * cost or small_step):
            status, converged = "converged (cost or step below tolerance)", True
            break
        if lam > 1e16:
            status = "no step lowers the cost at the largest damping"
            break
    if bar is not None:
        bar.close()
    at_bound = ((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0))
    cov = _covariance(H, cost, rows, ~at_bound)
    std = np.sqrt(np.diag(cov))
    values, stds = {}, {}
    for name, (sl, shape) in problem.slices.items():
        values[name] = float(theta[sl][0]) if shape is None else theta[sl].reshape(shape)
        stds[name] = float(std[sl][0]) if shape is None else std[sl].reshape(shape)
    return IdentifyResult(
        mechanism=problem.layout.apply(mech, jnp.asarray(theta)), values=values, std=stds, labels=problem.labels,
        theta=theta, covariance=cov, history=np.array(history), cost=np.array(costs), damping=np.array(lams),
        accepted=np.array(accepted, bool), rms=float(np.sqrt(2.0 * cost / rows)), at_bound=at_bound,
        windows=int(problem.keep.sum()), excluded=int((~problem.keep).sum()), iterations=len(lams),
        converged=converged, status=status)


__all__ = ["identify", "prediction_residuals", "Parameter", "IdentifyResult", "LEAVES"]
