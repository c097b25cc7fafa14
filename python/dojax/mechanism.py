"""The Mechanism: a frozen JAX pytree of physical parameters over a static structure.

Build one with :class:`MechanismBuilder` (or ``dojax.load`` for a built-in model)::

    b = MechanismBuilder(timestep=0.01, gravity=-9.81)
    b.add_body("link", mass=1.0, shape=Box(0.05, 0.05, 1.0))
    b.add_joint("hinge", "revolute", parent="world", child="link", axis=(1, 0, 0),
                child_vertex=(0, 0, 0.5), actuated=True)
    mech = b.build()

Every body has exactly one *tree* joint whose child it is: the first joint naming it as child,
or an implicit floating joint to the world for a free body. Further joints onto an already-placed
body close kinematic loops. Body ``i``'s tree joint is joint ``i``; loop joints follow.
"""

import dataclasses
import hashlib
import itertools
import pickle
import warnings
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from dojax import joints as joint_lib
from dojax import quaternion as quat
from dojax.collision import halfspace_gaps
from dojax.shapes import Box, Capsule, Cylinder, Sphere

WORLD = "world"


class Structure:
    """Static description of a mechanism (names, topology, masks, elimination schedule).

    Compared by content, so that mechanisms of the same structure share compiled code whatever
    their parameters.
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)
        digest = hashlib.sha256(pickle.dumps(sorted(fields.items()))).hexdigest()
        self.__dict__["_digest"] = digest

    def __hash__(self):
        return hash(self._digest)

    def __eq__(self, other):
        return isinstance(other, Structure) and self._digest == other._digest

    def __setattr__(self, name, value):
        raise AttributeError("Structure is immutable")


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Mechanism:
    """Physical parameters (pytree leaves) and static structure of a multibody system.

    Leaves (differentiable): ``mass`` (nb,), ``inertia`` (nb, 3, 3) body-frame inertia about the
    centre of mass, ``gravity`` (3,), ``timestep`` (), joint ``vertex_parent``/``vertex_child``
    (nj, 3), ``spring``/``damper`` (nj, 6) stiffness and damping on joint coordinates,
    ``spring_offset`` (nj, 6) rest coordinates, ``armature`` (nj, 6) joint-space inertia on joint
    coordinates (a rotor's inertia reflected through its gearbox: kg m^2 on rotational rows, kg on
    translational rows), ``gear`` (nu,) actuator gains; per contact
    ``friction`` (nc,), ``contact_radius`` (nc, 2) radii of the shapes on body a and b,
    ``contact_points`` (nc, 4, 3) body-frame points [a start, a end, b start, b end] (sphere centres,
    capsule ends), ``contact_normal`` (nc, 3) / ``contact_offset`` (nc,) of a world half-space,
    ``contact_extent`` (nc, 3) box half extents; ``limit`` (nl,) the bound of each one-sided
    joint limit (a lower and an upper bound are two limits).
    """

    mass: jax.Array
    inertia: jax.Array
    gravity: jax.Array
    timestep: jax.Array
    vertex_parent: jax.Array
    vertex_child: jax.Array
    spring: jax.Array
    damper: jax.Array
    spring_offset: jax.Array
    armature: jax.Array
    gear: jax.Array
    friction: jax.Array
    contact_radius: jax.Array
    contact_points: jax.Array
    contact_normal: jax.Array
    contact_offset: jax.Array
    contact_extent: jax.Array
    limit: jax.Array
    structure: Structure = field(metadata=dict(static=True))

    # -- static sizes and names ---------------------------------------------------------------
    @property
    def num_bodies(self):
        return len(self.structure.body_names)

    @property
    def num_joints(self):
        return len(self.structure.joint_names)

    @property
    def action_size(self):
        return len(self.structure.actuator_kind)

    @property
    def body_names(self):
        return self.structure.body_names

    @property
    def joint_names(self):
        return self.structure.joint_names

    @property
    def num_contacts(self):
        return len(self.structure.contact_names)

    @property
    def minimal_size(self):
        """Length of the minimal-coordinate vector [positions; velocities] grouped per joint."""
        return 2 * int(self.structure.free_mask[: self.num_bodies].sum())

    def replace(self, **fields):
        """A copy with some fields replaced (e.g. ``mech.replace(timestep=0.005)``)."""
        return dataclasses.replace(self, **fields)

    def initial_state(self):
        """The model's initial State (bodies at rest in their initial configuration)."""
        return _initial_state(self)

    def joint_data(self):
        """Per-joint arrays (nj leading axis) used by the vectorised joint functions."""
        s = self.structure
        return dict(
            vertex_parent=self.vertex_parent,
            vertex_child=self.vertex_child,
            orientation_offset=jnp.asarray(s.orientation_offset),
            frame_translation=jnp.asarray(s.frame_translation),
            frame_rotation=jnp.asarray(s.frame_rotation),
            wrap=jnp.asarray(s.wrap),
        )


