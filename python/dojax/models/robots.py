"""Robots imported from model files: Gymnasium's MuJoCo models and a URDF quadruped.

The MuJoCo robots are read with :func:`dojax.importer.load_mjcf` from the XML files that the
``gymnasium`` package ships (``gymnasium/envs/mujoco/assets``); they need ``mujoco`` and
``gymnasium`` installed. See :mod:`dojax.importer` for how MuJoCo elements map to dojax.

Common conventions:

* Timestep 0.01 s by default (Gymnasium steps MuJoCo at its file's timestep times ``frame_skip``:
  0.008 s for hopper and walker2d, 0.05 s for halfcheetah and ant, 0.015 s for humanoid, 0.04 s
  for the inverted pendulum; dojax's implicit integrator does not need MuJoCo's small steps).
* Actions are MuJoCo's ``ctrl``, in the file's actuator order, times the motor gears; MuJoCo clamps
  them to ``ctrlrange`` (usually [-1, 1]) and dojax does not.
* Each robot starts at rest in MuJoCo's default pose (``qpos0``), with joints outside their limits
  clamped into them (the ant's ankles, the humanoid's knees), and, for robots on the ground, its root moved vertically so
  that its lowest contact sphere touches the ground z = 0 (Gymnasium's poses start a few cm above it).
* Contacts: every geom that MuJoCo collides with the floor becomes contact spheres (a capsule one
  at each end); friction from the geoms (MuJoCo's combination), unless ``friction`` is given.
* Joint armature (rotor inertia: 1 on the hopper's and the ant's joints, 0.1 on the half cheetah's,
  0.01 on the walker's, 0.003-0.02 on the humanoid's) is part of the model; without contact the
  robots' joints follow MuJoCo's trajectories to within 1% (tests/test_mujoco.py).
* Not reproduced: MuJoCo's soft contacts and limits, body-body collisions, the humanoid's passive
  tendons.
"""

import os
import warnings
from importlib import util

from dojax.importer import ModelImportWarning, load_mjcf, load_urdf

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


def gymnasium_asset(name):
    """Path of one of the MuJoCo XML files shipped with gymnasium (ValueError if missing)."""
    spec = util.find_spec("gymnasium")
    if spec is None or spec.origin is None:
        raise ValueError(f"the {name!r} model needs the gymnasium package (pip install gymnasium)")
    path = os.path.join(os.path.dirname(spec.origin), "envs", "mujoco", "assets", name)
    if not os.path.isfile(path):
        raise ValueError(f"gymnasium does not ship {name!r} (looked for {path})")
    return path


def gymnasium_model(name, timestep=0.01, gravity=None, friction=None, contact_model="soc", on_ground=True, **kwargs):
    """Import one of gymnasium's MuJoCo XML files as the robots here do (other keywords go to
    :func:`~dojax.importer.load_mjcf`, e.g. ``return_info=True``)."""
    with warnings.catch_warnings():  # what is dropped is documented above and in each docstring
        warnings.simplefilter("ignore", ModelImportWarning)
        return load_mjcf(gymnasium_asset(name), timestep=timestep, gravity=gravity, contact_friction=friction,
                         contact_model=contact_model, on_ground=on_ground, warn=False, **kwargs)


def hopper(timestep=0.01, gravity=None, friction=None, contact_model="soc"):
    """Gymnasium's Hopper (hopper.xml): a one-legged planar hopper, 4 bodies, 15.8 kg.

    Root: a planar_axis joint (rootx, rootz slides and the rooty hinge; dojax coordinates
    [-(z - 1.25), -x, pitch]); thigh, leg and foot hinges with limits. 3 actions (gear 200).
    8 contacts: both ends of each capsule. Starts upright with its foot on the ground.
    """
    return gymnasium_model("hopper.xml", timestep, gravity, friction, contact_model)


def halfcheetah(timestep=0.01, gravity=None, friction=None, contact_model="soc"):
    """Gymnasium's HalfCheetah (half_cheetah.xml): a planar runner, 7 bodies, 14 kg.

    Root: planar_axis (rootx, rootz, rooty); 6 limited leg hinges with springs and dampers.
    6 actions (gears 120, 90, 60, 120, 60, 30). 16 contacts (capsule ends). Starts on its feet.
    """
    return gymnasium_model("half_cheetah.xml", timestep, gravity, friction, contact_model)


