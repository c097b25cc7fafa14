"""BlockPush: slide a block over the ground to a goal, against hard frictional contact."""

import jax
import jax.numpy as jnp

from dojax.envs.core import Env
from dojax.models.contact import block


class BlockPush(Env):
    """``dojax/BlockPush-v0``: push a 1 kg, 0.5 m cube to a goal on the ground.

    The cube rests on the ground on 8 corner contacts (friction 0.8, second-order cone), so it
    only moves when the push beats friction (7.8 N). Action (2): a horizontal world-frame force on
    its centre of mass, +-1 mapped to +-15 N along x and y. Observation (6): the block's xy offset
    from the goal, its xy velocity, and the goal's xy. The goal is drawn uniformly in
    [-1, 1]^2 m per episode; the block starts at the origin. Reward: ``-distance - 0.01 |a|^2``;
    terminates when the block's centre is within 5 cm of the goal and slower than 0.1 m/s;
    200 steps. Smooth reward: the same reward, without termination.
    """

    max_episode_steps = 200
    default_dt = 0.05
    force = 15.0
    goal_range = 1.0
    tolerance = 0.05

    def __init__(self, dt=None, smooth_reward=False, friction=0.8, solver=None):
        mech = block(timestep=self.default_dt if dt is None else dt, friction=friction)
        super().__init__(mech, [-self.force] * 2, [self.force] * 2, 0.0, smooth_reward, solver)

    def sample_task(self, key):
        return jax.random.uniform(key, (2,), self._initial.dtype, -self.goal_range, self.goal_range)

    def control(self, action):
        """Forces along x and y, and zero along z."""
        return jnp.concatenate([super().control(action), jnp.zeros(1, self.ctrl_low.dtype)])

    def observe(self, sim, task):
        return jnp.concatenate([sim.x[0, :2] - task, sim.v[0, :2], task])

    def reward(self, before, after, ctrl, task):
        distance = jnp.linalg.norm(after.x[0, :2] - task)
        ctrl_cost = 0.01 * jnp.sum((ctrl[:2] / self.force) ** 2)
        return -distance - ctrl_cost, dict(distance=distance, reward_ctrl=-ctrl_cost)

    def is_terminated(self, sim, task):
        close = jnp.linalg.norm(sim.x[0, :2] - task) < self.tolerance
        return close & (jnp.linalg.norm(sim.v[0, :2]) < 0.1)
