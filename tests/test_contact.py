"""Contact: resting, sliding, rolling, collisions between bodies, the tippe top, bad input.

Rollouts run in chunks of CHUNK steps (``simulate``) so that each mechanism structure compiles
once whatever its timestep and rollout length (the timestep is a leaf of the Mechanism).

Tolerance conventions. A converged step satisfies every equality to ``rtol`` with all cone
variables strictly interior, so a gap phi obeys phi / h = s > 0 up to rtol: phi >= -h rtol.
The smoothing kappa = btol / undercut leaves a *positive* gap of about kappa / F under a normal
force F and keeps a sticking contact's slip at kappa / (friction force) scale.
"""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax import quaternion as quat

_spec = importlib.util.spec_from_file_location(
    "contact_convergence", pathlib.Path(__file__).parents[1] / "bench" / "contact_convergence.py")
convergence = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(convergence)

CHUNK = convergence.CHUNK  # 60 steps
simulate = convergence.simulate
G = 9.81
# Hard contact: kappa = 1e-9. Equalities to 1e-8 (so phi >= -1e-9 at h <= 0.1).
TIGHT = dojax.SolverOptions(rtol=1e-8, btol=1e-8)
TIMESTEPS = (0.1, 0.05, 0.01, 0.005)
CORNERS = jnp.array([[sx, sy, sz] for sx in (-0.25, 0.25) for sy in (-0.25, 0.25) for sz in (-0.25, 0.25)])


def with_friction(mech, mu):
    # a strongly typed float64 leaf like the built model's: a weakly typed one (jnp.full(n, mu))
    # would be a different jit cache key and cost a recompilation
    return mech.replace(friction=jnp.asarray(np.full(mech.num_contacts, float(mu))))


def last(states):
    return jax.tree.map(lambda a: a[-1], states)


def world_point(x, q, local):
    """World position of body-frame point(s) ``local`` for stacked poses x (T, 3), q (T, 4)."""
    return x[:, None, :] + jax.vmap(lambda qq: jax.vmap(lambda p: quat.rotate(qq, p))(local))(q)


# -- a box tossed with spin comes to rest -------------------------------------------------------

@pytest.fixture(scope="module")
def block():
    return dojax.load("block")


@pytest.fixture(scope="module")
def tossed(block):
    """One 6 s rollout per timestep of the block tossed from z = 1.25 with spin."""
    runs = {}
    for h in TIMESTEPS:
        mech = block.replace(timestep=jnp.asarray(h))
        state = mech.initial_state().replace(
            x=jnp.array([[0.0, 0.0, 1.25]]), v=jnp.array([[1.0, 0.5, 2.0]]), w=jnp.array([[3.0, -2.0, 4.0]]))
        runs[h] = simulate(mech, state, int(round(6.0 / h)), TIGHT)
    return runs


@pytest.mark.parametrize("h", TIMESTEPS)
def test_tossed_box_comes_to_rest(tossed, h):
    # After 6 s the box (side 0.5) lies still on a face: speed below 1e-6 (sticking friction holds
    # the slip at the kappa scale; measured 1e-15 .. 3e-7 m/s), centre of mass at 0.25 m to 1e-3
    # (the smoothing gap kappa / F is ~1e-9 m), and every step converged.
    states, infos = tossed[h]
    assert bool(infos.converged.all()), f"{int((~infos.converged).sum())} steps did not converge"
    final = last(states)
    assert float(jnp.linalg.norm(final.v)) < 1e-6
    assert float(jnp.linalg.norm(final.w)) < 1e-6
    assert abs(float(final.x[0, 2]) - 0.25) < 1e-3
    assert float(jnp.max(states.x[:, 0, 2])) > 1.25  # it did fly (v_z = 2 m/s up)


def test_tossed_box_never_sinks(tossed):
    # Every corner's height at every step of every run stays above -1e-8: a converged step has
    # phi / h - s within rtol = 1e-8 and s > 0, so phi >= -h rtol >= -1e-9 (h <= 0.1); the margin
    # covers the quaternion renormalisation after the step (~1e-16 m).
    for h, (states, _) in tossed.items():
        heights = world_point(states.x[:, 0], states.q[:, 0], CORNERS)[..., 2]
        assert float(heights.min()) >= -1e-8, (h, float(heights.min()))


# -- sliding friction -------------------------------------------------------------------------------

