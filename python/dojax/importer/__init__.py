"""Model import: MuJoCo MJCF and URDF files to a dojax :class:`~dojax.mechanism.Mechanism`.

MuJoCo (the ``mujoco`` package) parses and compiles the file; the compiled ``MjModel`` is then
translated. Both formats go through the same path (MuJoCo reads URDF with its own compiler):

* :mod:`~dojax.importer.files`: the file's format (a loader given the other format says so), the
  ``package://`` mesh paths of URDF files, MuJoCo's parse and compile;
* :mod:`~dojax.importer.repair`: massless links merged, invalid inertias balanced (``repair_inertia``);
* :mod:`~dojax.importer.translate`: the compiled model to a Mechanism, in stages:
  :mod:`~dojax.importer.unsupported` (what cannot be imported), :mod:`~dojax.importer.bodies`,
  :mod:`~dojax.importer.configuration` (the initial pose), :mod:`~dojax.importer.joints`,
  :mod:`~dojax.importer.contacts` and :mod:`~dojax.importer.actuators`, as follows.

Floating models
    A model with a free joint (a URDF file loaded with ``floating_base``, or one with a single link
    and no joint) starts with its lowest contact on the ground by default (``on_ground=None``), in
    both formats; ``on_ground=False`` keeps the file's pose.

Bodies and frames
    Every MuJoCo body with at least one joint becomes a dojax body. A body without joints is
    *welded*: it is merged into its jointed ancestor (masses add, the centre of mass and the inertia
    about it combine exactly); a body welded to the world is part of the world (its plane geoms are
    the ground, other geoms are ignored with a warning). The dojax body frame is MuJoCo's inertial
    frame (``xipos``/``ximat``: centre of mass, principal axes), so the inertia is diagonal; for a
    merged body it is the composite centre of mass with the jointed body's principal axes and a full
    inertia matrix. Dojax body order is MuJoCo's body order (depth first).

Joints
    The joints of one MuJoCo body (in MuJoCo's order) become one dojax joint:

    ======================================  ======================  =========================
    MuJoCo joints of the body               dojax joint             axis
    ======================================  ======================  =========================
    free                                    none: a free body       (implicit floating joint)
    ball                                    spherical               -
    hinge                                   revolute                the hinge axis
    slide                                   prismatic               the slide axis
    2 slides                                planar                  the plane normal
    3 slides                                fixed_orientation       one slide axis
    slide + hinge, parallel (either order)  cylindrical             the hinge axis
    2 slides, then a hinge normal to both   planar_axis             the hinge axis (+-)
    3 slides, then a hinge                  free_revolute           the hinge axis (+-)
    ======================================  ======================  =========================

    Slides must line up with the dojax joint frame (the axis and the two normals that
    :func:`dojax.joints.axis_frame` completes it with), up to sign, so that each MuJoCo coordinate
    is one dojax coordinate. Any other combination (e.g. the humanoid's two or three hinges about a
    common point) is split into a chain of single-joint dojax joints through ``k - 1`` *virtual*
    bodies named ``"<body>/<joint>"``: each carries ``virtual_mass`` (a fraction, default 0.01) of
    the body's mass and inertia at its centre of mass, taken from the body, so total mass is
    conserved; only the virtual parts' slightly different motion differs from MuJoCo. With
    ``virtual_mass=0`` such combinations raise instead.

Coordinates
    The dojax coordinate of a hinge or slide is ``sign * (qpos - qpos0)`` (MuJoCo measures joints
    from ``qpos0``, i.e. ``ref``), where ``sign`` is +1 except for slides or hinges that line up
    with a negative joint-frame axis (e.g. the hopper's ``rootx``/``rootz`` in its planar_axis joint).
    ``info.dof_map`` lists, per MuJoCo hinge/slide joint, ``(dojax joint, row, sign)`` (row 0-2
    translational, 3-5 rotational free rows). A free joint becomes a free body whose coordinates are
    its centre of mass in the world and the rotation vector of its (inertial) frame; a ball joint's
    are the rotation vector of the relative rotation in the joint frame. The minimal-coordinate
    vector lists, per dojax body in order, its joint's free rows (translational rows first).

Joint properties
    ``jnt_range`` of limited hinges/slides -> ``limits`` (in dojax coordinates, lower < upper);
    ``dof_damping`` -> ``damper``; ``dof_armature`` -> ``armature`` (a ball joint's on its three
    rotational rows, where dojax's rates are those of the rotation vector: the body-frame angular
    velocity to first order in the angle); ``jnt_stiffness`` with ``qpos_spring`` (springref) ->
    ``spring`` and ``spring_offset``. Friction loss has no dojax counterpart and is dropped
    (reported), as are the damping, stiffness and armature of free joints. A limited ball joint
    (a cone limit) is not supported.

Actuators
    Motors (no activation dynamics, fixed gain, no bias) on hinge or slide joints, in MuJoCo's order:
    dojax actuator ``i`` is MuJoCo's ``ctrl[i]`` with gear ``gear[0] * gainprm[0]`` (times the
    coordinate's sign). ``ctrlrange`` is not enforced by dojax (see ``info.ctrl_range``). Other
    actuators (position/velocity servos, tendon or site transmissions) raise.

Contacts (Dojo's approach: spheres against the ground)
    Plane geoms of the world are the ground (a half-space from the plane's normal and position).
    Each geom of a moving body that MuJoCo would collide with a ground plane (contype/conaffinity,
    ``<exclude>``) becomes contact spheres: a sphere one sphere; a capsule one at each end of its
    segment (its radius); a box its 8 corners (points); a cylinder 8 points on each rim; a mesh the
    vertices of its convex hull as compiled by MuJoCo (points), at most
    :data:`~dojax.importer.contacts.MESH_CONTACT_POINTS` (16) of them: a larger hull is reduced by
    farthest-point sampling (the vertex farthest from the vertices' mean first, then each time the
    vertex farthest from those kept; deterministic), so a hull vertex left out may sink into the
    ground by up to about the spacing of the kept ones. A sphere or point lying inside another sphere
    of the same body is dropped. Friction is MuJoCo's combination of the two geoms' first friction
    coefficients (the higher priority's, else the larger); ``condim`` 1 gives a frictionless
    ("impact") contact. Height-field, ellipsoid and SDF geoms that collide with the ground raise (set
    their contype/conaffinity to 0 to keep them visual).
    Body-body collisions are not imported (reported). A file that disables contacts
    (``<flag contact="disable"/>``) gets none unless ``contact_geoms`` names some. A contact whose
    distance to its plane no joint can change (found by comparing it at a few random configurations,
    e.g. a body that only slides and turns in the ground's plane) is dropped (reported): its force
    would only duplicate a joint constraint, and leave the step's Newton system singular.

Not imported (reported by name): equality constraints (raise when active), tendons (raise when
they have stiffness, damping, limits or actuators, else reported), explicit contact pairs, body-body
collisions, friction loss, free joints' damping and armature, fluid forces and gravity compensation.
Sites, sensors, cameras, lights and materials have no effect on the dynamics and are ignored.
Reports are collected in ``info.warnings`` and emitted as one :class:`ModelImportWarning`
(``warn=False`` suppresses it).
"""

