"""The translation of a compiled MuJoCo model (``MjModel``) into a dojax Mechanism (the mapping is
described in :mod:`dojax.importer`)."""

import itertools
import warnings

import numpy as np

from dojax.importer.info import ImportInfo, ModelImportWarning
from dojax.joints import axis_frame, free_mask
from dojax.mechanism import MechanismBuilder
from dojax.shapes import Box, Capsule, Cylinder, Sphere


# -- small numpy rotation helpers ------------------------------------------------------------------
def _mat2quat(R):
    import mujoco

    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R, dtype=float).reshape(9))
    return q


def _quat2mat(q):
    import mujoco

    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, np.asarray(q, dtype=float))
    return R.reshape(3, 3)


def _qmul(p, q):
    pw, pv, qw, qv = p[0], p[1:], q[0], q[1:]
    return np.concatenate([[pw * qw - pv @ qv], pw * qv + qw * pv + np.cross(pv, qv)])


def _qconj(q):
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _rotvec(q):
    """Rotation vector (angle in [0, pi]) of a unit quaternion, as dojax.quaternion.to_rotation_vector."""
    q = -q if q[0] < 0 else q
    n = np.linalg.norm(q[1:])
    if n < 1e-12:
        return 2.0 * q[1:] / q[0]
    return 2.0 * np.arctan2(n, q[0]) / n * q[1:]


def _unit(v):
    return np.asarray(v, float) / np.linalg.norm(v)


# -- translation ---------------------------------------------------------------------------------------
class _Model:
    """Names and frames of the compiled MjModel, and kinematics on demand."""

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
        return ValueError(f"{self.path}: {message}")


_HINGE, _SLIDE, _BALL, _FREE = 3, 2, 1, 0
_JNAME = {_HINGE: "hinge", _SLIDE: "slide", _BALL: "ball", _FREE: "free"}
_GEOM_TYPES = ("plane", "hfield", "sphere", "capsule", "ellipsoid", "cylinder", "box", "mesh", "sdf")


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


def _combine(dofs):
    """One dojax joint for a body's joint list [(type, axis, anchor)]; (type, axis, anchor, [(row, sign)])
    or None when no single dojax joint reproduces it exactly."""
    kinds = [k for k, _, _ in dofs]
    axes = [a for _, a, _ in dofs]
    if len(dofs) == 1:
        kind, a, c = dofs[0]
        return {_HINGE: ("revolute", a, c, [(3, 1.0)]), _SLIDE: ("prismatic", a, c, [(0, 1.0)]),
                _BALL: ("spherical", np.array([1.0, 0.0, 0.0]), c, [None])}[kind]
    if all(k == _SLIDE for k in kinds):
        if len(dofs) == 2:
            n = np.cross(axes[0], axes[1])
            if np.linalg.norm(n) < 1e-9:
                return None
            for axis in (_unit(n), -_unit(n)):
                rows = _aligned_rows(axis_frame(axis), axes, (1, 2))
                if rows:
                    return ("planar", axis, dofs[0][2], rows)
        if len(dofs) == 3:
            for axis in itertools.chain.from_iterable((a, -a) for a in axes):
                rows = _aligned_rows(axis_frame(axis), axes, (0, 1, 2))
                if rows:
                    return ("fixed_orientation", axis, dofs[0][2], rows)
        return None
    if kinds.count(_HINGE) != 1 or _BALL in kinds:
        return None
    h = axes[kinds.index(_HINGE)]
    anchor = dofs[kinds.index(_HINGE)][2]
    slides = [a for k, a, _ in dofs if k == _SLIDE]
    if len(dofs) == 2 and abs(abs(slides[0] @ h) - 1) < 1e-9:  # slide along the hinge axis, any order
        return ("cylindrical", h, anchor, [(0, float(np.sign(a @ h))) if k == _SLIDE else (3, 1.0) for k, a, _ in dofs])
    if kinds[-1] != _HINGE or len(slides) not in (2, 3):  # slides must act before the rotation
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


