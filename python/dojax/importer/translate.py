"""The translation of a compiled MuJoCo model (``MjModel``) into a dojax Mechanism, stage by stage (the
mapping is described in :mod:`dojax.importer`)."""

import functools
import warnings

import numpy as np

from dojax.importer import actuators, bodies, contacts, joints
from dojax.importer.configuration import initial_qpos
from dojax.importer.info import ImportInfo, ModelImportWarning
from dojax.importer.model import MujocoModel
from dojax.importer.unsupported import check_elements
from dojax.mechanism import MechanismBuilder


def translate(model, compiler_notes, path, timestep, gravity, contact_friction, contact_model, qpos, keyframe, on_ground,
              contact_geoms, virtual_mass, input_mode, warn, return_info):
    """The Mechanism (and, with ``return_info``, its ImportInfo) of a compiled MjModel read from ``path``;
    arguments as documented by :func:`dojax.importer.load_mjcf`."""
    M = MujocoModel(model, path)
    m = model
    notes = list(compiler_notes)
    check_elements(M, notes)
    tree = bodies.weld_groups(M)
    q_init = initial_qpos(M, keyframe, qpos, notes)

    ref = M.kinematics(m.qpos0)  # the reference configuration: every dojax coordinate zero
    plans = joints.plan_joints(M, tree, ref, virtual_mass, notes)
    dojax_bodies, body_names = bodies.dojax_bodies(M, tree, plans, bodies.group_frames(M, tree, ref), virtual_mass)
    pose_of = functools.partial(bodies.poses, M, tree, plans, dojax_bodies)
    P0 = pose_of(m.qpos0)
    ground, ground_contacts = contacts.ground_contacts(M, tree, dojax_bodies, ref, P0, contact_geoms, contact_friction,
                                                       contact_model, notes)
    ground_shift = contacts.place_on_ground(M, tree, dojax_bodies, ground_contacts, ground, pose_of, q_init, on_ground,
                                            notes)

    h = float(m.opt.timestep) if timestep is None else timestep
    grav = np.asarray(m.opt.gravity, float) if gravity is None else gravity
    builder = MechanismBuilder(timestep=h, gravity=grav, input_mode=input_mode)
    P1 = pose_of(q_init)
    body_map = bodies.add_bodies(builder, M, tree, dojax_bodies, ref, P0, P1)
    dof_map, joint_map = joints.add_joints(builder, M, tree, plans, dojax_bodies, body_names, P0, P1, q_init)
    actuators.add_actuators(builder, M, dof_map)
    contact_map = contacts.add_contacts(builder, dojax_bodies, ground_contacts, ground)
    mech = builder.build()

    if warn and notes:
        warnings.warn(f"{path}: " + "; ".join(notes), ModelImportWarning, stacklevel=3)
    if not return_info:
        return mech
    info = ImportInfo(source=path, model=m, qpos=q_init, body_map=body_map, dof_map=dof_map, joint_map=joint_map,
                      contact_geoms=contact_map, ctrl_range=actuators.control_ranges(M), ground_shift=ground_shift,
                      warnings=notes)
    return mech, info
