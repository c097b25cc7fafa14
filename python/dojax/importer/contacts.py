"""Contacts (Dojo's approach): the ground planes as half-spaces, the geoms that collide with them as
contact spheres and points, and the placement of floating or sliding roots on the ground."""

import itertools
from typing import NamedTuple

import numpy as np

from dojax.importer.model import FREE, GEOM_TYPES, HINGE, SLIDE

DISABLE_CONTACT = 16  # mjDSBL_CONTACT: <option><flag contact="disable"/>


MESH_CONTACT_POINTS = 16  # at most this many contact points per collision mesh


def mesh_hull_points(m, mesh, k=MESH_CONTACT_POINTS):
    """Contact points of mesh ``mesh`` in its geom frame: the vertices of MuJoCo's compiled convex
    hull (``mesh_graph``; all the mesh's vertices when MuJoCo compiled none), reduced to at most ``k``
    by farthest-point sampling: first the vertex farthest from the vertices' mean, then repeatedly
    the vertex farthest from those kept (ties to the lower index), so the result is deterministic
    and spread over the hull. Returns an (n, 3) array, n <= k."""
    verts = np.asarray(m.mesh_vert[m.mesh_vertadr[mesh]: m.mesh_vertadr[mesh] + m.mesh_vertnum[mesh]], float)
    adr = m.mesh_graphadr[mesh]
    if adr >= 0:  # graph: numvert, numface, vert_edgeadr[numvert], vert_globalid[numvert], ...
        nv = m.mesh_graph[adr]
        verts = verts[np.sort(m.mesh_graph[adr + 2 + nv: adr + 2 + 2 * nv])]
    if len(verts) <= k:
        return verts
    kept = [int(np.argmax(np.linalg.norm(verts - verts.mean(0), axis=1)))]
    dist = np.linalg.norm(verts - verts[kept[0]], axis=1)
    while len(kept) < k:
        kept.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(verts - verts[kept[-1]], axis=1))
    return verts[sorted(kept)]


class Ground(NamedTuple):
    """The world's plane geoms (ids) and their half-spaces {y : normal . y >= offset} by id."""

    planes: list
    normal: dict
    offset: dict


def ground_contacts(M, tree, bodies, ref, P0, contact_geoms, contact_friction, contact_model, notes):
    """(Ground, contacts): each contact a dict (body: dojax body index, point in its frame, radius,
    plane, friction, model, name, geom), from the reference kinematics ``ref`` and poses ``P0``."""
    m = M.m
    planes = [g for g in range(m.ngeom) if m.geom_type[g] == 0 and tree.group_of[m.geom_bodyid[g]] < 0]
    moving_planes = [M.name("geom", g) for g in range(m.ngeom) if m.geom_type[g] == 0 and tree.group_of[m.geom_bodyid[g]] >= 0]
    if moving_planes:
        raise M.error(f"plane geoms on moving bodies are not supported: {moving_planes}")
    static = [M.name("geom", g) for g in range(m.ngeom) if m.geom_type[g] != 0 and tree.group_of[m.geom_bodyid[g]] < 0
              and (m.geom_contype[g] or m.geom_conaffinity[g])]
    if static:
        notes.append(f"static (world) geoms other than planes ignored: {static}")
    geom_names = [M.name("geom", g) for g in range(m.ngeom)]
    if contact_geoms is not None:
        unknown = sorted(set(contact_geoms) - set(geom_names))
        if unknown:
            raise M.error(f"contact_geoms names unknown geoms {unknown}")
    if m.opt.disableflags & DISABLE_CONTACT and contact_geoms is None:
        notes.append('contacts disabled by the file (<flag contact="disable"/>): no contacts imported')
        contact_geoms = ()
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
    for i, body in enumerate(bodies):
        if body["real"]:
            body_of_group[body["group"]] = i
    contacts = []  # (dojax body index, point, radius, plane, friction, model, name, geom name)
    unsupported = []
    for g in range(m.ngeom):
        grp = tree.group_of[m.geom_bodyid[g]]
        if grp < 0 or m.geom_type[g] == 0:
            continue
        hits = [p for p in planes if collides(g, p)]
        if not hits:
            continue
        gtype = m.geom_type[g]
        if gtype not in (2, 3, 5, 6, 7):  # sphere, capsule, cylinder, box, mesh
            unsupported.append(f"{geom_names[g]} ({GEOM_TYPES[gtype]})")
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
        elif gtype == 7:
            points, radius = [c + Rg @ v for v in mesh_hull_points(m, m.geom_dataid[g])], 0.0
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
    fixed = fixed_gaps(M, ref, P0, contacts, plane_normal)
    if fixed:
        notes.append(f"contacts whose distance to their plane no joint can change dropped (their force would only "
                     f"duplicate a joint constraint): {sorted({contacts[i]['geom'] for i in fixed})}")
        contacts = [c for i, c in enumerate(contacts) if i not in fixed]

    # body-body collisions are not imported: count the pairs MuJoCo would consider
    moving = [g for g in range(m.ngeom) if tree.group_of[m.geom_bodyid[g]] >= 0]
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
    return Ground(planes, plane_normal, plane_offset), contacts


