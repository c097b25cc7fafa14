"""The Dojo paper's Table III: trajectory optimisation by iLQR, dojax's smoothed gradients against MuJoCo's
finite differences, in one process.

Tasks (--tasks, default all four), each after Dojo.jl's example of the same name:

  box-right  a 1 kg cube (side 0.5 m, friction 0.5) pushed 1 m along x by a force at its centre:
             dt 0.1 s, T = 11 (10 actions), from zero forces; stage cost |x - x_goal|^2 + 0.01 |u dt|^2
             on the 13 maximal coordinates [position, velocity, quaternion, angular velocity] and the
             force u (N), the same on the final state, and the final state equal to the goal (13
             rows). Dojo.jl's box.jl weighs its input by 0.01, and Dojo's input was then an impulse
             (N s over the step: the force times dt), hence |u dt|^2. dojax plans in maximal
             coordinates, as Dojo.jl's example does.
  box-up     the same cube lifted 1 m (Dojo.jl's "up goal": the centre at 1.25 m, at rest).
  hopper     gymnasium's Hopper (hopper.xml, in both engines) hops 0.5 m forward: dt 0.05 s,
             T = 21, actions bounded to [-1, 1] (the file's ctrlrange); cost toward an apex 0.3 m up
             and 0.5 m forward in the first half, toward the landing pose in the second (position
             weight 1, velocity 0.01, joint angles 0.1, action 0.01), and the final root position,
             pitch and velocities equal to the landing pose at rest. dojax plans in minimal
             coordinates.
  quadruped  dojax's 12-joint quadruped (models/assets/quadruped.urdf; joint damping 1 N m s/rad) trots
             2 gait cycles after Dojo.jl's quadruped_min.jl: dt 0.05 s, T = 41 (40 actions), a kinematic
             trot reference (torso 0.2 m/s at 0.30 m, diagonal leg pairs, feet 5 cm up, joint angles by
             inverse kinematics), Dojo.jl's tracking cost on the minimal coordinates (times dt; torso
             position and orientation weighted up, actions 1e-3) and the final torso position equal to the
             reference's (3 rows); first guess: the standing torques of the first pose, computed by
             Gauss-Newton on the engine's step, held constant. The planner needs a continuation in the
             contact smoothing: a first solve with steps and derivatives at kappa 0.1 (soft contact:
             a foot's force fades over centimetres, so lifting it is visible to the derivatives;
             constraint tolerance 5e-3), then from its actions a solve with the default step and the
             paper's gradient kappa 3e-4 (constraint tolerance 1e-4); at the paper's kappa from the
             start, iLQR keeps all four feet planted. Cost tolerance 1e-4; maximal coordinates;
             iterations counted over both solves. Beside the cost: Dojo.jl's own objective on the
             same trajectory. No MuJoCo column: the model exists in dojax only.

dojax: ``dojax.optimize.ilqr`` with the engine's implicit step Jacobians smoothed by
``SolverOptions(gradient_btol=3e-3)`` (central-path parameter kappa = gradient_btol / undercut =
3e-4, the paper's), step values at the default btol; box-up also with kappa 3e-2 (gradient_btol
0.3), smoothing enough to see the lift from rest. The GIF and plot are of the last kappa.
MuJoCo: the same iLQR (``ilqr_solve`` on a
:class:`~dojax.optimize.dynamics.Dynamics` whose step is ``mj_step`` and whose Jacobians are
``mjd_transitionFD``, centred differences, through host callbacks) on the same model (an MJCF
cube with motors on its free joint; gymnasium's hopper.xml, semi-implicit Euler in place of its RK4,
which mjd_transitionFD does not support) at dt 0.01 s over the same duration;
its stage cost is scaled by 0.01 / dt_dojax so that both sum the same integral. Settings of both
after Dojo.jl's examples: 100 iterations, 10 outer iterations, penalty 1 times 10, constraint
tolerance 5e-3, cost tolerance 1e-3.

Columns: cost (the objective without constraint terms), largest final-constraint violation,
iterations, wall time (including compilation; the compile alone is reported beside it), and the
paper's figures. With --render DIR: a GIF of each task's optimised dojax motion and a plot of cost
and violation against iteration.

    python bench/table3.py
    python bench/table3.py --tasks box-right hopper --render out/
"""

