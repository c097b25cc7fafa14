"""Model import (dojax.load_mjcf / load_urdf) checked against MuJoCo's own compiled model.

Structure (bodies, mass, actuators, gears, limits, dampers) is compared with the MjModel the
mechanism was built from; poses with MuJoCo's forward kinematics (``xipos``/``ximat`` after
``mj_forward``) at the same configuration, to 1e-9 (dojax's body frame is MuJoCo's inertial
frame); coordinates with ``sign * (qpos - qpos0)`` as ``info.dof_map`` documents. One short hopper
rollout checks that an imported robot simulates. The Gymnasium models need ``gymnasium``.
"""

import functools
import os
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax import quaternion as quat
from dojax.importer import ModelImportWarning, load_mjcf, load_urdf
from dojax.models import robots

mujoco = pytest.importorskip("mujoco")

QUADRUPED = os.path.join(robots.ASSETS, "quadruped.urdf")


def gym_asset(name):
    pytest.importorskip("gymnasium")
    return robots.gymnasium_asset(name)


def quiet(loader, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelImportWarning)
        return loader(*args, return_info=True, **kwargs)


@functools.lru_cache(maxsize=None)
def imported(name, qpos=None):
    """(mechanism, info) of a test model; qpos: a tuple (hashable) or None."""
    q = None if qpos is None else np.array(qpos)
    if name == "quadruped":
        stance = {f"{leg}_{kind}": v for leg in ("front_left", "front_right", "hind_left", "hind_right")
                  for kind, v in robots.QUADRUPED_STANCE.items()}
        return quiet(load_urdf, QUADRUPED, floating_base=True, qpos=stance if q is None else q)
    return quiet(load_mjcf, gym_asset(f"{name}.xml"), qpos=q, on_ground=False)  # the pose given


def _body_id(model, name):
    i = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    return i if i >= 0 else int(name[4:])  # unnamed MuJoCo bodies are imported as "body<id>"


def mujoco_frames(mech, info):
    """Per dojax body: MuJoCo's centre of mass (composite for merged bodies) and, for unmerged
    bodies, its inertial frame; None for virtual bodies."""
    m = info.model
    d = mujoco.MjData(m)
    d.qpos[:] = info.qpos
    mujoco.mj_forward(m, d)
    out = []
    for name in mech.body_names:
        ids = [_body_id(m, n) for n in info.body_map[name]]
        if not ids:
            out.append(None)
            continue
        mass = m.body_mass[ids]
        com = (mass[:, None] * d.xipos[ids]).sum(0) / mass.sum()
        out.append((com, d.ximat[ids[0]].reshape(3, 3) if len(ids) == 1 else None))
    return out


def minimal_index(mech):
    """(joint name, row) -> index of that coordinate in the minimal vector."""
    nb = mech.num_bodies
    index, k = {}, 0
    for name, mask in zip(mech.joint_names[:nb], mech.structure.free_mask[:nb]):
        rows = np.flatnonzero(mask)
        index.update({(name, int(r)): k + i for i, r in enumerate(rows)})
        k += 2 * len(rows)
    return index


def contact_gaps(mech, state):
    s = mech.structure
    x = np.asarray(state.x)[s.contact_body_a]
    q = np.asarray(state.q)[s.contact_body_a]
    p = x + np.asarray(quat.rotate(jnp.asarray(q), mech.contact_points[:, 0]))
    n = np.asarray(mech.contact_normal)
    return (n * p).sum(-1) - np.asarray(mech.contact_radius[:, 0]) - np.asarray(mech.contact_offset)


# -- structure and poses vs MuJoCo ---------------------------------------------------------------------

@pytest.mark.parametrize("name, bodies", [("hopper", 4), ("ant", 9), ("quadruped", 13)])
def test_structure_matches_mujoco(name, bodies):
    mech, info = imported(name)
    m = info.model
    assert mech.num_bodies == bodies == sum(m.body_jntnum[1:] > 0)  # welded bodies merged, no virtual ones
    assert abs(float(mech.mass.sum()) - m.body_mass.sum()) < 1e-9
    assert mech.action_size == m.nu
    s = mech.structure
    for a in range(m.nu):  # MuJoCo's actuator order, gear = sign * gear * gain
        joint, row, sign = info.dof_map[m.jnt(m.actuator_trnid[a, 0]).name]
        assert (mech.joint_names[s.actuator_joint[a]], s.actuator_row[a]) == (joint, row)
        assert float(mech.gear[a]) == pytest.approx(sign * m.actuator_gear[a, 0] * m.actuator_gainprm[a, 0], abs=1e-12)
    limits = {}
    for k, row, sign, bound in zip(s.limit_joint, s.limit_row, s.limit_sign, np.asarray(mech.limit)):
        limits.setdefault((mech.joint_names[k], int(row)), {})[sign] = bound
    expected = 0
    for j in range(m.njnt):
        if m.jnt_type[j] not in (2, 3):
            continue
        joint, row, sign = info.dof_map[m.jnt(j).name]
        k = mech.joint_names.index(joint)
        assert float(mech.damper[k, row]) == m.dof_damping[m.jnt_dofadr[j]]
        assert float(mech.spring[k, row]) == m.jnt_stiffness[j]
        if m.jnt_limited[j]:
            expected += 2
            lo, hi = sorted(sign * (m.jnt_range[j] - m.qpos0[m.jnt_qposadr[j]]))
            assert limits[(joint, row)][1.0] == pytest.approx(lo, abs=1e-12)
            assert limits[(joint, row)][-1.0] == pytest.approx(hi, abs=1e-12)
    assert len(mech.limit) == expected


