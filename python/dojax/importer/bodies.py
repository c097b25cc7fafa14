"""Bodies: MuJoCo bodies welded into groups (one per jointed body), their combined mass, inertia and
frame, the virtual bodies of split joint combinations, their poses, and their drawn geoms."""

from typing import NamedTuple

import numpy as np

from dojax.importer.model import BALL, mat2quat
from dojax.shapes import Box, Capsule, Cylinder, Sphere


class Tree(NamedTuple):
    """The MuJoCo bodies grouped: every body without joints is welded to its jointed ancestor."""

    body_joints: list  # per MuJoCo body, its joint ids
    group_of: np.ndarray  # per MuJoCo body, its group (index into roots); -1: welded to the world
    roots: list  # per group, its jointed MuJoCo body
    members: list  # per group, its MuJoCo bodies


def weld_groups(M):
    """The Tree of a model (an error if no body moves)."""
    m = M.m
    nb = m.nbody
    body_joints = [list(range(m.body_jntadr[b], m.body_jntadr[b] + m.body_jntnum[b])) for b in range(nb)]
    group_of = np.full(nb, -1)
    roots = []
    for b in range(1, nb):
        if body_joints[b]:
            group_of[b] = len(roots)
            roots.append(b)
        else:
            group_of[b] = group_of[m.body_parentid[b]]
    if not roots:
        raise M.error("no moving body: every body is welded to the world (a URDF file's root link is, unless "
                      "floating_base=True)")
    members = [[b for b in range(nb) if group_of[b] == g] for g in range(len(roots))]
    return Tree(body_joints, group_of, roots, members)


def group_frames(M, tree, ref):
    """Per group: (mass, inertia about the centre of mass, the centre of mass p and the rotation Rrel
    of the dojax body frame in the root body's frame), at the reference kinematics ``ref``."""
    m = M.m
    frames = []
    for g, root in enumerate(tree.roots):
        mass = float(m.body_mass[tree.members[g]].sum())
        if mass <= 0.0:
            raise M.error(f"moving body {M.name('body', root)!r} has no mass")
        if len(tree.members[g]) == 1:
            com, R = ref["xipos"][root], ref["ximat"][root]
            inertia = np.diag(m.body_inertia[root])
        else:
            com = sum(m.body_mass[b] * ref["xipos"][b] for b in tree.members[g]) / mass
            R = ref["ximat"][root]
            inertia = np.zeros((3, 3))
            for b in tree.members[g]:
                Rb = R.T @ ref["ximat"][b]
                d = R.T @ (ref["xipos"][b] - com)
                inertia += Rb @ np.diag(m.body_inertia[b]) @ Rb.T + m.body_mass[b] * (d @ d * np.eye(3) - np.outer(d, d))
            inertia = 0.5 * (inertia + inertia.T)
        xr, Rr = ref["xpos"][root], ref["xmat"][root]
        frames.append((mass, inertia, Rr.T @ (com - xr), Rr.T @ R))
    return frames


def dojax_bodies(M, tree, plans, frames, virtual_mass):
    """The dojax bodies (dicts: name, group, level, real, mass, inertia, p, Rrel), per group its
    virtual bodies (levels below the last: one per joint of a split combination but the last) and
    then its real body; and per group the name of its real body."""
    body_names = {}
    bodies = []
    for g, root in enumerate(tree.roots):
        name = M.name("body", root)
        plan = plans[g]
        nvirtual = 0 if plan is None else len(plan) - 1
        mass, inertia, p, Rrel = frames[g]
        for level in range(nvirtual + 1):
            real = level == nvirtual
            f = 1.0 - nvirtual * virtual_mass if real else virtual_mass
            jname = None if plan is None else M.name("jnt", plan[level][3][0][0])
            bodies.append(dict(
                name=name if real else f"{name}/{jname}", group=g, level=level, real=real,
                mass=mass * f, inertia=inertia * f, p=p, Rrel=Rrel))
        body_names[g] = bodies[-1]["name"]
    return bodies, body_names


def poses(M, tree, plans, bodies, qpos):
    """World (x, R, q) of every dojax body at a MuJoCo configuration. A virtual body of level L
    is where its body would be with only the body's joints 0..L applied (the later ones at qpos0)."""
    m = M.m
    full = M.kinematics(qpos)
    out = []
    for body in bodies:
        root = tree.roots[body["group"]]
        k = full
        if not body["real"]:
            q = qpos.copy()
            for step in plans[body["group"]][body["level"] + 1:]:
                j = step[3][0][0]
                a, size = m.jnt_qposadr[j], 4 if m.jnt_type[j] == BALL else 1
                q[a: a + size] = m.qpos0[a: a + size]
            k = M.kinematics(q)
        R = k["xmat"][root] @ body["Rrel"]
        out.append((k["xpos"][root] + k["xmat"][root] @ body["p"], R, mat2quat(R)))
    return out


def add_bodies(builder, M, tree, bodies, ref, P0, P1):
    """Add the bodies to ``builder`` at the poses P1, with their geoms drawn; the body map of ImportInfo."""
    body_map = {}
    for i, body in enumerate(bodies):
        x, _, q = P1[i]
        builder.add_body(body["name"], mass=body["mass"], inertia=body["inertia"], position=x, orientation=q,
                         visible=body["real"])
        members = tree.members[body["group"]] if body["real"] else []  # virtual bodies: none, drawn as nothing
        for shape, position, orientation in _visuals(M, ref, members, P0[i]):
            builder.add_visual(body["name"], shape, position, orientation)
        body_map[body["name"]] = tuple(M.name("body", b) for b in members)
    return body_map


def _visuals(M, ref, members, pose):
    """(shape, position, orientation) in the body frame of each sphere, capsule, cylinder and box geom
    of the MuJoCo bodies ``members`` (capsules and cylinders along the geom's z axis, as MuJoCo's)."""
    m = M.m
    x, R, _ = pose
    out = []
    for g in range(m.ngeom):
        if m.geom_bodyid[g] not in members or m.geom_type[g] not in (2, 3, 5, 6):
            continue
        s, t = m.geom_size[g], m.geom_type[g]
        if t == 2:
            shape = Sphere(s[0])
        elif t == 6:
            shape = Box(*(2 * s[:3]))
        else:
            shape = (Capsule if t == 3 else Cylinder)(s[0], 2 * s[1])
        out.append((shape, R.T @ (ref["geom_xpos"][g] - x), mat2quat(R.T @ ref["geom_xmat"][g])))
    return out
