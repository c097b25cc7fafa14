"""What dojax cannot represent (an error naming the element) or does not import (a note naming it)."""

import numpy as np

from dojax.importer.model import BALL, FREE


def check_elements(M, notes):
    """Raise on elements dojax cannot represent; append a note for each one it ignores."""
    m = M.m
    for i in range(m.neq):
        if m.eq_active0[i]:
            raise M.error(f"equality constraint {M.name('eq', i)!r} is not supported by dojax "
                          "(remove it or make it inactive)")
        notes.append(f"inactive equality constraint {M.name('eq', i)!r} ignored")
    actuated_tendons = {int(m.actuator_trnid[a, 0]) for a in range(m.nu) if m.actuator_trntype[a] == 3}
    for t in range(m.ntendon):
        name = M.name("tendon", t)
        if m.tendon_limited[t] or m.tendon_stiffness[t] or m.tendon_damping[t] or t in actuated_tendons:
            raise M.error(f"tendon {name!r} (with limits, stiffness, damping or an actuator) is not supported")
        notes.append(f"tendon {name!r} ignored (it exerts no force)")
    if m.npair:
        notes.append(f"explicit contact pairs ignored: {[M.name('pair', i) for i in range(m.npair)]}")
    if np.any(m.opt.wind) or m.opt.density or m.opt.viscosity:
        notes.append("fluid forces (density, viscosity, wind) ignored")
    if np.any(m.body_gravcomp):
        notes.append(f"gravity compensation ignored on {[M.name('body', b) for b in np.flatnonzero(m.body_gravcomp)]}")
    for b in range(1, m.nbody):
        if m.body_mocapid[b] >= 0:
            notes.append(f"mocap body {M.name('body', b)!r} treated as static")
    for j in range(m.njnt):
        if m.jnt_type[j] == FREE and m.body_jntnum[m.jnt_bodyid[j]] > 1:
            raise M.error(f"free joint {M.name('jnt', j)!r} shares body {M.name('body', m.jnt_bodyid[j])!r} "
                          "with other joints")
        if m.jnt_type[j] == BALL and m.jnt_limited[j]:
            raise M.error(f"limited ball joint {M.name('jnt', j)!r} (a cone limit) is not supported")
    frictionloss = [M.name("jnt", j) for j in range(m.njnt) if np.any(
        m.dof_frictionloss[m.jnt_dofadr[j]: m.jnt_dofadr[j] + {0: 6, 1: 3}.get(m.jnt_type[j], 1)] > 0)]
    if frictionloss:
        notes.append(f"friction loss ignored on joints {frictionloss}")
    free_damped = [M.name("jnt", j) for j in range(m.njnt) if m.jnt_type[j] == FREE and (
        np.any(m.dof_damping[m.jnt_dofadr[j]: m.jnt_dofadr[j] + 6]) or m.jnt_stiffness[j]
        or np.any(m.dof_armature[m.jnt_dofadr[j]: m.jnt_dofadr[j] + 6]))]
    if free_damped:
        notes.append(f"damping/stiffness/armature of free joints ignored: {free_damped}")
