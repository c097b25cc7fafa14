"""Actuators: MuJoCo's motors on hinge and slide joints, as dojax joint actuators in MuJoCo's order."""

import numpy as np

from dojax.importer.model import JOINT_NAMES


def add_actuators(builder, M, dof_map):
    """Add actuator ``i`` as MuJoCo's ``ctrl[i]`` (gear ``gear[0] * gainprm[0]`` times the coordinate's
    sign); an error naming any other kind of actuator."""
    m = M.m
    for a in range(m.nu):
        name = M.name("actuator", a)
        if m.actuator_trntype[a] not in (0, 1):
            raise M.error(f"actuator {name!r}: only joint transmissions are supported")
        if m.actuator_dyntype[a] != 0 or m.actuator_gaintype[a] != 0 or m.actuator_biastype[a] != 0:
            raise M.error(f"actuator {name!r}: only motors (no dynamics, fixed gain, no bias) are supported; "
                          "position/velocity servos and muscles are not")
        j = int(m.actuator_trnid[a, 0])
        jn = M.name("jnt", j)
        if jn not in dof_map:
            raise M.error(f"actuator {name!r} acts on {JOINT_NAMES[m.jnt_type[j]]} joint {jn!r}; only hinge and "
                          "slide joints can be actuated")
        jname, row, sign = dof_map[jn]
        builder.add_actuator(jname, row, gear=sign * m.actuator_gear[a, 0] * m.actuator_gainprm[a, 0])


def control_ranges(M):
    """(nu, 2) MuJoCo control ranges, +-inf where not limited."""
    m = M.m
    return np.where(m.actuator_ctrllimited[:, None].astype(bool), m.actuator_ctrlrange, np.array([-np.inf, np.inf]))
