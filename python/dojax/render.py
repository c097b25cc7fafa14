"""Offscreen rendering with matplotlib: frames, GIF/MP4 animations and diagnostic plots.

Nothing here touches pyplot's global state: every figure is a ``matplotlib.figure.Figure`` drawn
by its own Agg canvas, so rendering works headless and from threads.

    states, infos = dojax.rollout(mech, mech.initial_state(), actions)
    dojax.render.animate(mech, states, "run.gif")
    dojax.render.plot_diagnostics(mech, states, "run_diagnostics.png")

Bodies are drawn as shaded polygon meshes of their shapes, each at its own pose on the body
(``Structure.visuals``: for imported models their geoms; a visible body without any as the box
with its inertia); joints that pin a body to a point of the world (no translational freedom) draw
that pivot as a black dot, and a ground grid is drawn across the bottom of the view (perpendicular
to gravity's largest component) when gravity is non-zero.
"""

import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from dojax import quaternion as quat
from dojax.diagnostics import energy, momentum
from dojax.shapes import Box, Capsule, Cylinder, Sphere

_DPI = 100
_SEGMENTS = 16  # polygon sides around round shapes
_PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
            "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")
_LIGHT = np.array([0.4, -0.3, 0.85]) / np.linalg.norm([0.4, -0.3, 0.85])


class Camera(NamedTuple):
    """A fixed view: the cube of half-side ``radius`` about ``center`` (world frame, metres),
    seen from elevation ``elev`` and azimuth ``azim`` (degrees, matplotlib's convention)."""

    center: np.ndarray
    radius: float
    elev: float = 20.0
    azim: float = 30.0


# -- meshes ------------------------------------------------------------------------------------
def _box_mesh(sides):
    """8 corners and 6 quads of a box with full side lengths ``sides``."""
    corners = np.array([[i, j, k] for i in (-0.5, 0.5) for j in (-0.5, 0.5) for k in (-0.5, 0.5)])
    quads = np.array([[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]])
    return corners * np.asarray(sides), quads


def _revolved_mesh(radii, heights):
    """Quads of the surface swept by the profile (radius, z) points about the body z axis."""
    angle = np.linspace(0.0, 2.0 * np.pi, _SEGMENTS, endpoint=False)
    ring = np.stack([np.cos(angle), np.sin(angle), np.zeros_like(angle)], axis=-1)
    verts = np.concatenate([r * ring + [0.0, 0.0, z] for r, z in zip(radii, heights)])
    i = np.arange(_SEGMENTS)
    band = np.stack([i, (i + 1) % _SEGMENTS, (i + 1) % _SEGMENTS + _SEGMENTS, i + _SEGMENTS], axis=-1)
    quads = np.concatenate([band + _SEGMENTS * k for k in range(len(radii) - 1)])
    return verts, quads


def _hemisphere_profile(radius, sign, bands=4):
    """(radii, heights) from the equator to the pole of a hemisphere (sign +1 up, -1 down)."""
    lat = np.linspace(0.0, 0.5 * np.pi, bands + 1)
    return radius * np.cos(lat), sign * radius * np.sin(lat)


def _shape_mesh(shape, mass, inertia):
    """Body-frame (vertices (n, 3), quads (m, 4)) of a shape; None gives the inertia box."""
    if isinstance(shape, Box):
        return _box_mesh((shape.x, shape.y, shape.z))
    if isinstance(shape, Cylinder):
        r, h = shape.radius, 0.5 * shape.length
        return _revolved_mesh([0.0, r, r, 0.0], [-h, -h, h, h])
    if isinstance(shape, (Sphere, Capsule)):
        h = 0.5 * shape.length if isinstance(shape, Capsule) else 0.0
        r_up, z_up = _hemisphere_profile(shape.radius, 1.0)
        r_down, z_down = _hemisphere_profile(shape.radius, -1.0)
        return _revolved_mesh(np.concatenate([r_down[::-1], r_up]),
                              np.concatenate([z_down[::-1] - h, z_up + h]))
    if shape is None:  # the uniform box with the body's mass and principal moments
        moments, axes = np.linalg.eigh(inertia)
        sides = np.sqrt(np.maximum(6.0 * (moments.sum() - 2.0 * moments) / mass, 0.0))
        verts, quads = _box_mesh(sides)
        return verts @ axes.T, quads
    raise TypeError(f"cannot draw shape {shape!r}")


