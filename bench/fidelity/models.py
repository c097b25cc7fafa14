"""The models of the studies, each written as one MJCF file that both engines load.

dojax reads the file with :func:`dojax.load_mjcf`; MuJoCo compiles the same file. What dojax does not
model is taken out of the file for both engines, so that they simulate the same physics: joint
armature (rotor inertia) is set to 0, and robot geoms collide only with the floor (dojax imports no
body-body collisions).
"""

import os
import tempfile
import warnings

import numpy as np

_DIR = tempfile.mkdtemp(prefix="dojax-fidelity-models-")

#: the quadruped's standing pose, joint angle by joint kind (dojax.models.robots.QUADRUPED_STANCE)
STANCE = {"hip_abduction": 0.0, "hip_pitch": 0.7, "knee": -1.4}


def _mujoco():
    import mujoco

    return mujoco


def _floor_only(spec, floor):
    """Robot geoms collide with the floor and not with each other."""
    for geom in spec.geoms:
        if geom.name == floor:
            geom.contype, geom.conaffinity = 1, 0
        elif geom.contype or geom.conaffinity:
            geom.contype, geom.conaffinity = 0, 1


def _write(spec, name):
    path = os.path.join(_DIR, name + ".xml")
    with open(path, "w") as f:
        f.write(spec.to_xml())
    return path


def quadruped_xml(stiffness=30.0, damping=2.0):
    """dojax's 12-joint quadruped (models/assets/quadruped.urdf, 10 kg, 2.5 cm foot spheres) as
    MJCF: a free torso over a floor, each joint a spring (``stiffness`` N m/rad towards the
    standing pose) with a damper, so that it stands without a controller."""
    mujoco = _mujoco()
    from dojax.models.robots import ASSETS

    spec = mujoco.MjSpec.from_file(os.path.join(ASSETS, "quadruped.urdf"))
    list(spec.worldbody.bodies)[0].add_freejoint(name="torso_floating")
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1.0])
    for joint in spec.joints:
        if joint.type == mujoco.mjtJoint.mjJNT_HINGE:
            joint.stiffness = np.array([stiffness, 0.0, 0.0])
            joint.damping = np.array([damping, 0.0, 0.0])
            joint.springref = STANCE[joint.name.split("_", 2)[-1]]
            spec.add_actuator(name=joint.name, target=joint.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
    _floor_only(spec, "floor")
    return _write(spec, "quadruped")


def stance_qpos():
    """{joint name: angle} of the quadruped's standing pose."""
    return {f"{leg}_{kind}": value for leg in ("front_left", "front_right", "hind_left", "hind_right")
            for kind, value in STANCE.items()}


def gymnasium_xml(name, out, gravity=None, floor=True, limits=True, passive=True, ball_joints=False):
    """One of gymnasium's MuJoCo files, armature removed and self-collision off; optionally
    without floor, joint limits, or joint springs and dampers, and with another gravity.

    ``ball_joints``: each body's group of two or three hinges about one point (the humanoid's
    hips, abdomen and shoulders) becomes a ball joint, and their motors are dropped. Without
    armature and limits such hinge groups pass through gimbal lock, where their mass matrix is
    singular and both engines fail; a ball joint has no such configuration.
    """
    mujoco = _mujoco()
    from dojax.models.robots import gymnasium_asset

    spec = mujoco.MjSpec.from_file(gymnasium_asset(name))
    if ball_joints:
        hinge = mujoco.mjtJoint.mjJNT_HINGE
        dropped = set()
        for body in spec.worldbody.find_all("body"):
            hinges = [j for j in body.joints if j.type == hinge]
            if len(hinges) > 1:
                pos = np.array(hinges[0].pos)
                dropped |= {j.name for j in hinges}
                for j in hinges:
                    spec.delete(j)
                body.add_joint(name=body.name + "_ball", type=mujoco.mjtJoint.mjJNT_BALL, pos=pos)
        for actuator in list(spec.actuators):
            if actuator.target in dropped:
                spec.delete(actuator)
    floors = [g.name for g in spec.worldbody.geoms if g.type == mujoco.mjtGeom.mjGEOM_PLANE]
    for joint in spec.joints:
        joint.armature = 0.0
        if not limits:
            joint.limited = mujoco.mjtLimited.mjLIMITED_FALSE
        if not passive:
            joint.stiffness = np.zeros(3)
            joint.damping = np.zeros(3)
    if not passive:
        for tendon in list(spec.tendons):
            spec.delete(tendon)
    if not floor:
        for geom in list(spec.worldbody.geoms):
            if geom.name in floors:
                spec.delete(geom)
    _floor_only(spec, floors[0] if floor and floors else None)
    if gravity is not None:
        spec.option.gravity = np.array([0.0, 0.0, gravity])
    return _write(spec, out)


def box_xml(friction=0.5, cone="pyramidal", half=0.1, mass=1.0):
    """A free box (``half`` m half-width, ``mass`` kg) on a floor; MuJoCo friction cone ``cone``
    (dojax chooses its own cone when it loads the file)."""
    xml = f"""<mujoco model="box">
  <option cone="{cone}"/>
  <worldbody>
    <geom name="floor" type="plane" size="0 0 1" friction="{friction} 0 0" condim="3"/>
    <body name="box" pos="0 0 {half}">
      <freejoint name="box_free"/>
      <geom name="box" type="box" size="{half} {half} {half}" mass="{mass}" friction="{friction} 0 0" condim="3"/>
    </body>
  </worldbody>
</mujoco>"""
    path = os.path.join(_DIR, f"box_{cone}.xml")
    with open(path, "w") as f:
        f.write(xml)
    return path


def load_pair(path, **dojax_options):
    """(dojax Mechanism, ImportInfo, MuJoCo MjModel) of one MJCF file."""
    import dojax
    from dojax.importer import ModelImportWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelImportWarning)
        mech, info = dojax.load_mjcf(path, warn=False, return_info=True, **dojax_options)
    return mech, info, _mujoco().MjModel.from_xml_path(path)
