"""Learn a linear-quadratic regulator with APG and SHAC and compare with the Riccati optimum.

    python examples/learn_lqr.py

The task (``dojax.learn.DoubleIntegrator``) is a unit mass on a line pushed by a force, reward
``-(x' Q x + u' R u)``, 100-step episodes from uniformly random states. Its optimal policy is the
linear gain of the discrete Riccati equation, and the expected cost of any linear gain is exact (a
Lyapunov equation), so each learner's result is measured against the optimum without sampling.

The first part uses the functional core: ``make_train(env, config)`` gives ``train(key)``, and
``jax.vmap`` over keys trains three seeds of APG in one compiled call. The second uses the front
class ``dojax.learn.SHAC``: ``learn``, ``predict``, ``save`` and ``load``.
"""

import os
import tempfile
import time

import jax
import numpy as np

from dojax.learn import SHAC, DoubleIntegrator, apg

LQR = dict(num_envs=64, policy="linear", squash_actions=False, normalize_observations=False, max_grad_norm=100.0,
           learning_rate=0.1, learning_rate_decay=0.995)


def gain(policy_params):
    """``G`` of the linear policy ``u = G x``."""
    return np.asarray(policy_params["params"]["Dense_0"]["kernel"]).T


def main():
    env = DoubleIntegrator()
    print(f"Riccati gain {env.optimal_gain().ravel()}, optimal cost {env.optimal_cost():.6f}")

    # APG, three seeds in one compiled call
    config = apg.APGConfig(num_iterations=500, horizon=50, **LQR)
    start = time.perf_counter()
    params, metrics = jax.jit(jax.vmap(apg.make_train(env, config)))(jax.random.split(jax.random.key(0), 3))
    print(f"APG, 3 seeds x {config.num_iterations} updates in {time.perf_counter() - start:.1f} s:")
    for seed in range(3):
        G = gain(jax.tree.map(lambda x: x[seed], params.policy))
        print(f"  seed {seed}: gain {G.ravel()}, cost / optimum = {env.cost(G) / env.optimal_cost():.7f}")

    # SHAC through the front class (its objective is discounted by 0.99)
    agent = SHAC(env, seed=0, horizon=32, discount=0.99, critic_hidden_sizes=(32, 32), critic_epochs=8,
                 critic_learning_rate=0.005, **LQR)
    agent.learn(500 * 64 * 32)
    G = gain(agent.state.params.policy)
    print(f"SHAC: gain {G.ravel()}, discounted cost / optimum = {env.cost(G, 0.99) / env.optimal_cost(0.99):.7f}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "shac_lqr.npz")
        agent.save(path)
        loaded = SHAC.load(path, env=env)
    print(f"action at x = [1, 0] after save/load: {loaded.predict(np.array([1.0, 0.0]))}")


if __name__ == "__main__":
    main()