def _body_meshes(mech):
    """All bodies' meshes in their body frames: vertices (N, 3), their body (N,), quads (M, 4), quad
    colours (M, 3)."""
    import matplotlib.colors

    s = mech.structure
    mass, inertia = np.asarray(mech.mass), np.asarray(mech.inertia)
    # (empty first entries: a mechanism of invisible bodies draws nothing)
    verts, owner = [np.zeros((0, 3))], [np.zeros(0, int)]
    quads, colors = [np.zeros((0, 4), int)], [np.zeros((0, 3))]
    offset = 0
    for b, (visuals, color) in enumerate(zip(s.visuals, s.colors)):
        rgb = matplotlib.colors.to_rgb(color if color is not None else _PALETTE[b % len(_PALETTE)])
        placed = [(None, (0.0, 0.0, 0.0), quat.IDENTITY)] if visuals is None else visuals
        for shape, position, orientation in placed:
            v, f = _shape_mesh(shape, mass[b], inertia[b])
            verts.append(np.asarray(position) + v @ _rotations(np.asarray(orientation)).T)
            owner.append(np.full(len(v), b))
            quads.append(f + offset)
            colors.append(np.tile(rgb, (len(f), 1)))
            offset += len(v)
    return np.concatenate(verts), np.concatenate(owner), np.concatenate(quads), np.concatenate(colors)


def _world_anchors(mech):
    """(k, 3) world points where joints pin a body to the world: joints to the world without
    translational freedom (a sliding or floating joint's anchor is no fixed point)."""
    s = mech.structure
    pinned = (s.joint_parent == mech.num_bodies) & (np.asarray(s.free_mask)[:, :3].sum(axis=1) == 0)
    return np.asarray(mech.vertex_parent)[pinned].reshape(-1, 3)


# -- camera ------------------------------------------------------------------------------------
def fit_camera(mech, states, elev=20.0, azim=30.0):
    """A Camera whose cube holds every body of ``states`` (one State or a stacked rollout)."""
    verts, owner, _, _ = _body_meshes(mech)
    reach = np.zeros(mech.num_bodies)
    np.maximum.at(reach, owner, np.linalg.norm(verts, axis=-1))
    x = np.asarray(states.x).reshape(-1, mech.num_bodies, 3)
    points = np.concatenate([(x - reach[:, None]).reshape(-1, 3), (x + reach[:, None]).reshape(-1, 3),
                             _world_anchors(mech)])
    points = points[np.all(np.isfinite(points), axis=-1)]  # a diverged run still gets a view
    if len(points) == 0:
        points = np.zeros((1, 3))
    lo, hi = points.min(axis=0), points.max(axis=0)
    radius = max(0.55 * float(np.max(hi - lo)), 1e-3)
    return Camera(center=0.5 * (lo + hi), radius=radius, elev=float(elev), azim=float(azim))