def push(mech, angle, v0):
    """Run the resting block pushed at speed v0 along ``angle`` (rad from x), no spin, no action."""
    d = jnp.array([np.cos(angle), np.sin(angle), 0.0])
    state = mech.initial_state().replace(v=(v0 * d)[None])
    states, infos = simulate(mech, state, CHUNK, TIGHT)
    assert bool(infos.converged.all())
    # The state's velocity is the midpoint velocity of the step into it, (x_k - x_{k-1}) / h: it is
    # the velocity at t_{k-1/2}, where the body was at x_k - h v0 / 2. Measured from there, the
    # discrete stopping distance equals v0^2 / (2 mu g) up to the last, partial step (O(mu g h^2)).
    start = mech.initial_state().x[0] - 0.5 * float(mech.timestep) * v0 * d
    return np.asarray(last(states).x[0] - start), states


def test_diagonal_push_stops_at_coulomb_distance(block):
    # Under second-order-cone (isotropic) friction the block slides straight along the diagonal and
    # stops at v0^2 / (2 mu g) within 1% (measured error below 0.1%); lateral deviation |x - y|
    # below 1e-9 m (the problem is symmetric in x and y up to round-off).
    mu, v0 = 0.8, 2.0
    mech = with_friction(block, mu)
    disp, states = push(mech, np.pi / 4, v0)
    expected = v0**2 / (2 * mu * G)
    distance = float(np.hypot(disp[0], disp[1]))
    assert abs(distance / expected - 1.0) < 0.01
    assert abs(disp[0] - disp[1]) < 1e-9
    assert float(jnp.linalg.norm(last(states).v)) < 1e-6  # stopped
    print(f"\ndiagonal push: distance {distance:.6f} m, theory {expected:.6f} m, "
          f"error {100 * (distance / expected - 1):+.4f} %, |x - y| {abs(disp[0] - disp[1]):.1e} m")


def test_linear_cone_biases_direction_soc_does_not(block):
    # A push at 30 degrees from x (neither a pyramid axis nor a diagonal). SOC friction opposes the
    # sliding velocity exactly: the block stops on the 30-degree line (to 1e-6 rad) at
    # v0^2 / (2 mu g) (1%). The four-sided pyramid (contact_model="linear", edges along +-x, +-y)
    # brakes along the pyramid direction most opposed to the velocity: along -x alone until
    # v_x = v_y, then along the diagonal with mu g / 2 per axis. It stops at
    # (v0^2 / (2 mu g), v0^2 sin(2 theta) / (2 mu g)): direction atan(sin 60 deg) = 40.89 degrees
    # instead of 30. Checked to 0.5 degree (the half-step start offset and the last partial step
    # are O(h)); the deviation from 30 degrees is > 5 degrees.
    mu, v0, angle = 0.8, 2.0, np.pi / 6
    soc, _ = push(with_friction(block, mu), angle, v0)
    linear, _ = push(dojax.load("block", friction=mu, contact_model="linear"), angle, v0)
    soc_angle = np.arctan2(soc[1], soc[0])
    linear_angle = np.arctan2(linear[1], linear[0])
    assert abs(soc_angle - angle) < 1e-6
    assert abs(np.hypot(soc[0], soc[1]) / (v0**2 / (2 * mu * G)) - 1.0) < 0.01
    assert abs(linear_angle - np.arctan(np.sin(2 * angle))) < np.radians(0.5)
    assert abs(linear_angle - angle) > np.radians(5.0)
    print(f"\n30-degree push: SOC direction {np.degrees(soc_angle):.6f} deg, linear cone "
          f"{np.degrees(linear_angle):.2f} deg (theory {np.degrees(np.arctan(np.sin(2 * angle))):.2f})")


