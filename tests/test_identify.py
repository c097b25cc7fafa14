"""dojax.optimize.identify: recovery of a box's friction and corners, the residual Jacobian, files, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax.optimize import Parameter, from_rollout, identify, load_trajectories, prediction_residuals, save_trajectories

FRICTION = 0.3
RADIUS = 0.02  # the box's corners rounded: a sphere of this radius at each
# one friction coefficient, one radius for the 8 corner spheres, and the mass
PARAMS = [Parameter("friction", shared=True), Parameter("contact_radius", np.s_[:, 0], shared=True), "mass"]


def tosses(mech, n, steps, seed=0):
    """Tosses of the box from random heights, orientations, velocities and spins, pushed by random forces."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        q = rng.normal(size=4)
        start = dojax.State(x=np.array([[0.0, 0.0, rng.uniform(0.55, 0.7)]]),
                            v=np.array([[*rng.uniform(-3.0, 3.0, 2), 0.0]]), q=(q / np.linalg.norm(q))[None],
                            w=rng.uniform(-6.0, 6.0, (1, 3)))
        actions = rng.normal(0.0, 3.0, (steps, 3))
        states, infos = dojax.rollout(mech, start, actions)
        assert bool(np.all(infos.converged))
        out.append(from_rollout(mech, start, states, actions))
    return out


@pytest.fixture(scope="module")
def box():
    true = dojax.load("block", friction=FRICTION)
    true = true.replace(contact_radius=true.contact_radius.at[:, 0].set(RADIUS))
    # only positions and orientations observed (velocities are differenced from them), and the actions
    data = [{k: t[k] for k in ("time", "position", "orientation", "action")} for t in tosses(true, 4, 40)]
    yield true, data
    jax.clear_caches()


