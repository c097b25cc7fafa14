"""What an import reports: :class:`ModelImportWarning` and :class:`ImportInfo`."""

from dataclasses import dataclass, field

import numpy as np


class ModelImportWarning(UserWarning):
    """Parts of a model file that dojax does not import (listed by name)."""


@dataclass
class ImportInfo:
    """What :func:`load_mjcf` / :func:`load_urdf` did (``return_info=True``).

    Attributes:
        source: the file.
        model: the compiled ``mujoco.MjModel`` the mechanism was built from (for URDF including
            the added free joint, motors and ground plane).
        qpos: the MuJoCo configuration of the initial state (after clamping into joint limits and
            placing on the ground).
        body_map: dojax body name -> MuJoCo body names merged into it (empty for virtual bodies).
        dof_map: MuJoCo hinge/slide joint name -> (dojax joint name, row, sign); the dojax
            coordinate is ``sign * (qpos - qpos0)``.
        joint_map: MuJoCo joint name -> dojax joint name (free joints: the implicit floating joint).
        contact_geoms: dojax contact name -> MuJoCo geom name.
        ctrl_range: (nu, 2) MuJoCo control ranges (+-inf where not limited), not enforced by dojax.
        ground_shift: per root body moved onto the ground, the height change applied.
        warnings: what was dropped or changed, by name.
    """

    source: str
    model: object
    qpos: np.ndarray
    body_map: dict = field(default_factory=dict)
    dof_map: dict = field(default_factory=dict)
    joint_map: dict = field(default_factory=dict)
    contact_geoms: dict = field(default_factory=dict)
    ctrl_range: np.ndarray = None
    ground_shift: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