def test_sliding_sphere_starts_rolling_at_five_sevenths():
    # A solid sphere (radius 0.5, friction 0.2) launched at v0 = 2 m/s without spin slides until
    # friction has spun it up to rolling. Angular momentum about the contact point is conserved
    # (the friction force passes through it): m v0 r = m v r + (2/5) m r^2 w with v = w r gives
    # v = 5/7 v0 after t = 2 v0 / (7 mu g) = 0.29 s. Checked to 1% (measured 3e-5); then
    # it rolls without slipping (contact-point speed below 1e-6 m/s) at constant speed.
    mu, v0, r = 0.2, 2.0, 0.5
    mech = with_friction(dojax.load("sphere"), mu)
    state = mech.initial_state().replace(v=jnp.array([[v0, 0.0, 0.0]]))
    states, infos = simulate(mech, state, CHUNK, TIGHT)
    assert bool(infos.converged.all())
    v = np.asarray(states.v[:, 0])
    w_world = np.asarray(jax.vmap(quat.rotate)(states.q[:, 0], states.w[:, 0]))
    slip = v[:, 0] - r * w_world[:, 1]  # contact-point velocity: v + w x (0, 0, -r)
    rolling = np.flatnonzero(np.abs(slip) < 1e-6)
    assert len(rolling) > 0
    t_roll = float(mech.timestep) * (rolling[0] + 1)
    assert abs(t_roll - 2 * v0 / (7 * mu * G)) < 2 * float(mech.timestep)
    ratio = v[-1, 0] / v0
    assert abs(ratio / (5.0 / 7.0) - 1.0) < 0.01
    assert np.all(np.abs(slip[rolling[0]:]) < 1e-6)
    assert np.all(np.abs(v[rolling[0]:, 0] - v[-1, 0]) < 1e-6)
    print(f"\nsliding sphere: rolling from t = {t_roll:.2f} s at v / v0 = {ratio:.8f} (5/7 = {5 / 7:.8f})")


# -- collisions between bodies ------------------------------------------------------------------------

def test_head_on_spheres_conserve_momentum():
    # Two free spheres (radius 0.5, masses 1 and 2) in zero gravity, the first moving at 1 m/s
    # towards the second at rest, frictionless impact model. Contact impulses are equal and
    # opposite, so total linear momentum (1 kg m/s) is conserved to the solver's tolerance (1e-8
    # on each body's momentum equation). The impact is inelastic (the contact stops the approach
    # within the step), so both move on at 1/3 m/s; the smoothed contact then still pushes them
    # apart a little (its impulse kappa h / gap acts like a barrier potential, worth a relative
    # speed ~ sqrt(kappa / m) ~ 1e-4 m/s at kappa = 1e-9), hence 1e-3 on the final velocities.
    # The gap never drops below -h rtol (1e-8 margin).
    b = dojax.MechanismBuilder(timestep=0.01, gravity=0.0)
    b.add_body("a", mass=1.0, shape=dojax.shapes.Sphere(0.5), velocity=(1.0, 0.0, 0.0))
    b.add_body("b", mass=2.0, shape=dojax.shapes.Sphere(0.5), position=(1.5, 0.0, 0.0))
    b.add_collision("a", ("sphere", (0, 0, 0), 0.5), "b", ("sphere", (0, 0, 0), 0.5), model="impact")
    mech = b.build()
    opts = dojax.SolverOptions(rtol=1e-10, btol=1e-8)
    states, infos = simulate(mech, mech.initial_state(), CHUNK, opts)
    assert bool(infos.converged.all())
    p = jax.vmap(lambda s: dojax.momentum(mech, s)[0])(states)
    assert float(jnp.max(jnp.abs(p - jnp.array([1.0, 0.0, 0.0])))) < 1e-8
    gap = jnp.linalg.norm(states.x[:, 0] - states.x[:, 1], axis=-1) - 1.0
    assert float(gap.min()) > -1e-8
    assert float(gap[0]) > 0.4 and float(gap.min()) < 1e-6  # they did meet
    np.testing.assert_allclose(last(states).v[:, 0], [1 / 3, 1 / 3], atol=1e-3)