import argparse
import functools
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402

TASKS = ("box-right", "box-up", "hopper", "quadruped")
PAPER = {"box-right": ("14.5 / 13.5", "3e-3 / 3e-3", "30 / 95"),
         "box-up": ("14.5 / fails", "3e-3 / 1.0", "106 / -"),
         "hopper": ("8.9 / 26.7", "1e-3 / 2e-3", "96 / 66"),
         "quadruped": ("2e-2 / not reported", "3e-4 / -", "20 / -")}
# central-path parameters kappa of the derivatives (gradient_btol = kappa * undercut 10): the paper's
# 3e-4 everywhere, and for box-up also 3e-2, with which the lift is found
KAPPAS = {"box-right": (3e-4,), "box-up": (3e-4, 3e-2), "hopper": (3e-4,)}
SETTINGS = dict(max_iterations=100, max_outer_iterations=10, penalty=1.0, penalty_factor=10.0,
                constraint_tolerance=5e-3, cost_tolerance=1e-3)
MUJOCO_DT = 0.01

BOX_XML = """
<mujoco>
  <option timestep="0.01" gravity="0 0 -9.81"/>
  <worldbody>
    <geom name="floor" type="plane" size="10 10 0.1" friction="0.5 0.005 0.0001"/>
    <body name="box" pos="0 0 0.25">
      <freejoint name="root"/>
      <geom type="box" size="0.25 0.25 0.25" mass="1" friction="0.5 0.005 0.0001"/>
    </body>
  </worldbody>
  <actuator>
    <motor joint="root" gear="1 0 0 0 0 0"/>
    <motor joint="root" gear="0 1 0 0 0 0"/>
    <motor joint="root" gear="0 0 1 0 0 0"/>
  </actuator>
</mujoco>
"""


# ---------------------------------------------------------------- MuJoCo as iLQR dynamics

class MujocoDynamics:
    """``mj_step`` and ``mjd_transitionFD`` as a :class:`~dojax.optimize.dynamics.Dynamics`.

    The state is ``[qpos, qvel]``; its tangent is MuJoCo's ``[dqpos (nv), dqvel (nv)]``: positions
    add, except a free joint's quaternion, turned by a body-frame rotation vector (mj_integratePos).
    """

    def __init__(self, model, free_joint):
        import mujoco

        self.mujoco, self.model, self.data = mujoco, model, mujoco.MjData(model)
        self.nq, self.nv, self.nu = model.nq, model.nv, model.nu
        self.free = free_joint  # the model's only joint is a free joint (else: hinges and slides only)

    def _set(self, y, u):
        self.data.qpos[:], self.data.qvel[:], self.data.ctrl[:] = y[:self.nq], y[self.nq:], u
        self.data.time = 0.0

    def step_host(self, y, u):
        import numpy as np

        self._set(np.asarray(y), np.asarray(u))
        self.mujoco.mj_step(self.model, self.data)
        out = np.concatenate([self.data.qpos, self.data.qvel])
        return out, np.bool_(np.all(np.isfinite(out)))

    def jacobians_host(self, y, u):
        import numpy as np

        y, u = np.asarray(y), np.asarray(u)
        batch = y.shape[:-1]
        y, u = y.reshape(-1, y.shape[-1]), u.reshape(-1, u.shape[-1])
        A = np.zeros((len(y), 2 * self.nv, 2 * self.nv))
        B = np.zeros((len(y), 2 * self.nv, self.nu))
        for i in range(len(y)):
            self._set(y[i], u[i])
            self.mujoco.mjd_transitionFD(self.model, self.data, 1e-6, 1, A[i], B[i], None, None)
        return A.reshape(batch + A.shape[1:]), B.reshape(batch + B.shape[1:])

    def dynamics(self):
        import jax
        import jax.numpy as jnp

        from dojax import quaternion as quat
        from dojax.optimize import Dynamics

        n, nv, nu = self.nq + self.nv, self.nv, self.nu

        def step(model, y, u):
            return jax.pure_callback(self.step_host, (jax.ShapeDtypeStruct((n,), y.dtype),
                                                      jax.ShapeDtypeStruct((), bool)), y, u,
                                     vmap_method="sequential")

        def jacobians(model, y, u):
            shapes = (jax.ShapeDtypeStruct((2 * nv, 2 * nv), y.dtype), jax.ShapeDtypeStruct((2 * nv, nu), y.dtype))
            return jax.pure_callback(self.jacobians_host, shapes, y, u, vmap_method="broadcast_all")

        if not self.free:
            return Dynamics(step=step, jacobians=jacobians, retract=lambda model, y, d: y + d,
                            difference=lambda model, y, reference: y - reference)

        def retract(model, y, d):
            q = quat.multiply(y[3:7], quat.from_rotation_vector(d[3:6]))
            return jnp.concatenate([y[:3] + d[:3], q, y[7:] + d[6:]])

        def difference(model, y, reference):
            rot = quat.to_rotation_vector(quat.multiply(quat.conjugate(reference[3:7]), y[3:7]))
            return jnp.concatenate([y[:3] - reference[:3], rot, y[7:] - reference[7:]])

        return Dynamics(step=step, jacobians=jacobians, retract=retract, difference=difference)


