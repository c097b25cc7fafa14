"""The quadruped trot reference of bench/table3.py: a kinematically consistent trot."""

import importlib.util
import os
import pathlib

import jax.numpy as jnp
import numpy as np

import dojax
from dojax import quaternion as quat

_cache = os.environ.get("DOJAX_CACHE_DIR")
_spec = importlib.util.spec_from_file_location("table3", pathlib.Path(__file__).parents[1] / "bench" / "table3.py")
table3 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(table3)  # (its benchmark setup points DOJAX_CACHE_DIR elsewhere: restored)
if _cache is None:
    os.environ.pop("DOJAX_CACHE_DIR", None)
else:
    os.environ["DOJAX_CACHE_DIR"] = _cache

CALVES = (3, 6, 9, 12)  # body indices of the four calves, in the order of table3.LEGS


def _feet(mech, y):
    """World positions (4, 3) of the foot spheres' centres, 0.1 m below each calf's centre of mass."""
    s = dojax.from_minimal(mech, y)
    return np.stack([np.asarray(s.x[c] + quat.rotate(s.q[c], jnp.array([0.0, 0.0, -0.1]))) for c in CALVES])


def test_trot_reference_stance_feet_stay_put_and_swing_feet_lift():
    mech = dojax.load("quadruped", timestep=0.05)
    settings = dict(table3.TROT, half_cycle=4, cycles=1)  # a short trot: 8 steps
    dt = settings.pop("dt")
    Y = np.asarray(table3.trot_reference(mech, dt, **settings))
    assert Y.shape == (9, mech.minimal_size)
    feet = np.stack([_feet(mech, y) for y in Y])  # (9, 4, 3)
    # front-left and hind-right stand for steps 0..4, front-right and hind-left for steps 4..8;
    # 1e-9 m: the inverse kinematics is closed form, so only rounding remains
    for legs, steps in (((0, 3), slice(0, 5)), ((1, 2), slice(4, 9))):
        stance = feet[steps][:, legs]
        np.testing.assert_allclose(stance, np.broadcast_to(stance[:1], stance.shape), atol=1e-9)
        np.testing.assert_allclose(stance[..., 2], 0.025, atol=1e-9)  # the foot sphere (radius 0.025) on z = 0
    # a swing foot travels 2 strides forward, up to the lift height at mid-swing
    stride, lift = settings["stride"], settings["lift"]
    np.testing.assert_allclose(feet[8, 0] - feet[4, 0], [4 * stride, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(feet[6, 0, 2], 0.025 + lift, atol=1e-9)
    # the torso moves 2 strides per half cycle at the set height
    np.testing.assert_allclose(Y[-1, 0:3], [4 * stride, 0.0, settings["height"]], atol=1e-12)
