"""The ``dojax`` command line.

    dojax models                                  list the built-in models
    dojax simulate pendulum --steps 500 --out pendulum.gif
    dojax simulate hopper --policy random --out hopper.gif
    dojax train dojax/Pendulum-v0 --algo shac --steps 200000 --seed 0 --out runs/pendulum

``simulate`` runs a built-in model from its initial state, writes an animation (GIF, or MP4 when
ffmpeg is available) and an energy/momentum plot next to it, and reports whether every step
converged. Actions are zero, or with ``--policy random`` uniform in [-1, 1] through the model's
environment (its reset state and action scaling; see :mod:`dojax.envs`), drawn from ``--seed``.

``train`` trains a :mod:`dojax.learn` learner on an environment (made with ``smooth_reward=True``,
the learners' default; ``--set KEY=VALUE`` sets a config option) and writes to ``--out``: the
saved learner (``policy.npz``), its log (``progress.csv``), the learning curve
(``learning_curve.png``: episode return against environment steps) and a GIF of one episode of the
trained policy (``policy.gif``).
"""

import argparse
import ast
import csv
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

# dojax.learn's learners, by module name
ALGORITHMS = ("apg", "shac", "ahac", "ars", "ags", "ppo", "mdpo", "sac", "mdpo_off", "hnpg")
ENV_IDS = [f"dojax/{name}-v0" for name in dojax.envs.ENVS]


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
    train = commands.add_parser("train", help="train a policy on an environment",
                                description="Train a dojax.learn learner; write the policy, its log, a "
                                            "learning curve and a GIF of the trained policy to --out.")
    train.add_argument("env_id", metavar="ENV_ID", choices=ENV_IDS, help=f"one of: {', '.join(ENV_IDS)}")
    train.add_argument("--algo", choices=ALGORITHMS, default="shac", help="the learner (default shac)")
    train.add_argument("--steps", type=_positive(int), default=100_000,
                       help="environment steps to train for, rounded up to whole updates (default 100000)")
    train.add_argument("--seed", type=int, default=0, help="the seed of all training randomness (default 0)")
    train.add_argument("--out", type=Path, default=None, help="output folder (default runs/NAME-ALGO)")
    train.add_argument("--set", dest="options", metavar="KEY=VALUE", type=_option, action="append", default=[],
                       help="a config option of the learner, e.g. --set num_envs=8 (repeatable)")
    return parser


def _option(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a bare word: a string option such as policy=linear


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


def _learning_curve(log, path, title):
    """Plot the finite ``episode_return`` entries of the CSV log against ``env_steps``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with open(log, newline="") as f:
        rows = [(float(r["env_steps"]), float(r["episode_return"])) for r in csv.DictReader(f)]
    points = np.array([row for row in rows if math.isfinite(row[1])]).reshape(-1, 2)
    fig = Figure(figsize=(6.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(points[:, 0], points[:, 1], marker="." if len(points) < 30 else None)
    if not len(points):
        ax.text(0.5, 0.5, "no episode has ended yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.savefig(path)


def _episode(agent, seed):
    """One training-length episode of the trained policy from a seeded reset: its states (stacked)
    and return."""
    from dojax.learn.config import episode_length

    env = agent.env
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    env_state = reset(jax.random.key(seed))
    sims, total = [], 0.0
    for _ in range(episode_length(env, agent.config)):
        env_state = step(env_state, agent.predict(env_state.obs))
        sims.append(env_state.sim)
        total += float(env_state.reward)
        if bool(env_state.terminated) or bool(env_state.solver_failed):
            break
    return jax.tree.map(lambda *a: np.stack(a), *sims), total


def _train(parser, args):
    from dojax import learn

    out = args.out if args.out is not None else Path("runs") / f"{args.env_id.split('/')[-1]}-{args.algo}"
    try:
        agent = getattr(learn, args.algo.upper())(args.env_id, seed=args.seed, **dict(args.options))
    except ValueError as error:
        parser.error(str(error))
    out.mkdir(parents=True, exist_ok=True)
    agent.learn(args.steps, log_dir=str(out))
    paths = dict(policy=out / "policy.npz", log=out / "progress.csv", curve=out / "learning_curve.png",
                 animation=out / "policy.gif")
    agent.save(paths["policy"])
    _learning_curve(paths["log"], paths["curve"], f"{args.algo.upper()} on {args.env_id}, seed {args.seed}")
    states, episode_return = _episode(agent, args.seed + 1)
    render.animate(agent.env.mech, states, paths["animation"])
    for name, path in paths.items():
        print(f"{name + ':':<11}{path}")
    print(f"return:    {episode_return:.6g} (the animated episode, {len(states.x)} steps)")
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
    if args.command == "train":
        return _train(parser, args)
    if args.policy == "random" and args.model not in ENV_OF_MODEL:
        parser.error(f"--policy random needs a model with an environment: {', '.join(ENV_OF_MODEL)}")
    return _simulate(args)
