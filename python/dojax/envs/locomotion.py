"""Locomotion tasks: gymnasium's MuJoCo v5 family on dojax robots, and a quadruped walking forward.

The robots are those of :mod:`dojax.models.robots` (read from the MJCF files gymnasium ships).
Observations, rewards, termination and reset noise follow gymnasium v5, computed from MuJoCo-style
``qpos``/``qvel`` that :class:`MujocoCoordinates` reconstructs from the dojax state. Differences,
all forced by what a dojax step computes:

* ``dt`` is one dojax step (gymnasium: ``frame_skip`` MuJoCo steps), 0.02 s by default for every
  robot here: the largest of 0.01, 0.02 and 0.05 s at which uniformly random actions (the harshest
  an agent sends) almost never make a step's solver fail. At 0.05 s, 1 to 14% of such steps fail
  (the joints' impulses would need angular speeds past the integrator's 2/dt); at 0.02 s none fail
  for Hopper and HalfCheetah and 0.3-0.5% for Ant, Walker2d and Humanoid. Measured by
  ``bench/env_timestep.py`` (bench/RESULTS.md), which also compares trajectories with a 0.002 s
  reference.
* Ant and Humanoid observe ``qpos`` and ``qvel`` only, as gymnasium does with
  ``include_cfrc_ext_in_observation=False`` (and, for Humanoid, the other ``include_*`` options
  False): MuJoCo's ``cinert``, ``cvel``, ``qfrc_actuator`` and ``cfrc_ext`` have no dojax
  counterpart; their contact cost is likewise absent.
* A free joint's ``qpos`` is the dojax body's centre of mass and orientation (the body's inertial
  frame, which for the Ant and Humanoid torsos differs slightly from MuJoCo's body frame), its
  ``qvel`` the dojax midpoint velocities (linear in the world frame, angular in the body frame,
  as MuJoCo).
* Reset noise is added to dojax's minimal coordinates (for a free joint: position and rotation
  vector, not quaternion components), kept inside joint limits, and the robot is lifted if a
  contact would start inside the ground.
* The control cost is on the actuator command (the action mapped onto ``ctrlrange``), which equals
  gymnasium's action for every robot here (Humanoid's actions span ``ctrlrange`` [-0.4, 0.4] there).

Smooth rewards (``smooth_reward=True``, for gradient-based learners) drop termination and replace
the healthy bonus, a step function of the state, by a smooth penalty on leaving the healthy range:
``healthy_reward * (1 - softplus-distance outside the range)``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from dojax.envs.coordinates import MujocoCoordinates
from dojax.envs.core import Env
from dojax.models.robots import gymnasium_model, quadruped

def _outside(value, low, high, width):
    """Smooth distance outside [low, high] (softplus with the given width), 0 well inside."""
    return width * (jax.nn.softplus((low - value) / width) + jax.nn.softplus((value - high) / width))


class MujocoLocomotion(Env):
    """Base of the gymnasium-style locomotion tasks (see the module docstring).

    Subclasses set the class attributes: the model file and default dt, reward weights, ranges,
    which qpos entries the observation excludes, the velocity clip and the noise.
    """

    model_file = None
    default_dt = 0.02
    forward_weight = 1.0
    ctrl_cost_weight = 1e-3
    healthy_reward = 1.0
    healthy_z = (-np.inf, np.inf)
    healthy_angle = (-np.inf, np.inf)
    healthy_state = (-np.inf, np.inf)  # on qpos[2:] and qvel (Hopper's "state beyond +-100")
    exclude_positions = 1  # qpos entries left out of the observation (x, or x and y)
    velocity_clip = None
    noise = 5e-3
    velocity_noise = "uniform"  # or "normal"
    forward_from_center_of_mass = False

    def __init__(self, dt=None, reset_noise_scale=None, smooth_reward=False, friction=None, solver=None):
        dt = self.default_dt if dt is None else dt
        mech, info = gymnasium_model(self.model_file, timestep=dt, friction=friction, return_info=True)
        super().__init__(mech, info.ctrl_range[:, 0], info.ctrl_range[:, 1],
                         self.noise if reset_noise_scale is None else reset_noise_scale, smooth_reward, solver)
        self.coordinates = MujocoCoordinates(mech, info)
        self._mass = mech.mass / jnp.sum(mech.mass)

    def qpos_qvel(self, sim):
        """MuJoCo-style (qpos, qvel) of a State."""
        return self.coordinates(self.mech, sim, self.minimal_coordinates(sim))

    def initial_minimal(self, key):
        if self.velocity_noise == "uniform":
            return super().initial_minimal(key)
        kp, kv = jax.random.split(key)
        y = self._initial
        y = y.at[self._pos].add(self.reset_noise * jax.random.uniform(kp, self._pos.shape, y.dtype, -1.0, 1.0))
        return y.at[self._vel].add(self.reset_noise * jax.random.normal(kv, self._vel.shape, y.dtype))

    def observe(self, sim, task):
        qpos, qvel = self.qpos_qvel(sim)
        if self.velocity_clip is not None:
            qvel = jnp.clip(qvel, -self.velocity_clip, self.velocity_clip)
        return jnp.concatenate([qpos[self.exclude_positions:], qvel])

    def _forward_position(self, sim):
        if self.forward_from_center_of_mass:
            return jnp.dot(self._mass, sim.x[:, 0])
        return self.qpos_qvel(sim)[0][0]

    def _health(self, qpos, qvel):
        """(healthy?, smooth distance outside the healthy ranges)."""
        z, angle = qpos[1 + (self.exclude_positions > 1)], qpos[2]
        state = jnp.concatenate([qpos[2:], qvel])
        checks = [(z, self.healthy_z), (angle, self.healthy_angle)]
        healthy = jnp.all(jnp.isfinite(state)) & jnp.all((state > self.healthy_state[0]) & (state < self.healthy_state[1]))
        distance = 0.0
        for value, (low, high) in checks:
            healthy &= (value > low) & (value < high)
            distance += _outside(value, low, high, 0.05)
        return healthy, distance

    def reward(self, before, after, ctrl, task):
        qpos, qvel = self.qpos_qvel(after)
        x_velocity = (self._forward_position(after) - self._forward_position(before)) / self.mech.timestep
        forward = self.forward_weight * x_velocity
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(ctrl**2)
        healthy, distance = self._health(qpos, qvel)
        if self.smooth_reward:
            survive = self.healthy_reward * (1.0 - distance)
        else:
            survive = jnp.where(healthy, self.healthy_reward, 0.0)
        info = dict(reward_forward=forward, reward_ctrl=-ctrl_cost, reward_survive=jnp.asarray(survive, qpos.dtype),
                    x_position=qpos[0], x_velocity=x_velocity, z_position=qpos[1 + (self.exclude_positions > 1)])
        return forward + survive - ctrl_cost, info

    def is_terminated(self, sim, task):
        qpos, qvel = self.qpos_qvel(sim)
        return ~self._health(qpos, qvel)[0]


class Hopper(MujocoLocomotion):
    """``dojax/Hopper-v0``: gymnasium's Hopper-v5 task (hop forward) on dojax's hopper.

    Observation (11): qpos[1:] (z, torso angle, thigh, leg, foot) and qvel clipped to +-10.
    Action (3): thigh, leg, foot torques (gear 200). Reward: forward velocity + 1 while healthy
    - 1e-3 |ctrl|^2. Terminates when z <= 0.7, |angle| >= 0.2 or any of qpos[2:], qvel leaves
    (-100, 100). Reset noise 5e-3 (uniform).

    Under uniformly random actions at MuJoCo's dt 0.008 episodes last about as long as Hopper-v5's
    (median 0.16 s against 0.18 s); at the default dt 0.02 they end sooner (0.12 s), as each random
    action is held 2.5 times longer (bench/vs_mujoco_dynamics.py).
    """

    model_file = "hopper.xml"
    healthy_z = (0.7, np.inf)
    healthy_angle = (-0.2, 0.2)
    healthy_state = (-100.0, 100.0)
    velocity_clip = 10.0


class Walker2d(MujocoLocomotion):
    """``dojax/Walker2d-v0``: gymnasium's Walker2d-v5 task (walk forward) on dojax's walker2d.

    Observation (17): qpos[1:] and qvel clipped to +-10. Action (6): hip, knee, foot torques per
    leg (gear 100). Reward: forward velocity + 1 while healthy - 1e-3 |ctrl|^2. Terminates when z
    leaves (0.8, 2.0) or |angle| >= 1. Reset noise 5e-3 (uniform).
    """

    model_file = "walker2d_v5.xml"
    healthy_z = (0.8, 2.0)
    healthy_angle = (-1.0, 1.0)
    velocity_clip = 10.0


class HalfCheetah(MujocoLocomotion):
    """``dojax/HalfCheetah-v0``: gymnasium's HalfCheetah-v5 task (run forward) on dojax's halfcheetah.

    Observation (17): qpos[1:] and qvel. Action (6): back and front thigh, shin, foot torques.
    Reward: forward velocity - 0.1 |ctrl|^2; no termination. Reset noise 0.1 (uniform on
    positions, normal on velocities).
    """

    model_file = "half_cheetah.xml"
    ctrl_cost_weight = 0.1
    healthy_reward = 0.0
    noise = 0.1
    velocity_noise = "normal"


class Ant(MujocoLocomotion):
    """``dojax/Ant-v0``: gymnasium's Ant-v5 task (walk along +x) on dojax's ant.

    Observation (27): qpos[2:] (torso z, quaternion, 8 hip/ankle angles) and qvel (14); no contact
    forces. Action (8): hip and ankle torques (gear 150). Reward: torso x-velocity + 1 while
    healthy - 0.5 |ctrl|^2 (no contact cost). Terminates when torso z leaves [0.2, 1.0].
    Reset noise 0.1 (uniform on positions, normal on velocities).

    Contact differs from gymnasium's: under uniformly random actions Ant-v5's episodes end after a
    median 2.7 s, mostly by the torso leaping above 1 m off MuJoCo's soft ground, which dojax's
    ant on hard contacts seldom does, so most of its episodes run to the step limit
    (bench/vs_mujoco_dynamics.py). Without contact the joints move as MuJoCo's do.
    """

    model_file = "ant.xml"
    ctrl_cost_weight = 0.5
    healthy_z = (0.2, 1.0)
    exclude_positions = 2
    noise = 0.1
    velocity_noise = "normal"

    def _health(self, qpos, qvel):
        z = qpos[2]
        healthy = jnp.all(jnp.isfinite(jnp.concatenate([qpos, qvel]))) & (z >= self.healthy_z[0]) & (z <= self.healthy_z[1])
        return healthy, _outside(z, *self.healthy_z, 0.05)


class Humanoid(MujocoLocomotion):
    """``dojax/Humanoid-v0``: gymnasium's Humanoid-v5 task (walk forward) on dojax's humanoid.

    Observation (45): qpos[2:] (22) and qvel (23), as gymnasium with every ``include_*`` option
    False. Action (17), mapped onto ``ctrlrange`` [-0.4, 0.4]. Reward: 1.25 x centre-of-mass
    velocity + 5 while healthy - 0.1 |ctrl|^2 (no contact cost). Terminates when torso z leaves
    (1.0, 2.0). Reset noise 1e-2 (uniform).
    """

    model_file = "humanoid.xml"
    forward_weight = 1.25
    ctrl_cost_weight = 0.1
    healthy_reward = 5.0
    healthy_z = (1.0, 2.0)
    exclude_positions = 2
    noise = 1e-2
    forward_from_center_of_mass = True

    def _health(self, qpos, qvel):
        z = qpos[2]
        healthy = jnp.all(jnp.isfinite(jnp.concatenate([qpos, qvel]))) & (z > self.healthy_z[0]) & (z < self.healthy_z[1])
        return healthy, _outside(z, *self.healthy_z, 0.05)


class Quadruped(Env):
    """``dojax/Quadruped-v0``: the 12-actuator URDF quadruped walking forward along +x.

    Observation (35): torso height, orientation quaternion, the 12 joint angles, torso linear and
    angular velocity (world / body frame) and the 12 joint velocities. Action (12): joint torques,
    +-1 mapped to +-20 N m. Reward: torso x-velocity + 1 while healthy - 0.05 |action|^2.
    Terminates when the torso drops below 0.12 m or tilts past 60 degrees (its z axis below
    cos 60 in the world). Reset noise 0.01 (uniform) on joint angles and velocities.
    """

    default_dt = 0.02
    torque = 20.0
    healthy_z = (0.12, np.inf)
    min_upright = 0.5

    def __init__(self, dt=None, reset_noise_scale=0.01, smooth_reward=False, friction=None, solver=None):
        mech = quadruped(timestep=self.default_dt if dt is None else dt, **({} if friction is None else dict(friction=friction)))
        nu = mech.action_size
        super().__init__(mech, -self.torque * np.ones(nu), self.torque * np.ones(nu), reset_noise_scale, smooth_reward,
                         solver)

    def _torso(self, sim):
        up = 1.0 - 2.0 * (sim.q[0, 1] ** 2 + sim.q[0, 2] ** 2)  # world z of the torso's z axis
        return sim.x[0], up

    def observe(self, sim, task):
        pos, vel = self.minimal(sim)
        return jnp.concatenate([sim.x[0, 2:3], sim.q[0], pos[6:], sim.v[0], sim.w[0], vel[6:]])

    def reward(self, before, after, ctrl, task):
        x_velocity = (after.x[0, 0] - before.x[0, 0]) / self.mech.timestep
        ctrl_cost = 0.05 * jnp.sum((ctrl / self.torque) ** 2)
        (x, y, z), up = self._torso(after)
        if self.smooth_reward:
            survive = 1.0 - _outside(z, *self.healthy_z, 0.02) - _outside(up, self.min_upright, np.inf, 0.05)
        else:
            survive = jnp.where(self._healthy(after), 1.0, 0.0)
        info = dict(reward_forward=x_velocity, reward_ctrl=-ctrl_cost, reward_survive=jnp.asarray(survive, z.dtype),
                    x_position=x, x_velocity=x_velocity, z_position=z)
        return x_velocity + survive - ctrl_cost, info

    def _healthy(self, sim):
        (_, _, z), up = self._torso(sim)
        finite = jnp.all(jnp.isfinite(sim.x)) & jnp.all(jnp.isfinite(sim.v))
        return finite & (z > self.healthy_z[0]) & (up > self.min_upright)

    def is_terminated(self, sim, task):
        return ~self._healthy(sim)
