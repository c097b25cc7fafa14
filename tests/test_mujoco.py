"""Cross-check against MuJoCo: a contact-free double pendulum follows the same trajectory.

The same two-link pendulum (boxes 0.05 x 0.05 x 1 m, 1 kg, hinges about x at each link's top) is
simulated by dojax (variational integrator, dt = 1e-3) and by MuJoCo (RK4, dt = 1e-4, effectively
exact at this scale). Joint angles must agree to 1e-3 rad over 2 s.

Conventions (checked below, not assumed):
  * MuJoCo's hinge qpos of joint 2 is relative to link 1, like dojax's minimal coordinate; both
    hinges turn right-handedly about +x, so equal coordinates give equal poses (asserted via the
    COM positions at t = 0).
  * dojax configurations of a rollout are at t = k * dt (k = 1..T); its velocities are the
    midpoint velocities of the step that reached them, i.e. at t = (k - 1/2) * dt.
  * Starting "from rest" needs care. ``from_minimal`` with zero rates sets x_{-1} = x_0, a zero
    *midpoint* velocity at t = -dt/2, so the body is not at rest at t = 0: it already moves with
    about +dt/2 * qddot. Over 2 s of this chaotic system that O(dt) start error grows to ~2e-3 rad
    (above the 1e-3 bound). At rest at t = 0 means a trajectory symmetric in time,
    x_{-1} = x_1, i.e. a midpoint rate of -dt/2 * qddot(0) over the step before t = 0. We get it
    from dojax itself: one step from the x_{-1} = x_0 start moves x_1 - x_0 = dt^2 qddot (to
    O(dt^3)), so the consistent rate is minus half the rate that step reports. With it the error
    is O(dt^2) (~2e-5 rad at dt = 1e-3, ~4e-6 at dt = 5e-4).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax

mujoco = pytest.importorskip("mujoco")

LENGTH, WIDTH, MASS = 1.0, 0.05, 1.0
DT, MJ_DT, DURATION = 1e-3, 1e-4, 2.0
THETA0 = (0.5, -0.3)  # th1 about +x from hanging down; th2 relative to link 1

# Box inertia about its centre: m/12 (b^2 + c^2) etc. (x, y across the link; z along it).
I_XX = I_YY = MASS / 12.0 * (WIDTH**2 + LENGTH**2)
I_ZZ = MASS / 12.0 * (2.0 * WIDTH**2)

MJCF = f"""
<mujoco model="double_pendulum">
  <option timestep="{MJ_DT}" gravity="0 0 -9.81" integrator="RK4">
    <flag contact="disable"/>
  </option>
  <worldbody>
    <body name="link1" pos="0 0 0">
      <joint name="joint1" type="hinge" axis="1 0 0" pos="0 0 0" damping="0"/>
      <inertial pos="0 0 {-LENGTH / 2}" mass="{MASS}" diaginertia="{I_XX} {I_YY} {I_ZZ}"/>
      <geom type="box" size="{WIDTH / 2} {WIDTH / 2} {LENGTH / 2}" pos="0 0 {-LENGTH / 2}"
            contype="0" conaffinity="0" mass="0"/>
      <body name="link2" pos="0 0 {-LENGTH}">
        <joint name="joint2" type="hinge" axis="1 0 0" pos="0 0 0" damping="0"/>
        <inertial pos="0 0 {-LENGTH / 2}" mass="{MASS}" diaginertia="{I_XX} {I_YY} {I_ZZ}"/>
        <geom type="box" size="{WIDTH / 2} {WIDTH / 2} {LENGTH / 2}" pos="0 0 {-LENGTH / 2}"
              contype="0" conaffinity="0" mass="0"/>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def _mujoco_run(steps_per_sample, samples):
    """MuJoCo joint angles and rates at t = j * MJ_DT for j = 0, 1, ..., samples * steps_per_sample."""
    model = mujoco.MjModel.from_xml_string(MJCF)
    data = mujoco.MjData(model)
    data.qpos[:] = THETA0
    data.qvel[:] = 0.0
    mujoco.mj_forward(model, data)
    com0 = data.xipos[1:].copy()
    qpos, qvel = [data.qpos.copy()], [data.qvel.copy()]
    for _ in range(samples * steps_per_sample):
        mujoco.mj_step(model, data)
        qpos.append(data.qpos.copy())
        qvel.append(data.qvel.copy())
    return model, com0, np.array(qpos), np.array(qvel)


