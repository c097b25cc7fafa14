"""Bad input gives clear errors at build time, or a flagged (not silently NaN) step."""

import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax.shapes import Box


def _builder():
    b = dojax.MechanismBuilder(timestep=0.01)
    b.add_body("link", mass=1.0, shape=Box(0.1, 0.1, 1.0))
    return b


@pytest.fixture(scope="module")
def pendulum():
    return dojax.load("pendulum")


def test_wrong_action_shape_names_expected_shape(pendulum):
    with pytest.raises(ValueError, match=r"\(1,\)"):
        dojax.step(pendulum, pendulum.initial_state(), jnp.zeros(3))
    with pytest.raises(ValueError, match=r"\(5, 1\)"):
        dojax.rollout(pendulum, pendulum.initial_state(), jnp.zeros((5, 2)))


def test_wrong_state_shape(pendulum):
    state = pendulum.initial_state()
    with pytest.raises(ValueError, match="state.q"):
        dojax.step(pendulum, state.replace(q=jnp.zeros((1, 3))), jnp.zeros(1))


@pytest.mark.parametrize("kwargs, message", [
    (dict(mass=0.0, shape=Box(1, 1, 1)), "mass"),
    (dict(mass=-1.0, shape=Box(1, 1, 1)), "mass"),
    (dict(mass=1.0, inertia=[[1, 0.5, 0], [0, 1, 0], [0, 0, 1]]), "symmetric"),
    (dict(mass=1.0, inertia=np.diag([1.0, -1.0, 1.0])), "positive definite"),
    (dict(mass=1.0, inertia=np.diag([1.0, 1.0, 5.0])), "triangle"),
    (dict(mass=1.0), "inertia or a shape"),
])
def test_non_physical_bodies_rejected(kwargs, message):
    b = dojax.MechanismBuilder()
    with pytest.raises(ValueError, match=message):
        b.add_body("body", **kwargs)


def test_bad_joints_rejected():
    b = _builder()
    with pytest.raises(ValueError, match="non-zero length"):
        b.add_joint("j", "revolute", "world", "link", axis=(0, 0, 0))
    with pytest.raises(ValueError, match="unknown joint type"):
        b.add_joint("j", "hinge", "world", "link")
    with pytest.raises(ValueError, match="not a body"):
        b.add_joint("j", "revolute", "world", "nothing")
    with pytest.raises(ValueError, match="constrained"):
        b.add_joint("j", "revolute", "world", "link", axis=(1, 0, 0))
        b.add_actuator("j", 0)


def test_contact_inside_the_ground_warns_with_its_depth():
    import warnings

    from dojax.mechanism import ContactPenetrationWarning

    def ball(height):
        b = dojax.MechanismBuilder()
        b.add_body("ball", mass=1.0, shape=Box(0.2, 0.2, 0.2), position=(0, 0, height))
        b.add_contact("ball", radius=0.1, name="foot")
        return b.build()

    with pytest.warns(ContactPenetrationWarning, match=r"'foot' on body 'ball' 0\.03 m deep"):
        ball(0.07)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ball(0.1)  # touching
        ball(0.5)  # above


@pytest.mark.parametrize("timestep", [0.0, -0.01, float("nan")])
def test_bad_timestep_rejected(timestep):
    with pytest.raises(ValueError, match="timestep"):
        dojax.MechanismBuilder(timestep=timestep)
    with pytest.raises(ValueError, match="timestep"):
        dojax.load("pendulum", timestep=timestep)


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="pendulum"):
        dojax.load("pendulm")
    with pytest.raises(ValueError, match="links"):
        dojax.load("pendulum", links=3)


def test_nan_input_is_flagged_not_converged(pendulum):
    state = pendulum.initial_state()
    _, info = dojax.step(pendulum, state, jnp.array([jnp.nan]))
    assert not bool(info.converged)
    _, info = dojax.step(pendulum, state.replace(v=state.v.at[0, 0].set(jnp.nan)), jnp.zeros(1))
    assert not bool(info.converged)
    _, info = dojax.step(pendulum, state, jnp.zeros(1))
    assert bool(info.converged)


def test_excessive_angular_velocity_is_reported(pendulum):
    # |w| >= 2/h cannot be represented by one step of the integrator: reported, not a crash.
    state = pendulum.initial_state()
    fast = state.replace(w=jnp.array([[250.0, 0.0, 0.0]]))  # 2/h = 200 rad/s
    nxt, info = dojax.step(pendulum, fast, jnp.zeros(1))
    assert not bool(info.converged)


@pytest.mark.parametrize("kwargs, message", [
    (dict(rtol=0.0), "rtol"),
    (dict(btol=-1e-4), "btol"),
    (dict(undercut=float("nan")), "undercut"),
    (dict(no_progress_undercut=0.0), "no_progress_undercut"),
    (dict(no_progress_max=0), "no_progress_max"),
    (dict(max_iter=0), "max_iter"),
])
def test_bad_solver_options_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dojax.SolverOptions(**kwargs)
