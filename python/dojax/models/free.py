"""Free-floating, contact-free models."""

from dojax.mechanism import MechanismBuilder
from dojax.shapes import Box


def dzhanibekov(timestep=0.01, gravity=0.0, spin=(15.0, 0.01, 0.0)):
    """A bar with a side arm, spinning in zero gravity about its intermediate principal axis (x).

    The arm (a body held by a fixed joint) flips from +x to -x and back: the Dzhanibekov effect.
    """
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    b.add_body("bar", mass=1.0, shape=Box(0.1, 0.1, 1.0), angular_velocity=spin)
    b.add_body("arm", mass=0.5, shape=Box(0.4, 0.05, 0.05))
    b.add_joint("weld", "fixed", "bar", "arm", parent_vertex=(0.05, 0.0, 0.0), child_vertex=(-0.2, 0.0, 0.0))
    return b.build()