def test_shape_pairs_stop_a_dropped_body():
    # Smoke test of the sphere-capsule, capsule-capsule and sphere-box geometries: three heavy
    # bodies welded to the world (fixed joints), and on each a body dropped from 0.4 m above it:
    # a sphere (r 0.2) on a capsule (r 0.2, along y), a capsule (r 0.1, along x) across a capsule
    # (r 0.2, along y), a sphere (r 0.2) on a box (half extents 0.5, 0.5, 0.2). No gap ever below
    # -1e-8 (-h rtol margin); after 1.2 s each dropped body rests on top (speed < 1e-6, centre
    # height to 1e-4: the smoothing gap kappa / F ~ 1e-9 m).
    b = dojax.MechanismBuilder(timestep=0.01)
    capsule_y = ("capsule", (0, -0.5, 0), (0, 0.5, 0), 0.2)
    bases = [("rod1", capsule_y, 0.0), ("rod2", capsule_y, 3.0), ("table", ("box", (0.5, 0.5, 0.2)), 6.0)]
    for name, shape, x in bases:
        b.add_body(name, mass=10.0, shape=dojax.shapes.Box(1.0, 1.0, 0.4))
        b.add_joint(f"{name}_weld", "fixed", "world", name, parent_vertex=(x, 0.0, 0.2))
    drops = [("ball1", ("sphere", (0, 0, 0), 0.2), 0.0, 0.6, "rod1"),
             ("stick", ("capsule", (-0.3, 0, 0), (0.3, 0, 0), 0.1), 3.0, 0.5, "rod2"),
             ("ball2", ("sphere", (0, 0, 0), 0.2), 6.1, 0.6, "table")]
    for name, shape, x, rest, base in drops:
        body_shape = dojax.shapes.Sphere(0.2) if shape[0] == "sphere" else dojax.shapes.Capsule(0.1, 0.6)
        b.add_body(name, mass=1.0, shape=body_shape, position=(x, 0.0, rest + 0.4))
        base_shape = next(s for n, s, _ in bases if n == base)
        b.add_collision(name, shape, base, base_shape, friction=0.5)
    mech = b.build()
    states, infos = simulate(mech, mech.initial_state(), 2 * CHUNK, TIGHT)
    assert bool(infos.converged.all())
    from dojax.collision import GEOMETRIES

    params = dict(points=mech.contact_points, radius=mech.contact_radius, normal=mech.contact_normal,
                  offset=mech.contact_offset, extent=mech.contact_extent)
    s = mech.structure
    for k, (name, shape, x, rest, base) in enumerate(drops):
        a, bb = s.contact_body_a[k], s.contact_body_b[k]
        geometry = {"sphere": "sphere_capsule", "capsule": "capsule_capsule"}[shape[0]] if base != "table" \
            else "sphere_box"
        p = jax.tree.map(lambda v: v[k], params)
        phi = jax.vmap(lambda xa, qa, xb, qb: GEOMETRIES[geometry](xa, qa, xb, qb, p)[0])(
            states.x[:, a], states.q[:, a], states.x[:, bb], states.q[:, bb])
        assert float(phi.min()) > -1e-8, name
        final = last(states)
        assert float(jnp.linalg.norm(final.v[a])) < 1e-6, name
        assert abs(float(final.x[a, 2]) - rest) < 1e-4, name
        assert abs(float(final.x[a, 0]) - x) < 1e-6, name  # landed where it was dropped


def test_capsule_and_box_rest_on_a_box():
    # A capsule (r 0.1, along x, its ends and its segment against the table) and a box (corners
    # against corners) dropped 0.2 m onto a table box welded to the world: every gap stays above
    # -1e-8 (hard contact, kappa 1e-9), and after 1.2 s both rest on top, level (speed < 1e-6,
    # height to 1e-4).
    b = dojax.MechanismBuilder(timestep=0.01)
    b.add_body("table", mass=10.0, shape=dojax.shapes.Box(2.0, 1.0, 0.4))
    b.add_joint("weld", "fixed", "world", "table", parent_vertex=(0.0, 0.0, 0.2))
    b.add_body("rod", mass=1.0, shape=dojax.shapes.Capsule(0.1, 0.6), position=(-0.5, 0.0, 0.7))
    b.add_collision("rod", ("capsule", (-0.3, 0, 0), (0.3, 0, 0), 0.1), "table", ("box", (1.0, 0.5, 0.2)),
                    name="rod")
    b.add_body("cube", mass=1.0, shape=dojax.shapes.Box(0.4, 0.4, 0.2), position=(0.5, 0.0, 0.7),
               orientation=quat.from_rotation_vector(jnp.array([0.0, 0.0, 0.3])))
    b.add_collision("cube", ("box", (0.2, 0.2, 0.1)), "table", ("box", (1.0, 0.5, 0.2)), name="cube")
    mech = b.build()
    assert mech.num_contacts == 3 + 16
    states, infos = simulate(mech, mech.initial_state(), 2 * CHUNK, TIGHT)
    assert bool(infos.converged.all())
    from dojax.collision import GEOMETRIES

    params = dict(points=mech.contact_points, radius=mech.contact_radius, normal=mech.contact_normal,
                  offset=mech.contact_offset, extent=mech.contact_extent)
    s = mech.structure
    geometries = {k: g[2] for g in s.element_groups if g[0] == "contact" for k in g[3]}
    for k, geometry in geometries.items():
        a, bb = s.contact_body_a[k], s.contact_body_b[k]
        p = jax.tree.map(lambda v: v[k], params)
        phi = jax.vmap(lambda xa, qa, xb, qb: GEOMETRIES[geometry](xa, qa, xb, qb, p)[0])(
            states.x[:, a], states.q[:, a], states.x[:, bb], states.q[:, bb])
        assert float(phi.min()) > -1e-8, s.contact_names[k]
    final = last(states)
    for body, rest in ((1, 0.5), (2, 0.5)):
        assert float(jnp.linalg.norm(final.v[body])) < 1e-6
        assert abs(float(final.x[body, 2]) - rest) < 1e-4


