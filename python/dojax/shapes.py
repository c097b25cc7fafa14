"""Body shapes: the geometry drawn for a body and the source of its inertia when none is given.

A shape does not imply collision; contacts are declared separately.
Dimensions are full extents in metres, in the body frame, centred on the centre of mass.
"""

from dataclasses import dataclass

import numpy as np


def _positive(name, value):
    value = float(value)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be positive and finite, got {value}")
    return value


@dataclass(frozen=True)
class Box:
    """A box with side lengths (x, y, z)."""

    x: float
    y: float
    z: float

    def __post_init__(self):
        for name in "xyz":
            object.__setattr__(self, name, _positive(f"Box.{name}", getattr(self, name)))

    def inertia(self, mass):
        x2, y2, z2 = self.x**2, self.y**2, self.z**2
        return mass / 12.0 * np.diag([y2 + z2, x2 + z2, x2 + y2])


@dataclass(frozen=True)
class Sphere:
    """A solid sphere."""

    radius: float

    def __post_init__(self):
        object.__setattr__(self, "radius", _positive("Sphere.radius", self.radius))

    def inertia(self, mass):
        return 0.4 * mass * self.radius**2 * np.eye(3)


@dataclass(frozen=True)
class Cylinder:
    """A solid cylinder along the body z axis."""

    radius: float
    length: float

    def __post_init__(self):
        object.__setattr__(self, "radius", _positive("Cylinder.radius", self.radius))
        object.__setattr__(self, "length", _positive("Cylinder.length", self.length))

    def inertia(self, mass):
        r2, l2 = self.radius**2, self.length**2
        side = mass * (3.0 * r2 + l2) / 12.0
        return np.diag([side, side, 0.5 * mass * r2])


@dataclass(frozen=True)
class Capsule:
    """A cylinder of ``length`` along body z capped by two hemispheres of ``radius``."""

    radius: float
    length: float

    def __post_init__(self):
        object.__setattr__(self, "radius", _positive("Capsule.radius", self.radius))
        object.__setattr__(self, "length", float(self.length))
        if not np.isfinite(self.length) or self.length < 0.0:
            raise ValueError(f"Capsule.length must be non-negative, got {self.length}")

    def inertia(self, mass):
        r, l = self.radius, self.length
        v_cyl, v_sph = np.pi * r * r * l, 4.0 / 3.0 * np.pi * r**3
        m_cyl = mass * v_cyl / (v_cyl + v_sph)
        m_sph = mass - m_cyl
        axial = 0.5 * m_cyl * r * r + 0.4 * m_sph * r * r
        side = m_cyl * (3 * r * r + l * l) / 12.0 + m_sph * (0.4 * r * r + l * l / 4.0 + 3.0 * l * r / 8.0)
        return np.diag([side, side, axial])