# ---------------------------------------------------------------- tasks

def box_task(name):
    """(dojax setup, MuJoCo setup) of box-right or box-up: functions of the 13 maximal coordinates.

    A setup holds :func:`dojax.optimize.ilqr`'s arguments; MuJoCo's stage cost takes the step index
    (``cost(x, u, t)``, as a :class:`~dojax.optimize.Problem` holds it).
    """
    import jax.numpy as jnp
    import mujoco

    import dojax

    dt = 0.1
    goal = jnp.array([1.0, 0.0, 0.25] if name == "box-right" else [0.0, 0.0, 1.25])
    z_goal = jnp.concatenate([goal, jnp.zeros(3), jnp.array([1.0, 0.0, 0.0, 0.0]), jnp.zeros(3)])

    def stage(z, u):  # the action weighed as the impulse over a dojax step, as in the paper's Dojo
        dz = z - z_goal
        return dz @ dz + 0.01 * dt**2 * u @ u

    def final(z):
        dz = z - z_goal
        return dz @ dz

    mech = dojax.load("block", timestep=dt, friction=0.5)
    dojax_setup = dict(mech=mech, initial_state=mech.initial_state(), initial_actions=jnp.zeros((10, 3)),
                       cost=stage, final_cost=final, final_equality=lambda z: z - z_goal, coordinates="maximal")

    # MuJoCo's free joint state [position, quaternion, linear velocity, angular velocity (body frame)]
    # in dojax's maximal order [position, velocity, quaternion, angular velocity]
    order = jnp.array([0, 1, 2, 7, 8, 9, 3, 4, 5, 6, 10, 11, 12])
    model = mujoco.MjModel.from_xml_string(BOX_XML)
    model.opt.timestep = MUJOCO_DT
    y0 = jnp.array([0.0, 0.0, 0.25, 1.0, 0.0, 0.0, 0.0] + [0.0] * 6)
    steps = round(10 * dt / MUJOCO_DT)
    mujoco_setup = dict(model=model, free=True, initial_state=y0, initial_actions=jnp.zeros((steps, 3)),
                        cost=lambda y, u, t: MUJOCO_DT / dt * stage(y[order], u), final_cost=lambda y: final(y[order]),
                        final_equality=lambda y: y[order] - z_goal)
    return dojax_setup, mujoco_setup


