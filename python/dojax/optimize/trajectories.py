"""Observed trajectories for system identification: their layout, checks, files, and prediction windows.

A toss (one observed trajectory of a mechanism with ``nb`` bodies and ``nu`` actions, ``T`` samples)
is a mapping of arrays:

===================== ============== =====================================================================
key                   shape          meaning
===================== ============== =====================================================================
``time``              (T,)           sample times, s; consecutive samples one mechanism timestep apart
``position``          (T, nb, 3)     centre-of-mass positions, world frame, m
``orientation``       (T, nb, 4)     unit quaternions body -> world, scalar first (w, x, y, z)
``velocity``          (T, nb, 3)     optional: linear velocity over the step that reached the sample,
                                     (x_k - x_{k-1}) / h, world frame, m/s
``angular_velocity``  (T, nb, 3)     optional: angular velocity over that step, body frame, rad/s
``action``            (T - 1, nu)    optional (zeros): the action applied from sample k to k + 1
===================== ============== =====================================================================

The velocities follow :class:`dojax.State`'s convention (midpoint velocities of the variational
integrator). When they are left out they are computed from consecutive configurations
(:func:`dojax.state.from_configurations`), so the first sample only serves as the previous
configuration of the second; measured data is best given this way.

Several tosses are a sequence of such mappings (lengths may differ), or one mapping whose arrays
carry a leading toss axis (N, T, ...).

Files (:func:`load_trajectories`, :func:`save_trajectories`):

- ``.npz``: the keys above, each with a leading toss axis (all tosses the same length).
- ``.csv``: one row per sample, a header row, comma separated. Columns ``toss`` (an integer id;
  rows of one toss consecutive and in time order), ``time``, then per body ``B`` (its name in the
  mechanism, bodies in the mechanism's order) ``B.x, B.y, B.z, B.qw, B.qx, B.qy, B.qz`` and
  optionally ``B.vx, B.vy, B.vz, B.wx, B.wy, B.wz``, then optionally ``action0 .. action{nu-1}`` (the
  action from this sample to the next; the last row of a toss is ignored).
"""

from typing import NamedTuple

import jax
import numpy as np

from dojax.state import State, from_configurations

KEYS = ("time", "position", "orientation", "velocity", "angular_velocity", "action")
_WIDTH = {"position": 3, "orientation": 4, "velocity": 3, "angular_velocity": 3}
_CSV_FIELDS = {"position": ("x", "y", "z"), "orientation": ("qw", "qx", "qy", "qz"),
               "velocity": ("vx", "vy", "vz"), "angular_velocity": ("wx", "wy", "wz")}


class Windows(NamedTuple):
    """Short prediction problems cut from tosses, stacked on a leading window axis (W).

    start: the observed State each prediction starts from (leaves (W, nb, .)); action: (W, H, nu)
    actions over the window; position, orientation: (W, H, nb, 3|4) observed configurations of the
    H samples that follow the start; toss: (W,) the toss each window comes from.
    """

    start: State
    action: np.ndarray
    position: np.ndarray
    orientation: np.ndarray
    toss: np.ndarray


def as_tosses(data):
    """A list of toss mappings (numpy arrays) from one mapping, a batched mapping or a sequence of mappings."""
    if isinstance(data, dict):
        if "time" not in data:
            raise ValueError(f"trajectory data needs a 'time' array; keys given: {sorted(data)}")
        if np.ndim(data["time"]) == 2:
            n = np.shape(data["time"])[0]
            for key, value in data.items():
                if key in KEYS and np.shape(value)[:1] != (n,):
                    raise ValueError(f"data[{key!r}] must have a leading toss axis of length {n} like 'time', "
                                     f"got shape {np.shape(value)}")
            return [{key: np.asarray(value)[i] for key, value in data.items() if key in KEYS} for i in range(n)]
        return [data]
    try:
        tosses = list(data)
    except TypeError:
        raise ValueError(f"trajectory data must be a mapping of arrays or a sequence of them, "
                         f"got {type(data).__name__}") from None
    if not tosses or not all(isinstance(t, dict) for t in tosses):
        raise ValueError("trajectory data must be a mapping of arrays or a non-empty sequence of mappings")
    return tosses


