"""Contacts of meshes and boxes: an imported mesh dropped on the ground, and a capsule and a box
dropped onto a table box.

    python examples/mesh_and_box_contacts.py [OUTPUT_DIR]

The mesh (a 40-vertex prism, its hull reduced to 16 contact points) comes from an MJCF file written
here; it rests with its lowest kept vertex on the ground. The capsule and the box rest on the table
(capsule-box and box-box collisions). Writes mesh_and_box_contacts.png into OUTPUT_DIR (default:
the current directory): each body's height over time, and prints the resting heights.
"""

import sys
import tempfile
from pathlib import Path

import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import dojax  # noqa: E402
from dojax import quaternion as quat  # noqa: E402
from dojax.shapes import Box, Capsule  # noqa: E402

STEPS, H = 150, 0.01


def prism_on_ground():
    """A 20-sided prism mesh (radius 0.3 m, 0.2 m tall), tilted, 0.3 m above the ground plane."""
    ring = [(0.3 * np.cos(a), 0.3 * np.sin(a), z) for a in np.arange(20) * np.pi / 10 for z in (-0.1, 0.1)]
    vertices = " ".join(f"{x:.6f} {y:.6f} {z}" for x, y, z in ring)
    xml = f"""<mujoco><asset><mesh name="prism" vertex="{vertices}"/></asset><worldbody>
<geom name="floor" type="plane" size="5 5 .1"/>
<body name="prism" pos="0 0 0.6" euler="20 0 0"><freejoint/><geom type="mesh" mesh="prism" density="500"/></body>
</worldbody></mujoco>"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prism.xml"
        path.write_text(xml)
        return dojax.load_mjcf(path, on_ground=False, timestep=H, warn=False)


def capsule_and_box_on_table():
    b = dojax.MechanismBuilder(timestep=H)
    b.add_body("table", 10.0, shape=Box(2.0, 1.0, 0.4))
    b.add_joint("weld", "fixed", "world", "table", parent_vertex=(0, 0, 0.2))
    b.add_body("rod", 1.0, shape=Capsule(0.1, 0.6), position=(-0.5, 0, 0.7))
    b.add_collision("rod", ("capsule", (-0.3, 0, 0), (0.3, 0, 0), 0.1), "table", ("box", (1.0, 0.5, 0.2)))
    b.add_body("cube", 1.0, shape=Box(0.4, 0.4, 0.2), position=(0.5, 0, 0.8),
               orientation=quat.from_rotation_vector(jnp.array([0.2, 0.1, 0.3])))
    b.add_collision("cube", ("box", (0.2, 0.2, 0.1)), "table", ("box", (1.0, 0.5, 0.2)))
    return b.build()


def main(out_dir):
    t = H * np.arange(1, STEPS + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    for mech, bodies in ((prism_on_ground(), ("prism",)), (capsule_and_box_on_table(), ("rod", "cube"))):
        states, infos = dojax.rollout(mech, mech.initial_state(), jnp.zeros((STEPS, mech.action_size)))
        assert bool(infos.converged.all())
        for name in bodies:
            i = mech.body_names.index(name)
            z = np.asarray(states.x[:, i, 2])
            ax.plot(t, z, label=name)
            speed = float(jnp.linalg.norm(states.v[-1, i]))
            print(f"{name}: resting centre height {z[-1]:.4f} m, speed {speed:.1e} m/s")
    print("expected: prism 0.1000 m (on a rim face), rod 0.5000 m, cube 0.5000 m")
    ax.set(xlabel="time (s)", ylabel="centre height (m)", title="mesh on the ground; capsule and box on a box")
    ax.legend()
    out = Path(out_dir) / "mesh_and_box_contacts.png"
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
