"""The compiled MuJoCo model as the importer's stages read it, and small NumPy rotation helpers."""

import numpy as np


# -- numpy rotations ---------------------------------------------------------------------------------
def mat2quat(R):
    """Unit quaternion (w, x, y, z) of a rotation matrix."""
    import mujoco

    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R, dtype=float).reshape(9))
    return q


def quat2mat(q):
    """Rotation matrix of a unit quaternion (w, x, y, z)."""
    import mujoco

    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, np.asarray(q, dtype=float))
    return R.reshape(3, 3)


def qmul(p, q):
    """Quaternion product p ⊗ q."""
    pw, pv, qw, qv = p[0], p[1:], q[0], q[1:]
    return np.concatenate([[pw * qw - pv @ qv], pw * qv + qw * pv + np.cross(pv, qv)])


def qconj(q):
    """Conjugate (inverse rotation) of a unit quaternion."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def rotvec(q):
    """Rotation vector (angle in [0, pi]) of a unit quaternion, as dojax.quaternion.to_rotation_vector."""
    q = -q if q[0] < 0 else q
    n = np.linalg.norm(q[1:])
    if n < 1e-12:
        return 2.0 * q[1:] / q[0]
    return 2.0 * np.arctan2(n, q[0]) / n * q[1:]


def unit(v):
    """v / |v|."""
    return np.asarray(v, float) / np.linalg.norm(v)


# -- the compiled model ------------------------------------------------------------------------------
class MujocoModel:
    """Names and frames of the compiled MjModel, kinematics on demand, and errors naming the file."""

    def __init__(self, model, path):
        import mujoco

        self.mj = mujoco
        self.m = model
        self.path = path
        self.data = mujoco.MjData(model)

    def name(self, kind, i):
        obj = getattr(self.m, kind)(i)
        return obj.name or f"{kind}{i}"

    def kinematics(self, qpos):
        self.data.qpos[:] = qpos
        self.mj.mj_kinematics(self.m, self.data)
        d = self.data
        return dict(xpos=d.xpos.copy(), xmat=d.xmat.reshape(-1, 3, 3).copy(), xipos=d.xipos.copy(),
                    ximat=d.ximat.reshape(-1, 3, 3).copy(), xanchor=d.xanchor.copy(), xaxis=d.xaxis.copy(),
                    geom_xpos=d.geom_xpos.copy(), geom_xmat=d.geom_xmat.reshape(-1, 3, 3).copy())

    def error(self, message):
        """A ValueError naming the file."""
        return ValueError(f"{self.path}: {message}")


HINGE, SLIDE, BALL, FREE = 3, 2, 1, 0
JOINT_NAMES = {HINGE: "hinge", SLIDE: "slide", BALL: "ball", FREE: "free"}
GEOM_TYPES = ("plane", "hfield", "sphere", "capsule", "ellipsoid", "cylinder", "box", "mesh", "sdf")
