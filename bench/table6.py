"""The Dojo paper's Table VI protocol, reduced: ARS against AGS on dojax/HalfCheetah-v0 (or --env Ant)
at dt 0.05 with linear policies (dojax.learn.ars, dojax.learn.ags).

ARS uses Dojo.jl's stored settings (6 directions, all 6 kept, step 0.02, exploration 0.03,
observation normalisation, 80-step episodes); AGS the same policy, episodes and normaliser with the
engine's gradient of the episodes' returns (--ags-episodes episodes per update; --ags gives the step
sizes and exploration noises to run). After every update the deterministic policy is evaluated on
--eval-episodes episodes from fixed starts (not counted as training evaluations). Printed per seed
and learner: the evaluation return against environment steps (evaluations, the paper's unit), the
solver failures and the norm of the updates' step direction (median and largest: ``grad_norm``,
before the ``max_grad_norm`` clip); then the final returns and, for AGS, the steps it needed to
reach ARS's final return (mean over seeds). Then the protocol's own measure, the best 3 of 5 seeds:
ARS's best three final returns, and each AGS variant's best three at a fifth of ARS's steps (the
paper's 5x) and the first step where its best three (chosen at that step) average ARS's. --out
writes every curve (a JSON line per learner and seed); --plot FILE draws such a file's curves
(each learner's mean over seeds, its seeds thin) beside ARS's final return, as FILE's stem + .png.

    python bench/table6.py                                   # 2 seeds, ARS 30 updates, AGS 15
    python bench/table6.py --env Ant --horizon 150 --ars-iterations 100 --seeds 3
    flock /tmp/bench.lock taskset -c 1 python bench/table6.py --seeds 5
    # the settings of bench/RESULTS.md's last Table VI runs (smoothed, windowed, bounded and decaying steps):
    python bench/table6.py --seeds 5 --ags-episodes 2 --ags-iterations 90 --ags 0.0004:0:16:3e-1:50:0.99
    python bench/table6.py --env Ant --horizon 150 --ars-iterations 100 --ags-iterations 40 --seeds 5 --ags-smooth-reward --ags 0.0004:0:8:1e-1:50

The full protocol (paper-benchmarks.md): 5 seeds (best 3 reported), also on Ant (150-step episodes,
100 ARS updates).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pinning import add_pinning_arguments, pin_single_core, print_environment  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="HalfCheetah", choices=["HalfCheetah", "Ant"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run: first-seed, first-seed + 1, ...")
    parser.add_argument("--dt", type=float, default=0.05, help="timestep (default 0.05 s, the paper's)")
    parser.add_argument("--horizon", type=int, default=80)
    parser.add_argument("--ars-iterations", type=int, default=30)
    parser.add_argument("--ags-iterations", type=int, default=15)
    parser.add_argument("--ags-episodes", type=int, default=6)
    parser.add_argument("--ags", nargs="+", default=["0.0012:0"], metavar="STEP:NOISE[:WINDOW[:GBTOL[:CLIP[:DECAY]]]]",
                        help="AGS variants: step size, exploration noise (0: the gradient at the policy; > 0: "
                             "the paper's randomised gradients), optionally the gradient window (steps the gradient "
                             "flows through at a time; default or empty: the whole episode), the engine's gradient "
                             "smoothing (gradient_btol; default or empty: the env's own), the largest norm of "
                             "a step's direction (max_grad_norm; default: no limit) and the step size's "
                             "factor per update (learning_rate_decay; default 1); default 0.0012:0, "
                             "2 x 0.03 x 0.02 being ARS's expected step (see dojax.learn.ags)")
    parser.add_argument("--ags-smooth-reward", action="store_true",
                        help="AGS follows the env's smooth reward (evaluation stays on the default one)")
    parser.add_argument("--eval-episodes", type=int, default=4)
    parser.add_argument("--out", help="append the curves here as JSON lines (learner, seed, steps, returns)")
    parser.add_argument("--plot", metavar="FILE", help="plot the curves of an --out file and exit")
    add_pinning_arguments(parser)
    args = parser.parse_args()
    if args.plot:
        return plot(args.plot)
    core = None if args.no_pin else pin_single_core(args.core)

    import jax
    import numpy as np

    import dojax
    from dojax.learn import ags, ars
    from dojax.learn.ars import make_episode

    print_environment(core)
    env = dojax.envs.make(args.env, dt=args.dt)
    print(f"{args.env} dt {env.dt} s, {args.horizon}-step episodes, {args.seeds} seeds from seed {args.first_seed}")
    common = dict(episode_length=args.horizon)
    learners = {
        "ARS": (ars, ars.ARSConfig(num_iterations=args.ars_iterations, num_directions=6, top_directions=6,
                                   exploration_noise=0.03, learning_rate=0.02, **common)),
    }
    for variant in args.ags:
        step, noise, window, btol, clip, decay = (variant.split(":") + [""] * 4)[:6]
        learners[f"AGS {variant}"] = (ags, ags.AGSConfig(num_iterations=args.ags_iterations,
                                                         num_episodes=args.ags_episodes, learning_rate=float(step),
                                                         exploration_noise=float(noise),
                                                         gradient_window=int(window) if window else None,
                                                         gradient_btol=float(btol) if btol else None,
                                                         max_grad_norm=float(clip) if clip else float("inf"),
                                                         learning_rate_decay=float(decay) if decay else 1.0,
                                                         **common))
    episode = make_episode(env, learners["ARS"][1])
    starts = jax.random.split(jax.random.key(12345), args.eval_episodes)
    evaluate = jax.jit(lambda params: jax.vmap(
        lambda key: episode(params.policy, params.obs_stats, key))(starts).episode_return)

    curves = {name: [] for name in learners}
    ags_env = dojax.envs.make(args.env, dt=args.dt, smooth_reward=True) if args.ags_smooth_reward else env
    for name, (module, config) in learners.items():
        train_env = ags_env if module is ags else env
        init, update = module.make_learner(train_env, config)
        init, update = jax.jit(init), jax.jit(update)
        per_update = config.steps_per_update(env)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            start = time.perf_counter()
            state = init(jax.random.key(seed))
            curve = [(0, float(np.mean(evaluate(state.params))))]
            failures, norms = 0, []
            for i in range(config.num_iterations):
                state, metrics = update(state)
                failures += int(metrics["solver_failures"])
                norms.append(float(metrics["grad_norm"]))
                curve.append(((i + 1) * per_update, float(np.mean(evaluate(state.params)))))
            curves[name].append(curve)
            points = ", ".join(f"{s}: {r:.1f}" for s, r in curve[:: max(1, len(curve) // 6)] + curve[-1:])
            print(f"{name} seed {seed}: return at steps {{{points}}}; solver failures {failures}; step direction "
                  f"norm median {np.median(norms):.3g}, max {np.max(norms):.3g}; "
                  f"{time.perf_counter() - start:.0f} s (with compilation)", flush=True)

    ars_final = np.mean([c[-1][1] for c in curves["ARS"]])
    print(f"ARS: final return (mean over seeds) {ars_final:.1f} at {curves['ARS'][0][-1][0]} steps")
    for name in learners:
        if name == "ARS":
            continue
        best = [max(r for _, r in c) for c in curves[name]]
        reached = [next((s for s, r in c if r >= ars_final), None) for c in curves[name]]
        print(f"{name}: final return {np.mean([c[-1][1] for c in curves[name]]):.1f} at {curves[name][0][-1][0]} "
              f"steps, best per seed {np.round(best, 1)}; steps to reach ARS's final return, per seed: {reached}")

    def best_three(curves, index):  # the mean of the three best seeds' returns at the index-th evaluation
        return float(np.mean(sorted(c[index][1] for c in curves)[-3:]))

    if args.seeds >= 5:
        ars_best = best_three(curves["ARS"], -1)
        budget = curves["ARS"][0][-1][0] / 5
        print(f"best 3 of {args.seeds} seeds: ARS final {ars_best:.1f} at {curves['ARS'][0][-1][0]} steps")
        for name in learners:
            if name == "ARS":
                continue
            steps = [s for s, _ in curves[name][0]]
            at_budget = max(i for i, s in enumerate(steps) if s <= budget)
            reach = next((s for i, s in enumerate(steps) if best_three(curves[name], i) >= ars_best), None)
            print(f"best 3 of {args.seeds} seeds: {name} {best_three(curves[name], at_budget):.1f} at "
                  f"{steps[at_budget]} steps (a fifth of ARS's: {budget:.0f}); first reaches ARS's at {reach} steps")
    if args.out:
        with open(args.out, "a") as f:
            for name, runs in curves.items():
                for seed, curve in enumerate(runs, start=args.first_seed):
                    f.write(json.dumps(dict(env=args.env, learner=name, seed=seed, steps=[s for s, _ in curve],
                                            returns=[r for _, r in curve])) + "\n")


def plot(path):
    """Each learner's mean return over its seeds against environment steps (its seeds as thin
    lines), with ARS's final mean as a dashed line, saved beside ``path`` as ``<stem>.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    with open(path) as f:
        runs = [json.loads(line) for line in f if line.strip()]
    learners = sorted({run["learner"] for run in runs}, key=lambda name: (name != "ARS", name))
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for k, name in enumerate(learners):
        mine = [run for run in runs if run["learner"] == name]
        steps = np.asarray(mine[0]["steps"])
        returns = np.asarray([run["returns"] for run in mine])
        for curve in returns:
            ax.plot(steps, curve, color=f"C{k}", lw=0.5, alpha=0.35)
        ax.plot(steps, returns.mean(axis=0), color=f"C{k}", lw=2, label=f"{name} (mean of {len(mine)} seeds)")
        if name == "ARS":
            ax.axhline(returns[:, -1].mean(), color=f"C{k}", ls="--", lw=1, label="ARS's final return (mean)")
            ax.axvline(steps[-1] / 5, color="grey", ls=":", lw=1, label="a fifth of ARS's steps")
    ax.set_xlabel("environment steps (evaluations)")
    ax.set_ylabel(f"the deterministic policy's return ({runs[0]['env']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = os.path.splitext(path)[0] + ".png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