@pytest.mark.parametrize("name", ["hopper", "ant", "quadruped"])
def test_initial_pose_matches_mujoco(name):
    mech, info = imported(name)
    m = info.model
    if name == "hopper":
        np.testing.assert_array_equal(info.qpos, m.qpos0)  # load_mjcf keeps MuJoCo's default pose
    if name == "ant":  # qpos0 has the ankles at 0, outside their limits: clamped to the nearer bound
        ankles = [m.jnt_qposadr[m.jnt(f"ankle_{i}").id] for i in range(1, 5)]
        np.testing.assert_allclose(np.abs(info.qpos[ankles]), np.deg2rad(30.0), atol=1e-12)
    state = mech.initial_state()
    R = np.asarray(quat.to_matrix(state.q))
    for i, frame in enumerate(mujoco_frames(mech, info)):
        com, ximat = frame
        np.testing.assert_allclose(np.asarray(state.x[i]), com, atol=1e-9)
        if ximat is not None:
            np.testing.assert_allclose(R[i], ximat, atol=1e-9)
    assert float(jnp.abs(state.v).max()) < 1e-12 and float(jnp.abs(state.w).max()) < 1e-12  # at rest


@pytest.mark.parametrize("name", ["hopper", "humanoid"])
def test_drawn_shapes_are_the_geoms_where_mujoco_has_them(name):
    mech, info = imported(name)
    m = info.model
    d = mujoco.MjData(m)
    d.qpos[:] = info.qpos
    mujoco.mj_kinematics(m, d)
    state = mech.initial_state()
    R = np.asarray(quat.to_matrix(state.q))
    drawn = 0
    for b, (name_b, visuals) in enumerate(zip(mech.body_names, mech.structure.visuals)):
        geoms = [g for g in range(m.ngeom) if m.body(m.geom_bodyid[g]).name in info.body_map[name_b]]
        assert len(visuals) == len(geoms)  # virtual bodies: neither geoms nor anything drawn
        for (shape, position, orientation), g in zip(visuals, geoms):
            np.testing.assert_allclose(np.asarray(state.x[b]) + R[b] @ position, d.geom_xpos[g], atol=1e-9)
            np.testing.assert_allclose(R[b] @ np.asarray(quat.to_matrix(jnp.asarray(orientation))),
                                       d.geom_xmat[g].reshape(3, 3), atol=1e-9)
            drawn += 1
    assert drawn == m.ngeom - 1  # every geom but the floor


@pytest.mark.parametrize("name", ["hopper", "humanoid"])
def test_coordinates_at_a_random_configuration(name):
    # every joint away from qpos0 (hopper: the planar_axis root; humanoid: a free root and the
    # hinge pairs/triples split through virtual bodies): poses still match MuJoCo and every
    # hinge/slide coordinate is sign * (qpos - qpos0)
    model = imported(name)[1].model
    rng = np.random.default_rng(1)
    q = model.qpos0.copy()
    for j in range(model.njnt):
        a = model.jnt_qposadr[j]
        if model.jnt_type[j] == 0:
            q[a: a + 3] += rng.normal(size=3) * 0.2
            q[a + 3: a + 7] = rng.normal(size=4)
            q[a + 3: a + 7] /= np.linalg.norm(q[a + 3: a + 7])
        else:
            lo, hi = model.jnt_range[j] if model.jnt_limited[j] else (-1.0, 1.0)
            q[a] = rng.uniform(lo, hi)
    mech, info = imported(name, tuple(q))
    np.testing.assert_allclose(info.qpos, q, atol=1e-15)  # (the free joint's quaternion renormalised)
    state = mech.initial_state()
    for i, frame in enumerate(mujoco_frames(mech, info)):
        if frame is not None:
            np.testing.assert_allclose(np.asarray(state.x[i]), frame[0], atol=1e-9)
    y = np.asarray(dojax.to_minimal(mech, state))
    index = minimal_index(mech)
    for joint, (dojax_joint, row, sign) in info.dof_map.items():
        a = model.jnt_qposadr[model.jnt(joint).id]
        assert y[index[(dojax_joint, row)]] == pytest.approx(sign * (q[a] - model.qpos0[a]), abs=1e-9)
    if name == "humanoid":
        virtual = [b for b in mech.body_names if not info.body_map[b]]
        assert len(virtual) == 7 and mech.num_bodies == 18 and mech.action_size == model.nu == 17
        assert abs(float(mech.mass.sum()) - model.body_mass.sum()) < 1e-9


