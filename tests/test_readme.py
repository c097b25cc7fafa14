"""Every Python block of README.md runs as written (each on its own) and converges where it claims to."""

import pathlib
import re
import warnings

import jax
import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 4


SLOW = ("jax.grad", "ilqr(", "identify(")  # gradients, an iLQR iteration, a fit compile for minutes


@pytest.mark.parametrize("index", [pytest.param(i, marks=pytest.mark.slow) if any(s in block for s in SLOW) else i
                                   for i, block in enumerate(BLOCKS)])
def test_readme_block_runs_and_converges(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the files a block writes (checkpoints, logs) go there
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a README example must not warn (e.g. start inside the ground)
        exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), namespace)
    if "infos" in namespace:
        assert bool(namespace["infos"].converged.all())
    if hasattr(namespace.get("result"), "converged"):  # an optimiser's result
        assert namespace["result"].converged, namespace["result"].status
    if isinstance(namespace.get("info"), dict):
        assert not namespace["info"]["solver_failed"]
    for name in ("grad_mech", "jac"):
        if name in namespace:
            leaves = jax.tree.leaves(namespace[name])
            assert all(np.all(np.isfinite(leaf)) for leaf in leaves)
            assert any(np.any(leaf != 0) for leaf in leaves)