def hopper_task():
    """(dojax setup, MuJoCo setup) of the hopper's hop, each in its engine's generalised coordinates."""
    import jax.numpy as jnp
    import mujoco

    import dojax
    from dojax.models.robots import gymnasium_asset
    from dojax.optimize import action_bounds

    dt, T = 0.05, 20
    half = T // 2
    # MuJoCo's generalised coordinates of hopper.xml: qpos [rootx, rootz, rooty, thigh, leg, foot], qvel
    # (rootz is the torso's height above 1.25 m; standing on the ground it is -0.04)
    start = jnp.array([0.0, -0.04, 0.0, 0.0, 0.0, 0.0])
    apex, land = start + jnp.array([0.25, 0.3, 0, 0, 0, 0]), start + jnp.array([0.5, 0, 0, 0, 0, 0])
    weights = jnp.array([1.0, 1.0, 1.0, 0.1, 0.1, 0.1] + [0.01] * 6)

    def stage(p, u, first_half, scale=1.0):  # toward the apex in the first half of the horizon
        target = jnp.concatenate([jnp.where(first_half, apex, land), jnp.zeros(6)])
        d = p - target
        return scale * (d @ (weights * d) + 0.01 * u @ u)

    def final(p):
        d = p - jnp.concatenate([land, jnp.zeros(6)])
        return d @ (weights * d)

    def final_equality(p):  # root position and pitch, and every velocity, at the landing pose at rest
        return jnp.concatenate([p[:3] - land[:3], p[6:]])

    bounds = action_bounds(-1.0, 1.0)

    # dojax minimal coordinates of the hopper: per joint [coordinates, rates]; the root's planar joint
    # has [-(z - 1.25), -x, pitch] (see dojax.models.robots.hopper); its x and z are MuJoCo's negated
    mech = dojax.load("hopper", timestep=dt)
    sign = jnp.array([-1.0, -1.0, 1.0])

    def generalised(y):
        q = jnp.concatenate([jnp.array([-y[1], -y[0], y[2]]), y[jnp.array([6, 8, 10])]])
        v = jnp.concatenate([sign[jnp.array([1, 0, 2])] * y[jnp.array([4, 3, 5])], y[jnp.array([7, 9, 11])]])
        return jnp.concatenate([q, v])

    dojax_setup = dict(mech=mech, initial_state=mech.initial_state(), initial_actions=jnp.zeros((T, 3)),
                       cost=lambda y, u, t: stage(generalised(y), u, t < half),
                       final_cost=lambda y: final(generalised(y)),
                       final_equality=lambda y: final_equality(generalised(y)), inequality=bounds,
                       coordinates="minimal")
    model = mujoco.MjModel.from_xml_path(gymnasium_asset("hopper.xml"))
    model.opt.timestep = MUJOCO_DT
    model.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER  # mjd_transitionFD does not support the file's RK4
    data = mujoco.MjData(model)
    y0 = jnp.concatenate([jnp.asarray(data.qpos), jnp.asarray(data.qvel)])
    per_step = round(dt / MUJOCO_DT)
    steps = T * per_step
    mujoco_setup = dict(model=model, free=False, initial_state=y0, initial_actions=jnp.zeros((steps, 3)),
                        cost=lambda p, u, t: stage(p, u, t < half * per_step, MUJOCO_DT / dt), final_cost=final,
                        final_equality=final_equality, inequality=bounds)
    return dojax_setup, mujoco_setup


# the trot: Dojo.jl's quadruped_min.jl (dt 0.05, 2 gait cycles of 2 x 10 steps, T = 41) on dojax's quadruped
TROT = dict(dt=0.05, half_cycle=10, cycles=2, stride=0.05, lift=0.05, height=0.30)
TROT_DAMPER = 1.0  # joint damping, N m s / rad (the URDF's 0.05 leaves the standing robot unstable at dt 0.05)
# contact smoothing of the continuation: kappa of the steps and their derivatives, stage by stage (the last
# stage steps at the default btol with the paper's gradient kappa 3e-4), and the constraint tolerance of each
TROT_KAPPAS = (1e-1, 3e-4)
TROT_TOLERANCES = (5e-3, 1e-4)
TROT_SETTINGS = dict(SETTINGS, cost_tolerance=1e-4)
LEGS = ("front_left", "front_right", "hind_left", "hind_right")


