"""Gradient smoothing in a learner: APG pushing a block to a goal, with and without gradient_btol.

    python examples/learn_gradient_smoothing.py [UPDATES]

dojax/BlockPush-v0 (smooth reward: minus the block's distance to a random goal within 1 m): the 1 kg
block rests on the ground under friction 0.8 and only slides when the push beats 7.8 N. APG trains a
linear policy (zero at the start: no push) for UPDATES updates (default 60) of 8 environments x
20 steps, once for each gradient smoothing ``gradient_btol`` (``None``: the derivative of the hard
contact the simulation uses, complementarity 1e-4). While the block sticks, the hard contact's
derivative of its motion with respect to the push is almost zero, so the gradient is too; a
smoothed contact (larger ``gradient_btol``) gives a derivative before the block slides. The motion
itself is the hard one in every run.

Prints a table: gradient_btol, the policy gradient's norm at the first update, the mean reward per
step over the first and the last 5 updates (minus the mean distance to the goal, in m, less a small
action cost), and the run's time.
"""

import sys
import time

import jax
import numpy as np

import dojax
from dojax.learn import apg

UPDATES = int(sys.argv[1]) if len(sys.argv) > 1 else 60
SMOOTHING = (None, 1e-3, 1e-2, 1e-1)


def train(gradient_btol):
    env = dojax.envs.make("BlockPush", smooth_reward=True)
    config = apg.APGConfig(num_iterations=UPDATES, num_envs=8, horizon=20, episode_length=100, policy="linear",
                           normalize_observations=False, learning_rate=0.05, gradient_btol=gradient_btol)
    _, metrics = jax.jit(apg.make_train(env, config))(jax.random.key(0))
    return {name: np.asarray(value) for name, value in metrics.items()}


def main():
    print(f"APG on dojax/BlockPush-v0, {UPDATES} updates of 8 x 20 steps, linear policy from zero")
    print(f"{'gradient_btol':>13} | {'first gradient':>14} | {'reward, first 5':>15} | {'reward, last 5':>14} | time")
    for gradient_btol in SMOOTHING:
        start = time.perf_counter()
        metrics = train(gradient_btol)
        assert int(metrics["solver_failures"].sum()) == 0 and int(metrics["skipped_updates"].sum()) == 0
        print(f"{str(gradient_btol):>13} | {metrics['grad_norm'][0]:14.2e} | {metrics['reward'][:5].mean():15.3f} | "
              f"{metrics['reward'][-5:].mean():14.3f} | {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
