"""Jointed, contact-free models: pendulums, cart-pole, slider, twister, four-bar."""

import numpy as np

from dojax.joints import JOINT_TYPES
from dojax.mechanism import MechanismBuilder
from dojax.shapes import Box, Cylinder

_X = (1.0, 0.0, 0.0)


def npendulum(links=5, timestep=0.01, gravity=-9.81, mass=1.0, length=1.0, width=0.05,
              damper=0.0, spring=0.0, joint_type="revolute", limits=None, ground_contact=False,
              friction=0.5):
    """A chain of ``links`` boxes hanging from the world by revolute joints about x.

    Coordinates are 0 with every link hanging straight down; each joint is actuated.

    Args:
        limits: ``(lower, upper)`` joint limits (rad) applied to every joint (None: no limits).
        ground_contact: give each link a point contact (radius 0) at both of its ends against the
            ground plane z = -links * length, the height of the chain's tip when it hangs straight
            down (so the hanging chain just touches it), with Coulomb ``friction``.
    """
    if int(links) < 1:
        raise ValueError(f"npendulum needs at least one link, got {links}")
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    parent, parent_vertex = "world", (0.0, 0.0, 0.0)
    for i in range(int(links)):
        name = f"link{i + 1}"
        b.add_body(name, mass=mass, shape=Box(width, width, length))
        b.add_joint(f"joint{i + 1}", joint_type, parent, name, axis=_X, parent_vertex=parent_vertex,
                    child_vertex=(0.0, 0.0, 0.5 * length), damper=damper, spring=spring, limits=limits,
                    actuated=True)
        if ground_contact:
            for end, z in (("top", 0.5 * length), ("bottom", -0.5 * length)):
                b.add_contact(name, origin=(0.0, 0.0, z), friction=friction, offset=-int(links) * length,
                              name=f"{name}_{end}")
        parent, parent_vertex = name, (0.0, 0.0, -0.5 * length)
    return b.build()


def pendulum(timestep=0.01, gravity=-9.81, mass=1.0, length=1.0, damper=0.0, spring=0.0):
    """One box link on a revolute joint about x; minimal coordinates [theta, theta_dot], 0 = hanging down."""
    return npendulum(1, timestep, gravity, mass, length, damper=damper, spring=spring)


def double_pendulum(timestep=0.01, gravity=-9.81, mass=1.0, length=1.0, damper=0.0, spring=0.0):
    """Two box links on revolute joints about x, both actuated."""
    return npendulum(2, timestep, gravity, mass, length, damper=damper, spring=spring)


def cartpole(timestep=0.01, gravity=-9.81, cart_mass=1.0, pole_mass=0.1, pole_length=1.0):
    """A cart on a slider along y with an unactuated pole about x (0 = pole hanging down).

    One action: the force on the cart.
    """
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    b.add_body("cart", mass=cart_mass, shape=Box(0.2, 0.4, 0.2))
    b.add_body("pole", mass=pole_mass, shape=Cylinder(0.025, pole_length))
    b.add_joint("slider", "prismatic", "world", "cart", axis=(0.0, 1.0, 0.0), actuated=True)
    b.add_joint("hinge", "revolute", "cart", "pole", axis=_X, child_vertex=(0.0, 0.0, 0.5 * pole_length))
    return b.build()


def slider(timestep=0.01, gravity=-9.81, mass=1.0, spring=0.0, damper=0.0):
    """A box on a prismatic joint along z (coordinate 0 at the origin), with optional spring/damper."""
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    b.add_body("box", mass=mass, shape=Box(0.2, 0.2, 0.2))
    b.add_joint("slider", "prismatic", "world", "box", axis=(0.0, 0.0, 1.0), spring=spring,
                damper=damper, actuated=True)
    return b.build()


def twister(links=5, joint_type="revolute", timestep=0.01, gravity=-9.81, mass=1.0, length=1.0,
            damper=0.0, spring=0.0):
    """A chain of boxes whose joints (all of ``joint_type``) turn about x, y, z in turn.

    The first link floats freely (a floating base), so every joint type gives a valid mechanism;
    with zero gravity it conserves momentum exactly.
    """
    if joint_type not in JOINT_TYPES:
        raise ValueError(f"unknown joint type {joint_type!r}; valid: {', '.join(JOINT_TYPES)}")
    axes = np.eye(3)
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    parent = None
    for i in range(int(links)):
        name = f"link{i + 1}"
        b.add_body(name, mass=mass, shape=Box(0.05, 0.05, length))
        if parent is not None:
            b.add_joint(f"joint{i + 1}", joint_type, parent, name, axis=axes[i % 3],
                        parent_vertex=(0.0, 0.0, -0.5 * length), child_vertex=(0.0, 0.0, 0.5 * length),
                        damper=damper, spring=spring, actuated=True)
        parent = name
    return b.build()


def fourbar(timestep=0.01, gravity=-9.81, length=1.0, span=0.5, angle=0.4, mass=1.0):
    """A parallelogram four-bar linkage in the y-z plane with the world as the fixed link.

    Crank and rocker (length ``length``) hang from pivots ``span`` apart; the coupler joins their
    tips. The loop is closed by a joint that holds the coupler's tip on the rocker's tip in the
    plane (a cylindrical-free joint about x, the only independent constraints of a planar loop).
    ``angle`` is the initial crank angle; the crank is actuated.
    """
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    half = 0.5 * length
    b.add_body("crank", mass=mass, shape=Box(0.05, 0.05, length))
    b.add_body("coupler", mass=mass, shape=Box(0.05, span, 0.05))
    b.add_body("rocker", mass=mass, shape=Box(0.05, 0.05, length))
    b.add_joint("crank_pivot", "revolute", "world", "crank", axis=_X, child_vertex=(0, 0, half),
                initial_position=angle, actuated=True)
    b.add_joint("coupler_pivot", "revolute", "crank", "coupler", axis=_X, parent_vertex=(0, 0, -half),
                child_vertex=(0, -0.5 * span, 0), initial_position=-angle)
    b.add_joint("rocker_pivot", "revolute", "world", "rocker", axis=_X, parent_vertex=(0, span, 0),
                child_vertex=(0, 0, half), initial_position=angle)
    b.add_joint("loop", "cylindrical_free", "coupler", "rocker", axis=_X,
                parent_vertex=(0, 0.5 * span, 0), child_vertex=(0, 0, -half))
    return b.build()
