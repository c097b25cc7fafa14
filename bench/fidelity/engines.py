"""One model, two engines: dojax rollouts in compiled chunks and MuJoCo rollouts in C, with the
quantities the studies compare computed afterwards (off the clock)."""

import time

import numpy as np

#: steps per compiled dojax call: a rollout runs as a sequence of such chunks (the first length that
#: divides it), so one or two compiled programs serve every horizon and timestep of a model
CHUNKS = (50, 5)
CHUNK = CHUNKS[-1]


def _chunk(mech, state, actions, opts):
    import jax

    import dojax

    states, infos = dojax.rollout(mech, state, actions, opts)
    return jax.tree.map(lambda a: a[-1], states), states, infos


_RUN = None


def dojax_run(mech, state, actions, opts=None):
    """Roll ``mech`` from ``state`` under ``actions`` (T, nu).

    Returns (states, ok, iterations, wall): states a dict of numpy arrays x (T, nb, 3), q (T, nb, 4),
    v, w; ok (T,) the solver converged with finite values; iterations (T,); wall seconds of the
    stepping alone (compiled; the first call of a model compiles, so time a later call).
    """
    global _RUN
    import jax

    import dojax

    if _RUN is None:
        _RUN = jax.jit(_chunk)
    opts = dojax.SolverOptions() if opts is None else opts
    actions = np.asarray(actions, dtype=float).reshape(len(actions), mech.action_size)
    steps = len(actions)
    chunk = next((c for c in CHUNKS if steps % c == 0), CHUNK)
    padded = np.concatenate([actions, np.zeros(((-steps) % chunk, mech.action_size))])
    pieces = [padded[i:i + chunk] for i in range(0, len(padded), chunk)]
    out = []
    start = time.perf_counter()
    for piece in pieces:
        state, states, infos = _RUN(mech, state, piece, opts)
        out.append((states, infos))
    jax.block_until_ready(out)
    wall = time.perf_counter() - start
    cat = lambda get: np.concatenate([np.asarray(get(s, i)) for s, i in out])[:steps]
    states = {k: cat(lambda s, i, k=k: getattr(s, k)) for k in ("x", "q", "v", "w")}
    finite = np.all(np.isfinite(states["x"]), axis=(1, 2)) & np.all(np.isfinite(states["v"]), axis=(1, 2))
    ok = cat(lambda s, i: i.converged).astype(bool) & finite
    return states, ok, cat(lambda s, i: i.iterations), wall


def mujoco_run(model, qpos, qvel, ctrl):
    """Roll a MuJoCo model from (qpos, qvel) under ``ctrl`` (T, nu) with ``mujoco.rollout`` (C).

    Returns (states (T, nstate) full physics states after each step, failed, wall): failed is
    True when MuJoCo raised a simulation warning (bad acceleration: it then resets the state, so
    the trajectory stays finite) or a state is not finite.
    """
    import mujoco
    from mujoco import rollout

    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    data.qvel[:] = qvel
    mujoco.mj_forward(model, data)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    initial = np.empty(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, data, initial, spec)
    ctrl = np.asarray(ctrl, dtype=float).reshape(len(ctrl), model.nu)
    start = time.perf_counter()
    states, _ = rollout.rollout(model, data, initial[None], ctrl[None])
    wall = time.perf_counter() - start
    bad = int(mujoco.mjtWarning.mjWARN_BADQACC)
    failed = bool(data.warning[bad].number > 0) or not np.all(np.isfinite(states))
    return states[0], failed, wall


def mujoco_frames(model, states, measure, forward=True):
    """``measure(data)`` at each MuJoCo state (forward dynamics or kinematics only recomputed)."""
    import mujoco

    data = mujoco.MjData(model)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    out = []
    for row in states:
        mujoco.mj_setState(model, data, row, spec)
        if forward:
            mujoco.mj_forward(model, data)
        else:
            mujoco.mj_kinematics(model, data)
        out.append(measure(data))
    return np.asarray(out)
