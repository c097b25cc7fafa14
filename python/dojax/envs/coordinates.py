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
        self._parts = []  # ("dof", minimal pos index, vel index, qpos0, sign, joint, row) | ("free", body)
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
                self._parts.append(("dof", pos, pos + int(mask[k].sum()), float(m.qpos0[m.jnt_qposadr[j]]), sign, k,
                                    row))
        self.nq, self.nv = m.nq, m.nv
        # Evaluated as a few array operations (a compiled step pays for each one): the free joints'
        # pieces, then every hinge and slide value by one gather, put in MuJoCo's order by one
        # permutation (none when it is already that order).
        free = [part[1] for part in self._parts if part[0] == "free"]
        dofs = [part for part in self._parts if part[0] == "dof"]
        self._free = np.array(free, dtype=int)
        self._dof_pos, self._dof_vel = (np.array([d[k] for d in dofs], dtype=int) for k in (1, 2))
        self._qpos0 = np.array([d[3] for d in dofs], dtype=float)
        self._sign = np.array([d[4] for d in dofs], dtype=float)
        qpos_order, qvel_order, n_free, n_dof = [], [], 0, 0
        for part in self._parts:
            if part[0] == "free":
                qpos_order += [7 * n_free + k for k in range(7)]
                qvel_order += [6 * n_free + k for k in range(6)]
                n_free += 1
            else:
                qpos_order.append(7 * len(free) + n_dof)
                qvel_order.append(6 * len(free) + n_dof)
                n_dof += 1
        identity = lambda order: order == list(range(len(order)))
        self._qpos_order = None if identity(qpos_order) else np.array(qpos_order)
        self._qvel_order = None if identity(qvel_order) else np.array(qvel_order)

    def __call__(self, mech, sim, minimal):
        """(qpos, qvel) arrays; ``minimal`` is ``to_minimal(mech, sim)``."""
        b = self._free
        qpos0, sign = (np.asarray(a, minimal.dtype) for a in (self._qpos0, self._sign))
        qpos = jnp.concatenate([jnp.concatenate([sim.x[b], sim.q[b]], axis=1).reshape(-1),
                                qpos0 + sign * minimal[self._dof_pos]])
        qvel = jnp.concatenate([jnp.concatenate([sim.v[b], sim.w[b]], axis=1).reshape(-1),
                                sign * minimal[self._dof_vel]])
        if self._qpos_order is not None:
            qpos = qpos[self._qpos_order]
        if self._qvel_order is not None:
            qvel = qvel[self._qvel_order]
        return qpos, qvel
