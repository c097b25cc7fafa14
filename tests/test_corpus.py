"""The MJCF corpus: every model shipped with gymnasium's MuJoCo environments and dm_control's suite
either loads or is rejected at load with a message naming what dojax cannot import.

Loading compiles no step code, so every file is loaded here; stepping (200 steps of every model that
loads, each converged) is measured by bench/corpus.py, and one model that used to fail its solve
(gymnasium's pusher_v5.xml) is stepped here. dm_control is a test-only dependency (skipped without it).
"""

import glob
import os
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import dojax
from dojax.importer import ModelImportWarning, load_mjcf

pytest.importorskip("mujoco")

# the files dojax rejects, and what the message names
REJECTED = {
    "dm_control/ball_in_cup.xml": "tendon 'string'",
    "dm_control/dog.xml": "tendon 'lumbar_extend'",
    "dm_control/fish.xml": "tendon 'fins_flap'",
    "dm_control/humanoid_CMU.xml": r"\['lhand \(ellipsoid\)', 'rhand \(ellipsoid\)'\]",
    "dm_control/lqr.xml": "no moving body",  # a template: the suite adds the bodies in Python
    "dm_control/manipulator.xml": "equality constraint 'coupling'",
    "dm_control/point_mass.xml": "tendon 't1'",
    "dm_control/quadruped.xml": "equality constraint 'coupling_front_left'",
    "dm_control/stacker.xml": "equality constraint 'coupling'",
}


def corpus(package, *sub):
    """{"<package>/<file>": path} of the package's MJCF files (skipped without the package)."""
    module = pytest.importorskip(package)
    files = sorted(glob.glob(os.path.join(os.path.dirname(module.__file__), *sub, "*.xml")))
    assert files
    return {f"{package}/{os.path.basename(f)}": f for f in files}


def load_quietly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelImportWarning)
        return load_mjcf(path)


@pytest.mark.parametrize("package, sub", [("gymnasium", ("envs", "mujoco", "assets")), ("dm_control", ("suite",))])
def test_every_corpus_model_loads_or_names_what_it_cannot_import(package, sub):
    for name, path in corpus(package, *sub).items():
        if name in REJECTED:
            with pytest.raises(ValueError, match=REJECTED[name]):
                load_quietly(path)
        else:
            mech = load_quietly(path)
            assert mech.num_bodies >= 1, name


def test_pusher_v5_converges_every_step():
    # its pushed object only slides on the table, so its contacts (which no joint can move) are
    # dropped at load; with them every solve failed from the first step (71 of 200 converged)
    mech = load_quietly(corpus("gymnasium", "envs", "mujoco", "assets")["gymnasium/pusher_v5.xml"])
    assert mech.num_contacts == 4  # the wrist's, against the ground
    actions = 0.1 * np.random.default_rng(0).uniform(-1.0, 1.0, (200, mech.action_size))
    states, infos = dojax.rollout(mech, mech.initial_state(), jnp.asarray(actions))
    assert bool(infos.converged.all())
    assert np.all(np.isfinite(np.asarray(states.x)))