def _vector(name, value, size):
    arr = np.asarray(value, dtype=float)
    if arr.shape != (size,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite vector of length {size}, got {value!r}")
    return arr


def _unit_quaternion(name, value):
    q = _vector(name, value, 4)
    n = np.linalg.norm(q)
    if n < 1e-12:
        raise ValueError(f"{name} must be a non-zero quaternion (w, x, y, z)")
    return q / n


def check_inertia(name, inertia):
    """Validate a 3x3 inertia: finite, symmetric, positive definite, triangle inequality."""
    J = np.asarray(inertia, dtype=float)
    if J.shape != (3, 3) or not np.all(np.isfinite(J)):
        raise ValueError(f"inertia of {name!r} must be a finite 3x3 matrix")
    scale = max(np.abs(J).max(), 1e-300)
    if np.abs(J - J.T).max() > 1e-9 * scale:
        raise ValueError(f"inertia of {name!r} must be symmetric")
    eig = np.linalg.eigvalsh(J)
    if eig[0] <= 0.0:
        raise ValueError(f"inertia of {name!r} must be positive definite (eigenvalues {eig})")
    if eig[0] + eig[1] < eig[2] * (1.0 - 1e-9):
        raise ValueError(f"inertia of {name!r} violates the triangle inequality (eigenvalues {eig})")
    return 0.5 * (J + J.T)


def gravity_vector(gravity):
    """A scalar z-component or a 3-vector, as a (3,) array."""
    g = np.asarray(gravity, dtype=float)
    if g.shape == ():
        g = np.array([0.0, 0.0, float(g)])
    return _vector("gravity", g, 3)


def check_timestep(timestep):
    h = float(timestep)
    if not np.isfinite(h) or h <= 0.0:
        raise ValueError(f"timestep must be positive, got {timestep}")
    return h


class MechanismBuilder:
    """Assemble bodies, joints and actuators into a :class:`Mechanism`.

    Args:
        timestep: integration step in seconds (> 0).
        gravity: scalar z-component or 3-vector, m/s^2.
        input_mode: ``"force"`` (actions are forces/torques, multiplied by the timestep) or
            ``"impulse"`` (actions are impulses).
    """

    def __init__(self, timestep=0.01, gravity=-9.81, input_mode="force"):
        self.timestep = check_timestep(timestep)
        self.gravity = gravity_vector(gravity)
        if input_mode not in ("force", "impulse"):
            raise ValueError(f"input_mode must be 'force' or 'impulse', got {input_mode!r}")
        self.input_mode = input_mode
        self._bodies = []
        self._joints = []
        self._actuators = []
        self._contacts = []

    # -- bodies --------------------------------------------------------------------------------
    def add_body(self, name, mass, inertia=None, shape=None, position=(0, 0, 0),
                 orientation=quat.IDENTITY, velocity=(0, 0, 0), angular_velocity=(0, 0, 0), color=None,
                 visible=True):
        """Add a rigid body.

        Args:
            name: unique name.
            mass: kg, > 0.
            inertia: 3x3 body-frame inertia about the centre of mass; defaults to the shape's.
            shape: a :mod:`dojax.shapes` shape centred on the centre of mass, drawn by the
                renderer (:meth:`add_visual` draws more, anywhere on the body).
            position, orientation: initial pose of a free body (one no joint places).
            velocity, angular_velocity: its initial world linear velocity and rate of its
                rotation vector (the body-frame angular velocity when starting at identity).
            color: optional matplotlib colour for rendering.
            visible: False draws nothing for the body (e.g. a small helper body); a visible body
                without any shape is drawn as the box with its inertia.
        """
        if name == WORLD or any(b["name"] == name for b in self._bodies):
            raise ValueError(f"body name {name!r} is reserved or already used")
        mass = float(mass)
        if not np.isfinite(mass) or mass <= 0.0:
            raise ValueError(f"mass of body {name!r} must be positive, got {mass}")
        if inertia is None:
            if shape is None:
                raise ValueError(f"body {name!r} needs an inertia or a shape")
            inertia = shape.inertia(mass)
        self._bodies.append(dict(
            name=name, mass=mass, inertia=check_inertia(name, inertia), color=color,
            visuals=[] if shape is None else [(shape, (0.0, 0.0, 0.0), quat.IDENTITY)], visible=bool(visible),
            position=_vector(f"position of {name!r}", position, 3),
            orientation=_unit_quaternion(f"orientation of {name!r}", orientation),
            velocity=np.concatenate([_vector(f"velocity of {name!r}", velocity, 3),
                                     _vector(f"angular_velocity of {name!r}", angular_velocity, 3)]),
        ))
        return name

    def add_visual(self, body, shape, position=(0, 0, 0), orientation=quat.IDENTITY):
        """Draw ``shape`` (a :mod:`dojax.shapes` shape) on ``body`` at a body-frame ``position`` and
        ``orientation`` (a quaternion); rendering only, no mass and no contact."""
        found = [b for b in self._bodies if b["name"] == body]
        if not found:
            raise ValueError(f"visual on unknown body {body!r}")
        if not isinstance(shape, (Box, Capsule, Cylinder, Sphere)):
            raise ValueError(f"visual of body {body!r} must be a dojax.shapes shape, got {shape!r}")
        found[0]["visuals"].append((shape, tuple(_vector(f"visual position on {body!r}", position, 3).tolist()),
                                    tuple(_unit_quaternion(f"visual orientation on {body!r}", orientation).tolist())))

    # -- joints --------------------------------------------------------------------------------
    def add_joint(self, name, joint_type, parent, child, axis=(1, 0, 0), parent_vertex=(0, 0, 0),
                  child_vertex=(0, 0, 0), orientation_offset=quat.IDENTITY, spring=0.0, damper=0.0,
                  spring_offset=None, initial_position=None, initial_velocity=None, limits=None,
                  actuated=False, gear=1.0, armature=0.0):
        """Join ``child`` to ``parent`` (a body name or ``"world"``).

        Args:
            joint_type: one of :data:`dojax.joints.JOINT_TYPES` (``"revolute"``, ``"prismatic"``...).
            axis: joint axis in the parent frame (non-zero).
            parent_vertex, child_vertex: joint location in each body's frame.
            orientation_offset: child orientation relative to the parent at zero rotation.
            spring, damper: stiffness / damping on the free coordinates (scalar or per free row).
            spring_offset: rest value of the free coordinates.
            armature: joint-space inertia on the free coordinates (scalar or per free row, >= 0):
                kinetic energy 0.5 * armature * rate^2 of each coordinate's rate, e.g. a motor
                rotor's inertia times the squared gear ratio (MuJoCo's ``armature``).
            initial_position, initial_velocity: initial free coordinates and their rates (zeros).
            limits: ``(lower, upper)`` per free coordinate (use +-inf for an open side), or one
                pair for a single free coordinate; enforced as complementarity constraints.
            actuated: add one actuator per free coordinate with the given ``gear``.
        """
        if any(j["name"] == name for j in self._joints):
            raise ValueError(f"joint name {name!r} already used")
        names = [b["name"] for b in self._bodies]
        for role, body in (("parent", parent), ("child", child)):
            if body != WORLD and body not in names:
                raise ValueError(f"{role} {body!r} of joint {name!r} is not a body; bodies: {names}")
        if child == WORLD:
            raise ValueError(f"joint {name!r}: the child must be a body")
        if child == parent:
            raise ValueError(f"joint {name!r} joins {child!r} to itself")
        mask = joint_lib.free_mask(joint_type)
        nfree = int(mask.sum())
        offset = _unit_quaternion(f"orientation_offset of {name!r}", orientation_offset)
        frame_t = joint_lib.axis_frame(axis)
        R_off = quat.numpy_ops.to_matrix(offset)
        frame_r = joint_lib.axis_frame(R_off.T @ frame_t[0])

        def per_free(label, value, default):
            value = default if value is None else value
            arr = np.broadcast_to(np.asarray(value, dtype=float), (nfree,)) if np.ndim(value) == 0 \
                else _vector(f"{label} of {name!r}", value, nfree)
            full = np.zeros(6)
            full[mask > 0] = arr
            if not np.all(np.isfinite(full)):
                raise ValueError(f"{label} of joint {name!r} must be finite")
            return full

        spring_full = per_free("spring", spring, 0.0)
        damper_full = per_free("damper", damper, 0.0)
        armature_full = per_free("armature", armature, 0.0)
        if np.any(spring_full < 0) or np.any(damper_full < 0) or np.any(armature_full < 0):
            raise ValueError(f"spring, damper and armature of joint {name!r} must be non-negative")
        r_free = joint_lib.JOINT_TYPES[joint_type][1]
        bounds = []
        if limits is not None:
            pairs = np.asarray(limits, dtype=float).reshape(-1, 2)
            if pairs.shape[0] != nfree or np.any(np.isnan(pairs)) or np.any(pairs[:, 0] >= pairs[:, 1]):
                raise ValueError(f"limits of joint {name!r} must be {nfree} (lower < upper) pairs, got {limits!r}")
            bounds = [(int(row), bound, sign) for row, (lo, hi) in zip(np.flatnonzero(mask), pairs)
                      for bound, sign in ((lo, 1.0), (hi, -1.0)) if np.isfinite(bound)]
        self._joints.append(dict(
            name=name, type=joint_type, parent=parent, child=child, mask=mask,
            frame_t=frame_t, frame_r=frame_r, offset=offset,
            vertex_parent=_vector(f"parent_vertex of {name!r}", parent_vertex, 3),
            vertex_child=_vector(f"child_vertex of {name!r}", child_vertex, 3),
            spring=spring_full, damper=damper_full, armature=armature_full,
            spring_offset=per_free("spring_offset", spring_offset, 0.0),
            initial=per_free("initial_position", initial_position, 0.0),
            initial_rate=per_free("initial_velocity", initial_velocity, 0.0),
            wrap=np.array([False] * 3 + [r_free == (0,), False, False]),
            limits=bounds,
        ))
        if actuated:
            for row in np.flatnonzero(mask):
                self.add_actuator(name, row, gear)
        return name

    def add_actuator(self, joint, row, gear=1.0):
        """Actuate free row ``row`` (0-2 translational, 3-5 rotational) of ``joint``."""
        found = [j for j in self._joints if j["name"] == joint]
        if not found:
            raise ValueError(f"actuator on unknown joint {joint!r}")
        if found[0]["mask"][row] == 0:
            raise ValueError(f"row {row} of joint {joint!r} is constrained and cannot be actuated")
        gear = float(gear)
        if not np.isfinite(gear):
            raise ValueError("actuator gear must be finite")
        self._actuators.append(dict(joint=joint, row=int(row), kind="joint", gear=gear))

    # -- contacts ------------------------------------------------------------------------------
    def add_contact(self, body, radius=0.0, origin=(0, 0, 0), friction=0.5, model="soc",
                    normal=(0, 0, 1), offset=0.0, name=None):
        """A sphere of ``radius`` at body-frame ``origin`` (a point if radius is 0) against the
        world half-space {y : normalᵀ y >= offset}.

        Args:
            friction: Coulomb coefficient (> 0); model: ``"soc"`` (second-order cone, default),
                ``"linear"`` (four-sided pyramid) or ``"impact"`` (frictionless).
        """
        n = _vector("contact normal", normal, 3)
        if np.linalg.norm(n) < 1e-12:
            raise ValueError("contact normal must be non-zero")
        self._add_contact(name, "sphere_halfspace", body, "world", model, friction,
                          (radius, 0.0), (origin, origin, (0, 0, 0), (0, 0, 0)),
                          normal=n / np.linalg.norm(n), offset=float(offset))

    def add_collision(self, body_a, shape_a, body_b, shape_b, friction=0.5, model="soc", name=None):
        """Contact between two bodies' collision shapes.

        Shapes: ``("sphere", origin, radius)``, ``("capsule", start, end, radius)`` (body-frame
        points) or ``("box", half_extents)`` (centred on the body). Supported pairs: sphere-sphere,
        sphere-capsule, capsule-capsule, sphere-box, capsule-box and box-box. A capsule-box pair is
        three contacts (``name`` with suffixes ``_0``, ``_1``: the capsule's end spheres against the
        box; ``_segment``: the segment point nearest the box, see
        :func:`dojax.collision.capsule_box`), so that a capsule lying on a face rests on both ends. A
        box-box pair is each box's 8 corners (points) against the other box (16 contacts, suffixes
        ``_a0``-``_a7``, ``_b0``-``_b7``), as Dojo models boxes: face-face, face-edge and vertex-face
        contacts are found, an edge crossing an edge (no corner inside the other box) is not.
        """
        kinds = {"sphere": 3, "capsule": 4, "box": 2}
        for shape in (shape_a, shape_b):
            if not isinstance(shape, tuple) or shape[0] not in kinds or len(shape) != kinds[shape[0]]:
                raise ValueError(f"collision shape must be ('sphere', origin, radius), ('capsule', start, "
                                 f"end, radius) or ('box', half_extents); got {shape!r}")
        pair = f"{shape_a[0]}_{shape_b[0]}"
        if pair in ("capsule_sphere", "box_sphere", "box_capsule"):
            body_a, shape_a, body_b, shape_b = body_b, shape_b, body_a, shape_a
            pair = f"{shape_a[0]}_{shape_b[0]}"

        def extent(shape):
            ext = _vector("box half extents", shape[1], 3)
            if np.any(ext <= 0):
                raise ValueError(f"box half extents must be positive, got {shape[1]!r}")
            return ext

        name = name or f"contact{len(self._contacts) + 1}"
        if pair == "box_box":
            for a, b, ext_a, ext_b, side in ((body_a, body_b, extent(shape_a), extent(shape_b), "a"),
                                              (body_b, body_a, extent(shape_b), extent(shape_a), "b")):
                for k, sign in enumerate(itertools.product((-1.0, 1.0), repeat=3)):
                    corner = np.array(sign) * ext_a
                    self._add_contact(f"{name}_{side}{k}", "sphere_box", a, b, model, friction, (0.0, 0.0),
                                      (corner, corner, (0, 0, 0), (0, 0, 0)), extent=ext_b)
            return

        def ends(shape):
            if shape[0] == "sphere":
                return (shape[1], shape[1]), shape[2]
            if shape[0] == "capsule":
                return (shape[1], shape[2]), shape[3]
            return ((0, 0, 0), (0, 0, 0)), 0.0

        (a0, a1), ra = ends(shape_a)
        (b0, b1), rb = ends(shape_b)
        ext = extent(shape_b) if shape_b[0] == "box" else np.zeros(3)
        if pair == "capsule_box":
            for k, end_point in enumerate((a0, a1)):
                self._add_contact(f"{name}_{k}", "sphere_box", body_a, body_b, model, friction, (ra, rb),
                                  (end_point, end_point, b0, b1), extent=ext)
            self._add_contact(f"{name}_segment", pair, body_a, body_b, model, friction, (ra, rb),
                              (a0, a1, b0, b1), extent=ext)
            return
        self._add_contact(name, pair, body_a, body_b, model, friction, (ra, rb), (a0, a1, b0, b1), extent=ext)

    def _add_contact(self, name, geometry, body_a, body_b, model, friction, radii, points,
                     normal=(0, 0, 1), offset=0.0, extent=(0, 0, 0)):
        names = [b["name"] for b in self._bodies]
        for body in (body_a, body_b):
            if body != WORLD and body not in names:
                raise ValueError(f"contact on unknown body {body!r}; bodies: {names}")
        if body_a == body_b:
            raise ValueError(f"contact between {body_a!r} and itself")
        if model not in ("soc", "linear", "impact"):
            raise ValueError(f"contact model must be 'soc', 'linear' or 'impact', got {model!r}")
        friction = float(friction)
        if not np.isfinite(friction) or friction <= 0.0:
            raise ValueError(f"friction must be positive and finite, got {friction}")
        radii = np.asarray(radii, dtype=float)
        if not np.all(np.isfinite(radii)) or np.any(radii < 0):
            raise ValueError(f"contact radius must be non-negative and finite, got {radii}")
        name = name or f"contact{len(self._contacts) + 1}"
        if any(c["name"] == name for c in self._contacts):
            raise ValueError(f"contact name {name!r} already used")
        self._contacts.append(dict(
            name=name, geometry=geometry, a=body_a, b=body_b, model=model, friction=friction, radius=radii,
            points=np.stack([_vector("contact point", p, 3) for p in points]),
            normal=np.asarray(normal, float), offset=float(offset), extent=np.asarray(extent, float)))

    def add_body_force(self, body, direction, vertex=(0, 0, 0), gear=1.0):
        """Actuate a world-frame force along ``direction`` applied at ``vertex`` (body frame) of ``body``.

        This is also how external forces enter: the action sets their magnitude each step.
        """
        self._add_wrench(body, "force", direction, vertex, gear)

    def add_body_torque(self, body, direction, gear=1.0):
        """Actuate a world-frame torque about ``direction`` on ``body``."""
        self._add_wrench(body, "torque", direction, (0, 0, 0), gear)

    def _add_wrench(self, body, kind, direction, vertex, gear):
        if body not in [b["name"] for b in self._bodies]:
            raise ValueError(f"{kind} actuator on unknown body {body!r}")
        d = _vector(f"{kind} direction", direction, 3)
        if np.linalg.norm(d) < 1e-12:
            raise ValueError(f"{kind} direction must be non-zero")
        gear = float(gear)
        if not np.isfinite(gear):
            raise ValueError("actuator gear must be finite")
        self._actuators.append(dict(body=body, kind=kind, direction=d / np.linalg.norm(d),
                                    vertex=_vector(f"{kind} vertex", vertex, 3), gear=gear))

    # -- build ---------------------------------------------------------------------------------
    def build(self):
        """Validate and freeze into a Mechanism."""
        if not self._bodies:
            raise ValueError("a mechanism needs at least one body")
        body_names = tuple(b["name"] for b in self._bodies)
        nb = len(body_names)
        index = {n: i for i, n in enumerate(body_names)}
        index[WORLD] = nb

        # tree joint of each body: the first joint naming it as child that does not close a cycle
        parent = np.full(nb, nb)
        tree_joint = [None] * nb
        loops = []

        def ancestors(i):
            seen = set()
            while i != nb:
                seen.add(i)
                i = parent[i]
            return seen

        for j in self._joints:
            c, p = index[j["child"]], index[j["parent"]]
            if tree_joint[c] is None and c not in (ancestors(p) if p != nb else set()):
                tree_joint[c] = j
                parent[c] = p
            else:
                loops.append(j)
        for j in loops:
            for key, article in (("damper", "a"), ("armature", "an")):
                if np.any(j[key] > 0):
                    raise ValueError(f"loop-closing joint {j['name']!r} cannot have {article} {key}")
        for i, b in enumerate(self._bodies):
            if tree_joint[i] is None:  # free body: implicit floating joint placing it in the world
                rot = quat.numpy_ops.to_rotation_vector(b["orientation"])
                tree_joint[i] = dict(
                    name=f"{b['name']}_floating", type="floating", parent=WORLD, child=b["name"],
                    mask=np.ones(6), frame_t=np.eye(3), frame_r=np.eye(3), offset=np.array(quat.IDENTITY),
                    vertex_parent=np.zeros(3), vertex_child=np.zeros(3), spring=np.zeros(6),
                    damper=np.zeros(6), armature=np.zeros(6), spring_offset=np.zeros(6),
                    initial=np.concatenate([b["position"], rot]), initial_rate=b["velocity"],
                    wrap=np.zeros(6, bool))
        all_joints = tree_joint + loops
        joint_names = tuple(j["name"] for j in all_joints)
        if len(set(joint_names)) != len(joint_names):
            raise ValueError(f"joint names must be unique: {joint_names}")

        # elimination schedule: nodes (body + its tree joint) grouped by depth, deepest first
        depth = np.zeros(nb, int)
        for i in range(nb):
            depth[i] = len(ancestors(i)) - 1
        levels = [np.flatnonzero(depth == d) for d in range(depth.max(), -1, -1)]
        width = max(len(l) for l in levels)
        level_nodes = np.full((len(levels), width), nb)
        for k, l in enumerate(levels):
            level_nodes[k, : len(l)] = l

        kinds = ("joint", "force", "torque")
        act = dict(kind=[], joint=[], row=[], body=[], direction=[], vertex=[])
        for a in self._actuators:
            joint = a["kind"] == "joint"
            act["kind"].append(kinds.index(a["kind"]))
            act["joint"].append(joint_names.index(a["joint"]) if joint else 0)
            act["row"].append(a["row"] if joint else 0)
            act["body"].append(0 if joint else index[a["body"]])
            act["direction"].append(np.zeros(3) if joint else a["direction"])
            act["vertex"].append(np.zeros(3) if joint else a["vertex"])
        gear = [a["gear"] for a in self._actuators]

        # complementarity elements: contacts grouped by (model, geometry), then joint limits
        contact_a = np.array([index[c["a"]] for c in self._contacts], dtype=int)
        contact_b = np.array([index[c["b"]] for c in self._contacts], dtype=int)
        groups = []
        for key in sorted({(c["model"], c["geometry"]) for c in self._contacts}):
            members = tuple(k for k, c in enumerate(self._contacts) if (c["model"], c["geometry"]) == key)
            groups.append(("contact",) + key + (members, key[1] != "sphere_halfspace"))
        limits = [(k, row, bound, sign) for k, j in enumerate(all_joints) for row, bound, sign in j.get("limits", [])]
        for k, *_ in limits:
            if k >= nb:
                raise ValueError(f"limits on loop-closing joint {joint_names[k]!r} are not supported")
        if limits:
            groups.append(("limit", "limit", "joint", tuple(range(len(limits))), False))

        free_mask = np.stack([j["mask"] for j in all_joints])
        initial = np.concatenate([
            np.concatenate([j["initial"][j["mask"] > 0], j["initial_rate"][j["mask"] > 0]]) for j in tree_joint])
        structure = Structure(
            body_names=body_names,
            joint_names=joint_names,
            joint_types=tuple(j["type"] for j in all_joints),
            # per body its shapes (shape, position, orientation); None: none given, draw the inertia box
            visuals=tuple(tuple(b["visuals"]) if b["visuals"] or not b["visible"] else None for b in self._bodies),
            colors=tuple(b["color"] for b in self._bodies),
            joint_parent=np.array([index[j["parent"]] for j in all_joints]),
            joint_child=np.array([index[j["child"]] for j in all_joints]),
            free_mask=free_mask,
            orientation_offset=np.stack([j["offset"] for j in all_joints]),
            frame_translation=np.stack([j["frame_t"] for j in all_joints]),
            frame_rotation=np.stack([j["frame_r"] for j in all_joints]),
            wrap=np.stack([j["wrap"] for j in all_joints]),
            level_nodes=level_nodes,
            actuator_kind=np.array(act["kind"], dtype=int),
            actuator_joint=np.array(act["joint"], dtype=int),
            actuator_row=np.array(act["row"], dtype=int),
            actuator_body=np.array(act["body"], dtype=int),
            actuator_direction=np.array(act["direction"], dtype=float).reshape(-1, 3),
            actuator_vertex=np.array(act["vertex"], dtype=float).reshape(-1, 3),
            input_mode=self.input_mode,
            initial_minimal=initial,
            contact_names=tuple(c["name"] for c in self._contacts),
            contact_body_a=contact_a,
            contact_body_b=contact_b,
            element_groups=tuple(groups),
            limit_joint=np.array([l[0] for l in limits], dtype=int),
            limit_row=np.array([l[1] for l in limits], dtype=int),
            limit_sign=np.array([l[3] for l in limits], dtype=float),
        )
        cf = lambda key, shape: np.array([c[key] for c in self._contacts], dtype=float).reshape(shape)
        nc = len(self._contacts)
        f = lambda key: np.stack([j[key] for j in all_joints])
        # the parameters are NumPy arrays up to here, put on the device at once by jax.device_put,
        # which compiles nothing (jnp.asarray compiles a program per shape); the timestep, a Python
        # float, becomes a weakly typed scalar as jnp.asarray makes it
        leaves = jax.device_put(dict(
            mass=np.array([b["mass"] for b in self._bodies], dtype=float),
            inertia=np.stack([b["inertia"] for b in self._bodies]),
            gravity=self.gravity,
            timestep=self.timestep,
            vertex_parent=f("vertex_parent"),
            vertex_child=f("vertex_child"),
            spring=f("spring"),
            damper=f("damper"),
            spring_offset=f("spring_offset"),
            armature=f("armature"),
            gear=np.array(gear, dtype=float),
            friction=cf("friction", (nc,)),
            contact_radius=cf("radius", (nc, 2)),
            contact_points=cf("points", (nc, 4, 3)),
            contact_normal=cf("normal", (nc, 3)),
            contact_offset=cf("offset", (nc,)),
            contact_extent=cf("extent", (nc, 3)),
            limit=np.array([l[2] for l in limits], dtype=float),
        ))
        mech = Mechanism(**leaves, structure=structure)
        _warn_of_penetration(mech)
        return mech


@jax.jit
def _initial_state(mech):
    """Placing the bodies from the initial minimal coordinates: compiled once per mechanism
    structure (run eagerly, each of its operations compiles a program of its own)."""
    from dojax.minimal import from_minimal

    return from_minimal(mech, mech.structure.initial_minimal)


class ContactPenetrationWarning(UserWarning):
    """A contact starts inside its half-space (the ground) in the mechanism's initial configuration:
    the first step pushes it out violently or fails to converge."""


#: penetration (m) of a contact in the initial configuration above which ``build`` warns
PENETRATION_TOLERANCE = 1e-6


@jax.jit
def _initial_gaps(mech):
    """(indices, gaps) of the sphere-ground contacts in the initial configuration; compiled once per
    mechanism structure (run eagerly, placing the bodies costs half a second per build)."""
    state = mech.initial_state()
    return halfspace_gaps(mech, state.x, state.q)


def _warn_of_penetration(mech):
    """Warn, naming contact, body and depth, of each sphere-ground contact that starts inside the ground."""
    if not any(g[0] == "contact" and g[2] == "sphere_halfspace" for g in mech.structure.element_groups):
        return
    indices, gaps = _initial_gaps(mech)
    indices, gaps = np.asarray(indices), np.asarray(gaps)
    inside = [(int(k), -float(g)) for k, g in zip(indices, gaps) if g < -PENETRATION_TOLERANCE]
    if inside:
        s = mech.structure
        listed = ", ".join(f"{s.contact_names[k]!r} on body {s.body_names[s.contact_body_a[k]]!r} {depth:.4g} m deep"
                           for k, depth in inside)
        warnings.warn(f"contacts start inside the ground in the initial configuration: {listed}",
                      ContactPenetrationWarning, stacklevel=3)


__all__ = ["Mechanism", "MechanismBuilder", "ContactPenetrationWarning", "Structure", "WORLD", "Box", "Sphere",
           "Cylinder", "Capsule"]