from dojax.importer.files import check_file, compile_spec, mujoco_module, resolve_packages, spec_from_file
from dojax.importer.info import ImportInfo, ModelImportWarning
from dojax.importer.repair import repair_inertia as _repair
from dojax.importer.translate import translate


# -- public API ---------------------------------------------------------------------------------------
def load_mjcf(path, timestep=None, gravity=None, contact_friction=None, contact_model="soc",
              qpos=None, keyframe=None, on_ground=None, contact_geoms=None, virtual_mass=0.01,
              input_mode="force", repair_inertia=True, warn=True, return_info=False):
    """Build a Mechanism from a MuJoCo MJCF file (see the module docstring for the mapping).

    Args:
        path: the .xml file (includes and assets resolve relative to it, as in MuJoCo).
        timestep: dojax step in seconds; None uses the file's ``<option timestep>``.
        gravity: scalar z-component or 3-vector; None uses the file's ``<option gravity>``.
        contact_friction: one friction coefficient for every contact (None: from the geoms).
        contact_model: ``"soc"``, ``"linear"`` or ``"impact"`` for frictional contacts.
        qpos: initial MuJoCo configuration: a length-``nq`` array or ``{joint name: value}``
            overriding ``qpos0``. Hinge/slide values outside their limits are clamped (reported).
        keyframe: name or index of a ``<key>`` whose qpos to start from (before ``qpos``).
        on_ground: move each floating or vertically sliding root so that its lowest contact point
            touches the ground (MuJoCo's default poses often start above or in it). None (default):
            when the model has a free joint, the same rule as :func:`load_urdf`.
        contact_geoms: names of the geoms to turn into ground contacts (None: every geom that MuJoCo
            would collide with the ground).
        virtual_mass: mass fraction of each virtual body of a split joint combination (0: raise).
        input_mode: dojax input mode, ``"force"`` (actions are MuJoCo's ctrl) or ``"impulse"``.
        repair_inertia: merge massless moving bodies and balance inertias that break the triangle
            inequality, reporting each by name (see :mod:`dojax.importer.repair`); False leaves them
            to MuJoCo's compiler, which rejects them.
        warn: emit one ModelImportWarning listing what was not imported or was repaired.
        return_info: also return an :class:`ImportInfo`.

    Returns:
        the Mechanism, starting at rest; or ``(mechanism, info)``.

    Raises:
        ValueError: missing or malformed file, or a URDF file (MuJoCo's message, naming the element
            and line where it can), or an element dojax cannot represent (named).
    """
    path = check_file(path, "MJCF")
    spec = spec_from_file(path, "MJCF")
    notes = _repair(spec, path) if repair_inertia else []
    model, compiler_notes = compile_spec(spec, path, "MJCF")
    return translate(model, notes + compiler_notes, path, timestep, gravity, contact_friction, contact_model, qpos,
                     keyframe, on_ground, contact_geoms, virtual_mass, input_mode, warn, return_info)


