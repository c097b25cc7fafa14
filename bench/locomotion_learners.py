"""Learning curves of dojax's learners and Stable-Baselines3's on a dojax locomotion task, at equal
environment steps.

Learners (--learners; each may carry config options as ``name+option=value+...``, e.g.
``ppo+clipping=bapo`` or ``ppo+sample_mask='capo'``):

  ppo      dojax PPO (``dojax.learn.ppo``), MuJoCo settings: 8 envs x 256 steps = 2048 per update,
           32 minibatches of 64, 10 epochs, lr 3e-4, discount 0.99, GAE 0.95, clip 0.2, no entropy
           bonus, gradient norm 0.5, (64, 64) networks, observation and reward normalisation
  sb3_ppo  Stable-Baselines3's PPO with the same settings (``DummyVecEnv`` of 8 gymnasium envs,
           ``VecNormalize``)
  sac      dojax SAC: 1 env, batch 256, buffer 1e5, 1000 random steps, lr 3e-4, discount 0.99,
           tau 0.005, (64, 64) networks (bench/ppo_vs_sb3.py's; (256, 256) in float64 costs
           about 60 ms per step on one core)
  sb3_sac  Stable-Baselines3's SAC with the same settings
  shac     dojax SHAC, the SHAC paper's Hopper settings at 64 envs (NVlabs/DiffRL
           ``cfg/shac/hopper.yaml`` has 256): windows of 32 steps (2048 steps per update), actor lr
           2e-3 (constant: no linear decay), critic lr 2e-4, Adam betas (0.7, 0.95), actor
           (128, 64, 32) with layer normalisation and Gaussian action noise of standard deviation
           0.37 (DiffRL's stochastic actor at its initial log-std -1; fixed unless the learner's
           spec adds ``+learn_action_noise=True``),
           critic (64, 64), 16 critic epochs x 4 minibatches, target alpha 0.2, discount 0.99,
           TD(0.95), gradient norm 1.0
  ahac     dojax AHAC: SHAC's settings, windows of 8 (its default a quarter) to 32 steps, its default
           contact threshold

Every learner trains on ``--env`` with ``smooth_reward=True`` (the reward the first-order
learners follow: no termination, 1000-step episodes for the locomotion tasks). dojax's learners
run their functional core, ``--eval-every`` environment steps of updates per compiled call; SB3
runs ``learn`` in chunks of the same size. After each chunk the deterministic policy is evaluated
on ``--curve-episodes`` episodes of the gymnasium env (seeds 1000, 1001, ...) and after the last on
10 (seeds 1000-1009, as bench/ppo_vs_sb3.py); evaluation time is not training time. Reported per
run: ``return`` (the final 10-episode mean), ``train_s`` (training wall time; dojax without
compilation, reported as ``compile_s``), ``s/Msteps``; the curves (steps, training seconds,
return) go to ``--out`` as JSON lines, one run per line, appended as each run ends.

    flock /tmp/bench.lock taskset -c 1 python bench/locomotion_learners.py --learners ppo sb3_ppo --steps 102400
    python bench/locomotion_learners.py --plot bench/results/hopper.jsonl --reference ppo   # PNGs beside it
"""

import argparse
import ast
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402
from ppo_vs_sb3 import EVAL_EPISODES, EVAL_SEED, print_summary, sb3_act, sb3_model  # noqa: E402

PPO = dict(num_envs=8, horizon=256, minibatches=32, epochs=10, learning_rate=3e-4, discount=0.99, gae_lambda=0.95,
           clip_epsilon=0.2, entropy_coef=0.0, max_grad_norm=0.5, hidden_sizes=(64, 64), critic_hidden_sizes=(64, 64))
SAC = dict(num_envs=1, horizon=1, batch_size=256, buffer_size=100_000, learning_starts=1000, discount=0.99,
           tau=0.005, learning_rate=3e-4, hidden_sizes=(64, 64), gradient_steps=1)
SHAC = dict(num_envs=64, horizon=32, learning_rate=2e-3, critic_learning_rate=2e-4, adam_b1=0.7, adam_b2=0.95,
            hidden_sizes=(128, 64, 32), layer_norm=True, action_noise=0.37, critic_hidden_sizes=(64, 64),
            critic_epochs=16, critic_minibatches=4, target_critic_alpha=0.2, discount=0.99, td_lambda=0.95,
            max_grad_norm=1.0)
BASES = {"ppo": ("PPO", PPO), "sac": ("SAC", SAC), "shac": ("SHAC", SHAC), "ahac": ("AHAC", SHAC),
         "sb3_ppo": ("PPO", PPO), "sb3_sac": ("SAC", SAC)}
ENV_KWARGS = dict(smooth_reward=True)


