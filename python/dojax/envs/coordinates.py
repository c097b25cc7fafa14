"""MuJoCo-style ``qpos``/``qvel`` of dojax States of mechanisms imported from MJCF files."""

import jax
import jax.numpy as jnp
import numpy as np

from dojax.minimal import joint_coordinates, with_world

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

    def __call__(self, mech, sim, minimal):
        """(qpos, qvel) arrays; ``minimal`` is ``to_minimal(mech, sim)``."""
        qpos, qvel = [], []
        for part in self._parts:
            if part[0] == "free":
                b = part[1]
                qpos += [sim.x[b], sim.q[b]]
                qvel += [sim.v[b], sim.w[b]]
            else:
                _, pos, vel, qpos0, sign, _, _ = part
                qpos.append(jnp.atleast_1d(qpos0 + sign * minimal[pos]))
                qvel.append(jnp.atleast_1d(sign * minimal[vel]))
        return jnp.concatenate(qpos), jnp.concatenate(qvel)

    def first(self, mech, sim):
        """``qpos[0]`` alone (the root's x), from its own joint: cheaper than the whole vector."""
        part = self._parts[0]
        if part[0] == "free":
            return sim.x[part[1], 0]
        _, _, _, qpos0, sign, k, row = part
        s = mech.structure
        x, q = with_world(sim.x, sim.q)
        jdata = jax.tree.map(lambda a: a[k: k + 1], mech.joint_data())
        theta = joint_coordinates(mech, jdata, s.joint_parent[k: k + 1], s.joint_child[k: k + 1], x, q)
        return qpos0 + sign * theta[0, row]