# -- the robots ----------------------------------------------------------------------------------------

ROBOTS = {  # bodies, actions, contacts
    "hopper": (4, 3, 8), "halfcheetah": (7, 6, 16), "walker2d": (7, 6, 14), "ant": (9, 8, 21),
    "humanoid": (18, 17, 29), "inverted_pendulum": (2, 1, 0), "quadruped": (13, 12, 4),
}


@pytest.mark.parametrize("name", list(ROBOTS))
def test_robot_models_start_at_rest_on_the_ground(name):
    if name != "quadruped":
        pytest.importorskip("gymnasium")
    mech = dojax.load(name)
    assert (mech.num_bodies, mech.action_size, mech.num_contacts) == ROBOTS[name]
    assert float(mech.timestep) == 0.01
    state = mech.initial_state()
    if mech.num_contacts:
        gaps = contact_gaps(mech, state)
        assert gaps.min() == pytest.approx(0.0, abs=1e-9)  # the lowest contact touches the ground
    if name == "quadruped":
        assert float(mech.mass.sum()) == pytest.approx(10.0, abs=1e-9)
        assert np.sum(np.isclose(contact_gaps(mech, state), 0.0, atol=1e-9)) == 4  # on all four feet


def test_hopper_rollout():
    pytest.importorskip("gymnasium")
    mech = dojax.load("hopper")
    state = mech.initial_state()
    states, infos = dojax.rollout(mech, state, jnp.zeros((20, mech.action_size)))
    assert bool(infos.converged.all())
    assert np.all(np.isfinite(np.asarray(states.x)))
    gaps = np.stack([contact_gaps(mech, s) for s in (jax_index(states, k) for k in range(20))])
    assert gaps.min() > -1e-3
    # balanced upright on its foot (its links stacked over the foot): it barely moves in 0.2 s
    assert np.abs(np.asarray(states.x[:, 0]) - np.asarray(state.x[0])).max() < 1e-2


def jax_index(states, k):
    return dojax.State(x=states.x[k], v=states.v[k], q=states.q[k], w=states.w[k])


# -- mapping rules on small files ----------------------------------------------------------------------

def mjcf(tmp_path, body, extra="", name="model.xml", floor=""):
    path = tmp_path / name
    path.write_text(f"""<mujoco><worldbody><geom name="floor" type="plane" size="5 5 .1" {floor}/>{body}</worldbody>
{extra}</mujoco>""")
    return path


@pytest.mark.parametrize("joints, joint_type", [
    ('<joint name="x" type="slide" axis="1 0 0"/><joint name="z" type="slide" axis="0 0 1"/>'
     '<joint name="r" type="hinge" axis="0 1 0"/>', "planar_axis"),
    ('<joint name="x" type="slide" axis="1 0 0"/><joint name="y" type="slide" axis="0 1 0"/>'
     '<joint name="z" type="slide" axis="0 0 1"/>', "fixed_orientation"),
    ('<joint name="x" type="slide" axis="1 0 0"/><joint name="y" type="slide" axis="0 1 0"/>', "planar"),
    ('<joint name="s" type="slide" axis="0 0 1"/><joint name="r" type="hinge" axis="0 0 -1"/>', "cylindrical"),
    ('<joint name="b" type="ball"/>', "spherical"),
    ('<freejoint name="f"/>', "floating"),
    ('<joint name="r" type="hinge" axis="1 1 0"/>', "revolute"),
])
def test_joint_combinations(tmp_path, joints, joint_type):
    path = mjcf(tmp_path, f'<body name="b" pos="0.1 0.2 1">{joints}<geom type="sphere" size="0.1" pos=".3 .1 .2"/>'
                '</body>')
    mech, info = quiet(load_mjcf, path)
    assert mech.structure.joint_types == (joint_type,)
    assert mech.num_contacts == (0 if joint_type == "planar" else 1)  # sliding in x-y cannot change its height


