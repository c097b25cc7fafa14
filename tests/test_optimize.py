"""dojax.optimize.ilqr: the Riccati optimum on a linear system, the jitted core, a constrained pendulum
swing-up in minimal and maximal coordinates, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax.optimize import (Problem, TimeInvariant, action_bounds, finish, ilqr, ilqr_solve, quadratic_cost,
                            quadratic_final_cost)
from dojax.optimize.dynamics import MINIMAL, state_vector
from dojax.optimize.ilqr import no_final_constraint, no_stage_constraint


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
    cost, final_cost = quadratic_cost(Q, R, np.zeros(2)), quadratic_final_cost(Qf, np.zeros(2))
    result = ilqr(mech, x0, np.zeros((T, 1)), cost, final_cost, verbose=True)
    expected = riccati_actions(A, B, Q, R, Qf, x0, T)
    assert result.converged, result.status
    # the first (full) step lands on the optimum; the second only confirms it is stationary
    assert result.iterations <= 2 and result.step_size[0] == 1.0
    np.testing.assert_allclose(result.actions, expected, atol=1e-8)
    assert result.violation.max() == 0.0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == result.iterations + 1  # a header and one line per iteration

    # the same problem given to the core under jax.jit (the compiled solve that ilqr runs is reused)
    problem = Problem(model=(mech, dojax.SolverOptions()), dynamics=MINIMAL, cost=TimeInvariant(cost),
                      final_cost=final_cost,
                      equality=no_stage_constraint, inequality=no_stage_constraint,
                      final_equality=no_final_constraint, final_inequality=no_final_constraint, verbose=True)
    raw = jax.jit(ilqr_solve)(problem, jnp.asarray(x0), jnp.zeros((T, 1)))
    assert int(raw.status) == 1 and int(raw.iterations) == result.iterations
    assert np.isnan(raw.cost[result.iterations + 1:]).all()  # fixed-length history, NaN after the end
    core = finish(raw, problem)
    assert core.status == result.status == "converged"
    np.testing.assert_array_equal(core.actions, result.actions)
    np.testing.assert_array_equal(core.cost, result.cost)


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


@pytest.mark.slow  # one more compiled solve, with the maximal step Jacobians: about 40 s of one core cold
def test_maximal_coordinates_reach_the_minimal_optimum(swing_up):
    # the same swing-up with the state in maximal coordinates: final constraint on the link's centre of
    # mass (upright, 0.5 m above the pivot) and its velocities; the effort weight is given per step
    # (a stage cost of the step index t), all equal to the minimal problem's 0.05
    mech, minimal = swing_up
    top = dojax.from_minimal(mech, jnp.array([np.pi, 0.0])).x[0]
    upright = lambda z: jnp.concatenate([z[0:3] - top, z[3:6], z[10:13]])
    effort = jnp.full(HORIZON, 0.05)
    cost = lambda z, u, t: effort[t] * u @ u
    result = ilqr(mech, mech.initial_state(), jnp.full((HORIZON, 1), 0.5), cost, final_equality=upright,
                  inequality=action_bounds(-TORQUE_LIMIT, TORQUE_LIMIT), penalty=10.0, cost_tolerance=1e-4,
                  coordinates="maximal")
    assert result.converged, result.status
    assert result.iterations < 100 and result.violation[-1] < 1e-4
    # the forward pass rolls the engine's step, so quaternions stay unit (to rounding)
    assert np.abs(np.linalg.norm(result.states[:, 6:10], axis=1) - 1.0).max() < 1e-12
    # both reach the same local optimum of the effort to within the constraint tolerance's effect
    # (measured: 1.9377 maximal, 1.9407 minimal)
    assert abs(result.cost[-1] - minimal.cost[-1]) < 0.01 * minimal.cost[-1]
    np.testing.assert_allclose(np.abs(result.actions).max(), TORQUE_LIMIT, atol=1e-2)
    # the maximal trajectory is the minimal one, mapped (to the solvers' tolerances)
    mapped = jax.vmap(lambda y: state_vector(dojax.from_minimal(mech, y)))(jnp.asarray(minimal.states))
    assert np.abs(mapped[:, 0:3] - result.states[:, 0:3]).max() < 0.05


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
    with pytest.raises(ValueError, match="initial_state must be a State or maximal coordinates of shape \\(13,\\)"):
        ilqr(mech, y0, U, cost, coordinates="maximal")
    with pytest.raises(ValueError, match="coordinates must be 'minimal' or 'maximal'"):
        ilqr(mech, y0, U, cost, coordinates="joint")
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
