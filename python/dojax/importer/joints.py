"""Joints: the joints of each MuJoCo body as one dojax joint (or a chain of them through virtual bodies),
with their axes, anchors, limits, springs, dampers and armature, and the map between the two coordinates."""

import itertools

import numpy as np

from dojax.importer.model import BALL, FREE, HINGE, JOINT_NAMES, SLIDE, qconj, qmul, quat2mat, rotvec, unit
from dojax.joints import axis_frame, free_mask


def _aligned_rows(frame, axes, rows):
    """Match each axis to a distinct frame row (up to sign); [(row, sign)] or None."""
    out, used = [], set()
    for a in axes:
        hits = [(r, float(np.sign(frame[r] @ a))) for r in rows if r not in used and abs(frame[r] @ a) > 1 - 1e-9]
        if not hits:
            return None
        out.append(hits[0])
        used.add(hits[0][0])
    return out


def combine(dofs):
    """One dojax joint for a body's joint list [(type, axis, anchor)]; (type, axis, anchor, [(row, sign)])
    or None when no single dojax joint reproduces it exactly."""
    kinds = [k for k, _, _ in dofs]
    axes = [a for _, a, _ in dofs]
    if len(dofs) == 1:
        kind, a, c = dofs[0]
        return {HINGE: ("revolute", a, c, [(3, 1.0)]), SLIDE: ("prismatic", a, c, [(0, 1.0)]),
                BALL: ("spherical", np.array([1.0, 0.0, 0.0]), c, [None])}[kind]
    if all(k == SLIDE for k in kinds):
        if len(dofs) == 2:
            n = np.cross(axes[0], axes[1])
            if np.linalg.norm(n) < 1e-9:
                return None
            for axis in (unit(n), -unit(n)):
                rows = _aligned_rows(axis_frame(axis), axes, (1, 2))
                if rows:
                    return ("planar", axis, dofs[0][2], rows)
        if len(dofs) == 3:
            for axis in itertools.chain.from_iterable((a, -a) for a in axes):
                rows = _aligned_rows(axis_frame(axis), axes, (0, 1, 2))
                if rows:
                    return ("fixed_orientation", axis, dofs[0][2], rows)
        return None
    if kinds.count(HINGE) != 1 or BALL in kinds:
        return None
    h = axes[kinds.index(HINGE)]
    anchor = dofs[kinds.index(HINGE)][2]
    slides = [a for k, a, _ in dofs if k == SLIDE]
    if len(dofs) == 2 and abs(abs(slides[0] @ h) - 1) < 1e-9:  # slide along the hinge axis, any order
        return ("cylindrical", h, anchor, [(0, float(np.sign(a @ h))) if k == SLIDE else (3, 1.0) for k, a, _ in dofs])
    if kinds[-1] != HINGE or len(slides) not in (2, 3):  # slides must act before the rotation
        return None
    joint_type = "planar_axis" if len(slides) == 2 else "free_revolute"
    if joint_type == "planar_axis" and max(abs(a @ h) for a in slides) > 1e-9:
        return None
    for sign in (1.0, -1.0):
        axis = sign * h
        rows = _aligned_rows(axis_frame(axis), slides, (1, 2) if len(slides) == 2 else (0, 1, 2))
        if rows:
            return (joint_type, axis, anchor, rows + [(3, sign)])
    return None


def plan_joints(M, tree, ref, virtual_mass, notes):
    """Per group: None for a free body, else a list of (dojax joint type, world axis, world anchor,
    [(MuJoCo joint, (row, sign))]), one entry per dojax joint (more than one: split through virtual
    bodies), at the reference kinematics ``ref``."""
    m = M.m
    plans = []
    split_bodies = []
    for g, root in enumerate(tree.roots):
        js = tree.body_joints[root]
        if m.jnt_type[js[0]] == FREE:
            plans.append(None)
            continue
        dofs = [(m.jnt_type[j], unit(ref["xaxis"][j]), ref["xanchor"][j]) for j in js]
        combined = combine(dofs)
        if combined is not None:
            jt, axis, anchor, rows = combined
            plans.append([(jt, axis, anchor, [(j, r) for j, r in zip(js, rows)])])
        else:
            names = [M.name("jnt", j) for j in js]
            if virtual_mass <= 0 or (len(js) - 1) * virtual_mass >= 1:
                raise M.error(f"body {M.name('body', root)!r}: joint combination "
                              f"{[(n, JOINT_NAMES[m.jnt_type[j]]) for n, j in zip(names, js)]} has no dojax joint type "
                              "(pass virtual_mass > 0 to split it through virtual bodies)")
            split_bodies.append(M.name("body", root))
            plans.append([combine([d])[:3] + ([(j, combine([d])[3][0])],) for j, d in zip(js, dofs)])
    if split_bodies:
        notes.append(f"joint combinations split through virtual bodies (mass fraction {virtual_mass} each) "
                     f"on bodies {split_bodies}")
    return plans