def test_split_through_virtual_bodies(tmp_path):
    body = ('<body name="b" pos="0 0 1"><joint name="h1" axis="1 0 0"/><joint name="h2" axis="0 1 0"/>'
            '<geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.05"/></body>')
    path = mjcf(tmp_path, body)
    with pytest.warns(ModelImportWarning, match="virtual bodies .* on bodies \\['b'\\]"):
        mech = load_mjcf(path)
    assert mech.body_names == ("b/h1", "b") and mech.structure.joint_types == ("revolute", "revolute")
    assert float(mech.mass[0]) == pytest.approx(0.01 * float(mech.mass.sum()))
    with pytest.raises(ValueError, match="body 'b'.*h1.*h2.*no dojax joint type"):
        load_mjcf(path, virtual_mass=0.0)


def test_welded_bodies_merge_like_mujoco_fusestatic(tmp_path):
    body = ('<body name="a" pos="0 0 1"><joint name="h" axis="0 1 0"/><geom type="box" size=".2 .1 .05" mass="2"/>'
            '<body name="w" pos="0.3 0.1 -0.2" euler="30 20 10"><geom type="capsule" size=".05 .2" mass="1"/>'
            '<geom type="sphere" pos="0 0 .3" size=".08" mass=".5"/></body></body>')
    path = mjcf(tmp_path, body)
    mech, info = quiet(load_mjcf, path)
    assert mech.body_names == ("a",) and info.body_map["a"] == ("a", "w")
    spec = mujoco.MjSpec.from_file(str(path))
    spec.compiler.fusestatic = True
    fused = spec.compile()
    d = mujoco.MjData(fused)
    mujoco.mj_forward(fused, d)
    assert fused.nbody == 2 and float(mech.mass[0]) == pytest.approx(fused.body_mass[1], abs=1e-12)
    state = mech.initial_state()
    np.testing.assert_allclose(np.asarray(state.x[0]), d.xipos[1], atol=1e-9)
    R = np.asarray(quat.to_matrix(state.q[0]))
    Rm = d.ximat[1].reshape(3, 3)
    np.testing.assert_allclose(R @ np.asarray(mech.inertia[0]) @ R.T, Rm @ np.diag(fused.body_inertia[1]) @ Rm.T,
                               atol=1e-9)
    # contacts: box 8 corners, capsule 2 ends, sphere 1
    assert mech.num_contacts == 11


def test_contacts_friction_and_containment(tmp_path):
    body = ('<body name="b" pos="0 0 1"><freejoint/>'
            '<geom name="big" type="sphere" size="0.3" friction="0.4"/>'
            '<geom name="inner" type="sphere" pos="0.1 0 0" size="0.1"/>'
            '<geom name="visual" type="sphere" pos="1 0 0" size="0.1" contype="0" conaffinity="0"/>'
            '<geom name="smooth" type="capsule" fromto="0 0 0 0.6 0 0" size="0.05" condim="1"/></body>')
    path = mjcf(tmp_path, body, floor='condim="1"')
    mech, info = quiet(load_mjcf, path, on_ground=True)
    # the inner sphere lies inside the big one; the visual geom does not collide; the capsule's
    # first end is inside the big sphere
    assert sorted(info.contact_geoms.values()) == ["big", "smooth"]
    friction = dict(zip(mech.structure.contact_names, np.asarray(mech.friction)))
    assert friction["big"] == 1.0  # MuJoCo's combination: the larger (the floor's default 1)
    models = {mech.structure.contact_names[k]: g[1] for g in mech.structure.element_groups if g[0] == "contact"
              for k in g[3]}
    # MuJoCo's condim is the larger of the two geoms': frictionless only where both have condim 1
    (smooth,) = [c for c in models if c.startswith("smooth")]
    assert models["big"] == "soc" and models[smooth] == "impact"
    assert contact_gaps(mech, mech.initial_state()).min() == pytest.approx(0.0, abs=1e-9)
    assert info.ground_shift["b"] == pytest.approx(-0.7, abs=1e-9)


def mesh_points(info, mech, geom):
    """The contact points of ``geom`` in the world at the initial state (n, 3)."""
    state = mech.initial_state()
    rows = [k for k, n in enumerate(mech.structure.contact_names) if info.contact_geoms[n] == geom]
    body = mech.structure.contact_body_a[rows]
    return np.asarray(state.x)[body] + np.asarray(quat.rotate(state.q[body], mech.contact_points[rows, 0]))