def load_urdf(path, floating_base=None, ground=None, actuated=True, timestep=0.01, gravity=-9.81,
              contact_friction=None, contact_model="soc", qpos=None, on_ground=None, contact_geoms=None,
              virtual_mass=0.01, input_mode="force", package_dirs=(), armature=None, repair_inertia=True,
              warn=True, return_info=False):
    """Build a Mechanism from a URDF file (read by MuJoCo's URDF compiler, then as :func:`load_mjcf`).

    URDF carries no actuators, ground or initial pose, so:

    Args:
        floating_base: give the root link a free joint (a free body); False welds it to the world
            (MuJoCo fuses it into the world). None (default): True for a file with one link and no
            joint (a lone rigid body), else False.
        ground: add a ground plane z = 0 (default: when the base floats).
        actuated: one motor (gear 1) per revolute/continuous/prismatic joint, in joint order.
        timestep, gravity: dojax step and gravity (URDF has no such options).
        on_ground: move a floating base so that its lowest contact touches the ground (default:
            when the base floats; the same rule as :func:`load_mjcf`).
        qpos: initial joint values, ``{joint name: value}`` or a length-``nq`` array (default 0,
            clamped into the limits).
        package_dirs: a directory or a list of directories in which ``package://NAME/...`` mesh
            paths are looked up (``DIR/NAME/...``) before the directories above the file (see
            :mod:`dojax.importer.files`).
        armature: joint-space inertia (a motor rotor's inertia times its squared gear ratio), which
            URDF has no element for: one value for every revolute/continuous/prismatic joint, or
            ``{joint name: value}`` (default: none).

    Only ``<collision>`` geometry collides (MuJoCo turns ``<visual>`` geometry into non-colliding
    geoms when the file sets ``<mujoco><compiler discardvisual="false"/></mujoco>``, else drops it).
    Other arguments as in :func:`load_mjcf`.
    """
    path = check_file(path, "URDF")
    mujoco = mujoco_module()
    spec = spec_from_file(path, "URDF")
    resolve_packages(spec, path, package_dirs)
    _set_armature(spec, path, armature)
    if floating_base is None:
        floating_base = len(list(spec.worldbody.find_all("body"))) == 1 and not list(spec.joints)
    if floating_base:
        roots = list(spec.worldbody.bodies)
        if len(roots) != 1:
            raise ValueError(f"URDF file {path!r}: floating_base needs one root link, found "
                             f"{[b.name for b in roots]}")
        if list(roots[0].joints):
            raise ValueError(f"URDF file {path!r}: root link {roots[0].name!r} already has a joint")
        roots[0].add_freejoint(name=f"{roots[0].name}_floating")
    notes = _repair(spec, path) if repair_inertia else []
    if ground if ground is not None else floating_base:
        spec.worldbody.add_geom(name="ground", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0.0, 0.0, 1.0])
    if actuated:
        for joint in spec.joints:
            if joint.type in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
                spec.add_actuator(name=joint.name, target=joint.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
    model, compiler_notes = compile_spec(spec, path, "URDF")
    return translate(model, notes + compiler_notes, path, timestep, gravity, contact_friction, contact_model, qpos,
                     None, on_ground, contact_geoms, virtual_mass, input_mode, warn, return_info)


def _set_armature(spec, path, armature):
    """Set the armature of the spec's joints: one value for all, or {joint name: value}."""
    if armature is None:
        return
    joints = {joint.name: joint for joint in spec.joints}
    values = armature if isinstance(armature, dict) else dict.fromkeys(joints, armature)
    for name, value in values.items():
        if name not in joints:
            raise ValueError(f"URDF file {path!r}: armature given for unknown joint {name!r}; joints: {list(joints)}")
        value = float(value)
        if not value >= 0.0 or value == float("inf"):
            raise ValueError(f"URDF file {path!r}: armature of joint {name!r} must be finite and >= 0, got {value}")
        joints[name].armature = value


__all__ = ["load_mjcf", "load_urdf", "ImportInfo", "ModelImportWarning"]