def trot_reference(mech, dt, half_cycle, cycles, stride, lift, height):
    """A kinematic trot of the quadruped in minimal coordinates, (2 half_cycle cycles + 1, 36).

    The torso moves along x at a constant height, ``2 stride`` per half cycle; the diagonal pairs
    (front-left with hind-right, front-right with hind-left) alternate: a stance foot stays put on
    the ground while its hip passes over it from ``stride`` ahead to ``stride`` behind, a swing foot
    travels from ``stride`` behind its hip to ``stride`` ahead along a half ellipse ``lift`` high
    (cosine timing: slow at lift-off and touch-down). Joint angles from each leg's planar inverse
    kinematics (hip abduction 0); rates are backward differences, zero at the start (at rest, all
    four feet down).
    """
    import jax.numpy as jnp

    import dojax

    joints = mech.joint_names
    names = [f"{leg}_{kind}" for leg in LEGS for kind in ("hip_abduction", "hip_pitch", "knee")]
    angle = np.array([12 + 2 * (joints.index(name) - 1) for name in names])  # rows after the floating base's 12
    thigh = calf = 0.2
    foot_radius = 0.025
    steps = 2 * half_cycle * cycles
    advance = 2.0 * stride / half_cycle  # torso travel per step
    Y = np.tile(np.asarray(dojax.to_minimal(mech, mech.initial_state())), (steps + 1, 1))
    for k in range(steps + 1):
        Y[k, 0:3] = [k * advance, 0.0, height]
        for i, leg in enumerate(LEGS):
            phase = (k + (half_cycle if leg in ("front_right", "hind_left") else 0)) % (2 * half_cycle)
            if phase < half_cycle:  # stance: the hip passes over the planted foot
                forward, up = stride * (1.0 - 2.0 * phase / half_cycle), 0.0
            else:  # swing: half ellipse from behind to ahead
                theta = np.pi * (1.0 - np.cos(np.pi * (phase - half_cycle) / half_cycle)) / 2.0
                forward, up = -stride * np.cos(theta), lift * np.sin(theta)
            down = height - foot_radius - up  # foot centre below the hip pitch axis
            knee = -np.arccos(np.clip((forward**2 + down**2 - thigh**2 - calf**2) / (2 * thigh * calf), -1.0, 1.0))
            Y[k, angle[3 * i:3 * i + 3]] = [0.0, np.arctan2(-forward, down) - knee / 2.0, knee]
    Y[1:, 6:9] = [advance / dt, 0.0, 0.0]
    Y[1:, angle + 1] = np.diff(Y[:, angle], axis=0) / dt
    return jnp.asarray(Y)


@functools.lru_cache(maxsize=1)
def trot_problem():
    """The trot's mechanism, its reference in maximal coordinates (T + 1, 169), and the features the cost
    weighs (a function of a maximal state vector: Dojo.jl's minimal coordinates, with the torso's
    orientation measured from the reference's) with their reference values (T + 1, 36)."""
    import jax
    import jax.numpy as jnp

    import dojax
    from dojax import quaternion as quat
    from dojax.optimize.dynamics import state_vector, vector_state

    settings = dict(TROT)
    dt = settings.pop("dt")
    mech = dojax.load("quadruped", timestep=dt)
    mech = mech.replace(damper=jnp.where(mech.damper > 0.0, TROT_DAMPER, mech.damper))
    z_ref = jax.vmap(lambda y: state_vector(dojax.from_minimal(mech, y)))(trot_reference(mech, dt, **settings))
    q_torso = z_ref[0, 6:10]

    def features(z):
        s = vector_state(z)
        tilt = quat.to_rotation_vector(quat.multiply(quat.conjugate(q_torso), s.q[0]))
        return jnp.concatenate([s.x[0], tilt, s.v[0], s.w[0], dojax.to_minimal(mech, s)[12:]])

    return mech, z_ref, features, jax.vmap(features)(z_ref)