def translate(model, compiler_notes, path, timestep, gravity, contact_friction, contact_model, qpos, keyframe, on_ground,
               contact_geoms, virtual_mass, input_mode, warn, return_info):
    """The Mechanism (and, with ``return_info``, its ImportInfo) of a compiled MjModel read from ``path``;
    arguments as documented by :func:`dojax.importer.load_mjcf`."""
    M = _Model(model, path)
    m = model
    notes = list(compiler_notes)
    nb = m.nbody

    # ---- unsupported or dropped elements ----
    for i in range(m.neq):
        if m.eq_active0[i]:
            raise M.error(f"equality constraint {M.name('eq', i)!r} is not supported by dojax "
                          "(remove it or make it inactive)")
        notes.append(f"inactive equality constraint {M.name('eq', i)!r} ignored")
    actuated_tendons = {int(m.actuator_trnid[a, 0]) for a in range(m.nu) if m.actuator_trntype[a] == 3}
    for t in range(m.ntendon):
        name = M.name("tendon", t)
        if m.tendon_limited[t] or m.tendon_stiffness[t] or m.tendon_damping[t] or t in actuated_tendons:
            raise M.error(f"tendon {name!r} (with limits, stiffness, damping or an actuator) is not supported")
        notes.append(f"tendon {name!r} ignored (it exerts no force)")
    if m.npair:
        notes.append(f"explicit contact pairs ignored: {[M.name('pair', i) for i in range(m.npair)]}")
    if np.any(m.opt.wind) or m.opt.density or m.opt.viscosity:
        notes.append("fluid forces (density, viscosity, wind) ignored")
    if np.any(m.body_gravcomp):
        notes.append(f"gravity compensation ignored on {[M.name('body', b) for b in np.flatnonzero(m.body_gravcomp)]}")
    for b in range(1, nb):
        if m.body_mocapid[b] >= 0:
            notes.append(f"mocap body {M.name('body', b)!r} treated as static")

    # ---- joints per body; static bodies; groups of welded bodies ----
    body_joints = [list(range(m.body_jntadr[b], m.body_jntadr[b] + m.body_jntnum[b])) for b in range(nb)]
    for j in range(m.njnt):
        if m.jnt_type[j] == _FREE and m.body_jntnum[m.jnt_bodyid[j]] > 1:
            raise M.error(f"free joint {M.name('jnt', j)!r} shares body {M.name('body', m.jnt_bodyid[j])!r} "
                          "with other joints")
        if m.jnt_type[j] == _BALL and m.jnt_limited[j]:
            raise M.error(f"limited ball joint {M.name('jnt', j)!r} (a cone limit) is not supported")
    group_of = np.full(nb, -1)  # dojax group (jointed ancestor) of every body; -1: the world
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
    armature = [M.name("jnt", j) for j in range(m.njnt) if m.jnt_type[j] in (_HINGE, _SLIDE)
                and m.dof_armature[m.jnt_dofadr[j]] > 0]
    if armature:
        notes.append(f"armature ignored on joints {armature}")
    frictionloss = [M.name("jnt", j) for j in range(m.njnt) if np.any(
        m.dof_frictionloss[m.jnt_dofadr[j]: m.jnt_dofadr[j] + {0: 6, 1: 3}.get(m.jnt_type[j], 1)] > 0)]
    if frictionloss:
        notes.append(f"friction loss ignored on joints {frictionloss}")

    # ---- initial configuration ----
    q_init = m.qpos0.copy()
    if keyframe is not None:
        k = keyframe if isinstance(keyframe, (int, np.integer)) else \
            next((i for i in range(m.nkey) if m.key(i).name == keyframe), None)
        if k is None or not 0 <= k < m.nkey:
            raise M.error(f"no keyframe {keyframe!r}; keyframes: {[m.key(i).name for i in range(m.nkey)]}")
        q_init = m.key_qpos[k].copy()
    if qpos is not None:
        if isinstance(qpos, dict):
            for name, value in qpos.items():
                j = next((j for j in range(m.njnt) if M.name("jnt", j) == name), None)
                if j is None:
                    raise M.error(f"qpos names unknown joint {name!r}")
                size = {0: 7, 1: 4}.get(m.jnt_type[j], 1)
                value = np.atleast_1d(np.asarray(value, float))
                if value.shape != (size,):
                    raise M.error(f"qpos of joint {name!r} needs {size} values, got {value.shape}")
                q_init[m.jnt_qposadr[j]: m.jnt_qposadr[j] + size] = value
        else:
            q = np.asarray(qpos, float)
            if q.shape != (m.nq,):
                raise M.error(f"qpos must have length nq = {m.nq}, got shape {q.shape}")
            q_init = q.copy()
    if not np.all(np.isfinite(q_init)):
        raise M.error("qpos must be finite")
    clamped = []
    for j in range(m.njnt):
        a = m.jnt_qposadr[j]
        if m.jnt_type[j] in (_HINGE, _SLIDE) and m.jnt_limited[j]:
            lo, hi = m.jnt_range[j]
            if not lo <= q_init[a] <= hi:
                clamped.append(f"{M.name('jnt', j)} {q_init[a]:.4g} -> {np.clip(q_init[a], lo, hi):.4g}")
                q_init[a] = np.clip(q_init[a], lo, hi)
        elif m.jnt_type[j] in (_FREE, _BALL):
            s = a + 3 if m.jnt_type[j] == _FREE else a
            q_init[s: s + 4] /= np.linalg.norm(q_init[s: s + 4])
    if clamped:
        notes.append(f"initial positions clamped into joint limits: {clamped}")

    # ---- reference kinematics (qpos0: all dojax coordinates zero) and body frames ----
    ref = M.kinematics(m.qpos0)
    frames = []  # per group: (mass, inertia, com offset p and rotation Rrel in the root body's frame)
    for g, root in enumerate(roots):
        mass = float(m.body_mass[members[g]].sum())
        if mass <= 0.0:
            raise M.error(f"moving body {M.name('body', root)!r} has no mass")
        if len(members[g]) == 1:
            com, R = ref["xipos"][root], ref["ximat"][root]
            inertia = np.diag(m.body_inertia[root])
        else:
            com = sum(m.body_mass[b] * ref["xipos"][b] for b in members[g]) / mass
            R = ref["ximat"][root]
            inertia = np.zeros((3, 3))
            for b in members[g]:
                Rb = R.T @ ref["ximat"][b]
                d = R.T @ (ref["xipos"][b] - com)
                inertia += Rb @ np.diag(m.body_inertia[b]) @ Rb.T + m.body_mass[b] * (d @ d * np.eye(3) - np.outer(d, d))
            inertia = 0.5 * (inertia + inertia.T)
        xr, Rr = ref["xpos"][root], ref["xmat"][root]
        frames.append((mass, inertia, Rr.T @ (com - xr), Rr.T @ R))

    # ---- joint mapping per group ----
    plans = []  # per group: list of (dojax joint type, axis world, anchor world, [(mujoco joint, row, sign)])
    split_bodies = []
    for g, root in enumerate(roots):
        js = body_joints[root]
        if m.jnt_type[js[0]] == _FREE:
            plans.append(None)
            continue
        dofs = [(m.jnt_type[j], _unit(ref["xaxis"][j]), ref["xanchor"][j]) for j in js]
        combined = _combine(dofs)
        if combined is not None:
            jt, axis, anchor, rows = combined
            plans.append([(jt, axis, anchor, [(j, r) for j, r in zip(js, rows)])])
        else:
            names = [M.name("jnt", j) for j in js]
            if virtual_mass <= 0 or (len(js) - 1) * virtual_mass >= 1:
                raise M.error(f"body {M.name('body', root)!r}: joint combination "
                              f"{[(n, _JNAME[m.jnt_type[j]]) for n, j in zip(names, js)]} has no dojax joint type "
                              "(pass virtual_mass > 0 to split it through virtual bodies)")
            split_bodies.append(M.name("body", root))
            plans.append([_combine([d])[:3] + ([(j, _combine([d])[3][0])],) for j, d in zip(js, dofs)])
    if split_bodies:
        notes.append(f"joint combinations split through virtual bodies (mass fraction {virtual_mass} each) "
                     f"on bodies {split_bodies}")

    # ---- dojax bodies: (name, group, level, mass, inertia); level k < len(plan): virtual ----
    body_names = {}
    dojax_bodies = []  # dicts
    for g, root in enumerate(roots):
        name = M.name("body", root)
        plan = plans[g]
        nvirtual = 0 if plan is None else len(plan) - 1
        mass, inertia, p, Rrel = frames[g]
        for level in range(nvirtual + 1):
            real = level == nvirtual
            f = 1.0 - nvirtual * virtual_mass if real else virtual_mass
            jname = None if plan is None else M.name("jnt", plan[level][3][0][0])
            dojax_bodies.append(dict(
                name=name if real else f"{name}/{jname}", group=g, level=level, real=real,
                mass=mass * f, inertia=inertia * f, p=p, Rrel=Rrel))
        body_names[g] = dojax_bodies[-1]["name"]

    def poses(qpos):
        """World (x, R, q) of every dojax body at a MuJoCo configuration. A virtual body of level L
        is where its body would be with only the body's joints 0..L applied (the later ones at qpos0)."""
        full = M.kinematics(qpos)
        out = []
        for body in dojax_bodies:
            root = roots[body["group"]]
            k = full
            if not body["real"]:
                q = qpos.copy()
                for step in plans[body["group"]][body["level"] + 1:]:
                    j = step[3][0][0]
                    a, size = m.jnt_qposadr[j], 4 if m.jnt_type[j] == _BALL else 1
                    q[a: a + size] = m.qpos0[a: a + size]
                k = M.kinematics(q)
            R = k["xmat"][root] @ body["Rrel"]
            out.append((k["xpos"][root] + k["xmat"][root] @ body["p"], R, _mat2quat(R)))
        return out

    P0 = poses(m.qpos0)

    # ---- contacts ----
    planes = [g for g in range(m.ngeom) if m.geom_type[g] == 0 and group_of[m.geom_bodyid[g]] < 0]
    moving_planes = [M.name("geom", g) for g in range(m.ngeom) if m.geom_type[g] == 0 and group_of[m.geom_bodyid[g]] >= 0]
    if moving_planes:
        raise M.error(f"plane geoms on moving bodies are not supported: {moving_planes}")
    static = [M.name("geom", g) for g in range(m.ngeom) if m.geom_type[g] != 0 and group_of[m.geom_bodyid[g]] < 0
              and (m.geom_contype[g] or m.geom_conaffinity[g])]
    if static:
        notes.append(f"static (world) geoms other than planes ignored: {static}")
    geom_names = [M.name("geom", g) for g in range(m.ngeom)]
    if contact_geoms is not None:
        unknown = sorted(set(contact_geoms) - set(geom_names))
        if unknown:
            raise M.error(f"contact_geoms names unknown geoms {unknown}")
    excluded = set()
    for e in range(m.nexclude):
        b1, b2 = m.exclude_signature[e] >> 16, m.exclude_signature[e] & 0xFFFF
        excluded |= {(b1, b2), (b2, b1)}

    def collides(g, p):
        if contact_geoms is not None:
            return geom_names[g] in contact_geoms
        if (m.geom_bodyid[g], m.geom_bodyid[p]) in excluded:
            return False
        return bool((m.geom_contype[g] & m.geom_conaffinity[p]) or (m.geom_contype[p] & m.geom_conaffinity[g]))

    body_of_group = {}
    for i, body in enumerate(dojax_bodies):
        if body["real"]:
            body_of_group[body["group"]] = i
    contacts = []  # (dojax body index, point, radius, plane, friction, model, name, geom name)
    unsupported = []
    for g in range(m.ngeom):
        grp = group_of[m.geom_bodyid[g]]
        if grp < 0 or m.geom_type[g] == 0:
            continue
        hits = [p for p in planes if collides(g, p)]
        if not hits:
            continue
        gtype = m.geom_type[g]
        if gtype not in (2, 3, 5, 6):  # sphere, capsule, cylinder, box
            unsupported.append(f"{geom_names[g]} ({_GEOM_TYPES[gtype]})")
            continue
        bi = body_of_group[grp]
        x0, R0, _ = P0[bi]
        c = R0.T @ (ref["geom_xpos"][g] - x0)
        Rg = R0.T @ ref["geom_xmat"][g]
        size = m.geom_size[g]
        if gtype == 2:
            points, radius = [c], size[0]
        elif gtype == 3:
            points, radius = [c + s * size[1] * Rg[:, 2] for s in (-1.0, 1.0)], size[0]
        elif gtype == 6:
            points, radius = [c + Rg @ (np.array(s) * size) for s in itertools.product((-1.0, 1.0), repeat=3)], 0.0
        else:
            ang = np.arange(8) * np.pi / 4
            points = [c + Rg @ np.array([size[0] * np.cos(a), size[0] * np.sin(a), s * size[1]])
                      for s in (-1.0, 1.0) for a in ang]
            radius = 0.0
        for p in hits:
            pr_g, pr_p = m.geom_priority[g], m.geom_priority[p]
            if pr_g != pr_p:
                win = g if pr_g > pr_p else p
                friction, condim = m.geom_friction[win, 0], m.geom_condim[win]
            else:
                friction = max(m.geom_friction[g, 0], m.geom_friction[p, 0])
                condim = max(m.geom_condim[g], m.geom_condim[p])
            if contact_friction is not None:
                friction = contact_friction
            model_p = "impact" if condim == 1 else contact_model
            for k, pt in enumerate(points):
                name = geom_names[g] + (f"_{k + 1}" if len(points) > 1 else "")
                name += f"_{geom_names[p]}" if len(planes) > 1 else ""
                contacts.append(dict(body=bi, point=pt, radius=float(radius), plane=p, friction=float(friction),
                                     model=model_p, name=name, geom=geom_names[g]))
    if unsupported:
        raise M.error(f"geoms colliding with the ground have types dojax cannot model as contact spheres: "
                      f"{unsupported} (give them contype=0 conaffinity=0, or choose contact_geoms)")
    # drop spheres/points inside another sphere of the same body (against the same plane)
    def inside(a, b):
        return a["body"] == b["body"] and a["plane"] == b["plane"] and \
            np.linalg.norm(a["point"] - b["point"]) + a["radius"] <= b["radius"] + 1e-12

    contacts = [c for i, c in enumerate(contacts)
                if not any(k != i and inside(c, o) and (k < i or not inside(o, c)) for k, o in enumerate(contacts))]
    plane_normal = {p: ref["geom_xmat"][p][:, 2].copy() for p in planes}
    plane_offset = {p: float(plane_normal[p] @ ref["geom_xpos"][p]) for p in planes}

    # body-body collisions are not imported: count the pairs MuJoCo would consider
    moving = [g for g in range(m.ngeom) if group_of[m.geom_bodyid[g]] >= 0]
    weld = m.body_weldid
    pairs = []
    for g1, g2 in itertools.combinations(moving, 2):
        w1, w2 = weld[m.geom_bodyid[g1]], weld[m.geom_bodyid[g2]]
        if w1 == w2 or weld[m.body_parentid[w1]] == w2 or weld[m.body_parentid[w2]] == w1:
            continue
        if (m.geom_contype[g1] & m.geom_conaffinity[g2]) or (m.geom_contype[g2] & m.geom_conaffinity[g1]):
            pairs.append(f"{geom_names[g1]}-{geom_names[g2]}")
    if pairs:
        notes.append(f"body-body collisions not imported ({len(pairs)} geom pairs, e.g. {pairs[:3]})")

    # ---- place on the ground ----
    ground_shift = {}
    if on_ground is None:  # floating models start on the ground, whichever the file format
        on_ground = any(m.jnt_type[j] == _FREE for j in range(m.njnt))
    if on_ground and planes and contacts:
        for _ in range(2):  # second pass only checks
            P = poses(q_init)
            kin = M.kinematics(q_init)
            tree_root = {}
            for g, root in enumerate(roots):
                r = root
                while group_of[m.body_parentid[r]] >= 0:
                    r = roots[group_of[m.body_parentid[r]]]
                tree_root[g] = r
            lowest = {}
            for c in contacts:
                x, R, _ = P[c["body"]]
                n = plane_normal[c["plane"]]
                gap = n @ (x + R @ c["point"]) - c["radius"] - plane_offset[c["plane"]]
                r = tree_root[dojax_bodies[c["body"]]["group"]]
                if r not in lowest or gap < lowest[r][0]:
                    lowest[r] = (gap, n)
            moved = False
            for r, (gap, n) in lowest.items():
                if abs(gap) < 1e-12:
                    continue
                js = body_joints[r]
                if m.jnt_type[js[0]] == _FREE and n[2] > 0.1:
                    q_init[m.jnt_qposadr[js[0]] + 2] -= gap / n[2]
                    ground_shift[M.name("body", r)] = ground_shift.get(M.name("body", r), 0.0) - gap
                    moved = True
                    continue
                slides = [j for j in js if m.jnt_type[j] == _SLIDE]
                rise = [n @ kin["xaxis"][j] for j in slides]
                if slides and max(np.abs(rise)) > 0.1:
                    j = slides[int(np.argmax(np.abs(rise)))]
                    step = -gap / (n @ kin["xaxis"][j])
                    q_init[m.jnt_qposadr[j]] += step
                    ground_shift[M.name("body", r)] = ground_shift.get(M.name("body", r), 0.0) - gap
                    moved = True
                elif gap < -1e-9:
                    notes.append(f"body {M.name('body', r)!r} starts {-gap:.3g} m inside the ground and cannot "
                                 "be moved onto it")
            if not moved:
                break

    # ---- build ----
    h = float(m.opt.timestep) if timestep is None else timestep
    grav = np.asarray(m.opt.gravity, float) if gravity is None else gravity
    builder = MechanismBuilder(timestep=h, gravity=grav, input_mode=input_mode)
    P1 = poses(q_init)
    body_map = {}
    for i, body in enumerate(dojax_bodies):
        x, _, q = P1[i]
        builder.add_body(body["name"], mass=body["mass"], inertia=body["inertia"], position=x, orientation=q,
                         visible=body["real"])
        for shape, position, orientation in _visuals(M, ref, members[body["group"]], P0[i]) if body["real"] else ():
            builder.add_visual(body["name"], shape, position, orientation)
        body_map[body["name"]] = tuple(M.name("body", b) for b in members[body["group"]]) if body["real"] else ()

    dof_map, joint_map = {}, {}
    index = {b["name"]: i for i, b in enumerate(dojax_bodies)}
    joint_rows = {}
    for i, body in enumerate(dojax_bodies):
        g, root = body["group"], roots[body["group"]]
        plan = plans[g]
        if plan is None:
            joint_map[M.name("jnt", body_joints[root][0])] = f"{body['name']}_floating"
            continue
        jt, axis, anchor, dofs = plan[body["level"]]
        if body["level"] > 0:
            parent = i - 1
        else:
            pg = group_of[m.body_parentid[root]]
            parent = None if pg < 0 else index[body_names[pg]]
        xP, RP, qP = (np.zeros(3), np.eye(3), np.array([1.0, 0, 0, 0])) if parent is None else P0[parent]
        xC, RC, qC = P0[i]
        offset = _qmul(_qconj(qP), qC)
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
            raise RuntimeError(f"{path}: internal error, joint {jname!r} mapped to {jt} does not hold "
                               f"(constraint rows {theta[~mask]})")
        free_rows = list(np.flatnonzero(mask))
        limits = {r: (-np.inf, np.inf) for r in free_rows}
        spring = {r: 0.0 for r in free_rows}
        damper = {r: 0.0 for r in free_rows}
        spring_offset = {r: 0.0 for r in free_rows}
        for j, rs in dofs:
            jn = M.name("jnt", j)
            if m.jnt_type[j] == _BALL:
                for r in (3, 4, 5):
                    damper[r] = m.dof_damping[m.jnt_dofadr[j] + r - 3]
                    spring[r] = m.jnt_stiffness[j]
                ref_quat = m.qpos_spring[m.jnt_qposadr[j]: m.jnt_qposadr[j] + 4]
                if m.jnt_stiffness[j] and np.abs(ref_quat[1:]).max() > 1e-12:
                    raise M.error(f"ball joint {jn!r}: a spring reference other than identity is not supported")
                continue
            row, sign = rs
            a = m.jnt_qposadr[j]
            expected = sign * (q_init[a] - m.qpos0[a])
            got = theta[row]
            if m.jnt_type[j] == _HINGE:
                got = expected + (np.mod(got - expected + np.pi, 2 * np.pi) - np.pi)
            if abs(got - expected) > 1e-7 * scale:
                raise RuntimeError(f"{path}: internal error, coordinate of joint {jn!r} is {got}, expected {expected}")
            theta[row] = expected
            dof_map[jn] = (jname, int(row), float(sign))
            joint_rows[jn] = (jname, int(row), float(sign))
            if m.jnt_limited[j]:
                lo, hi = sorted(sign * (m.jnt_range[j] - m.qpos0[a]))
                limits[row] = (lo, hi)
            spring[row] = m.jnt_stiffness[j]
            spring_offset[row] = sign * (m.qpos_spring[a] - m.qpos0[a])
            damper[row] = m.dof_damping[m.jnt_dofadr[j]]
        lims = [limits[r] for r in free_rows]
        builder.add_joint(
            jname, jt, "world" if parent is None else dojax_bodies[parent]["name"], body["name"],
            axis=jd["axis"], parent_vertex=jd["vp"], child_vertex=jd["vc"], orientation_offset=offset,
            spring=[spring[r] for r in free_rows], damper=[damper[r] for r in free_rows],
            spring_offset=[spring_offset[r] for r in free_rows],
            initial_position=theta[mask],
            limits=None if all(np.isinf(l).all() for l in lims) else lims)
    free_damped = [M.name("jnt", j) for j in range(m.njnt) if m.jnt_type[j] == _FREE and (
        np.any(m.dof_damping[m.jnt_dofadr[j]: m.jnt_dofadr[j] + 6]) or m.jnt_stiffness[j])]
    if free_damped:
        notes.append(f"damping/stiffness of free joints ignored: {free_damped}")

    for a in range(m.nu):
        name = M.name("actuator", a)
        if m.actuator_trntype[a] not in (0, 1):
            raise M.error(f"actuator {name!r}: only joint transmissions are supported")
        if m.actuator_dyntype[a] != 0 or m.actuator_gaintype[a] != 0 or m.actuator_biastype[a] != 0:
            raise M.error(f"actuator {name!r}: only motors (no dynamics, fixed gain, no bias) are supported; "
                          "position/velocity servos and muscles are not")
        j = int(m.actuator_trnid[a, 0])
        jn = M.name("jnt", j)
        if jn not in joint_rows:
            raise M.error(f"actuator {name!r} acts on {_JNAME[m.jnt_type[j]]} joint {jn!r}; only hinge and "
                          "slide joints can be actuated")
        jname, row, sign = joint_rows[jn]
        builder.add_actuator(jname, row, gear=sign * m.actuator_gear[a, 0] * m.actuator_gainprm[a, 0])

    names_used = set()
    contact_map = {}
    for c in contacts:
        name = c["name"]
        while name in names_used:
            name += "'"
        names_used.add(name)
        contact_map[name] = c["geom"]
        builder.add_contact(dojax_bodies[c["body"]]["name"], radius=c["radius"], origin=c["point"],
                            friction=c["friction"], model=c["model"], normal=plane_normal[c["plane"]],
                            offset=plane_offset[c["plane"]], name=name)
    mech = builder.build()

    if warn and notes:
        warnings.warn(f"{path}: " + "; ".join(notes), ModelImportWarning, stacklevel=3)
    if not return_info:
        return mech
    ctrl = np.where(m.actuator_ctrllimited[:, None].astype(bool), m.actuator_ctrlrange,
                    np.array([-np.inf, np.inf]))
    info = ImportInfo(source=path, model=m, qpos=q_init, body_map=body_map, dof_map=dof_map, joint_map=joint_map,
                      contact_geoms=contact_map, ctrl_range=ctrl, ground_shift=ground_shift, warnings=notes)
    return mech, info


def _coordinates(jd, parent, child):
    """dojax.joints.coordinates in numpy, for a joint given by its parent-frame data."""
    xP, RP, qP = parent
    xC, RC, qC = child
    d = RP.T @ (xC + RC @ jd["vc"] - xP - RP @ jd["vp"])
    phi = _rotvec(_qmul(_qconj(jd["offset"]), _qmul(_qconj(qP), qC)))
    frame_t = axis_frame(jd["axis"])
    R_off = _quat2mat(jd["offset"])
    frame_r = axis_frame(R_off.T @ frame_t[0])
    return np.concatenate([frame_t @ d, frame_r @ phi])


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
        out.append((shape, R.T @ (ref["geom_xpos"][g] - x), _mat2quat(R.T @ ref["geom_xmat"][g])))
    return out
