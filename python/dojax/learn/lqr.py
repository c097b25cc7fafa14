"""A linear-quadratic regulator task with a known optimum, for checking learners.

:class:`DoubleIntegrator` is a functional environment with the interface of dojax's
(``reset(key)``, ``step(env_state, action)`` returning :class:`dojax.envs.EnvState`): a unit mass on
a line pushed by a force, ``x = [position, velocity]``, ``x' = A x + B u``, reward
``-(x' Q x + u' R u)``. The optimal policy is linear, ``u = -K x``, with ``K`` from the discrete
Riccati equation; :meth:`DoubleIntegrator.optimal_cost` and :meth:`DoubleIntegrator.cost` give the
exact expected cost of the optimal and of any linear policy, so a learner's result can be measured
against the optimum without sampling.
"""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from dojax.envs import EnvState


class DoubleIntegrator:
    """The double-integrator LQR task (actions are not clipped; the observation is the state).

    Args:
        dt: timestep (s): ``A = [[1, dt], [0, 1]]``, ``B = [[dt^2 / 2], [dt]]``.
        state_cost: diagonal of ``Q``.
        action_cost: ``R`` (scalar).
        init_scale: initial states are uniform in ``[-init_scale, init_scale]^2``.
        max_episode_steps: steps per episode.
    """

    observation_size = 2
    action_size = 1

    def __init__(self, dt=0.1, state_cost=(1.0, 1.0), action_cost=0.1, init_scale=1.0, max_episode_steps=100):
        self.dt = float(dt)
        self.A = np.array([[1.0, dt], [0.0, 1.0]])
        self.B = np.array([[0.5 * dt**2], [dt]])
        self.Q = np.diag(np.asarray(state_cost, float))
        self.R = np.array([[float(action_cost)]])
        self.init_scale = float(init_scale)
        self.max_episode_steps = int(max_episode_steps)

    def reset(self, key):
        """A fresh episode from a uniformly random state."""
        x = jax.random.uniform(key, (2,), jnp.float64, -self.init_scale, self.init_scale)
        false = jnp.asarray(False)
        return EnvState(sim=x, obs=x, reward=jnp.zeros((), x.dtype), terminated=false, solver_failed=false, info={})

    def step(self, env_state, action):
        """One step: reward ``-(x' Q x + u' R u)`` of the state and action, then ``x' = A x + B u``."""
        x, u = env_state.sim, jnp.asarray(action, env_state.sim.dtype)
        reward = -(x @ self.Q @ x + u @ self.R @ u)
        after = self.A @ x + self.B @ u
        return env_state._replace(sim=after, obs=after, reward=reward)

    # -- the known optimum --------------------------------------------------------------------
    def _discounted(self, discount):
        root = np.sqrt(discount)
        return root * self.A, root * self.B

    def initial_second_moment(self):
        """``E[x0 x0']`` of the reset distribution."""
        return np.eye(2) * self.init_scale**2 / 3.0

    def optimal_gain(self, discount=1.0):
        """``G`` of the optimal policy ``u = G x`` (``G = -K``) for the ``discount``ed infinite-horizon cost."""
        A, B = self._discounted(discount)
        P = scipy.linalg.solve_discrete_are(A, B, self.Q, self.R)
        return -np.linalg.solve(self.R + B.T @ P @ B, B.T @ P @ A)

    def cost(self, gain, discount=1.0):
        """Exact expected ``discount``ed infinite-horizon cost ``E[sum_t discount^t (x'Qx + u'Ru)]``
        of the policy ``u = gain @ x`` from the reset distribution (``inf`` if it diverges)."""
        gain = np.asarray(gain, float).reshape(1, 2)
        A, B = self._discounted(discount)
        closed = A + B @ gain
        if np.max(np.abs(np.linalg.eigvals(closed))) >= 1.0:
            return np.inf
        P = scipy.linalg.solve_discrete_lyapunov(closed.T, self.Q + gain.T @ self.R @ gain)
        return float(np.trace(P @ self.initial_second_moment()))

    def episode_cost(self, gain, steps=None):
        """Exact expected cost of an episode of ``steps`` steps (default ``max_episode_steps``),
        ``E[sum_{t<steps} x'Qx + u'Ru]``, of the policy ``u = gain @ x`` from the reset distribution
        (minus the expected episode return)."""
        gain = np.asarray(gain, float).reshape(1, 2)
        closed, weight = self.A + self.B @ gain, self.Q + gain.T @ self.R @ gain
        moment, total = self.initial_second_moment(), 0.0
        for _ in range(self.max_episode_steps if steps is None else steps):
            total += float(np.trace(weight @ moment))
            moment = closed @ moment @ closed.T
        return total

    def optimal_cost(self, discount=1.0):
        """:meth:`cost` of the optimal policy."""
        return self.cost(self.optimal_gain(discount), discount)
