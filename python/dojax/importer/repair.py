"""Repairs of a model's inertial data before MuJoCo compiles it (``repair_inertia=True``, the default).

Massless links
    A moving body without mass (URDF links without ``<inertial>`` and without geometry, often frames
    for sensors or the middle link of a two-axis joint) cannot be simulated. If nothing below it has
    mass either, its joints move nothing: they are removed, and the body is welded to (merged into)
    its parent. If it has exactly one child body, it is merged into its parent and its joints move
    to the front of the child's joints, in the child's frame (MuJoCo applies a body's joints in
    order, so the chain of motions is the same); the child's joint combination then maps as any
    other (see :mod:`dojax.importer`). Any other massless moving body is an error naming it.

Invalid inertias
    A principal inertia that breaks the triangle inequality (A + B >= C) is repaired as MuJoCo's
    ``balanceinertia`` compiler option does: its diagonal is set to the mean of the three.

Each repair is reported by body name with the import's other notes (a ModelImportWarning).
"""

import numpy as np

_JOINT_FIELDS = ("name", "type", "pos", "axis", "range", "limited", "ref", "springref", "stiffness", "damping",
                 "armature", "frictionloss", "actfrclimited", "actfrcrange", "margin", "group")


def repair_inertia(spec, path):
    """Merge massless links and balance invalid inertias of ``spec`` in place; notes naming each."""
    return _merge_massless_links(spec, path) + _balance_inertias(spec)


def _has_mass(body):
    """Whether a body, or a body welded to it (a child without joints, fused by MuJoCo), has mass."""
    own = body.mass > 0 or (not body.explicitinertial and len(body.geoms) > 0)
    return own or any(_has_mass(child) for child in body.bodies if not list(child.joints))


def _subtree_has_mass(body):
    return _has_mass(body) or any(_subtree_has_mass(child) for child in body.bodies)


def _merge_massless_links(spec, path):
    notes = []
    for body in list(spec.worldbody.find_all("body")):
        joints = list(body.joints)
        if not joints or _has_mass(body):
            continue
        names = [j.name for j in joints]
        parent = body.parent.name
        children = list(body.bodies)
        if not _subtree_has_mass(body):
            for j in joints:
                spec.delete(j)
            notes.append(f"massless link {body.name!r} welded to its parent {parent!r} (its joints {names} move "
                         "no mass)")
        elif len(children) == 1:
            _move_joints_to_child(spec, body, children[0])
            notes.append(f"massless link {body.name!r} merged into its parent {parent!r}; its joints {names} now "
                         f"move its child {children[0].name!r}")
        else:
            raise ValueError(f"{path}: massless link {body.name!r} has joints {names} and {len(children)} child "
                             "links; give it an <inertial> (a mass and inertia)")
    return notes


def _move_joints_to_child(spec, body, child):
    """Put ``body``'s joints before ``child``'s, expressed in the child's frame."""
    R = _rotation(spec, child)
    moved = [_fields(j) for j in body.joints]
    for f in moved:
        f["pos"] = R.T @ (np.asarray(f["pos"]) - np.asarray(child.pos))
        f["axis"] = R.T @ np.asarray(f["axis"])
    own = [_fields(j) for j in child.joints]
    for j in list(body.joints) + list(child.joints):
        spec.delete(j)
    for f in moved + own:
        joint = child.add_joint()
        for key, value in f.items():
            setattr(joint, key, value)


def _fields(joint):
    return {key: getattr(joint, key) for key in _JOINT_FIELDS}


def _rotation(spec, body):
    """Rotation matrix of a body's frame in its parent (an Euler angle or axis orientation resolved as
    MuJoCo's compiler does)."""
    import mujoco

    q = np.asarray(body.quat, float)
    if body.alt.type != mujoco.mjtOrientation.mjORIENTATION_QUAT:
        q = np.asarray(spec.resolve_orientation(degree=spec.compiler.degree, sequence=spec.compiler.eulerseq,
                                                orientation=body.alt))
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, q / np.linalg.norm(q))
    return R.reshape(3, 3)


def _balance_inertias(spec):
    spec.compiler.balanceinertia = True
    repaired = []
    for body in spec.worldbody.find_all("body"):
        if not body.explicitinertial:
            continue
        full = np.asarray(body.fullinertia, float)
        if np.isnan(full[0]):
            principal = np.asarray(body.inertia, float)
        else:
            principal = np.linalg.eigvalsh(np.array([[full[0], full[3], full[4]], [full[3], full[1], full[5]],
                                                     [full[4], full[5], full[2]]]))
        a, b, c = np.sort(principal)
        if a + b < c - 1e-12 * max(c, 1e-300):
            repaired.append(body.name)
    return [f"inertia breaking the triangle inequality (A + B >= C) balanced on {repaired}"] if repaired else []