def test_mesh_contact_points_are_its_hull_vertices(tmp_path):
    # a box (8 corners) with a vertex inside it, tilted; a 40-vertex hull reduced to 16 points
    box = " ".join(f"{sx * .2} {sy * .1} {sz * .05}" for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1))
    ring = np.array([[np.cos(a), np.sin(a), z] for a in np.arange(20) * np.pi / 10 for z in (-.1, .1)]) * .3
    assets = (f'<asset><mesh name="box" vertex="{box} 0.01 0.02 0"/>'
              f'<mesh name="ring" vertex="{" ".join(map(str, ring.ravel()))}"/></asset>')
    path = mjcf(tmp_path, '<body name="b" pos="0 0 1" euler="20 10 5"><freejoint/><geom name="box" type="mesh" '
                'mesh="box"/></body><body name="r" pos="2 0 1"><freejoint/><geom name="ring" type="mesh" '
                'mesh="ring"/></body>', assets)
    mech, info = quiet(load_mjcf, path, on_ground=False)
    m = info.model
    d = mujoco.MjData(m)
    d.qpos[:] = info.qpos
    mujoco.mj_forward(m, d)
    for geom, count in (("box", 8), ("ring", dojax.importer.contacts.MESH_CONTACT_POINTS)):
        g = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, geom)
        mesh = m.geom_dataid[g]
        verts = m.mesh_vert[m.mesh_vertadr[mesh]: m.mesh_vertadr[mesh] + m.mesh_vertnum[mesh]]
        world = d.geom_xpos[g] + verts @ d.geom_xmat[g].reshape(3, 3).T
        points = mesh_points(info, mech, geom)
        assert len(points) == count
        # each contact point is one of the mesh's vertices (float32 in MuJoCo), none is interior
        nearest = np.linalg.norm(points[:, None] - world[None], axis=-1).min(1)
        assert nearest.max() < 1e-6
    # the ring's 16 points are spread over both rims and around them
    ring_points = mesh_points(info, mech, "ring") - np.asarray(mech.initial_state().x[1])
    assert np.ptp(ring_points[:, 2]) > 0.05 and np.ptp(ring_points[:, 0]) > 0.5 and np.ptp(ring_points[:, 1]) > 0.5


def test_mesh_falls_and_rests_on_its_lowest_vertex(tmp_path):
    tet = '<asset><mesh name="tet" vertex="0 0 0 .2 0 0 0 .2 0 0 0 .2 .02 .02 .02"/></asset>'
    path = mjcf(tmp_path, '<body name="t" pos="0 0 .07" euler="30 20 10"><freejoint/>'
                '<geom name="tet" type="mesh" mesh="tet" density="500"/></body>', tet)
    mech, info = quiet(load_mjcf, path, on_ground=False)
    assert mech.num_contacts == 4  # the hull's 4 corners, not the interior vertex
    assert contact_gaps(mech, mech.initial_state()).min() > 0.02  # it starts in the air
    states, infos = dojax.rollout(mech, mech.initial_state(), jnp.zeros((200, mech.action_size)))
    assert bool(infos.converged.all())
    gaps = np.sort(contact_gaps(mech, jax_index(states, 199)))
    # it tips onto a face and rests there: three vertices at the ground, to the interior-point
    # solver's complementarity tolerance (resting gaps are ~1e-5 m), the fourth 0.2 m above
    assert np.abs(gaps[:3]).max() < 1e-4 and gaps[3] == pytest.approx(0.2, abs=1e-4)
    assert np.abs(np.asarray(states.v[-1])).max() < 1e-4 and np.abs(np.asarray(states.w[-1])).max() < 1e-4


# -- bad input -----------------------------------------------------------------------------------------

def test_missing_file():
    with pytest.raises(ValueError, match="no_such_robot.xml"):
        load_mjcf("no_such_robot.xml")
    with pytest.raises(ValueError, match="no_such_robot.urdf"):
        load_urdf("no_such_robot.urdf")


