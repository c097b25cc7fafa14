"""The initial configuration: MuJoCo's ``qpos0``, a keyframe's, or the caller's, clamped into the limits."""

import numpy as np

from dojax.importer.model import BALL, FREE, HINGE, SLIDE


def initial_qpos(M, keyframe, qpos, notes):
    """The MuJoCo configuration the mechanism starts from (see :func:`dojax.importer.load_mjcf`)."""
    m = M.m
    q_init = m.qpos0.copy()
    if keyframe is not None:
        k = keyframe if isinstance(keyframe, (int, np.integer)) else \
            next((i for i in range(m.nkey) if m.key(i).name == keyframe), None)
        if k is None or not 0 <= k < m.nkey:
            raise M.error(f"no keyframe {keyframe!r}; keyframes: {[m.key(i).name for i in range(m.nkey)]}")
        q_init = m.key_qpos[k].copy()
    if qpos is not None:
        if isinstance(qpos, dict):
            for name, value in qpos.items():
                j = next((j for j in range(m.njnt) if M.name("jnt", j) == name), None)
                if j is None:
                    raise M.error(f"qpos names unknown joint {name!r}")
                size = {0: 7, 1: 4}.get(m.jnt_type[j], 1)
                value = np.atleast_1d(np.asarray(value, float))
                if value.shape != (size,):
                    raise M.error(f"qpos of joint {name!r} needs {size} values, got {value.shape}")
                q_init[m.jnt_qposadr[j]: m.jnt_qposadr[j] + size] = value
        else:
            q = np.asarray(qpos, float)
            if q.shape != (m.nq,):
                raise M.error(f"qpos must have length nq = {m.nq}, got shape {q.shape}")
            q_init = q.copy()
    if not np.all(np.isfinite(q_init)):
        raise M.error("qpos must be finite")
    clamped = []
    for j in range(m.njnt):
        a = m.jnt_qposadr[j]
        if m.jnt_type[j] in (HINGE, SLIDE) and m.jnt_limited[j]:
            lo, hi = m.jnt_range[j]
            if not lo <= q_init[a] <= hi:
                clamped.append(f"{M.name('jnt', j)} {q_init[a]:.4g} -> {np.clip(q_init[a], lo, hi):.4g}")
                q_init[a] = np.clip(q_init[a], lo, hi)
        elif m.jnt_type[j] in (FREE, BALL):
            s = a + 3 if m.jnt_type[j] == FREE else a
            q_init[s: s + 4] /= np.linalg.norm(q_init[s: s + 4])
    if clamped:
        notes.append(f"initial positions clamped into joint limits: {clamped}")
    return q_init
