"""Fidelity, side by side: the Dojo paper's simulation studies in dojax and MuJoCo, on the same
model files, and speed-accuracy curves.

Parts (``--parts``, default all):

  drop       a quadruped dropped onto the floor: deepest foot penetration at dt 0.1, 0.01 and
             0.001 s (the paper's Table II), and the resting pose and path at 20 ... 500 Hz
  astronaut  a humanoid in zero gravity, random joint torques for 1 s, then free: drift of linear
             and angular momentum and of energy over 10 s at dt 0.1, 0.01, 0.001
  cones      a box shoved in several directions: direction error and stopping distance against
             Coulomb's answer, for dojax's second-order cone and pyramid and MuJoCo's elliptic
             and pyramidal cones
  speed      deviation from a converged run against simulated seconds per wall second, over
             timesteps and solver settings (Hopper, Humanoid, a box toss); it measures wall time,
             so run it pinned to one core under the benchmark lock:
             flock /tmp/bench.lock taskset -c 1 python bench/fidelity.py --parts speed

Each part stores its figures in ``--out`` (default bench/results/): ``fidelity.json`` (every
part's numbers, with the command, commit, date and load of the run that made them; a run
replaces only its own parts), ``fidelity_<part>.png`` and the report ``fidelity.md``, rewritten
from the JSON after every run. ``--quick`` runs a smaller version (fewer angles, timesteps and
solver settings, a shorter speed horizon) in a few minutes.

    python bench/fidelity.py --quick
    python bench/fidelity.py --parts drop astronaut cones
"""

import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PARTS = ("drop", "astronaut", "cones", "speed")


def _jsonable(value):
    """The result without its per-step series (kept for figures only), as plain JSON types."""
    import numpy as np

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k not in ("series", "paths")}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--quick", action="store_true", help="the few-minute version")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    from tqdm import tqdm

    import dojax  # noqa: F401  (float64, compilation cache)
    from fidelity import astronaut, cones, drop, report, speed

    modules = {"drop": drop, "astronaut": astronaut, "cones": cones, "speed": speed}
    store = os.path.join(args.out, "fidelity.json")
    data = json.load(open(store)) if os.path.exists(store) else {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", ":!results"], capture_output=True, text=True,
                           cwd=HERE).stdout.strip()  # the benchmark's code differs from the commit
    for part in args.parts:
        module = modules[part]
        steps = module.study_steps(args.quick) if hasattr(module, "study_steps") else module.STUDY_STEPS
        load = os.getloadavg()[0]
        start = datetime.datetime.now(datetime.timezone.utc)
        with tqdm(total=steps, desc=part) as bar:
            result = module.study(args.quick, bar.update)
        module.figure(result, os.path.join(args.out, f"fidelity_{part}.png"))
        data[part] = dict(result=_jsonable(result), quick=args.quick, commit=commit + ("+" if dirty else ""),
                          date=start.strftime("%Y-%m-%d %H:%M UTC"),
                          minutes=round((datetime.datetime.now(datetime.timezone.utc) - start).total_seconds() / 60, 1),
                          load=round(load, 2), affinity=sorted(os.sched_getaffinity(0)),
                          command="python bench/fidelity.py " + " ".join(sys.argv[1:]))
        with open(store, "w") as f:
            json.dump(data, f, indent=1)
    with open(os.path.join(args.out, "fidelity.md"), "w") as f:
        f.write(report.markdown(data))
    print(f"wrote {os.path.join(args.out, 'fidelity.md')}")


if __name__ == "__main__":
    main()
