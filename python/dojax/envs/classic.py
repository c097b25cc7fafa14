"""Classic control on dojax: Pendulum, a continuous-force CartPole and gymnasium's InvertedPendulum.

Each follows its gymnasium counterpart (Pendulum-v1, CartPole-v1, InvertedPendulum-v5); the
differences are listed in each class. Angles in observations and rewards are 0 upright.
"""

import jax
import jax.numpy as jnp
import numpy as np

from dojax.envs.coordinates import MujocoCoordinates
from dojax.envs.core import Env
from dojax.models.chains import cartpole, pendulum
from dojax.models.robots import gymnasium_model


def _upright_angle(hanging):
    """Angle from upright, in (-pi, pi], of an angle measured from hanging straight down."""
    return jnp.arctan2(-jnp.sin(hanging), -jnp.cos(hanging))


class Pendulum(Env):
    """``dojax/Pendulum-v0``: swing a pendulum up and hold it (gymnasium's Pendulum-v1).

    A 1 kg, 1 m uniform rod on a hinge under gravity 10 m/s^2, as in gymnasium. Observation (3):
    cos and sin of the angle from upright and the angular velocity. Action (1): torque, +-1 mapped
    to +-2 N m. Reward: ``-(theta^2 + 0.1 theta_dot^2 + 0.001 torque^2)`` with theta in (-pi, pi];
    no termination, 200 steps. Reset: theta uniform in (-pi, pi), theta_dot in (-1, 1).
    Difference: gymnasium clips the angular velocity to +-8 rad/s; the physics here does not.
    Smooth reward: ``2 (1 - cos theta)`` replaces ``theta^2`` (equal to second order at the top,
    and without the jump at the bottom).
    """

    max_episode_steps = 200
    default_dt = 0.05

    def __init__(self, dt=None, smooth_reward=False, solver=None):
        mech = pendulum(timestep=self.default_dt if dt is None else dt, gravity=-10.0)
        super().__init__(mech, [-2.0], [2.0], 1.0, smooth_reward, solver)

    def initial_minimal(self, key):
        u = jax.random.uniform(key, (2,), self._initial.dtype, -1.0, 1.0)
        return jnp.array([jnp.pi, 0.0]) + jnp.array([jnp.pi, 1.0]) * u

    def _angle(self, sim):
        pos, vel = self.minimal(sim)
        return _upright_angle(pos[0]), vel[0]

    def observe(self, sim, task):
        theta, rate = self._angle(sim)
        return jnp.stack([jnp.cos(theta), jnp.sin(theta), rate])

    def reward(self, before, after, ctrl, task):
        theta, rate = self._angle(after)
        angle_cost = 2.0 * (1.0 - jnp.cos(theta)) if self.smooth_reward else theta**2
        cost = angle_cost + 0.1 * rate**2 + 0.001 * ctrl[0] ** 2
        return -cost, dict(theta=theta, theta_dot=rate, torque=ctrl[0])


class CartPole(Env):
    """``dojax/CartPole-v0``: balance a pole on a cart with a continuous force (gymnasium's CartPole-v1).

    Cart 1 kg, pole 0.1 kg and 1 m, gravity 9.8, dt 0.02, as gymnasium. Observation (4): cart
    position, cart velocity, pole angle from upright, pole angular velocity. Action (1): the force
    on the cart, +-1 mapped to +-10 N (gymnasium: Discrete(2), a push of -10 or +10 N). Reward +1
    per step; terminates when |angle| > 12 degrees or |x| > 2.4 m; 500 steps. Reset: all four
    uniform in (-0.05, 0.05). Differences: the pole is a uniform rigid cylinder simulated in
    maximal coordinates (gymnasium integrates the point-mass equations with explicit Euler).
    Smooth reward: ``cos(angle) - 0.1 (x / 2.4)^2``.
    """

    max_episode_steps = 500
    default_dt = 0.02
    theta_limit = 12 * 2 * np.pi / 360
    x_limit = 2.4

    def __init__(self, dt=None, smooth_reward=False, solver=None):
        mech = cartpole(timestep=self.default_dt if dt is None else dt, gravity=-9.8)
        super().__init__(mech, [-10.0], [10.0], 0.05, smooth_reward, solver)

    def initial_minimal(self, key):
        # minimal layout [x, x_dot, theta, theta_dot], theta from hanging down
        return jnp.array([0.0, 0.0, jnp.pi, 0.0]) + 0.05 * jax.random.uniform(key, (4,), self._initial.dtype, -1.0, 1.0)

    def observe(self, sim, task):
        pos, vel = self.minimal(sim)
        return jnp.stack([pos[0], vel[0], _upright_angle(pos[1]), vel[1]])

    def reward(self, before, after, ctrl, task):
        x, _, theta, _ = self.observe(after, task)
        reward = jnp.cos(theta) - 0.1 * (x / self.x_limit) ** 2 if self.smooth_reward else jnp.ones_like(x)
        return reward, dict(x_position=x, theta=theta)

    def is_terminated(self, sim, task):
        x, _, theta, _ = self.observe(sim, task)
        return (jnp.abs(x) > self.x_limit) | (jnp.abs(theta) > self.theta_limit) | ~jnp.isfinite(x + theta)


class InvertedPendulum(Env):
    """``dojax/InvertedPendulum-v0``: gymnasium's InvertedPendulum-v5 on dojax's inverted_pendulum.

    Observation (4): qpos (cart position, pole angle) and qvel. Action (1): the cart force, +-1
    mapped to ``ctrlrange`` +-3 (gear 100). Reward +1 per step; terminates when |angle| > 0.2 rad;
    1000 steps. Reset noise 0.01 (uniform). Difference: the cart slider and pole hinge limits are
    hard one-sided limits (MuJoCo's are soft). Smooth reward: ``1 - (angle / 0.2)^2``.
    """

    default_dt = 0.04
    angle_limit = 0.2

    def __init__(self, dt=None, reset_noise_scale=0.01, smooth_reward=False, solver=None):
        mech, info = gymnasium_model("inverted_pendulum.xml", timestep=self.default_dt if dt is None else dt,
                                     on_ground=False, return_info=True)
        super().__init__(mech, info.ctrl_range[:, 0], info.ctrl_range[:, 1], reset_noise_scale, smooth_reward,
                         solver)
        self.coordinates = MujocoCoordinates(mech, info)

    def observe(self, sim, task):
        return jnp.concatenate(self.coordinates(self.mech, sim, self.minimal_coordinates(sim)))

    def reward(self, before, after, ctrl, task):
        theta = self.observe(after, task)[1]
        reward = 1.0 - (theta / self.angle_limit) ** 2 if self.smooth_reward else jnp.ones_like(theta)
        return reward, dict(theta=theta)

    def is_terminated(self, sim, task):
        obs = self.observe(sim, task)
        return (jnp.abs(obs[1]) > self.angle_limit) | ~jnp.all(jnp.isfinite(obs))