def check_toss(mech, toss, label):
    """The toss's arrays as float64, checked against the mechanism; ValueError naming the offending item."""
    unknown = sorted(set(toss) - set(KEYS))
    if unknown:
        raise ValueError(f"{label}: unknown key(s) {unknown}; valid: {', '.join(KEYS)}")
    for key in ("time", "position", "orientation"):
        if key not in toss:
            raise ValueError(f"{label}: missing {key!r}")
    if ("velocity" in toss) != ("angular_velocity" in toss):
        raise ValueError(f"{label}: give both 'velocity' and 'angular_velocity' or neither")
    nb, nu = mech.num_bodies, mech.action_size
    out = {key: np.asarray(value, dtype=float) for key, value in toss.items()}
    T = out["time"].shape[0] if out["time"].ndim == 1 else -1
    if T < 2:
        raise ValueError(f"{label}: 'time' must be a vector of at least 2 samples, got shape {out['time'].shape}")
    for key, width in _WIDTH.items():
        if key in out and out[key].shape != (T, nb, width):
            raise ValueError(f"{label}: {key!r} must have shape ({T}, {nb}, {width}) (samples, bodies, {width}), "
                             f"got {out[key].shape}")
    out.setdefault("action", np.zeros((T - 1, nu)))
    if out["action"].shape != (T - 1, nu):
        raise ValueError(f"{label}: 'action' must have shape ({T - 1}, {nu}), got {out['action'].shape}")
    for key, value in out.items():
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{label}: {key!r} has non-finite values (first at sample "
                             f"{int(np.argwhere(~np.isfinite(value))[0, 0])})")
    h = float(mech.timestep)
    dt = np.diff(out["time"])
    bad = np.flatnonzero(np.abs(dt - h) > 1e-3 * h)
    if bad.size:
        raise ValueError(f"{label}: samples {bad[0]} and {bad[0] + 1} are {dt[bad[0]]:.6g} s apart; the mechanism's "
                         f"timestep is {h:.6g} s (resample the data or set the timestep)")
    norms = np.linalg.norm(out["orientation"], axis=-1)
    if np.any(np.abs(norms - 1.0) > 1e-3):
        worst = norms.flat[np.argmax(np.abs(norms - 1.0))]
        raise ValueError(f"{label}: 'orientation' must hold unit quaternions (a norm of {worst:.4g} found)")
    out["orientation"] = out["orientation"] / norms[..., None]
    return out


def windows(mech, tosses, horizon, stride=1):
    """Every ``horizon``-step prediction window (starts ``stride`` samples apart) of checked tosses."""
    h = float(mech.timestep)
    parts = []
    for i, toss in enumerate(tosses):
        x, q = toss["position"], toss["orientation"]
        if "velocity" in toss:
            states = State(x=x, v=toss["velocity"], q=q, w=toss["angular_velocity"])
            first = 0
        else:  # velocities from consecutive configurations: sample k >= 1 has a state
            derived = from_configurations(x[:-1], q[:-1], x[1:], q[1:], h)
            states = jax.tree.map(lambda a: np.concatenate([np.zeros_like(a[:1]), np.asarray(a)]), derived)
            first = 1
        starts = np.arange(first, x.shape[0] - horizon, stride)
        if starts.size == 0:
            continue
        ahead = starts[:, None] + np.arange(1, horizon + 1)
        parts.append(Windows(start=jax.tree.map(lambda a: a[starts], states), action=toss["action"][ahead - 1],
                             position=x[ahead], orientation=q[ahead], toss=np.full(starts.size, i)))
    if not parts:
        raise ValueError(f"no tosses are long enough for a {horizon}-step prediction window")
    return jax.tree.map(lambda *a: np.concatenate(a), *parts)