def trot_cost(weights, action_weight):
    """The tracking cost ``dt sum_t (f_t - f_ref_t)' W (f_t - f_ref_t) + action_weight |u_t|^2`` (final
    state without the action term) as (stage, final) functions of maximal state vectors."""
    dt = TROT["dt"]
    _, _, features, f_ref = trot_problem()

    def stage(z, u, t):
        d = features(z) - f_ref[t]
        return dt * (d @ (weights * d) + action_weight * u @ u)

    def final(z):
        d = features(z) - f_ref[-1]
        return dt * d @ (weights * d)

    return stage, final


def dojo_trot_cost(states, actions):
    """Dojo.jl's quadruped_min.jl objective on a trot (its weights; its input then an impulse, the torque
    times dt, weighed 0.01): the figure beside the paper's cost."""
    import jax
    import jax.numpy as jnp

    weights = jnp.concatenate([jnp.array([0.3, 0.05, 0.05]), jnp.full(9, 0.01), jnp.tile(jnp.array([0.2, 0.001]), 12)])
    stage, final = trot_cost(weights, 0.01 * TROT["dt"] ** 2)
    states, actions = jnp.asarray(states), jnp.asarray(actions)
    stages = jax.vmap(stage)(states[:-1], actions, jnp.arange(actions.shape[0]))
    return float(jnp.sum(stages) + final(states[-1]))


def quadruped_task():
    """(dojax setup, None) of the quadruped trot: the model exists in dojax only (no MJCF of it).

    Maximal coordinates: the floating base's minimal rotation vector of this model sits at pi (its
    body frame is the torso's principal axes, turned half a revolution from the link frame), where
    it wraps. The cost is Dojo.jl's tracking cost with the torso's position and orientation
    weighted up (3, 1, 1 and 0.5 against Dojo.jl's 0.3, 0.05, 0.05 and 0.01) and the torques
    weighted 1e-3 (times dt).
    """
    import jax.numpy as jnp

    import dojax

    mech, z_ref, _, _ = trot_problem()
    weights = jnp.concatenate([jnp.array([3.0, 1.0, 1.0]), jnp.full(3, 0.5), jnp.full(6, 0.01),
                               jnp.tile(jnp.array([0.2, 0.001]), 12)])
    stage, final = trot_cost(weights, 1e-3)
    x0 = z_ref[0]
    u0 = standing_action(mech, x0, dojax.SolverOptions(gradient_btol=10 * TROT_KAPPAS[-1]))
    dojax_setup = dict(mech=mech, initial_state=x0, initial_actions=jnp.tile(u0, (z_ref.shape[0] - 1, 1)),
                       cost=stage, final_cost=final, final_equality=lambda z: z[0:3] - z_ref[-1, 0:3],
                       coordinates="maximal")
    return dojax_setup, None


def standing_action(mech, z0, opts, iterations=5):
    """Joint torques that hold the quadruped still at the state z0: Gauss-Newton on step(z0, u) = z0
    with the engine's action Jacobian (least squares: four feet on the ground share the weight)."""
    import jax
    import jax.numpy as jnp

    from dojax.optimize.dynamics import MAXIMAL

    @jax.jit
    def update(model, u):
        z1, _ = MAXIMAL.step(model, z0, u)
        residual = MAXIMAL.difference(model, z1, z0)
        return u - jnp.linalg.lstsq(MAXIMAL.jacobians(model, z0, u)[1], residual)[0]

    u = jnp.zeros(mech.action_size)
    for _ in range(iterations):
        u = update((mech, opts), u)
    return u


# ---------------------------------------------------------------- runs

def solve_dojax(setup, opts):
    """iLQR over dojax: (result, seconds with compilation, seconds of a second, compiled, solve)."""
    from dojax.optimize import ilqr

    kwargs = dict(setup, opts=opts, **SETTINGS)
    mech, x0, U0 = kwargs.pop("mech"), kwargs.pop("initial_state"), kwargs.pop("initial_actions")
    start = time.perf_counter()
    result = ilqr(mech, x0, U0, progress_bar=True, **kwargs)
    first = time.perf_counter() - start
    start = time.perf_counter()
    ilqr(mech, x0, U0, progress_bar=True, **kwargs)
    return result, first, time.perf_counter() - start