def walker2d(timestep=0.01, gravity=None, friction=None, contact_model="soc"):
    """Gymnasium's Walker2d-v5 (walker2d_v5.xml): a planar biped, 7 bodies.

    Root: planar_axis (rootx, rootz, rooty); thigh, leg and foot hinges per leg with limits.
    6 actions (gear 100). 14 contacts (capsule ends). Starts upright on its feet.
    """
    return gymnasium_model("walker2d_v5.xml", timestep, gravity, friction, contact_model)


def ant(timestep=0.01, gravity=None, friction=None, contact_model="soc"):
    """Gymnasium's Ant (ant.xml): a floating torso sphere with four two-hinge legs, 0.91 kg.

    9 bodies (the four jointless upper-leg capsules merged into the torso); the torso is a free
    body. 8 actions (gear 150). 21 contacts: the torso sphere, the outer ends of the merged
    capsules and both ends of every leg capsule. MuJoCo's ``qpos0`` has the ankles at 0, outside
    their limits (30 to 70 degrees): they start clamped to 30 degrees, standing on the ankle tips.
    """
    return gymnasium_model("ant.xml", timestep, gravity, friction, contact_model)


def humanoid(timestep=0.01, gravity=None, friction=None, contact_model="soc"):
    """Gymnasium's Humanoid (humanoid.xml): 13 bodies (the feet merged into the shins), 42 kg.

    The torso is a free body. Its hips (3 hinges), abdomen (2) and shoulders (2) have no single
    dojax joint, so each is split through virtual bodies carrying 1% of the segment's mass
    (7 virtual bodies; 18 dojax bodies in all), which keeps MuJoCo's per-hinge coordinates,
    limits, springs and motors. 17 actions. The two passive tendons are not reproduced. Contacts:
    all capsule ends and spheres (torso, arms, legs). Starts standing on its feet, its knees
    clamped from 0 to their -2 degree limit.
    """
    return gymnasium_model("humanoid.xml", timestep, gravity, friction, contact_model)


def inverted_pendulum(timestep=0.01, gravity=None):
    """Gymnasium's InvertedPendulum (inverted_pendulum.xml): a cart on a limited slider (+-1 m)
    and an unactuated pole on a limited hinge (+-90 degrees), starting upright at rest.

    Coordinates [cart x, pole angle] (0 = upright). 1 action: the cart force (gear 100).
    No ground and no contacts (the file's geoms do not collide).
    """
    return gymnasium_model("inverted_pendulum.xml", timestep, gravity, None, "soc", on_ground=False)


QUADRUPED_STANCE = {"hip_abduction": 0.0, "hip_pitch": 0.7, "knee": -1.4}


def quadruped(timestep=0.01, gravity=-9.81, friction=0.8, contact_model="soc", stance=None):
    """A 10 kg quadruped from a URDF file (models/assets/quadruped.urdf), loaded with load_urdf.

    A box torso (6 kg, 0.4 x 0.2 x 0.08 m) on a floating base and four legs (front/hind,
    left/right), each a hip abduction joint (about x, +-0.6 rad), a hip pitch joint (about y,
    +-1.6 rad) and a knee (about y, -2.7 to -0.1 rad), all revolute with limits and damping 0.05
    N m s; links 0.2 m. 12 actions: the joint torques (gear 1), in the order
    front_left, front_right, hind_left, hind_right x (hip_abduction, hip_pitch, knee).
    4 contacts: a 2.5 cm sphere at each foot.

    It starts at rest standing on its four feet in ``stance`` (joint angles by joint kind; default
    hip pitch 0.7 rad and knee -1.4 rad, which puts each foot under its hip).
    """
    stance = dict(QUADRUPED_STANCE, **(stance or {}))
    unknown = set(stance) - set(QUADRUPED_STANCE)
    if unknown:
        raise ValueError(f"stance names unknown joint kinds {sorted(unknown)}; kinds: {list(QUADRUPED_STANCE)}")
    qpos = {f"{leg}_{kind}": float(value) for leg in ("front_left", "front_right", "hind_left", "hind_right")
            for kind, value in stance.items()}
    return load_urdf(os.path.join(ASSETS, "quadruped.urdf"), floating_base=True, timestep=timestep,
                     gravity=gravity, contact_friction=friction, contact_model=contact_model, qpos=qpos,
                     warn=False)


ROBOTS = {
    "hopper": hopper,
    "halfcheetah": halfcheetah,
    "walker2d": walker2d,
    "ant": ant,
    "humanoid": humanoid,
    "inverted_pendulum": inverted_pendulum,
    "quadruped": quadruped,
}

__all__ = list(ROBOTS) + ["ROBOTS", "gymnasium_asset", "gymnasium_model", "QUADRUPED_STANCE"]
