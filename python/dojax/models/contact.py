"""Models that touch the ground: block, block2d, sphere, tippe top."""

import itertools

from dojax.mechanism import MechanismBuilder
from dojax.shapes import Box, Sphere


def _corners(side):
    h = 0.5 * side
    return [(sx * h, sy * h, sz * h) for sx, sy, sz in itertools.product((-1, 1), repeat=3)]


def block(timestep=0.01, gravity=-9.81, friction=0.8, side=0.5, mass=1.0, contact_model="soc"):
    """A free cube with a contact point at each of its 8 corners, at rest on the ground.

    Three actions: a world-frame force (N) at its centre of mass along x, y, z.
    """
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    b.add_body("box", mass=mass, shape=Box(side, side, side), position=(0.0, 0.0, 0.5 * side))
    for axis in range(3):
        b.add_body_force("box", [float(axis == k) for k in range(3)])
    for k, corner in enumerate(_corners(side)):
        b.add_contact("box", origin=corner, friction=friction, model=contact_model, name=f"corner{k + 1}")
    return b.build()


def block2d(timestep=0.01, gravity=-9.81, friction=0.8, side=0.5, mass=1.0, contact_model="soc"):
    """A cube confined to the y-z plane (a planar joint that also turns about x), with 4 edge
    contacts, at rest on the ground. Actions: forces along y and z and a torque about x."""
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    b.add_body("box", mass=mass, shape=Box(side, side, side))
    b.add_joint("plane", "planar_axis", "world", "box", axis=(1.0, 0.0, 0.0),
                initial_position=(0.0, 0.5 * side, 0.0), actuated=True)
    h = 0.5 * side
    for k, (y, z) in enumerate(itertools.product((-h, h), repeat=2)):
        b.add_contact("box", origin=(0.0, y, z), friction=friction, model=contact_model, name=f"edge{k + 1}")
    return b.build()


def sphere(timestep=0.01, gravity=-9.81, friction=0.8, radius=0.5, mass=1.0, contact_model="soc"):
    """A free solid sphere with one contact, at rest on the ground.

    Three actions: a world-frame force (N) at its centre along x, y, z.
    """
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    b.add_body("ball", mass=mass, shape=Sphere(radius), position=(0.0, 0.0, radius))
    for axis in range(3):
        b.add_body_force("ball", [float(axis == k) for k in range(3)])
    b.add_contact("ball", radius=radius, friction=friction, model=contact_model)
    return b.build()