def add_joints(builder, M, tree, plans, bodies, body_names, P0, P1, q_init):
    """Add every dojax body's joint to ``builder`` (the reference poses P0 define the joint frames; the
    initial poses P1 its initial coordinates); (dof_map, joint_map) of ImportInfo."""
    m = M.m
    dof_map, joint_map = {}, {}
    index = {b["name"]: i for i, b in enumerate(bodies)}
    for i, body in enumerate(bodies):
        g, root = body["group"], tree.roots[body["group"]]
        plan = plans[g]
        if plan is None:
            joint_map[M.name("jnt", tree.body_joints[root][0])] = f"{body['name']}_floating"
            continue
        jt, axis, anchor, dofs = plan[body["level"]]
        if body["level"] > 0:
            parent = i - 1
        else:
            pg = tree.group_of[m.body_parentid[root]]
            parent = None if pg < 0 else index[body_names[pg]]
        xP, RP, qP = (np.zeros(3), np.eye(3), np.array([1.0, 0, 0, 0])) if parent is None else P0[parent]
        xC, RC, qC = P0[i]
        offset = qmul(qconj(qP), qC)
        jd = dict(axis=RP.T @ axis, vp=RP.T @ (anchor - xP), vc=RC.T @ (anchor - xC), offset=offset)
        names = [M.name("jnt", j) for j, _ in dofs]
        jname = "+".join(names)
        for n in names:
            joint_map[n] = jname
        # coordinates at the initial configuration, checked against the mapping
        pi = (np.zeros(3), np.eye(3), np.array([1.0, 0, 0, 0])) if parent is None else P1[parent]
        theta = _coordinates(jd, pi, P1[i])
        mask = free_mask(jt) > 0
        scale = max(1.0, float(np.abs(theta).max()))
        if np.abs(theta[~mask]).max(initial=0.0) > 1e-7 * scale:
            raise RuntimeError(f"{M.path}: internal error, joint {jname!r} mapped to {jt} does not hold "
                               f"(constraint rows {theta[~mask]})")
        free_rows = list(np.flatnonzero(mask))
        limits = {r: (-np.inf, np.inf) for r in free_rows}
        spring = {r: 0.0 for r in free_rows}
        damper = {r: 0.0 for r in free_rows}
        armature = {r: 0.0 for r in free_rows}
        spring_offset = {r: 0.0 for r in free_rows}
        for j, rs in dofs:
            jn = M.name("jnt", j)
            if m.jnt_type[j] == BALL:
                for r in (3, 4, 5):
                    damper[r] = m.dof_damping[m.jnt_dofadr[j] + r - 3]
                    armature[r] = m.dof_armature[m.jnt_dofadr[j] + r - 3]
                    spring[r] = m.jnt_stiffness[j]
                ref_quat = m.qpos_spring[m.jnt_qposadr[j]: m.jnt_qposadr[j] + 4]
                if m.jnt_stiffness[j] and np.abs(ref_quat[1:]).max() > 1e-12:
                    raise M.error(f"ball joint {jn!r}: a spring reference other than identity is not supported")
                continue
            row, sign = rs
            a = m.jnt_qposadr[j]
            expected = sign * (q_init[a] - m.qpos0[a])
            got = theta[row]
            if m.jnt_type[j] == HINGE:
                got = expected + (np.mod(got - expected + np.pi, 2 * np.pi) - np.pi)
            if abs(got - expected) > 1e-7 * scale:
                raise RuntimeError(f"{M.path}: internal error, coordinate of joint {jn!r} is {got}, expected {expected}")
            theta[row] = expected
            dof_map[jn] = (jname, int(row), float(sign))
            if m.jnt_limited[j]:
                lo, hi = sorted(sign * (m.jnt_range[j] - m.qpos0[a]))
                limits[row] = (lo, hi)
            spring[row] = m.jnt_stiffness[j]
            spring_offset[row] = sign * (m.qpos_spring[a] - m.qpos0[a])
            damper[row] = m.dof_damping[m.jnt_dofadr[j]]
            armature[row] = m.dof_armature[m.jnt_dofadr[j]]
        lims = [limits[r] for r in free_rows]
        builder.add_joint(
            jname, jt, "world" if parent is None else bodies[parent]["name"], body["name"],
            axis=jd["axis"], parent_vertex=jd["vp"], child_vertex=jd["vc"], orientation_offset=offset,
            spring=[spring[r] for r in free_rows], damper=[damper[r] for r in free_rows],
            armature=[armature[r] for r in free_rows],
            spring_offset=[spring_offset[r] for r in free_rows],
            initial_position=theta[mask],
            limits=None if all(np.isinf(l).all() for l in lims) else lims)
    return dof_map, joint_map


def _coordinates(jd, parent, child):
    """dojax.joints.coordinates in numpy, for a joint given by its parent-frame data."""
    xP, RP, qP = parent
    xC, RC, qC = child
    d = RP.T @ (xC + RC @ jd["vc"] - xP - RP @ jd["vp"])
    phi = rotvec(qmul(qconj(jd["offset"]), qmul(qconj(qP), qC)))
    frame_t = axis_frame(jd["axis"])
    R_off = quat2mat(jd["offset"])
    frame_r = axis_frame(R_off.T @ frame_t[0])
    return np.concatenate([frame_t @ d, frame_r @ phi])