def from_rollout(mech, initial_state, states, actions=None):
    """A toss (with velocities) from a simulation: ``initial_state`` and the ``states`` that
    :func:`dojax.rollout` returned for ``actions`` (zeros if None)."""
    leaves = jax.tree.map(lambda a, b: np.concatenate([np.asarray(a)[None], np.asarray(b)]), initial_state, states)
    T = leaves.x.shape[0]
    toss = dict(time=float(mech.timestep) * np.arange(T), position=leaves.x, orientation=leaves.q,
                velocity=leaves.v, angular_velocity=leaves.w)
    if actions is not None:
        toss["action"] = np.asarray(actions, dtype=float)
    return toss


def load_trajectories(path):
    """Tosses (a list of mappings, see the module's documentation) from a ``.npz`` or ``.csv`` file."""
    path = str(path)
    if path.endswith(".npz"):
        with np.load(path) as f:
            return as_tosses({key: f[key] for key in f.files})
    if not path.endswith(".csv"):
        raise ValueError(f"trajectory file must end in .npz or .csv, got {path!r}")
    with open(path) as f:
        header = f.readline().strip().split(",")
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if header[:2] != ["toss", "time"] or table.shape[1] != len(header):
        raise ValueError(f"{path}: the header must start with 'toss,time' and name every column")
    column = {name: k for k, name in enumerate(header)}
    bodies = list(dict.fromkeys(name.rsplit(".", 1)[0] for name in header[2:] if "." in name))
    ids, first = np.unique(table[:, 0], return_index=True)
    tosses = []
    for i in ids[np.argsort(first)]:
        rows = table[table[:, 0] == i]
        toss = {"time": rows[:, 1]}
        for key, fields in _CSV_FIELDS.items():
            names = [f"{b}.{c}" for b in bodies for c in fields]
            present = [n in column for n in names]
            if any(present) and not all(present):
                raise ValueError(f"{path}: column {names[present.index(False)]!r} is missing")
            if all(present):
                toss[key] = rows[:, [column[n] for n in names]].reshape(len(rows), len(bodies), len(fields))
        actions = [n for n in header if n.startswith("action")]
        if actions:
            toss["action"] = rows[:-1, [column[n] for n in actions]]
        tosses.append(toss)
    return tosses


def save_trajectories(path, data, body_names):
    """Write tosses (any form :func:`load_trajectories` reads back) to ``.npz`` or ``.csv``.

    ``body_names``: the mechanism's body names (``mech.body_names``), the CSV columns' prefixes.
    """
    tosses = as_tosses(data)
    path = str(path)
    if path.endswith(".npz"):
        lengths = {len(t["time"]) for t in tosses}
        if len(lengths) != 1:
            raise ValueError(f"an .npz file holds tosses of one length; got lengths {sorted(lengths)} (use .csv)")
        keys = [k for k in KEYS if k in tosses[0]]
        np.savez(path, **{k: np.stack([np.asarray(t[k]) for t in tosses]) for k in keys})
        return
    if not path.endswith(".csv"):
        raise ValueError(f"trajectory file must end in .npz or .csv, got {path!r}")
    keys = [k for k in _CSV_FIELDS if k in tosses[0]]
    header = ["toss", "time"] + [f"{b}.{c}" for k in keys for b in body_names for c in _CSV_FIELDS[k]]
    nu = np.shape(tosses[0]["action"])[1] if "action" in tosses[0] else 0
    header += [f"action{j}" for j in range(nu)]
    blocks = []
    for i, t in enumerate(tosses):
        T = len(t["time"])
        cols = [np.full((T, 1), i), np.asarray(t["time"])[:, None]]
        cols += [np.asarray(t[k]).reshape(T, -1) for k in keys]
        if nu:
            cols.append(np.concatenate([np.asarray(t["action"]), np.zeros((1, nu))]))
        blocks.append(np.concatenate(cols, axis=1))
    np.savetxt(path, np.concatenate(blocks), delimiter=",", header=",".join(header), comments="", fmt="%.17g")


__all__ = ["load_trajectories", "save_trajectories", "from_rollout", "Windows"]