# -- tippe top -------------------------------------------------------------------------------------------

def test_tippetop_inverts():
    # dojax.load("tippetop"): ball R = 0.1 m, centre of mass 0.03 m below the ball's centre, stem
    # sphere (r 0.02) at distance R from it, friction 0.4, spin 50 rad/s, tilt 0.1 rad, dt 0.01.
    # Sliding friction turns it over: within 5 s its axis points down (z-component below -0.7;
    # it settles at (r - R) / R = -0.8 resting on ball and stem), the stem touches the ground
    # (gap below 1e-3 m) and its centre of mass has risen by > 4 cm (0.070 -> 0.124 m) at the
    # expense of spin. Every step converged.
    mech = dojax.load("tippetop")
    state = mech.initial_state()
    np.testing.assert_allclose(state.w[0], [0.0, 0.0, 50.0], atol=1e-9)
    states, infos = simulate(mech, state, 500, dojax.SolverOptions())
    assert bool(infos.converged.all())
    axis_z = np.asarray(jax.vmap(lambda q: quat.rotate(q, jnp.array([0.0, 0.0, 1.0]))[2])(states.q[:, 0]))
    assert axis_z[0] > 0.99
    t_down = 0.01 * (np.argmax(axis_z < -0.7) + 1)
    assert axis_z.min() < -0.7 and t_down < 5.0
    assert np.all(axis_z[-100:] < -0.7)  # and stays inverted
    final = last(states)
    stem = final.x[0] + quat.rotate(final.q[0], mech.contact_points[1, 0])
    assert float(stem[2]) - float(mech.contact_radius[1, 0]) < 1e-3
    assert float(final.x[0, 2]) - float(state.x[0, 2]) > 0.04
    print(f"\ntippe top: axis z below -0.7 from t = {t_down:.2f} s; final axis z {axis_z[-1]:.3f}, "
          f"COM height {float(state.x[0, 2]):.4f} -> {float(final.x[0, 2]):.4f} m, "
          f"mean Newton iterations {float(infos.iterations.mean()):.1f}")


# -- solver convergence report -----------------------------------------------------------------------

@pytest.mark.slow
def test_convergence_report():
    # block, sphere and the 5-link chain on the ground, 1 s from a moving start (see
    # bench/contact_convergence.py), at timesteps 0.1 .. 0.005: with default SolverOptions every step
    # converges. The table (also for tight tolerances rtol = btol = 1e-8, where the chain at
    # h >= 0.05 has steps that stall at max_iter) is printed with pytest -s.
    rows = convergence.convergence_rows()
    print("\n" + convergence.markdown(rows))
    for r in rows:
        if r["setting"] == "default":
            assert r["converged"] == 1.0, r
    for r in rows:
        if r["setting"] == "tight" and r["model"] != "chain":
            assert r["converged"] == 1.0, r


