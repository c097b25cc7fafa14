"""The ``dojax`` command line.

    dojax models                                  list the built-in models
    dojax simulate pendulum --steps 500 --out pendulum.gif
    dojax simulate hopper --policy random --out hopper.gif

``simulate`` runs a built-in model from its initial state, writes an animation (GIF, or MP4 when
ffmpeg is available) and an energy/momentum plot next to it, and reports whether every step
converged. Actions are zero, or with ``--policy random`` uniform in [-1, 1] through the model's
environment (its reset state and action scaling; see :mod:`dojax.envs`), drawn from ``--seed``.
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

# models that have an environment (for --policy random)
ENV_OF_MODEL = {"pendulum": "Pendulum", "cartpole": "CartPole", "inverted_pendulum": "InvertedPendulum",
                "hopper": "Hopper", "halfcheetah": "HalfCheetah", "walker2d": "Walker2d", "ant": "Ant",
                "humanoid": "Humanoid", "quadruped": "Quadruped", "block": "BlockPush"}

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
    sim.add_argument("--policy", choices=("zero", "random"), default="zero",
                     help="zero actions (default), or random ones through the model's environment "
                          f"(models: {', '.join(ENV_OF_MODEL)})")
    sim.add_argument("--seed", type=int, default=0, help="seed of the random policy and reset (default 0)")
    sim.add_argument("--out", type=_video_path, default=None,
                     help="animation file, .gif or .mp4 (default MODEL.gif); the plot is written "
                          "next to it as STEM_diagnostics.png")
    return parser


def _list_models():
    width = max(map(len, MODELS))
    for name, builder in MODELS.items():
        summary = (inspect.getdoc(builder) or "").splitlines()
        print(f"{name:<{width}}  {summary[0] if summary else ''}")


def _simulate(args):
    out = args.out if args.out is not None else Path(f"{args.model}.gif")
    plot = out.with_name(f"{out.stem}_diagnostics.png")

    chunk = min(CHUNK, args.steps)
    key = jax.random.PRNGKey(args.seed)
    if args.policy == "random":
        env = dojax.envs.make(ENV_OF_MODEL[args.model], dt=args.timestep)
        mech, state = env.mech, env.reset(key).sim
        policy = jax.jit(lambda k: jax.vmap(env.control)(jax.random.uniform(k, (chunk, env.action_size), minval=-1.0)))
    else:
        mech = dojax.load(args.model, timestep=args.timestep)
        state = mech.initial_state()
        policy = lambda k: np.zeros((chunk, mech.action_size))
    pieces = []
    with tqdm(total=args.steps, desc=f"{args.model} (compiling)", unit="step") as bar:
        for start in range(0, args.steps, chunk):
            key, sub = jax.random.split(key)
            states, infos = dojax.rollout(mech, state, policy(sub))
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
    if args.policy == "random" and args.model not in ENV_OF_MODEL:
        parser.error(f"--policy random needs a model with an environment: {', '.join(ENV_OF_MODEL)}")
    return _simulate(args)