@pytest.mark.slow  # one compilation of the windows' residual Jacobian (~20-30 s of a core), then 20 iterations
def test_recovers_friction_radius_and_mass_from_noise_free_tosses(box, capsys):
    true, data = box
    guess = true.replace(friction=jnp.full(8, 0.45), contact_radius=true.contact_radius.at[:, 0].set(0.03),
                         mass=jnp.array([1.3]))
    result = identify(guess, data, PARAMS, max_iterations=20, verbose=True)
    assert result.converged, result.status
    assert result.excluded == 0 and result.windows == 4 * 39
    # the model is exact, so the fit lands on the true values up to the solver's tolerance
    assert abs(result.values["friction"] / FRICTION - 1.0) < 0.01, result.values["friction"]
    assert abs(result.values["contact_radius"] / RADIUS - 1.0) < 0.01, result.values["contact_radius"]
    assert abs(result.values["mass"][0] - 1.0) < 0.01, result.values["mass"]
    assert result.cost[-1] < 1e-8 * result.cost[0] and np.all(np.diff(result.cost) <= 0.0)
    assert result.history.shape == (result.iterations + 1, 3)
    assert result.labels == ("friction (shared)", "contact_radius (shared)", "mass[0]")
    # at a fit this close the reported uncertainty is finite and far below the 1% asked of the fit
    assert all(0.0 < result.std[k] < 1e-4 for k in ("friction", "contact_radius")) and result.std["mass"][0] < 1e-3
    np.testing.assert_allclose(result.mechanism.friction, result.values["friction"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == result.iterations + 1  # a header and one line per iteration


@pytest.mark.slow  # shares the compilation above
def test_a_bound_holds_the_parameter_it_binds(box):
    true, data = box
    bounded = [Parameter("friction", shared=True, upper=0.25)] + PARAMS[1:]
    guess = true.replace(friction=jnp.full(8, 0.2))
    result = identify(guess, data, bounded, max_iterations=8)
    # the data asks for friction 0.3: the fit pushes it onto its upper bound and reports it held there
    assert result.values["friction"] == 0.25 and result.at_bound.tolist() == [True, False, False]
    assert result.std["friction"] == 0.0 and np.isfinite(result.std["mass"]).all()
    assert np.all(result.history[:, 0] <= 0.25)


@pytest.mark.slow  # shares that compilation; seven evaluations of tightly solved windows
def test_residual_jacobian_matches_finite_differences(box):
    true, data = box
    # tight solves (the default rtol 1e-6 leaves residuals uncertain at that level, which a finite
    # difference would divide by its step)
    opts = dojax.SolverOptions(rtol=1e-12)
    r, J, ok = prediction_residuals(true, data, PARAMS, opts=opts)
    assert ok.all() and J.shape == r.shape + (3,)

    # central differences with step 1e-6 (values are 0.02-1): the truncation error, of order
    # eps^2 times the third derivative, and the solves' rounding (~1e-14 / eps) stay below 1e-7
    # absolute, on derivatives of size 0.02-1 (m per unit friction, per m of radius, per kg)
    eps = 1e-6
    for column, leaf, entries in ((0, "friction", np.s_[:]), (1, "contact_radius", np.s_[:, 0]), (2, "mass", np.s_[:])):
        moved = lambda d: true.replace(**{leaf: getattr(true, leaf).at[entries].add(d)})
        fd = (prediction_residuals(moved(eps), data, PARAMS, opts=opts)[0]
              - prediction_residuals(moved(-eps), data, PARAMS, opts=opts)[0]) / (2 * eps)
        np.testing.assert_allclose(J[..., column], fd, rtol=1e-3, atol=1e-7, err_msg=leaf)
        assert np.abs(fd).max() > 1e-2, leaf  # the data is informative about every parameter


@pytest.mark.parametrize("suffix", ["csv", "npz"])
def test_files_round_trip(tmp_path, suffix):
    T = 5
    toss = dict(time=0.01 * np.arange(T), position=np.random.default_rng(0).normal(size=(T, 1, 3)),
                orientation=np.tile([[[1.0, 0.0, 0.0, 0.0]]], (T, 1, 1)), action=np.ones((T - 1, 3)))
    path = tmp_path / f"tosses.{suffix}"
    save_trajectories(path, [toss, toss], ("box",))
    loaded = load_trajectories(path)
    assert len(loaded) == 2 and set(loaded[0]) == set(toss)
    for key in toss:
        np.testing.assert_array_equal(loaded[1][key], toss[key])


def _toss(T=6):
    return dict(time=0.01 * np.arange(T), position=np.zeros((T, 1, 3)) + [0, 0, 0.25],
                orientation=np.tile([[[1.0, 0.0, 0.0, 0.0]]], (T, 1, 1)))


@pytest.mark.parametrize("change, params, message", [
    (dict(position=np.zeros((5, 1, 3))), ["friction"], r"toss 0: 'position' must have shape \(6, 1, 3\)"),
    (dict(orientation=np.full((6, 1, 4), np.nan)), ["friction"], r"toss 0: 'orientation' has non-finite values"),
    (dict(time=0.02 * np.arange(6)), ["friction"], r"toss 0: samples 0 and 1 are 0.02 s apart"),
    (dict(action=np.zeros((5, 2))), ["friction"], r"toss 0: 'action' must have shape \(5, 3\)"),
    (dict(velocity=np.zeros((6, 1, 3))), ["friction"], r"give both 'velocity' and 'angular_velocity'"),
    (dict(speed=np.zeros(6)), ["friction"], r"unknown key\(s\) \['speed'\]"),
    ({}, ["frictoin"], r"'frictoin' is not a Mechanism leaf; valid: mass, inertia, .*friction"),
    ({}, [Parameter("friction", lower=1.0, upper=0.5)], r"bounds of parameter 'friction' are infeasible"),
    ({}, [Parameter("contact_points", np.s_[:, 5])], r"index .* of parameter 'contact_points' does not fit"),
    ({}, ["friction", Parameter("friction")], r"parameter 'friction' is given twice"),
    ({}, [], r"params must name at least one Mechanism leaf"),
])
def test_bad_input_is_named(change, params, message):
    mech = dojax.load("block")
    with pytest.raises(ValueError, match=message):
        identify(mech, [_toss() | change], params)


def test_bad_options_and_batches_are_named():
    mech = dojax.load("block")
    batch = {k: np.stack([v, v]) for k, v in _toss().items()}
    with pytest.raises(ValueError, match=r"data\['position'\] must have a leading toss axis of length 3"):
        identify(mech, dict(batch, time=np.zeros((3, 6))), ["friction"])
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        identify(mech, _toss(), ["friction"], horizon=0)
    with pytest.raises(ValueError, match="no tosses are long enough for a 8-step prediction window"):
        identify(mech, _toss(), ["friction"], horizon=8)
