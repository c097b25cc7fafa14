"""The ``dojax`` command line.

    dojax models                                  list the built-in models
    dojax simulate pendulum --steps 500 --out pendulum.gif

``simulate`` runs a built-in model from its initial state with zero actions, writes an animation
(GIF, or MP4 when ffmpeg is available) and an energy/momentum plot next to it, and reports whether
every step converged. Compiled code is kept in JAX's persistent cache (``~/.cache/dojax/jax``,
unless one is already configured, e.g. by ``JAX_COMPILATION_CACHE_DIR``), so repeated runs start
quickly.
"""

import argparse
import inspect
import math
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

import dojax
from dojax import render
from dojax.models import MODELS

CACHE_DIR = Path.home() / ".cache" / "dojax" / "jax"
CHUNK = 50  # steps per rollout call: one compilation, progress reported between chunks


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} -h')\n")


def _positive(kind):
    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    return convert


def _video_path(text):
    path = Path(text)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise argparse.ArgumentTypeError(f"must end in .gif or .mp4, got {text!r}")
    if path.suffix.lower() == ".mp4" and render._ffmpeg() is None:
        raise argparse.ArgumentTypeError("writing .mp4 needs ffmpeg (pip install imageio-ffmpeg); "
                                         "use a .gif path")
    return path


def _parser():
    parser = _Parser(prog="dojax", description="Differentiable rigid-body physics on JAX.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("models", help="list the built-in models")
    sim = commands.add_parser("simulate", help="simulate a built-in model and animate it",
                              description="Simulate a built-in model from its initial state with "
                                          "zero actions; write an animation and an energy/momentum plot.")
    sim.add_argument("model", metavar="MODEL", choices=list(MODELS),
                     help=f"one of: {', '.join(MODELS)}")
    sim.add_argument("--steps", type=_positive(int), default=300, help="number of steps (default 300)")
    sim.add_argument("--timestep", type=_positive(float), default=None,
                     help="step in seconds (default: the model's)")
    sim.add_argument("--out", type=_video_path, default=None,
                     help="animation file, .gif or .mp4 (default MODEL.gif); the plot is written "
                          "next to it as STEM_diagnostics.png")
    return parser


def _enable_compilation_cache():
    """Use JAX's persistent cache in CACHE_DIR, unless a cache directory is already configured."""
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(CACHE_DIR))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def _list_models():
    width = max(map(len, MODELS))
    for name, builder in MODELS.items():
        summary = (inspect.getdoc(builder) or "").splitlines()
        print(f"{name:<{width}}  {summary[0] if summary else ''}")


def _simulate(args):
    out = args.out if args.out is not None else Path(f"{args.model}.gif")
    plot = out.with_name(f"{out.stem}_diagnostics.png")

    mech = dojax.load(args.model, timestep=args.timestep)
    state = mech.initial_state()
    chunk = min(CHUNK, args.steps)
    actions = np.zeros((chunk, mech.action_size))
    pieces = []
    with tqdm(total=args.steps, desc=f"{args.model} (compiling)", unit="step") as bar:
        for start in range(0, args.steps, chunk):
            states, infos = dojax.rollout(mech, state, actions)
            state = jax.tree.map(lambda a: a[-1], states)
            keep = min(chunk, args.steps - start)  # the last chunk runs whole and is cut
            pieces.append(jax.tree.map(lambda a: np.asarray(a[:keep]), (states, infos.converged)))
            bar.set_description(args.model)
            bar.update(keep)
    states, converged = jax.tree.map(lambda *a: np.concatenate(a), *pieces)

    out.parent.mkdir(parents=True, exist_ok=True)
    render.animate(mech, states, out)
    render.plot_diagnostics(mech, states, plot)
    print(f"animation:   {out}")
    print(f"diagnostics: {plot}")
    failed = np.flatnonzero(~converged)
    if len(failed):
        print(f"converged:   no, {len(failed)} of {args.steps} steps did not (first: step {failed[0] + 1})")
    else:
        print(f"converged:   yes, all {args.steps} steps")
    return 0


def main(argv=None):
    """Entry point of the ``dojax`` console script; returns the exit status.

    Args:
        argv: arguments without the program name (``sys.argv[1:]`` if None).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "models":
        _list_models()
        return 0
    _enable_compilation_cache()
    return _simulate(args)