def test_double_pendulum_matches_mujoco():
    T = int(round(DURATION / DT))
    ratio = int(round(DT / MJ_DT))
    model, com0_mj, mj_qpos, mj_qvel = _mujoco_run(ratio, T)

    # Same model: masses, inertias and COM positions at t = 0 (which fixes the hinge sign).
    mech = dojax.load("double_pendulum", timestep=DT)
    np.testing.assert_allclose(model.body_mass[1:], np.asarray(mech.mass), rtol=1e-12)
    np.testing.assert_allclose(model.body_inertia[1:], np.asarray(jax.vmap(jnp.diag)(mech.inertia)),
                               rtol=1e-12)
    y0 = jnp.array([THETA0[0], 0.0, THETA0[1], 0.0])
    naive = dojax.from_minimal(mech, y0)
    np.testing.assert_allclose(np.asarray(naive.x), com0_mj, atol=1e-12)

    # At rest at t = 0 (see the module docstring): midpoint rate -dt/2 * qddot over the prior step.
    # (The first step is that of a rollout from there, the same compiled program as the rollout below.)
    opts = dojax.SolverOptions(rtol=1e-10)
    actions = jnp.zeros((T, mech.action_size))
    naive_states, naive_infos = dojax.rollout(mech, naive, actions, opts)
    assert bool(naive_infos.converged[0])
    first = jax.tree.map(lambda a: a[0], naive_states)
    rate1 = dojax.to_minimal(mech, first)[jnp.array([1, 3])]
    start = dojax.from_minimal(mech, y0.at[jnp.array([1, 3])].set(-0.5 * rate1))
    np.testing.assert_allclose(np.asarray(start.x), com0_mj, atol=1e-12)

    states, infos = dojax.rollout(mech, start, actions, opts)
    assert bool(infos.converged.all())
    minimal = np.asarray(jax.jit(jax.vmap(dojax.to_minimal, in_axes=(None, 0)))(mech, states))
    angles, rates = minimal[:, [0, 2]], minimal[:, [1, 3]]

    k = np.arange(1, T + 1)
    angle_err = np.abs(angles - mj_qpos[k * ratio])
    # dojax rates are midpoint rates over [(k-1) dt, k dt]; compare with MuJoCo's at (k - 1/2) dt.
    rate_err = np.abs(rates - mj_qvel[k * ratio - ratio // 2])
    print(f"\nmax |angle error| over {DURATION} s: {angle_err.max():.3e} rad "
          f"(joint1 {angle_err[:, 0].max():.3e}, joint2 {angle_err[:, 1].max():.3e}); "
          f"max |rate error| {rate_err.max():.3e} rad/s")
    assert angle_err.max() < 1e-3
    assert rate_err.max() < 1e-3


# -- gymnasium's robots: same model, same motion ------------------------------------------------------
#
# Each robot is imported from gymnasium's MJCF file and simulated by both engines from the same initial
# configuration at rest, under the same smooth control signal u(t) (in ctrl units, u_i(t) = A sin(5 pi t + i)),
# for 0.2 s without contact: contacts are off in MuJoCo, and dojax gets no contact points; gravity is zero.
# Joint limits are off in both (MuJoCo's are soft, dojax's hard: where they act, the engines differ by
# design; here the question is the free dynamics: inertia, armature, damping, springs and motors).
# Hinges start at the middle of their ranges. MuJoCo runs RK4 at 1e-4 s on the very model dojax was
# translated from (``info.model``); dojax runs at 1e-3 s, starting at rest at t = 0 by the symmetric
# start of the double pendulum test above, and applies u(k h) in step k (the impulse of the step's
# discrete Euler-Lagrange equation at t = k h, the midpoint rule). The amplitude A keeps every hinge
# within about 1.5 rad of its start (no wrap-around of the coordinates).
#
# Bound: the largest hinge-angle difference over the 0.2 s is within 1% of the largest hinge excursion.
# Measured (max difference / max excursion): hopper 0.08%, walker2d 0.28%, halfcheetah 0.38% (most of
# it first order in h: dojax's implicit damper acts on the step's end velocities), ant 0.09%, humanoid
# 0.24% (its virtual bodies, 1% of each split segment's mass, move slightly differently from MuJoCo's
# single body). With the armature left out of dojax's model: 305%, 24%, 34%, 414% and 3.7%.
ROBOT_FILES = {"hopper": "hopper.xml", "walker2d": "walker2d_v5.xml", "halfcheetah": "half_cheetah.xml",
               "ant": "ant.xml", "humanoid": "humanoid.xml"}
ROBOT_AMPLITUDE = {"hopper": 0.5, "walker2d": 0.15, "halfcheetah": 0.5, "ant": 0.5, "humanoid": 0.15}
ROBOT_DT, ROBOT_MJ_DT, ROBOT_DURATION = 1e-3, 1e-4, 0.2
HINGE = 3  # mujoco.mjtJoint.mjJNT_HINGE


def _control(robot, t, nu):
    return ROBOT_AMPLITUDE[robot] * np.sin(5.0 * np.pi * t + np.arange(nu))


def _robot_models(robot):
    """dojax's mechanism (no contacts, zero gravity, no limits), its import info, and MuJoCo's model
    likewise, both starting with every limited hinge at the middle of its range."""
    pytest.importorskip("gymnasium")
    from dojax.models.robots import gymnasium_asset, gymnasium_model

    plain = mujoco.MjModel.from_xml_path(gymnasium_asset(ROBOT_FILES[robot]))
    middle = {plain.joint(j).name: float(np.mean(plain.jnt_range[j])) for j in range(plain.njnt)
              if plain.jnt_type[j] == HINGE and plain.jnt_limited[j]}
    mech, info = gymnasium_model(ROBOT_FILES[robot], timestep=ROBOT_DT, gravity=0.0, on_ground=False,
                                 contact_geoms=[], qpos=middle, return_info=True)
    mech = mech.replace(limit=-1e3 * jnp.asarray(mech.structure.limit_sign))  # bounds 1000 rad away
    model = info.model
    model.opt.timestep, model.opt.integrator = ROBOT_MJ_DT, mujoco.mjtIntegrator.mjINT_RK4
    model.opt.gravity[:] = 0.0
    model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_CONTACT | mujoco.mjtDisableBit.mjDSBL_LIMIT
    return mech, info, model


def _mujoco_hinges(robot, model, qpos, hinges, samples, ratio):
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    adr = [model.jnt_qposadr[model.joint(n).id] for n in hinges]
    out = [data.qpos[adr].copy()]
    for k in range(samples * ratio):
        data.ctrl[:] = _control(robot, data.time, model.nu)
        mujoco.mj_step(model, data)
        if (k + 1) % ratio == 0:
            out.append(data.qpos[adr].copy())
    return np.array(out)


def _dojax_hinges(robot, mech, info, hinges, samples):
    """Hinge qpos at t = k h, k = 0..samples, with one compiled step."""
    opts = dojax.SolverOptions(rtol=1e-10)
    step = jax.jit(lambda m, s, a: (lambda nxt, i: (nxt, i.converged, dojax.to_minimal(m, nxt)))(
        *dojax.step(m, s, a, opts)))
    mask = mech.structure.free_mask[: mech.num_bodies]
    offsets = np.concatenate([[0], np.cumsum(2 * mask.sum(axis=1))])
    rates = np.concatenate([offsets[k] + mask[k].sum() + np.arange(mask[k].sum()) for k in range(mech.num_bodies)])
    rates = rates.astype(int)
    names = list(mech.joint_names)
    where = [info.dof_map[n] for n in hinges]
    index = np.array([offsets[names.index(j)] + mask[names.index(j), :row].sum() for j, row, _ in where], int)
    sign = np.array([s for _, _, s in where])
    qpos0 = np.array([info.model.qpos0[info.model.jnt_qposadr[info.model.joint(n).id]] for n in hinges])

    def run(mech):
        u = lambda t: jnp.asarray(_control(robot, t, mech.action_size))
        y0 = dojax.to_minimal(mech, mech.initial_state())
        # at rest at t = 0: the midpoint rate -h/2 qddot(0) over the step before (see the module docstring)
        _, ok, y1 = step(mech, mech.initial_state(), u(0.0))
        state = dojax.from_minimal(mech, y0.at[rates].set(-0.5 * y1[rates]))
        ys, converged = [y0], bool(ok)
        for k in range(samples):
            state, ok, y = step(mech, state, u(k * ROBOT_DT))
            ys.append(y)
            converged &= bool(ok)
        assert converged
        return qpos0 + sign * np.asarray(ys)[:, index]

    return run(mech), run(mech.replace(armature=jnp.zeros_like(mech.armature)))


@pytest.mark.slow
@pytest.mark.parametrize("robot", list(ROBOT_FILES))
def test_gymnasium_robot_moves_like_mujoco(robot):
    mech, info, model = _robot_models(robot)
    hinges = [n for n in info.dof_map if model.jnt_type[model.joint(n).id] == HINGE]
    samples, ratio = int(round(ROBOT_DURATION / ROBOT_DT)), int(round(ROBOT_DT / ROBOT_MJ_DT))
    reference = _mujoco_hinges(robot, model, info.qpos, hinges, samples, ratio)
    got, without_armature = _dojax_hinges(robot, mech, info, hinges, samples)
    excursion = np.abs(reference - reference[0]).max()
    error = np.abs(got - reference).max() / excursion
    error_without = np.abs(without_armature - reference).max() / excursion
    print(f"\n{robot}: max hinge difference {error:.3%} of the excursion {excursion:.3f} rad "
          f"(without armature {error_without:.2%})")
    assert 0.3 < excursion < 1.6
    assert error < 0.01
    assert error_without > 2 * error