def test_malformed_xml(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text("<mujoco><worldbody><body></worldbody></mujoco>")
    with pytest.raises(ValueError, match="broken.xml"):
        load_mjcf(path)
    bad = tmp_path / "bad_attr.xml"
    bad.write_text('<mujoco><worldbody><body><joint type="hinge" axis="0 0 0"/><geom size=".1"/></body></worldbody>'
                   '</mujoco>')
    with pytest.raises(ValueError, match="bad_attr.xml"):
        load_mjcf(bad)


def test_unsupported_elements_are_named(tmp_path):
    body = '<body name="b" pos="0 0 1"><freejoint/><geom name="egg" type="ellipsoid" size=".1 .1 .2"{}/>{}</body>'
    with pytest.raises(ValueError, match="egg \\(ellipsoid\\)"):
        load_mjcf(mjcf(tmp_path, body.format("", "")))
    # as a visual-only geom it is fine
    path = mjcf(tmp_path, body.format(' contype="0" conaffinity="0"', '<geom type="sphere" size=".1"/>'))
    assert quiet(load_mjcf, path)[0].num_contacts == 1

    two = ('<body name="a" pos="0 0 1"><joint name="ha"/><geom size=".1"/></body>'
           '<body name="c" pos="1 0 1"><joint name="hc"/><geom size=".1"/></body>')
    path = mjcf(tmp_path, two, '<equality><joint name="couple" joint1="ha" joint2="hc"/></equality>')
    with pytest.raises(ValueError, match="equality constraint 'couple'"):
        load_mjcf(path)
    path = mjcf(tmp_path, two, '<tendon><fixed name="link"><joint joint="ha" coef="1"/></fixed></tendon>')
    with pytest.warns(ModelImportWarning, match="tendon 'link' ignored"):
        load_mjcf(path)
    path = mjcf(tmp_path, two, '<actuator><position name="servo" joint="ha" kp="10"/></actuator>')
    with pytest.raises(ValueError, match="actuator 'servo'"):
        load_mjcf(path)
    path = mjcf(tmp_path, two)
    with pytest.raises(ValueError, match="unknown joint 'nope'"):
        load_mjcf(path, qpos={"nope": 1.0})


# -- files as users bring them ---------------------------------------------------------------------------

INERTIAL = '<inertial><mass value="1"/><inertia ixx="{a}" iyy="{b}" izz="{c}" ixy="0" ixz="0" iyz="0"/></inertial>'
UNIT = INERTIAL.format(a=0.01, b=0.01, c=0.01)


def urdf(path, links, joints=()):
    """A URDF file: links {name: inner xml}, joints (name, type, parent, child, origin xyz, rpy)."""
    body = "".join(f'<link name="{n}">{inner}</link>' for n, inner in links.items())
    body += "".join(f'<joint name="{n}" type="{t}"><parent link="{p}"/><child link="{c}"/>'
                    f'<origin xyz="{xyz}" rpy="{rpy}"/><axis xyz="1 0 0"/>'
                    '<limit lower="-2" upper="2" effort="1" velocity="1"/></joint>' for n, t, p, c, xyz, rpy in joints)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<robot name="r">{body}</robot>')
    return path


def test_package_mesh_paths_resolve(tmp_path):
    package = tmp_path / "src" / "arm_pkg"
    (package / "meshes").mkdir(parents=True)
    (package / "meshes" / "tet.obj").write_text("v 0 0 0\nv .1 0 0\nv 0 .1 0\nv 0 0 .1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")
    links = {"base": UNIT, "arm": UNIT + '<collision><geometry><mesh filename="package://arm_pkg/meshes/tet.obj"/>'
                                        '</geometry></collision>'}
    joints = [("hinge", "revolute", "base", "arm", "0 0 1", "0 0 0")]
    # found above the file: the package's own folder
    mech, info = quiet(load_urdf, urdf(package / "urdf" / "arm.urdf", links, joints))
    assert mech.body_names == ("arm",) and info.model.nmesh == 1
    # elsewhere: an error naming the mesh and the package, until package_dirs says where
    outside = urdf(tmp_path / "elsewhere" / "arm.urdf", links, joints)
    with pytest.raises(ValueError, match=r"arm\.urdf.*package://arm_pkg/meshes/tet\.obj.*package_dirs"):
        load_urdf(outside)
    for dirs in (tmp_path / "src", [package]):  # a folder holding the package, or the package itself
        assert quiet(load_urdf, outside, package_dirs=dirs)[1].model.nmesh == 1


def test_massless_links_merge(tmp_path):
    # a massless leaf moves nothing: welded to its parent, its joint gone
    path = urdf(tmp_path / "leaf.urdf", {"base": UNIT, "arm": UNIT, "tip": ""},
                [("j1", "revolute", "base", "arm", "0 0 1", "0 0 0"), ("j2", "revolute", "arm", "tip", "0 0 .5", "0 0 0")])
    with pytest.warns(ModelImportWarning, match="massless link 'tip' welded to its parent 'arm'"):
        mech = load_urdf(path)
    assert mech.body_names == ("arm",) and mech.action_size == 1
    # a massless middle link (a two-axis joint): its joint moves to its child, in the child's frame
    links = {"base": UNIT, "cross": "", "arm": UNIT}
    joints = [("j1", "revolute", "base", "cross", "0 0 1", "0 0 0"), ("j2", "revolute", "cross", "arm", "0 .1 .5", ".3 .2 0")]
    path = urdf(tmp_path / "middle.urdf", links, joints)
    with pytest.warns(ModelImportWarning, match="massless link 'cross' merged into its parent 'base'; its joints "
                                                r"\['j1'\] now move its child 'arm'"):
        mech, info = load_urdf(path, qpos={"j1": 0.4, "j2": -0.7}, return_info=True)
    assert mech.action_size == 2 and set(info.dof_map) == {"j1", "j2"}
    assert_moves_as_the_chain(path, mech)
    # the same in MJCF, the child's orientation given as Euler angles
    path = mjcf(tmp_path, '<body name="cross" pos="0 0 1"><joint name="j1" axis="1 0 0"/><body name="arm" '
                          'pos="0 .1 -.5" euler="20 10 0"><joint name="j2" axis="0 1 0"/><geom type="capsule" '
                          'size=".05 .2"/></body></body>')
    with pytest.warns(ModelImportWarning, match="massless link 'cross' merged"):
        mech = load_mjcf(path, qpos={"j1": 0.4, "j2": -0.7})
    assert_moves_as_the_chain(path, mech)


def assert_moves_as_the_chain(path, mech):
    """The arm of a model whose massless middle link was merged is where MuJoCo puts it in the chain
    with a negligible mass on that link, at j1 = 0.4, j2 = -0.7."""
    spec = mujoco.MjSpec.from_file(str(path))
    spec.compiler.boundmass, spec.compiler.boundinertia = 1e-9, 1e-12
    chain = spec.compile()
    d = mujoco.MjData(chain)
    d.qpos[[chain.joint("j1").qposadr[0], chain.joint("j2").qposadr[0]]] = 0.4, -0.7
    mujoco.mj_kinematics(chain, d)
    arm = mech.body_names.index("arm")
    state = mech.initial_state()
    np.testing.assert_allclose(np.asarray(state.x[arm]), d.xipos[chain.body("arm").id], atol=1e-9)
    np.testing.assert_allclose(np.asarray(quat.to_matrix(state.q[arm])), d.ximat[chain.body("arm").id].reshape(3, 3),
                               atol=1e-9)


def test_invalid_inertia_is_balanced_unless_opted_out(tmp_path):
    path = urdf(tmp_path / "flat.urdf", {"base": UNIT, "plate": INERTIAL.format(a=0.01, b=0.01, c=0.05)},
                [("hinge", "revolute", "base", "plate", "0 0 1", "0 0 0")])
    with pytest.warns(ModelImportWarning, match=r"triangle inequality.*balanced on \['plate'\]"):
        mech = load_urdf(path)
    np.testing.assert_allclose(np.asarray(mech.inertia[0]), np.eye(3) * 0.07 / 3, rtol=1e-12)
    with pytest.raises(ValueError, match=r"(?s)flat\.urdf.*A \+ B >= C.*plate"):
        load_urdf(path, repair_inertia=False)


def test_floating_models_start_on_the_ground_in_both_formats(tmp_path):
    ball = '<collision><geometry><sphere radius="0.1"/></geometry></collision>'
    path = urdf(tmp_path / "ball.urdf", {"ball": INERTIAL.format(a=0.004, b=0.004, c=0.004) + ball})
    from_urdf = load_urdf(path)  # one link, no joint: a free body
    assert from_urdf.structure.joint_types == ("floating",) and from_urdf.num_contacts == 1
    from_mjcf = quiet(load_mjcf, mjcf(tmp_path, '<body name="ball" pos="0 0 -0.3"><freejoint/>'
                                                '<geom type="sphere" size="0.1" mass="1"/></body>'))[0]
    for mech in (from_urdf, from_mjcf):
        np.testing.assert_allclose(np.asarray(mech.initial_state().x[0]), [0.0, 0.0, 0.1], atol=1e-12)


def test_each_loader_names_the_other_for_the_other_format(tmp_path):
    with pytest.raises(ValueError, match=r"model\.xml' is an MJCF file.*dojax\.load_mjcf"):
        load_urdf(mjcf(tmp_path, ""))
    with pytest.raises(ValueError, match=r"ball\.urdf' is a URDF file.*dojax\.load_urdf"):
        load_mjcf(urdf(tmp_path / "ball.urdf", {"ball": UNIT}))


def test_armature_is_imported(tmp_path):
    # MJCF: dof_armature on hinge and slide rows, and a ball joint's on its three rotational rows;
    # a free joint's cannot be represented and is reported
    body = ('<body name="h" pos="0 0 1"><joint name="h" axis="0 1 0" armature="0.1"/><geom type="sphere" size=".1"/>'
            '<body name="s" pos="0 0 -.3"><joint name="s" type="slide" axis="0 0 1" armature="0.2"/>'
            '<geom type="sphere" size=".1"/><body name="b" pos="0 0 -.3"><joint name="b" type="ball" armature="0.3"/>'
            '<geom type="sphere" size=".1"/></body></body></body>'
            '<body name="f" pos="1 0 1"><joint name="f" type="free" armature="0.5"/><geom type="sphere" size=".1"/>'
            '</body>')
    mech, info = quiet(load_mjcf, mjcf(tmp_path, body))
    armature = dict(zip(mech.joint_names, np.asarray(mech.armature)))
    np.testing.assert_array_equal(armature["h"], [0, 0, 0, 0.1, 0, 0])
    np.testing.assert_array_equal(armature["s"], [0.2, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(armature["b"], [0, 0, 0, 0.3, 0.3, 0.3])
    np.testing.assert_array_equal(armature["f_floating"], np.zeros(6))
    assert any("armature of free joints ignored: ['f']" in w for w in info.warnings)
    # URDF has no armature element: load_urdf takes it per joint or for all
    links = {"base": UNIT, "arm": UNIT, "tip": UNIT}
    joints = [("j1", "revolute", "base", "arm", "0 0 0", "0 0 0"), ("j2", "prismatic", "arm", "tip", "0 0 .1", "0 0 0")]
    path = urdf(tmp_path / "arm.urdf", links, joints)
    mech, _ = quiet(load_urdf, path, armature={"j1": 0.4})
    np.testing.assert_array_equal(np.asarray(mech.armature), [[0, 0, 0, 0.4, 0, 0], np.zeros(6)])
    mech, _ = quiet(load_urdf, path, armature=0.25)
    np.testing.assert_array_equal(np.asarray(mech.armature), [[0, 0, 0, 0.25, 0, 0], [0.25, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="armature given for unknown joint 'j3'"):
        load_urdf(path, armature={"j3": 1.0})
    with pytest.raises(ValueError, match="armature of joint 'j1' must be finite and >= 0"):
        load_urdf(path, armature={"j1": -1.0})


def test_contact_body_far_lighter_than_the_rest_is_rejected_at_load(tmp_path):
    # a 1e-8 kg ball on the ground beside a 10 kg box: every step would converge and launch the
    # ball (179 m high within 2 s, translate.MIN_CONTACT_MASS_RATIO); the import names the body
    bodies = ('<body name="box" pos="0 0 .1"><freejoint/><geom type="box" size=".1 .1 .1" mass="10"/></body>'
              '<body name="ball" pos="1 0 .1"><freejoint/><geom type="sphere" size=".1" mass="1e-8"/></body>')
    path = mjcf(tmp_path, bodies)
    with pytest.raises(ValueError, match=r"'ball' \(1e-08 kg\).*boundmass"):
        load_mjcf(path)
    mech = load_mjcf(path, contact_geoms=[], warn=False)  # without its contacts it loads
    assert mech.num_bodies == 2


def test_contacts_that_no_joint_can_move_are_dropped(tmp_path):
    # a ball that only slides and turns in the ground's plane, resting on it: its contact's gap is
    # fixed by the joints (an undetermined normal force), so it is dropped, and the step converges
    joints = ('<joint name="x" type="slide" axis="1 0 0"/><joint name="y" type="slide" axis="0 1 0"/>'
              '<joint name="r" type="hinge" axis="0 0 1"/>')
    path = mjcf(tmp_path, f'<body name="puck" pos="0 0 .1">{joints}<geom name="g" type="sphere" size=".1"/></body>')
    with pytest.warns(ModelImportWarning, match=r"no joint can change dropped.*\['g'\]"):
        mech = load_mjcf(path)
    assert mech.num_contacts == 0
    tilted = mjcf(tmp_path, f'<body name="puck" pos="0 0 .1">{joints}<joint name="t" type="hinge" axis="0 1 0"/>'
                  '<geom name="g" type="capsule" fromto=".1 0 0 .3 0 0" size=".1"/></body>', name="tilted.xml")
    assert quiet(load_mjcf, tilted)[0].num_contacts == 2  # a hinge that tilts it keeps both contacts


def test_disabled_contacts_are_not_imported(tmp_path):
    body = '<body name="b" pos="0 0 .1"><freejoint/><geom name="g" type="sphere" size=".1"/></body>'
    path = mjcf(tmp_path, body, extra='<option><flag contact="disable"/></option>')
    with pytest.warns(ModelImportWarning, match="contacts disabled by the file"):
        assert load_mjcf(path, on_ground=False).num_contacts == 0
    assert load_mjcf(path, contact_geoms=["g"], warn=False).num_contacts == 1  # unless named