def _figure(**kwargs):
    """A matplotlib Figure on its own Agg canvas (matplotlib is imported here, on first drawing,
    so that importing dojax does not pay for it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(dpi=_DPI, **kwargs)
    return fig, FigureCanvasAgg(fig)


class _Scene:
    """One figure with the static parts drawn; ``draw`` poses the bodies and rasterises."""

    def __init__(self, mech, camera, width, height):
        from mpl_toolkits.mplot3d.art3d import Line3DCollection, Poly3DCollection  # registers "3d" axes

        self.fig, self.canvas = _figure(figsize=(width / _DPI, height / _DPI))
        ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0), projection="3d")
        ax.set_axis_off()
        ax.computed_zorder = False
        ax.view_init(elev=camera.elev, azim=camera.azim)
        c, r = np.asarray(camera.center, dtype=float), float(camera.radius)
        ax.set_xlim(c[0] - r, c[0] + r)
        ax.set_ylim(c[1] - r, c[1] + r)
        ax.set_zlim(c[2] - r, c[2] + r)
        ax.set_box_aspect((1.0, 1.0, 1.0), zoom=1.25)

        g = np.asarray(mech.gravity)
        if np.any(g != 0.0):
            ax.add_collection3d(Line3DCollection(_ground_grid(g, c, r), colors="0.75", linewidths=0.6,
                                                 zorder=0))
        anchors = _world_anchors(mech)
        if len(anchors):
            ax.scatter(*anchors.T, color="black", s=12, depthshade=False, zorder=2)

        self.verts, self.owner, self.quads, self.colors = _body_meshes(mech)
        self.poly = Poly3DCollection(np.zeros((len(self.quads), 4, 3)), linewidths=0.3, zorder=1)
        ax.add_collection3d(self.poly)
        self.label = self.fig.text(0.03, 0.97, "", va="top", ha="left", fontsize=10, family="monospace")

    def draw(self, x, rotation, label=""):
        """Frame (H, W, 3) uint8 with bodies at positions x (nb, 3) and rotations (nb, 3, 3)."""
        world = x[self.owner] + np.einsum("nij,nj->ni", rotation[self.owner], self.verts)
        polys = world[self.quads]
        normal = np.cross(polys[:, 2] - polys[:, 0], polys[:, 3] - polys[:, 1])
        normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
        shade = 0.45 + 0.55 * np.abs(normal @ _LIGHT)
        face = self.colors * shade[:, None]
        self.poly.set_verts(polys)
        self.poly.set_facecolor(face)
        self.poly.set_edgecolor(0.6 * face)
        self.label.set_text(label)
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def _ground_grid(gravity, center, radius, lines=9):
    """Segments of a square grid across the bottom face of the view cube, gravity pointing down."""
    axis = int(np.argmax(np.abs(gravity)))
    level = center[axis] + np.sign(gravity[axis]) * radius
    u, v = [a for a in range(3) if a != axis]
    ticks = np.linspace(-radius, radius, lines)
    segments = []
    for t in ticks:
        for along, across in ((u, v), (v, u)):
            seg = np.zeros((2, 3))
            seg[:, axis] = level
            seg[:, across] = center[across] + t
            seg[:, along] = center[along] + np.array([-radius, radius])
            segments.append(seg)
    return np.array(segments)


def _rotations(q):
    """Rotation matrices of a (..., 4) array of quaternions, as NumPy."""
    return quat.numpy_ops.to_matrix(np.asarray(q, dtype=float))


# -- public API --------------------------------------------------------------------------------
def render_frame(mech, state, width=480, height=480, camera=None, label=""):
    """Render one State to an image.

    Args:
        mech: the Mechanism (its structure gives shapes and colours).
        state: a single (unstacked) State.
        width, height: image size in pixels.
        camera: a :class:`Camera`; None fits one to this state (see :func:`fit_camera`).
        label: text drawn in the top-left corner.

    Returns:
        (height, width, 3) uint8 RGB array.
    """
    if np.shape(state.x) != (mech.num_bodies, 3):
        raise ValueError(f"render_frame draws one State (x of shape ({mech.num_bodies}, 3)), got x of "
                         f"shape {np.shape(state.x)}; use animate for a stacked State")
    camera = fit_camera(mech, state) if camera is None else camera
    scene = _Scene(mech, camera, width, height)
    return scene.draw(np.asarray(state.x), _rotations(state.q), label)


def save_video(frames, path, fps=30):
    """Write frames ((T, H, W, 3) uint8, or a list of them) to a ``.gif`` or ``.mp4`` file.

    GIFs are written with Pillow, with one 256-colour palette for all frames (Pillow merges
    identical consecutive frames into one longer frame). MP4 needs an ffmpeg executable, from the ``imageio-ffmpeg`` package or on the PATH.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be a non-empty (T, H, W, 3) uint8 array, got {frames.dtype} "
                         f"{frames.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        from PIL import Image

        # one palette for all frames, from a sample of them: fast, and colours do not flicker
        sample = frames[np.linspace(0, len(frames) - 1, min(len(frames), 8)).astype(int)]
        palette = Image.fromarray(np.concatenate(sample)).quantize(colors=256)
        images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000.0 / fps),
                       loop=0)
    elif suffix == ".mp4":
        _write_mp4(frames, path, fps)
    else:
        raise ValueError(f"unsupported video format {path.suffix!r}; use .gif or .mp4")