def parse_learner(spec):
    """``"ppo+clipping='bapo'+snr_learning_rate=True"`` -> ``("ppo", {"clipping": "bapo", ...})``."""
    name, *pairs = spec.split("+")
    if name not in BASES:
        raise ValueError(f"unknown learner {name!r}; valid: {', '.join(BASES)}")
    options = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text  # a bare word: a string option
    if options and name.startswith("sb3_"):
        raise ValueError(f"options are for dojax's learners, not {name}")
    return name, options


def evaluate(policy, env_id, episodes):
    import gymnasium

    from dojax.learn import evaluate_policy

    env = gymnasium.make(env_id, **ENV_KWARGS)
    try:
        return evaluate_policy(policy, env, episodes, deterministic=True, seed=EVAL_SEED)
    finally:
        env.close()


def dojax_run(name, options, env_id, steps, seed, eval_every, curve_episodes):
    """Train in compiled chunks of equal numbers of updates, about ``eval_every`` steps each, evaluating
    after each."""
    import jax
    import numpy as np

    from dojax import learn

    front, base = BASES[name]
    config = dict(base, **options)
    agent = getattr(learn, front)(env_id, seed=seed, env_kwargs=ENV_KWARGS, **config)
    init, update = agent.algorithm.make_learner(agent.env, agent.config)
    per_update = agent.config.steps_per_update(agent.env)
    total = -(-steps // per_update)  # whole updates; chunks of equal size, the fewest steps past ``steps``
    chunks = max(1, round(steps / eval_every))
    updates = -(-total // chunks)
    chunk = jax.jit(lambda s: jax.lax.scan(lambda s, _: update(s), s, None, length=updates))
    state = jax.jit(init)(jax.random.key(seed))
    start = time.perf_counter()
    compiled = chunk.lower(state).compile()
    compile_s = time.perf_counter() - start
    agent.state = state
    initial = evaluate(agent, env_id, curve_episodes)[0]
    curve, train_s, failures, skipped = [], 0.0, 0, 0
    while agent.num_timesteps < steps:
        start = time.perf_counter()
        state, metrics = jax.block_until_ready(compiled(state))
        train_s += time.perf_counter() - start
        agent.state = state
        failures += int(np.sum(metrics["solver_failures"]))
        skipped += int(np.sum(metrics["skipped_updates"]))
        episodes = EVAL_EPISODES if agent.num_timesteps >= steps else curve_episodes
        mean, std = evaluate(agent, env_id, episodes)
        curve.append((agent.num_timesteps, train_s, mean))
        ended = metrics["episode_return"][np.isfinite(metrics["episode_return"])]
        print(f"    {name} seed {seed}: {agent.num_timesteps} steps, {train_s:.0f} s, return {mean:.1f}"
              f" (training episodes {ended.mean() if ended.size else float('nan'):.1f}, mean window"
              f" {np.mean(metrics['horizon']):.1f}, gradient norm {np.median(metrics['grad_norm']):.3g} median,"
              f" {np.max(metrics['grad_norm']):.3g} max)", flush=True)
    return dict(initial=initial, curve=curve, final=mean, final_std=std, train_s=train_s, compile_s=compile_s,
                steps=agent.num_timesteps, solver_failures=failures, skipped_updates=skipped)


def sb3_run(name, env_id, steps, seed, eval_every, curve_episodes):
    """SB3's ``learn`` in chunks of ``eval_every`` steps, evaluating after each."""
    algo = name[len("sb3_"):]
    model, env = sb3_model(algo, env_id, seed, PPO, SAC, ENV_KWARGS)
    if algo == "ppo":
        eval_every = max(eval_every, PPO["num_envs"] * PPO["horizon"])
    act = sb3_act(model, env)

    initial = evaluate(act, env_id, curve_episodes)[0]
    curve, train_s = [], 0.0
    while model.num_timesteps < steps:
        start = time.perf_counter()
        model.learn(min(eval_every, steps - model.num_timesteps), reset_num_timesteps=False)
        train_s += time.perf_counter() - start
        episodes = EVAL_EPISODES if model.num_timesteps >= steps else curve_episodes
        mean, std = evaluate(act, env_id, episodes)
        curve.append((model.num_timesteps, train_s, mean))
        print(f"    {name} seed {seed}: {model.num_timesteps} steps, {train_s:.0f} s, return {mean:.1f}", flush=True)
    return dict(initial=initial, curve=curve, final=mean, final_std=std, train_s=train_s, compile_s=0.0,
                steps=model.num_timesteps,
                solver_failures=None, skipped_updates=None)


def plot(path, reference=None):
    """Return against environment steps and against training seconds, one colour per learner (one
    line per seed), saved as ``<path stem>_steps.png`` and ``<path stem>_wall.png``, and each
    learner's final returns (one dot per seed, a bar at their mean) as ``<path stem>_final.png``;
    with ``reference`` (a learner of the file), print the steps and seconds at which each seed of
    every learner first reached the reference's final return (mean over its seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(path) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    stem = os.path.splitext(path)[0]
    target = None
    if reference is not None:
        finals = [run["final"] for run in runs if run["learner"] == reference]
        if not finals:
            raise ValueError(f"no runs of {reference!r} in {path}")
        target = sum(finals) / len(finals)
    colours = {}
    for axis, label, suffix in ((0, "environment steps", "steps"), (1, "training wall-clock (s, one core)", "wall")):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for run in runs:
            colour = colours.setdefault(run["learner"], f"C{len(colours)}")
            x = [0] + [point[axis] for point in run["curve"]]
            y = [run.get("initial", float("nan"))] + [point[2] for point in run["curve"]]
            seen = any(line.get_label() == run["learner"] for line in ax.get_lines())
            ax.plot(x, y, color=colour, lw=1.2, marker=".", label=None if seen else run["learner"])
        if target is not None:
            ax.axhline(target, color="grey", ls="--", lw=1, label=f"{reference}'s final return (mean)")
        ax.set_xlabel(label)
        ax.set_ylabel(f"deterministic return ({runs[0]['env']}, smooth reward)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(f"{stem}_{suffix}.png", dpi=110)
        plt.close(fig)
        print(f"wrote {stem}_{suffix}.png")
    learners = list(dict.fromkeys(run["learner"] for run in runs))
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(learners)))
    for row, learner in enumerate(learners):
        finals = [run["final"] for run in runs if run["learner"] == learner]
        ax.plot(finals, [row] * len(finals), "o", color="C0", alpha=0.6)
        ax.plot([sum(finals) / len(finals)] * 2, [row - 0.3, row + 0.3], color="C3", lw=2)
    if target is not None:
        ax.axvline(target, color="grey", ls="--", lw=1, label=f"{reference}'s final return (mean)")
        ax.legend(loc="best", fontsize=8)
    ax.set_yticks(range(len(learners)), learners, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(f"{runs[0]['env']}, smooth reward", fontsize=9)
    ax.set_xlabel("final deterministic return (dots: seeds, bars: their means)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(f"{stem}_final.png", dpi=110)
    plt.close(fig)
    print(f"wrote {stem}_final.png")
    if target is not None:
        print(f"first (steps, seconds) at which each seed reached {reference}'s final return {target:.1f}:")
        for run in runs:
            hit = next(((p[0], round(p[1])) for p in run["curve"] if p[2] >= target), "not reached")
            print(f"  {run['learner']:<28} seed {run['seed']}: {hit} (final {run['final']:.1f} at {run['steps']})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", nargs="+", default=["ppo", "sb3_ppo"])
    parser.add_argument("--env", default="dojax/Hopper-v0")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=102_400, help="environment steps per run")
    parser.add_argument("--eval-every", type=int, default=20_480, help="environment steps between evaluations")
    parser.add_argument("--curve-episodes", type=int, default=3, help="episodes per evaluation before the last")
    parser.add_argument("--out", default=None, help="append each run's curve to this JSON-lines file")
    parser.add_argument("--plot", default=None, metavar="JSONL", help="only plot the curves of this file")
    parser.add_argument("--reference", default=None, help="with --plot: when each run reached this learner's return")
    add_pinning_arguments(parser)
    args = parser.parse_args()
    if args.plot:
        plot(args.plot, args.reference)
        return
    learners = [(spec, *parse_learner(spec)) for spec in args.learners]
    core = None if args.no_pin else pin_single_core(args.core)
    import torch

    import dojax  # noqa: F401  (registers the ids)

    torch.set_num_threads(1)
    print_environment(core)
    print(f"{'learner':<28}{'seed':>5}{'steps':>9}{'return':>10}{'train_s':>9}{'compile_s':>10}{'s/Msteps':>10}"
          f"{'fails':>7}{'skips':>7}")
    results = {}
    for spec, name, options in learners:
        for seed in args.seeds:
            if name.startswith("sb3_"):
                run = sb3_run(name, args.env, args.steps, seed, args.eval_every, args.curve_episodes)
            else:
                run = dojax_run(name, options, args.env, args.steps, seed, args.eval_every, args.curve_episodes)
            per_million = run["train_s"] / run["steps"] * 1e6
            results.setdefault(spec, []).append((run["final"], per_million))
            print(f"{spec:<28}{seed:>5}{run['steps']:>9}{run['final']:>10.1f}{run['train_s']:>9.1f}"
                  f"{run['compile_s']:>10.1f}{per_million:>10.0f}{str(run['solver_failures']):>7}"
                  f"{str(run['skipped_updates']):>7}", flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(dict(learner=spec, seed=seed, env=args.env, **run)) + "\n")
    print_summary(results, 28)


if __name__ == "__main__":
    main()
