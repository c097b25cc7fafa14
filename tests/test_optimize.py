"""dojax.optimize.ilqr: the Riccati optimum on a linear system, a constrained pendulum swing-up, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax.optimize import action_bounds, ilqr, quadratic_cost, quadratic_final_cost


def riccati_actions(A, B, Q, R, Qf, x0, T):
    """Optimal actions of the finite-horizon discrete LQR problem, by the backward Riccati recursion."""
    P, gains = Qf, []
    for _ in range(T):
        K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P = Q + A.T @ P @ (A - B @ K)
        gains.append(K)
    x, actions = x0, []
    for K in reversed(gains):
        u = -K @ x
        actions.append(u)
        x = A @ x + B @ u
    return np.array(actions)


def test_linear_quadratic_problem_reaches_the_riccati_optimum_in_one_step(capsys):
    # a slider without gravity is a double integrator in minimal coordinates [position, velocity]:
    # v' = v + h u / m, x' = x + h v' (the variational integrator's midpoint velocity)
    h, T = 0.1, 20
    mech = dojax.load("slider", timestep=h, gravity=0.0)
    A, B = np.array([[1.0, h], [0.0, 1.0]]), np.array([[h * h], [h]])
    Q, R, Qf = np.diag([1.0, 0.1]), np.array([[0.01]]), np.diag([10.0, 1.0])
    x0 = np.array([1.0, -0.5])
    result = ilqr(mech, x0, np.zeros((T, 1)), quadratic_cost(Q, R, np.zeros(2)),
                  quadratic_final_cost(Qf, np.zeros(2)), verbose=True)
    expected = riccati_actions(A, B, Q, R, Qf, x0, T)
    assert result.converged, result.status
    # the first (full) step lands on the optimum; the second only confirms it is stationary
    assert result.iterations <= 2 and result.step_size[0] == 1.0
    np.testing.assert_allclose(result.actions, expected, atol=1e-8)
    assert result.violation.max() == 0.0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == result.iterations + 1  # a header and one line per iteration


DT, HORIZON, TORQUE_LIMIT = 0.1, 40, 1.4


@pytest.fixture(scope="module")
def swing_up():
    """Pendulum from hanging at rest to upright at rest in 4 s, torque bounded below what a direct lift needs."""
    mech = dojax.load("pendulum", timestep=DT)
    upright = lambda y: jnp.array([jnp.sin(y[0]), 1.0 + jnp.cos(y[0]), y[1]])  # theta = pi, at rest
    cost = lambda y, u: 0.05 * u @ u
    result = ilqr(mech, mech.initial_state(), jnp.full((HORIZON, 1), 0.5), cost, final_equality=upright,
                  inequality=action_bounds(-TORQUE_LIMIT, TORQUE_LIMIT), penalty=10.0, cost_tolerance=1e-4)
    yield mech, result
    jax.clear_caches()


def test_pendulum_swing_up_meets_the_final_state_constraint(swing_up):
    mech, result = swing_up
    assert result.converged, result.status
    assert result.iterations < 60
    theta, rate = result.states[-1]
    assert abs(np.mod(theta, 2 * np.pi) - np.pi) < 1e-3 and abs(rate) < 1e-3
    assert result.violation[-1] < 1e-4
    assert np.all(np.isfinite(result.cost)) and np.all(np.isfinite(result.states))
    assert np.all((result.step_size >= 0.0) & (result.step_size <= 1.0))
    # the optimised actions replayed through the engine give the same trajectory (to the steps' solver
    # tolerance, rtol 1e-6; angles compared modulo 2 pi)
    states, infos = dojax.rollout(mech, mech.initial_state(), result.actions)
    difference = jax.jit(jax.vmap(dojax.to_minimal, in_axes=(None, 0)))(mech, states) - result.states[1:]
    difference = difference.at[:, 0].set(jnp.mod(difference[:, 0] + np.pi, 2 * np.pi) - np.pi)
    assert np.abs(difference).max() < 1e-5
    assert bool(infos.converged.all())


def test_action_bounds_hold_and_are_active(swing_up):
    _, result = swing_up
    peak = np.abs(result.actions).max()
    assert peak <= TORQUE_LIMIT + 1e-4  # within the constraint tolerance
    assert peak > TORQUE_LIMIT - 1e-2   # the bound shapes the solution (unbounded, the peak is about 1.63)


def test_bad_input_is_a_value_error_naming_the_item():
    mech = dojax.load("pendulum", timestep=DT)
    y0, U = jnp.zeros(2), jnp.zeros((5, 1))
    cost = lambda y, u: u @ u
    with pytest.raises(ValueError, match="initial_actions must have shape"):
        ilqr(mech, y0, jnp.zeros((5, 2)), cost)
    with pytest.raises(ValueError, match="initial_actions must be finite"):
        ilqr(mech, y0, U.at[2, 0].set(jnp.nan), cost)
    with pytest.raises(ValueError, match="initial_state must be a State or minimal coordinates"):
        ilqr(mech, jnp.zeros(3), U, cost)
    with pytest.raises(ValueError, match="cost must return a scalar"):
        ilqr(mech, y0, U, lambda y, u: y)
    with pytest.raises(ValueError, match="final_cost must return a scalar"):
        ilqr(mech, y0, U, cost, final_cost=lambda y: y)
    with pytest.raises(ValueError, match="final_equality must return a 1-D array"):
        ilqr(mech, y0, U, cost, final_equality=lambda y: y[0])
    with pytest.raises(ValueError, match="inequality failed"):
        ilqr(mech, y0, U, cost, inequality=lambda y, u: y @ jnp.ones(3))
    with pytest.raises(ValueError, match="action_bounds"):
        action_bounds(1.0, -1.0)
