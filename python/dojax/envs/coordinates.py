"""MuJoCo-style ``qpos``/``qvel`` of dojax States of mechanisms imported from MJCF files."""

import jax.numpy as jnp
import numpy as np

_FREE, _BALL = 0, 1


class MujocoCoordinates:
    """MuJoCo ``qpos``/``qvel`` of a dojax State of a mechanism imported from MJCF.

    Built from the :class:`~dojax.importer.ImportInfo` of the import: hinge and slide values are
    ``qpos0 + sign * coordinate``; free joints read the body's pose and velocities directly.
    """

    def __init__(self, mech, info):
        m = info.model
        names = list(mech.joint_names)
        mask = mech.structure.free_mask[: mech.num_bodies]
        offsets = np.concatenate([[0], np.cumsum(2 * mask.sum(axis=1))])
        self._parts = []  # ("dof", minimal pos index, vel index, qpos0, sign) | ("free", body)
        for j in range(m.njnt):
            name = m.joint(j).name
            if m.jnt_type[j] == _FREE:
                self._parts.append(("free", names.index(info.joint_map[name])))
            elif m.jnt_type[j] == _BALL:
                raise ValueError(f"ball joint {name!r}: MuJoCo coordinates of ball joints are not supported")
            else:
                jname, row, sign = info.dof_map[name]
                k = names.index(jname)
                pos = int(offsets[k] + mask[k, :row].sum())
                self._parts.append(("dof", pos, pos + int(mask[k].sum()), float(m.qpos0[m.jnt_qposadr[j]]), sign))
        self.nq, self.nv = m.nq, m.nv

    def __call__(self, mech, sim, minimal):
        """(qpos, qvel) arrays; ``minimal`` is ``to_minimal(mech, sim)``."""
        qpos, qvel = [], []
        for part in self._parts:
            if part[0] == "free":
                b = part[1]
                qpos += [sim.x[b], sim.q[b]]
                qvel += [sim.v[b], sim.w[b]]
            else:
                _, pos, vel, qpos0, sign = part
                qpos.append(jnp.atleast_1d(qpos0 + sign * minimal[pos]))
                qvel.append(jnp.atleast_1d(sign * minimal[vel]))
        return jnp.concatenate(qpos), jnp.concatenate(qvel)
