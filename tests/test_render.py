"""Offscreen rendering: frames, videos, animations and the diagnostics plot (no simulation run)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import dojax
from dojax import render


@pytest.fixture(scope="module")
def pendulum():
    return dojax.load("pendulum")


def swinging(mech, angles):
    """A stacked State of the pendulum at the given angles (no rollout, so no solver compile)."""
    states = [dojax.from_minimal(mech, jnp.array([a, 0.0])) for a in angles]
    return jax.tree.map(lambda *a: jnp.stack(a), *states)


@pytest.mark.parametrize("name", ["pendulum", "dzhanibekov"])
def test_render_frame_is_an_rgb_image(name):
    mech = dojax.load(name)
    image = render.render_frame(mech, mech.initial_state(), width=160, height=120)
    assert image.shape == (120, 160, 3)
    assert image.dtype == np.uint8
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10  # bodies drawn, not a blank canvas


def test_frame_follows_the_state(pendulum):
    states = swinging(pendulum, [0.0, 1.0])
    camera = render.fit_camera(pendulum, states)
    first, second = (render.render_frame(pendulum, jax.tree.map(lambda a: a[i], states), 120, 120, camera)
                     for i in range(2))
    assert np.mean(np.any(first != second, axis=-1)) > 0.005


def test_gif_round_trip(tmp_path):
    frames = np.zeros((5, 32, 48, 3), np.uint8)
    for k in range(5):
        frames[k, :, : 8 * (k + 1)] = (200, 40 * k, 30)
    path = tmp_path / "v.gif"
    render.save_video(frames, path, fps=20)
    with Image.open(path) as gif:
        assert gif.n_frames == 5
        assert gif.size == (48, 32)


def test_save_video_errors(tmp_path, monkeypatch):
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match=".gif or .mp4"):
        render.save_video(frames, tmp_path / "v.avi")
    with pytest.raises(ValueError, match="uint8"):
        render.save_video(frames.astype(float), tmp_path / "v.gif")
    monkeypatch.setattr(render, "_ffmpeg", lambda: None)
    with pytest.raises(RuntimeError, match="gif"):
        render.save_video(frames, tmp_path / "v.mp4")


def test_animate_and_diagnostics(pendulum, tmp_path):
    states = swinging(pendulum, np.linspace(0.0, 1.0, 7))
    render.animate(pendulum, states, tmp_path / "a.gif", max_frames=4, width=96, height=96)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 4
    render.plot_diagnostics(pendulum, states, tmp_path / "d.png")
    with Image.open(tmp_path / "d.png") as png:
        assert png.size[0] > 100


def test_diverged_state_still_renders(pendulum):
    state = pendulum.initial_state()
    nan = state.replace(x=jnp.full_like(state.x, jnp.nan), q=jnp.full_like(state.q, jnp.nan))
    assert render.render_frame(pendulum, nan, 64, 64).shape == (64, 64, 3)


def test_only_pivots_on_the_world_are_drawn_as_dots(pendulum):
    np.testing.assert_allclose(render._world_anchors(pendulum), [[0.0, 0.0, 0.0]])  # its hinge
    hopper = dojax.load("hopper")  # its root slides in a plane: no fixed point in the world
    assert render._world_anchors(hopper).shape == (0, 3)
    image = render.render_frame(hopper, hopper.initial_state(), 64, 64)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10