def solve_continuation(setup, kappas, tolerances):
    """iLQR over dojax through a continuation in the contact smoothing: one solve per kappa (with its
    constraint tolerance), each from the previous one's actions, the steps and their derivatives both
    at kappa (btol = gradient_btol = 10 kappa), except the last, which steps at the default btol with
    derivatives at its kappa. Returns the last solve's result with the histories and iteration
    counts of all of them, the seconds of the whole continuation with compilation, and those of a
    second, compiled, one (the first guess's standing torques are computed before either)."""
    import dojax
    from dojax.optimize import ilqr

    kwargs = dict(setup, **TROT_SETTINGS)
    mech, x0, U0 = kwargs.pop("mech"), kwargs.pop("initial_state"), kwargs.pop("initial_actions")
    del kwargs["constraint_tolerance"]  # per stage
    times = []
    for _ in range(2):
        start = time.perf_counter()
        actions, stages = U0, []
        for i, kappa in enumerate(kappas):
            opts = (dojax.SolverOptions(gradient_btol=10.0 * kappa) if i == len(kappas) - 1
                    else dojax.SolverOptions(btol=10.0 * kappa, gradient_btol=10.0 * kappa))
            stages.append(ilqr(mech, x0, actions, opts=opts, constraint_tolerance=tolerances[i], progress_bar=True,
                               **kwargs))
            actions = stages[-1].actions
            print(f"   kappa {kappa:g}: {stages[-1].status}, cost {stages[-1].cost[-1]:.4g}, violation "
                  f"{stages[-1].violation[-1]:.1e}, {stages[-1].iterations} iterations", flush=True)
        times.append(time.perf_counter() - start)
    result = stages[-1]._replace(cost=np.concatenate([r.cost for r in stages]),
                                 violation=np.concatenate([r.violation for r in stages]),
                                 step_size=np.concatenate([r.step_size for r in stages]),
                                 iterations=sum(r.iterations for r in stages))
    return result, times[0], times[1]


def solve_mujoco(setup):
    """The same iLQR over MuJoCo's step and finite-difference Jacobians (same return as solve_dojax)."""
    import jax

    from dojax.optimize import Problem, finish, ilqr_solve
    from dojax.optimize.ilqr import no_final_constraint, no_stage_constraint

    dynamics = MujocoDynamics(setup["model"], setup["free"]).dynamics()
    problem = Problem(model=(), dynamics=dynamics, cost=setup["cost"],
                      final_cost=setup["final_cost"], equality=no_stage_constraint,
                      inequality=setup.get("inequality", no_stage_constraint),
                      final_equality=setup["final_equality"], final_inequality=no_final_constraint,
                      progress_bar=True, **SETTINGS)
    solve = jax.jit(ilqr_solve)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        raw = jax.block_until_ready(solve(problem, setup["initial_state"], setup["initial_actions"]))
        times.append(time.perf_counter() - start)
    return finish(raw, problem), times[0], times[1]


