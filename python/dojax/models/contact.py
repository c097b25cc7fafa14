"""Models that touch the ground: block, block2d, sphere, tippe top, chain."""

import itertools

import numpy as np

from dojax import quaternion as quat
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
    contacts, at rest on the ground. Actions: forces along z and -y and a torque about x (the
    planar joint's free coordinates, in its frame)."""
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    b.add_body("box", mass=mass, shape=Box(side, side, side))
    # free coordinates: translation along z and along -y (the joint frame of axis x), rotation about x
    b.add_joint("plane", "planar_axis", "world", "box", axis=(1.0, 0.0, 0.0),
                initial_position=(0.5 * side, 0.0, 0.0), actuated=True)
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


def _rotation_vector_rate(orientation, angular_velocity, timestep):
    """Rate of the rotation vector that the builder's ``angular_velocity`` expects, such that the
    body turns from its previous orientation with the body-frame angular velocity given (exactly,
    over one step of ``timestep``)."""
    qn = quat.numpy_ops  # constants: computed by NumPy
    q2 = np.asarray(orientation, dtype=float)
    q1 = qn.multiply(q2, qn.conjugate(qn.cayley(np.asarray(angular_velocity, float), timestep)))
    r2 = qn.to_rotation_vector(q2)
    r1 = qn.to_rotation_vector(q1)
    return (r2 - r1) / timestep


def tippetop(timestep=0.01, gravity=-9.81, friction=0.4, radius=0.1, offset=0.3, stem_radius=0.2,
             mass=1.0, axial_ratio=0.9, spin=50.0, tilt=0.1, contact_model="soc"):
    """A tippe top: one rigid body with two contact spheres, a ball and a small stem sphere.

    In the body frame (origin at the centre of mass, z the symmetry axis) the ball of ``radius``
    R is centred at (0, 0, offset * R), so the centre of mass lies ``offset * R`` *below* the
    ball's centre, and the stem sphere of radius ``stem_radius * R`` is centred at
    (0, 0, offset * R + R) (Dojo's tippe top places its small sphere at distance R from the big
    one's centre). Inertia about the centre of mass: ``diag(I1, I1, axial_ratio * I1)`` with
    I1 = 0.4 m R^2. The classical inversion condition 1 - offset < I3 / I1 < 1 + offset holds for
    the defaults (0.7 < 0.9 < 1.3).

    It starts resting on the ball, its axis tilted by ``tilt`` (rad) about x and spinning at
    ``spin`` rad/s about its axis. Sliding friction at the ball's contact tilts the axis over:
    with the defaults (R = 0.1 m, m = 1 kg, friction 0.4, spin 50 rad/s, tilt 0.1 rad) at
    timestep 0.01 the axis passes the horizontal after about 1 s and by about 2.5 s the top rests
    on the ball *and* the stem with its axis pointing down (axis z-component
    (r_stem - R) / R = -0.8), its centre of mass raised from 0.070 m to 0.124 m: the spin's energy
    pays for the rise. (Dojo's top has R = 0.5 m; at that size the stem starts 0.9 m above the
    ground and the step solver, started from unit contact slacks, has been seen to converge to a
    spurious fast-spinning root, so the default is 0.1 m.)

    The initial angular velocity is exact for the ``timestep`` given here; ``dojax.load(...,
    timestep=...)`` changes the step after building, which changes it by O(timestep).

    No actions.
    """
    R = float(radius)
    a = float(offset) * R
    r = float(stem_radius) * R
    I1 = 0.4 * mass * R * R
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    q0 = quat.numpy_ops.from_rotation_vector(np.array([float(tilt), 0.0, 0.0]))
    centre = np.array([0.0, 0.0, R])  # ball resting on the ground
    position = centre - quat.numpy_ops.rotate(q0, np.array([0.0, 0.0, a]))
    rate = _rotation_vector_rate(q0, (0.0, 0.0, float(spin)), float(timestep))
    b.add_body("top", mass=mass, inertia=np.diag([I1, I1, float(axial_ratio) * I1]), shape=Sphere(R),
               position=position, orientation=q0, angular_velocity=rate)
    b.add_contact("top", radius=R, origin=(0.0, 0.0, a), friction=friction, model=contact_model, name="ball")
    b.add_contact("top", radius=r, origin=(0.0, 0.0, a + R), friction=friction, model=contact_model,
                  name="stem")
    return b.build()


def chain(links=5, timestep=0.01, gravity=-9.81, friction=0.5, mass=1.0, length=0.5, radius=0.05,
          axis=(0.0, 0.0, 1.0), contact_model="soc"):
    """A chain of rods lying flat on the ground along x, joined end to end by revolute joints.

    The first link floats (an implicit floating joint: the chain is not attached to the world);
    each further link hangs on the previous one by an actuated revolute joint about ``axis``
    (default z: the chain bends in the ground plane, like a snake; (0, 1, 0) lets links lift).
    Each link (a box ``length`` x 2 ``radius`` x 2 ``radius``) has a contact sphere of ``radius``
    at both of its ends, resting on the ground z = 0, so the chain starts at rest on the ground.
    Actions: ``links - 1`` joint torques.
    """
    n = int(links)
    if n < 1:
        raise ValueError(f"chain needs at least one link, got {links}")
    half = 0.5 * float(length)
    b = MechanismBuilder(timestep=timestep, gravity=gravity)
    for i in range(n):
        name = f"link{i + 1}"
        b.add_body(name, mass=mass, shape=Box(length, 2.0 * radius, 2.0 * radius),
                   position=(half, 0.0, radius))
        if i > 0:
            b.add_joint(f"joint{i + 1}", "revolute", f"link{i}", name, axis=axis, parent_vertex=(half, 0.0, 0.0),
                        child_vertex=(-half, 0.0, 0.0), actuated=True)
        for end, x in (("back", -half), ("front", half)):
            b.add_contact(name, radius=radius, origin=(x, 0.0, 0.0), friction=friction, model=contact_model,
                          name=f"{name}_{end}")
    return b.build()