def fixed_gaps(M, ref, P0, contacts, plane_normal, samples=4, seed=0):
    """Indices of the contacts whose point-to-plane distance is the same at ``samples`` random
    configurations as in the reference one (e.g. a body that only slides and turns in the plane of
    the ground): the joints hold such a contact's gap fixed, so its normal force is undetermined and
    the step's Newton system singular when it touches."""
    m = M.m
    rng = np.random.default_rng(seed)
    geom_id = {M.name("geom", g): g for g in range(m.ngeom)}
    local = []  # each contact's point in its MuJoCo geom's frame, and its plane normal
    for c in contacts:
        g = geom_id[c["geom"]]
        x, R, _ = P0[c["body"]]
        local.append((g, ref["geom_xmat"][g].T @ (x + R @ c["point"] - ref["geom_xpos"][g]), plane_normal[c["plane"]]))

    def gaps(kin):
        return np.array([n @ (kin["geom_xpos"][g] + kin["geom_xmat"][g] @ p) for g, p, n in local])

    gap0 = gaps(ref)
    moved = np.zeros(len(contacts), bool)
    for _ in range(samples):
        q = m.qpos0.copy()
        for j in range(m.njnt):
            a = m.jnt_qposadr[j]
            if m.jnt_type[j] in (HINGE, SLIDE):
                q[a] += rng.uniform(-0.5, 0.5)
            else:
                if m.jnt_type[j] == FREE:
                    q[a: a + 3] += rng.uniform(-0.5, 0.5, 3)
                    a += 3
                quat = rng.normal(size=4)
                q[a: a + 4] = quat / np.linalg.norm(quat)
        moved |= np.abs(gaps(M.kinematics(q)) - gap0) > 1e-9 * (1.0 + np.abs(gap0))
    return {i for i in range(len(contacts)) if not moved[i]}


def place_on_ground(M, tree, bodies, contacts, ground, pose_of, q_init, on_ground, notes):
    """Move each floating root (or one with a slide that rises from the ground) so that its lowest
    contact touches the ground, updating ``q_init``; the height change per moved root body.
    ``on_ground=None`` places the model when it has a free joint; ``pose_of(qpos)`` gives the dojax
    bodies' poses."""
    m = M.m
    ground_shift = {}
    if on_ground is None:  # floating models start on the ground, whichever the file format
        on_ground = any(m.jnt_type[j] == FREE for j in range(m.njnt))
    if on_ground and ground.planes and contacts:
        for _ in range(2):  # second pass only checks
            P = pose_of(q_init)
            kin = M.kinematics(q_init)
            tree_root = {}
            for g, root in enumerate(tree.roots):
                r = root
                while tree.group_of[m.body_parentid[r]] >= 0:
                    r = tree.roots[tree.group_of[m.body_parentid[r]]]
                tree_root[g] = r
            lowest = {}
            for c in contacts:
                x, R, _ = P[c["body"]]
                n = ground.normal[c["plane"]]
                gap = n @ (x + R @ c["point"]) - c["radius"] - ground.offset[c["plane"]]
                r = tree_root[bodies[c["body"]]["group"]]
                if r not in lowest or gap < lowest[r][0]:
                    lowest[r] = (gap, n)
            moved = False
            for r, (gap, n) in lowest.items():
                if abs(gap) < 1e-12:
                    continue
                js = tree.body_joints[r]
                if m.jnt_type[js[0]] == FREE and n[2] > 0.1:
                    q_init[m.jnt_qposadr[js[0]] + 2] -= gap / n[2]
                    ground_shift[M.name("body", r)] = ground_shift.get(M.name("body", r), 0.0) - gap
                    moved = True
                    continue
                slides = [j for j in js if m.jnt_type[j] == SLIDE]
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
    return ground_shift


def add_contacts(builder, bodies, contacts, ground):
    """Add the contacts to ``builder`` (names made unique); the contact map of ImportInfo."""
    names_used = set()
    contact_map = {}
    for c in contacts:
        name = c["name"]
        while name in names_used:
            name += "'"
        names_used.add(name)
        contact_map[name] = c["geom"]
        builder.add_contact(bodies[c["body"]]["name"], radius=c["radius"], origin=c["point"],
                            friction=c["friction"], model=c["model"], normal=ground.normal[c["plane"]],
                            offset=ground.offset[c["plane"]], name=name)
    return contact_map
