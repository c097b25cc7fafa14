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
    opts = dojax.SolverOptions(rtol=1e-10)
    first, info = dojax.step(mech, naive, None, opts)
    assert bool(info.converged)
    rate1 = dojax.to_minimal(mech, first)[jnp.array([1, 3])]
    start = dojax.from_minimal(mech, y0.at[jnp.array([1, 3])].set(-0.5 * rate1))
    np.testing.assert_allclose(np.asarray(start.x), com0_mj, atol=1e-12)

    states, infos = dojax.rollout(mech, start, jnp.zeros((T, mech.action_size)), opts)
    assert bool(infos.converged.all())
    minimal = np.asarray(jax.vmap(lambda s: dojax.to_minimal(mech, s))(states))
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
