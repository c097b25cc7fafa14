"""The MJCF corpus: every model shipped with gymnasium's MuJoCo environments and dm_control's suite.

Each file is imported with ``dojax.load_mjcf`` (its own timestep, gravity and initial pose); a model
that loads runs ``--steps`` steps (default 200) of ``dojax.rollout`` under small seeded random actions
(uniform in 10% of each actuator's control range, or +-0.1 where the range is unlimited) and the
steps whose solve converged are counted. A model that does not load records the import's message.

Columns: model, bodies, contacts, converged steps, load + run time (s, including the rollout's
compilation), or the load error. Printed and written as a markdown table (``--out``).

    python bench/corpus.py
    python bench/corpus.py --only gymnasium/hopper.xml dm_control/cartpole.xml --steps 50

dm_control is optional (``pip install dm_control``); without it only gymnasium's models are run.
"""

import argparse
import glob
import importlib.util
import os
import time
import warnings


def corpus_files():
    """{"gymnasium/<file>" or "dm_control/<file>": path} for every MJCF file of the two corpora."""
    files = {}
    for package, sub in (("gymnasium", ("envs", "mujoco", "assets")), ("dm_control", ("suite",))):
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        for path in sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), *sub, "*.xml"))):
            files[f"{package}/{os.path.basename(path)}"] = path
    return files


def load(path):
    """(mechanism, info) of one corpus file, or the import's ValueError."""
    from dojax.importer import ModelImportWarning, load_mjcf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelImportWarning)
        return load_mjcf(path, return_info=True, warn=False)


def actions(mech, info, steps, seed=0):
    """Seeded uniform actions in 10% of each control range (+-0.1 where unlimited), shape (steps, nu)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lo, hi = np.asarray(info.ctrl_range, float).reshape(-1, 2).T if mech.action_size else (np.zeros(0),) * 2
    mid, half = (lo + hi) / 2, np.where(np.isfinite(hi - lo), (hi - lo) / 2, 1.0)
    return mid + 0.1 * half * rng.uniform(-1, 1, (steps, mech.action_size))


def run(name, path, steps):
    """One table row: dict(model, bodies, contacts, converged, seconds) or dict(model, error, seconds)."""
    import jax
    import numpy as np

    import dojax

    t0 = time.perf_counter()
    try:
        mech, info = load(path)
    except ValueError as exc:
        return dict(model=name, error=str(exc).replace(path, os.path.basename(path)).splitlines()[0],
                    seconds=time.perf_counter() - t0)
    _, infos = dojax.rollout(mech, mech.initial_state(), actions(mech, info, steps))
    converged = int(np.asarray(jax.block_until_ready(infos.converged)).sum())
    return dict(model=name, bodies=mech.num_bodies, contacts=mech.num_contacts, converged=converged,
                seconds=time.perf_counter() - t0)


def table(rows, steps):
    lines = [f"| model | bodies | contacts | converged of {steps} | load + run (s) | load error |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | | | | {r['seconds']:.1f} | {r['error'].replace('|', '/')} |")
        else:
            lines.append(f"| {r['model']} | {r['bodies']} | {r['contacts']} | {r['converged']} | "
                         f"{r['seconds']:.1f} | |")
    loaded = [r for r in rows if "error" not in r]
    lines.append("")
    lines.append(f"{len(rows)} models: {len(loaded)} load, {sum(r['converged'] == steps for r in loaded)} converge "
                 f"every step, {len(rows) - len(loaded)} rejected at load.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", nargs="*", help="corpus names (e.g. gymnasium/hopper.xml) to run")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "corpus.md"))
    args = parser.parse_args()
    from tqdm import tqdm

    files = corpus_files()
    names = args.only or list(files)
    rows = []
    for name in (bar := tqdm(names)):
        bar.set_description(name)
        rows.append(run(name, files[name], args.steps))
    text = table(rows, args.steps)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
