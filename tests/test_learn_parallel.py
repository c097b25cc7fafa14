"""Data-parallel training (dojax.learn.parallel) on four forced host devices: every device holds the
same parameters, equal to a one-device run of the same global batch.

The device count must be set before JAX starts, so the check runs in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent('''
    import jax
    import jax.numpy as jnp
    import numpy as np

    import dojax
    from dojax.learn import apg, parallel, shac
    from dojax.learn.lqr import DoubleIntegrator

    assert jax.device_count() == 4
    options = dict(num_iterations=3, num_envs=8, horizon=5, hidden_sizes=(8,), action_noise=0.3, episode_length=7)
    configs = [(apg, apg.APGConfig(**options)),
               (shac, shac.SHACConfig(critic_hidden_sizes=(8,), critic_epochs=2, critic_minibatches=2, **options))]
    env = DoubleIntegrator()
    for module, config in configs:
        one, _ = jax.jit(module.make_train(env, config))(jax.random.key(0))
        four, _ = jax.jit(parallel.make_train(module, env, config))(jax.random.key(0))
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(four)):
            shards = [np.asarray(s.data) for s in b.addressable_shards]
            assert b.sharding.is_fully_replicated and len(shards) == 4
            assert all(np.array_equal(shards[0], s) for s in shards[1:]), "replicas differ"
            # the same sums in another order (all-reduces over the devices' partial sums)
            np.testing.assert_allclose(shards[0], a, rtol=1e-9, atol=1e-12)
    # a dojax environment's physics runs on the device holding its share of the batch
    pendulum = dojax.envs.make("Pendulum")
    batch = parallel.DataParallel(pendulum, parallel.device_mesh())
    keys = jax.random.split(jax.random.key(1), 8)
    actions = jnp.linspace(-1.0, 1.0, 8)[:, None]
    after = jax.jit(batch.batch_step)(jax.jit(batch.batch_reset)(keys), actions)
    assert [s.data.shape for s in after.obs.addressable_shards] == [(2, 3)] * 4
    expected = jax.jit(jax.vmap(pendulum.step))(jax.vmap(pendulum.reset)(keys), actions)
    np.testing.assert_allclose(after.obs, expected.obs, rtol=1e-12, atol=1e-12)
    try:
        parallel.make_train(apg, env, apg.APGConfig(num_envs=6))
    except ValueError as error:
        assert str(error) == "num_envs must be a multiple of the number of devices (4), got 6", error
    else:
        raise AssertionError("no error for 6 environments on 4 devices")
    print("ok")
''')


@pytest.mark.slow
def test_data_parallel_training_on_four_devices_equals_one_device():
    python = str(Path(__file__).resolve().parents[1] / "python")
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    env = dict(os.environ, XLA_FLAGS=flags,
               PYTHONPATH=os.pathsep.join(filter(None, [python, os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