def _ffmpeg():
    """Path of an ffmpeg executable, or None."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return shutil.which("ffmpeg")
    return imageio_ffmpeg.get_ffmpeg_exe()


def _write_mp4(frames, path, fps):
    """Pipe raw RGB frames through ffmpeg into an H.264 MP4."""
    exe = _ffmpeg()
    if exe is None:
        raise RuntimeError(f"writing {path} needs ffmpeg (pip install imageio-ffmpeg, or put ffmpeg on "
                           "the PATH); or save to a .gif path instead")
    _, h, w, _ = frames.shape
    cmd = [exe, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", str(fps), "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(path)]
    result = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg failed writing {path}: {result.stderr.decode(errors='replace').strip()}")


def animate(mech, states, path, fps=30, max_frames=120, width=480, height=480, camera=None):
    """Render a stacked State (leading time axis, as from ``dojax.rollout``) to a video file.

    At most ``max_frames`` evenly spaced states are drawn, with one fixed camera fitted to all of
    them (unless ``camera`` is given); each frame is labelled with its time, taking state k to be
    the one after k + 1 steps, as ``rollout`` returns them. The video plays at ``fps`` frames per
    second, so subsampling speeds playback up. See :func:`save_video` for formats.
    """
    if np.ndim(states.x) != 3:
        raise ValueError(f"animate needs a stacked State (x of shape (T, nb, 3)), got x of shape "
                         f"{np.shape(states.x)}")
    total = np.shape(states.x)[0]
    if total == 0 or max_frames < 1:
        raise ValueError(f"need at least one state and max_frames >= 1, got {total} and {max_frames}")
    index = np.unique(np.linspace(0, total - 1, min(total, int(max_frames))).round().astype(int))
    x, q = np.asarray(states.x)[index], np.asarray(states.q)[index]
    camera = fit_camera(mech, states) if camera is None else camera
    scene = _Scene(mech, camera, width, height)
    rotation = _rotations(q)
    h = float(mech.timestep)
    frames = [scene.draw(x[i], rotation[i], f"t = {(k + 1) * h:6.2f} s") for i, k in enumerate(index)]
    save_video(frames, path, fps)


@jax.jit
def _trajectory_diagnostics(mech, states):
    """Energy (T,), linear and angular momentum (T, 3) of each state."""
    e = jax.vmap(energy, in_axes=(None, 0))(mech, states)
    p, L = jax.vmap(momentum, in_axes=(None, 0))(mech, states)
    return e, p, L


def plot_diagnostics(mech, states, path):
    """Save a PNG of relative energy change and momentum components against time.

    ``states`` is a stacked State as from ``dojax.rollout``; state k is taken at t = (k + 1) h.
    The energy panel shows (E - E_0) / |E_0|, or E - E_0 when E_0 is zero.
    """
    e, p, L = (np.asarray(a) for a in _trajectory_diagnostics(mech, states))
    t = (np.arange(len(e)) + 1) * float(mech.timestep)
    fig, _ = _figure(figsize=(7.0, 6.0), layout="constrained")
    ax_e, ax_m = fig.subplots(2, 1, sharex=True)
    if abs(e[0]) > 1e-12:
        ax_e.plot(t, (e - e[0]) / abs(e[0]), color="black")
        ax_e.set_ylabel("(E - E0) / |E0|")
    else:
        ax_e.plot(t, e - e[0], color="black")
        ax_e.set_ylabel("E - E0 (J)")
    ax_e.set_title(f"energy (E0 = {e[0]:.6g} J)")
    for i, axis in enumerate("xyz"):
        ax_m.plot(t, p[:, i], color=f"C{i}", label=f"p{axis} (kg m/s)")
        ax_m.plot(t, L[:, i], color=f"C{i}", linestyle="--", label=f"L{axis} (kg m²/s)")
    ax_m.set_title("linear (p) and angular (L, about the origin) momentum")
    ax_m.set_xlabel("t (s)")
    ax_m.legend(ncol=3, fontsize=8)
    for ax in (ax_e, ax_m):
        ax.grid(alpha=0.3)
    fig.savefig(path)


__all__ = ["Camera", "fit_camera", "render_frame", "save_video", "animate", "plot_diagnostics"]