def render(task, mech, result, coordinates, out_dir, mujoco_result):
    import jax
    import jax.numpy as jnp
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dojax import render as dojax_render
    from dojax.optimize.dynamics import to_state

    out_dir.mkdir(parents=True, exist_ok=True)
    states = jax.vmap(lambda y: to_state(mech, y, coordinates))(jnp.asarray(result.states[1:]))
    dojax_render.animate(mech, states, out_dir / f"table3_{task}.gif", fps=round(1 / float(mech.timestep)))
    fig, (ax_cost, ax_violation) = plt.subplots(1, 2, figsize=(9, 3.5))
    for label, r in (("dojax", result), ("MuJoCo FD", mujoco_result)):
        if r is not None:
            ax_cost.semilogy(r.cost, marker=".", label=label)
            ax_violation.semilogy(np.maximum(r.violation, 1e-12), marker=".", label=label)
    ax_cost.set(xlabel="iteration", ylabel="cost", title=f"{task}: objective")
    ax_violation.set(xlabel="iteration", ylabel="max violation", title="constraint violation")
    ax_cost.legend()
    fig.tight_layout()
    fig.savefig(out_dir / f"table3_{task}.png", dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--no-mujoco", action="store_true", help="dojax only")
    parser.add_argument("--render", type=Path, default=None, help="directory for GIFs and cost plots")
    add_pinning_arguments(parser)
    args = parser.parse_args()
    core = None if args.no_pin else pin_single_core(args.core)
    print_environment(core)

    import dojax

    rows = []
    for task in args.tasks:
        if task == "quadruped":
            dojax_setup, mujoco_setup = quadruped_task()
            kappa = " -> ".join(f"{k:g}" for k in TROT_KAPPAS)
            print(f"== {task}: dojax, kappa {kappa}", flush=True)
            result, first, second = solve_continuation(dojax_setup, TROT_KAPPAS, TROT_TOLERANCES)
            print(f"   {result.status}; cost {result.cost[-1]:.4g} (Dojo.jl's objective: "
                  f"{dojo_trot_cost(result.states, result.actions):.3g}), violation {result.violation[-1]:.1e}, "
                  f"{result.iterations} iterations, {first:.1f} s ({second:.1f} s compiled)", flush=True)
            rows.append(dict(task=task, kappa=kappa, dojax=(result, first, second), mujoco=None))
            if args.render is not None:
                render(task, dojax_setup["mech"], result, dojax_setup["coordinates"], args.render, None)
            continue
        dojax_setup, mujoco_setup = box_task(task) if task.startswith("box") else hopper_task()
        for kappa in KAPPAS[task]:
            print(f"== {task}: dojax, kappa {kappa:g}", flush=True)
            opts = dojax.SolverOptions(gradient_btol=10.0 * kappa)
            result, first, second = solve_dojax(dojax_setup, opts)
            print(f"   {result.status}; cost {result.cost[-1]:.4g}, violation {result.violation[-1]:.1e}, "
                  f"{result.iterations} iterations, {first:.1f} s ({second:.1f} s compiled)", flush=True)
            rows.append(dict(task=task, kappa=f"{kappa:g}", dojax=(result, first, second), mujoco=None))
        if not args.no_mujoco:
            print(f"== {task}: MuJoCo finite differences", flush=True)
            m_result, m_first, m_second = solve_mujoco(mujoco_setup)
            print(f"   {m_result.status}; cost {m_result.cost[-1]:.4g}, violation {m_result.violation[-1]:.1e}, "
                  f"{m_result.iterations} iterations, {m_first:.1f} s ({m_second:.1f} s compiled)", flush=True)
            rows[-1]["mujoco"] = (m_result, m_first, m_second)
        if args.render is not None:
            render(task, dojax_setup["mech"], rows[-1]["dojax"][0], dojax_setup["coordinates"], args.render,
                   rows[-1]["mujoco"][0] if rows[-1]["mujoco"] else None)

    print()
    print("| task | kappa | cost dojax / MuJoCo FD | violation dojax / MuJoCo FD | iterations dojax / MuJoCo FD "
          "| wall s dojax / MuJoCo FD (compiled) | status dojax / MuJoCo FD | paper: cost, violation, iterations "
          "(Dojo / MuJoCo) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        d, m = row["dojax"], row["mujoco"]
        pair = lambda f: f"{f(d)} / {f(m) if m else '-'}"
        print(f"| {row['task']} | {row['kappa']} | {pair(lambda r: f'{r[0].cost[-1]:.3g}')} "
              f"| {pair(lambda r: f'{r[0].violation[-1]:.1e}')} | {pair(lambda r: r[0].iterations)} "
              f"| {pair(lambda r: f'{r[1]:.1f} ({r[2]:.1f})')} | {pair(lambda r: r[0].status)} "
              f"| {', '.join(PAPER[row['task']])} |")


if __name__ == "__main__":
    main()
