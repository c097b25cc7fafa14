"""How a window's gradient grows through hard contact: the evidence behind short windows for the
first-order learners (bench/RESULTS.md, "SHAC and AHAC against PPO on Ant and Hopper").

1. The environments' gradients are exact: 30 random steps into an episode (contacts closed), the
   gradient of the sum of --fd-steps steps' smooth rewards with respect to their actions, by
   ``jax.grad`` through the engine, against central differences (eps 1e-6), for Hopper and Ant.
2. They grow with each contact: along 3 episodes of 150 steps of small random actions (standard
   deviation 0.3, clipped) on the Hopper, the spectral norm of each step's minimal-coordinate
   state Jacobian (``dojax.jacobians(..., minimal=True)``) and of products of 32 consecutive ones,
   with hard contact and with ``gradient_btol=1e-2``.

    python bench/window_gradients.py --core 1
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402


def finite_difference_check(name, steps):
    import jax
    import numpy as np

    import dojax

    env = dojax.envs.make(name, smooth_reward=True)
    rng = np.random.default_rng(1)
    state = jax.jit(env.reset)(jax.random.key(0))
    step = jax.jit(env.step)
    for _ in range(30):
        state = step(state, rng.uniform(-0.5, 0.5, env.action_size))
    actions = rng.uniform(-0.5, 0.5, (steps, env.action_size))

    def total(a):
        s, reward = state, 0.0
        for t in range(steps):
            s = env.step(s, a[t])
            reward = reward + s.reward
        return reward

    f = jax.jit(total)
    grad = np.asarray(jax.jit(jax.grad(total))(actions)).ravel()
    eps = 1e-6
    fd = np.array([(float(f(actions + eps * e)) - float(f(actions - eps * e))) / (2 * eps)
                   for e in np.eye(actions.size).reshape(-1, *actions.shape)])
    error = np.linalg.norm(grad - fd) / np.linalg.norm(fd)
    print(f"{name}: gradient of {steps} steps' rewards against central differences: relative error {error:.2g}"
          f" (norm {np.linalg.norm(fd):.3g})")


def jacobian_growth(gradient_btol, window=32, episodes=3, length=150):
    import jax
    import numpy as np

    import dojax

    env = dojax.envs.make("Hopper", smooth_reward=True)
    opts = env.solver.replace(gradient_btol=gradient_btol)

    @jax.jit
    def step(state, action):
        jac = dojax.jacobians(env.mech, state.sim, env.control(action), opts, minimal=True)["state"]
        return env.step(state, action), jac

    rng = np.random.default_rng(0)
    norms, products = [], []
    for episode in range(episodes):
        state = jax.jit(env.reset)(jax.random.key(episode))
        product = None
        for t in range(length):
            state, jac = step(state, np.clip(0.3 * rng.standard_normal(env.action_size), -1.0, 1.0))
            jac = np.asarray(jac)
            norms.append(np.linalg.norm(jac, 2))
            product = jac if product is None else jac @ product
            if t % window == window - 1:
                products.append(np.linalg.norm(product, 2))
                product = None
    label = "hard contact" if gradient_btol is None else f"gradient_btol {gradient_btol:g}"
    print(f"Hopper, {label}: step Jacobian norm median {np.median(norms):.3g}, largest {np.max(norms):.3g};"
          f" {window}-step products {np.min(products):.3g} to {np.max(products):.3g}"
          f" (median {np.median(products):.3g}, {len(products)} windows)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd-steps", type=int, default=3)
    add_pinning_arguments(parser)
    args = parser.parse_args()
    core = None if args.no_pin else pin_single_core(args.core)
    print_environment(core)
    for name in ("Hopper", "Ant"):
        finite_difference_check(name, args.fd_steps)
    for gradient_btol in (None, 1e-2):
        jacobian_growth(gradient_btol)


if __name__ == "__main__":
    main()