def test_stalled_solve_lowers_its_target():
    # Dojo's no-progress heuristic. The first step of a 4-link chain pushed along the ground with
    # its joints driven stalls for a while (19 iterations at a fixed kappa = btol / undercut = 1e-5).
    # By default (no_progress_max 3) the stall lowers the target to 1e-6: the solve converges in
    # fewer iterations at the harder contact, every complementarity product near 1e-6 (centring
    # within rtol = 1e-6, so below 2e-6 plus rounding); with the heuristic off
    # (no_progress_max > max_iter) the products stay at 1e-5 (within rtol).
    mech = dojax.load("chain", links=4, timestep=0.01)
    state = mech.initial_state().replace(v=jnp.tile(jnp.array([1.0, 0.5, 0.0]), (mech.num_bodies, 1)))
    action = 2.0 * jnp.sin(jnp.arange(mech.action_size, dtype=float))
    _, stalled = dojax.step(mech, state, action, dojax.SolverOptions())
    _, fixed = dojax.step(mech, state, action, dojax.SolverOptions(no_progress_max=1000))
    assert bool(stalled.converged) and bool(fixed.converged)
    assert float(fixed.kappa) == pytest.approx(1e-5, rel=1e-12)
    assert float(stalled.kappa) == pytest.approx(1e-6, rel=1e-12)
    assert int(stalled.iterations) < int(fixed.iterations)
    assert float(stalled.complementarity) < 2.1e-6
    assert 9e-6 < float(fixed.complementarity) < 1.1e-5


# -- bad input ------------------------------------------------------------------------------------------

def _one_body():
    b = dojax.MechanismBuilder()
    b.add_body("ball", mass=1.0, shape=dojax.shapes.Sphere(0.5))
    return b


@pytest.mark.parametrize("kwargs, message", [
    (dict(friction=0.0), "friction"),
    (dict(friction=-0.5), "friction"),
    (dict(friction=float("nan")), "friction"),
    (dict(friction=float("inf")), "friction"),
    (dict(radius=-0.1), "radius"),
    (dict(radius=float("nan")), "radius"),
    (dict(model="coulomb"), "model"),
    (dict(normal=(0, 0, 0)), "normal"),
])
def test_bad_contact_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _one_body().add_contact("ball", **kwargs)


def test_bad_collision_rejected():
    b = _one_body()
    b.add_body("other", mass=1.0, shape=dojax.shapes.Sphere(0.5))
    sphere = ("sphere", (0, 0, 0), 0.5)
    with pytest.raises(ValueError, match="unknown body"):
        b.add_contact("ghost")
    with pytest.raises(ValueError, match="unknown body"):
        b.add_collision("ball", sphere, "ghost", sphere)
    with pytest.raises(ValueError, match="itself"):
        b.add_collision("ball", sphere, "ball", sphere)
    with pytest.raises(ValueError, match="radius"):
        b.add_collision("ball", ("sphere", (0, 0, 0), -0.5), "other", sphere)
    with pytest.raises(ValueError, match="friction"):
        b.add_collision("ball", sphere, "other", sphere, friction=float("nan"))
    with pytest.raises(ValueError, match="half extents"):
        b.add_collision("ball", sphere, "other", ("box", (0.5, 0.0, 0.5)))
    with pytest.raises(ValueError, match="collision shape must be"):
        b.add_collision("ball", ("cylinder", (1, 1, 1)), "other", ("box", (1, 1, 1)))


@pytest.mark.parametrize("friction", [0.0, -1.0, float("nan"), float("inf")])
def test_load_rejects_bad_friction(friction):
    with pytest.raises(ValueError, match="friction"):
        dojax.load("block", friction=friction)
    with pytest.raises(ValueError, match="friction"):
        dojax.load("block", contact_model="linear", friction=friction)
    with pytest.raises(ValueError, match="friction"):
        dojax.MODELS["block"](friction=friction)  # the model's own option goes to the builder


def test_npendulum_ground_contact_option():
    # npendulum(ground_contact=True): a point contact at both ends of every link against the plane
    # z = -links * length (the hanging chain's tip level); limits go to every joint.
    mech = dojax.load("npendulum", links=3, length=0.5, ground_contact=True, limits=(-1.0, 1.0))
    assert mech.num_contacts == 6
    np.testing.assert_allclose(np.asarray(mech.contact_offset), -1.5)
    np.testing.assert_allclose(np.asarray(mech.contact_radius), 0.0)
    tip = mech.initial_state().x[-1] + jnp.array([0.0, 0.0, -0.25])
    assert abs(float(tip[2]) + 1.5) < 1e-12
    assert dojax.load("npendulum", links=3).num_contacts == 0


def test_load_friction_sets_every_contact():
    mech = dojax.load("chain", friction=0.3)
    np.testing.assert_array_equal(np.asarray(mech.friction), np.full(mech.num_contacts, 0.3))
    with pytest.raises(ValueError, match="no contacts"):
        dojax.load("pendulum", friction=0.3)
