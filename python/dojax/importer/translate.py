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
    _check_contact_masses(mech, path)

    if warn and notes:
        warnings.warn(f"{path}: " + "; ".join(notes), ModelImportWarning, stacklevel=3)
    if not return_info:
        return mech
    info = ImportInfo(source=path, model=m, qpos=q_init, body_map=body_map, dof_map=dof_map, joint_map=joint_map,
                      contact_geoms=contact_map, ctrl_range=actuators.control_ranges(M), ground_shift=ground_shift,
                      warnings=notes)
    return mech, info


# A body in contact this much lighter than the heaviest body is thrown about by contact impulses
# that the interior-point solve resolves only to its tolerance: with this check off, a 1e-8 kg
# ball sliding beside a 10 kg box "converges" every step and is launched 179 m high within 2 s
# (1e-6 kg: 5 m; 1e-4 kg: a 2 cm hop; 1e-3 kg: 1.4 mm, default SolverOptions, dt 0.01).
MIN_CONTACT_MASS_RATIO = 1e-6


def _check_contact_masses(mech, path):
    """ValueError naming each body with contacts lighter than MIN_CONTACT_MASS_RATIO of the heaviest."""
    mass = np.asarray(mech.mass)
    s = mech.structure
    touching = np.unique(np.concatenate([s.contact_body_a, s.contact_body_b]))
    touching = touching[touching < len(mass)]
    light = [i for i in touching if mass[i] < MIN_CONTACT_MASS_RATIO * mass.max()]
    if light:
        names = ", ".join(f"{s.body_names[i]!r} ({mass[i]:.2g} kg)" for i in light)
        raise ValueError(f"{path}: bodies with contacts weigh less than {MIN_CONTACT_MASS_RATIO:g} of the heaviest "
                         f"body ({mass.max():.2g} kg): {names}; contact impulses, exact only to the solver's "
                         "tolerance, would launch them. Give them a realistic mass (e.g. <compiler boundmass=... "
                         "boundinertia=...>) or leave their geoms out of contact (contact_geoms=)")
