"""The ``dojax`` command line, run in-process (one pendulum compilation for the whole file)."""

import numpy as np
import pytest
from PIL import Image

import dojax
from dojax.cli import main


def test_simulate_writes_animation_and_plot(tmp_path, capsys):
    out = tmp_path / "run" / "pend.gif"
    assert main(["simulate", "pendulum", "--steps", "60", "--out", str(out)]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames > 1
    plot = tmp_path / "run" / "pend_diagnostics.png"
    assert plot.stat().st_size > 0
    printed = capsys.readouterr().out
    assert str(out) in printed and str(plot) in printed
    assert "converged:   yes, all 60 steps" in printed


@pytest.mark.parametrize("argv, mentions", [
    (["simulate", "no_such_model"], list(dojax.MODELS)),
    (["simulate", "pendulum", "--timestep", "-1"], ["--timestep", "positive"]),
    (["simulate", "pendulum", "--steps", "0"], ["--steps", "positive"]),
    (["simulate", "pendulum", "--out", "x.avi"], ["--out", ".gif"]),
    (["train", "dojax/Nope-v0"], ["ENV_ID", "dojax/Pendulum-v0", "dojax/Hopper-v0"]),
    (["train", "dojax/Pendulum-v0", "--algo", "td3"],
     ["--algo", "'apg', 'shac', 'ahac', 'ars', 'ags', 'ppo', 'mdpo', 'sac', 'mdpo_off', 'hnpg'"]),
    (["train", "dojax/Pendulum-v0", "--steps", "0"], ["--steps", "positive"]),
    (["train", "dojax/Pendulum-v0", "--set", "horizon"], ["--set", "KEY=VALUE"]),
    (["train", "dojax/Pendulum-v0", "--algo", "ars", "--set", "horizon=4"], ["horizon", "valid: num_iterations"]),
    ([], ["COMMAND"]),
])
def test_bad_arguments_give_one_line_and_status_2(argv, mentions, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")
    for word in mentions:
        assert word in err


def test_models_lists_every_model(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(dojax.MODELS)


def test_train_writes_policy_curve_and_animation(tmp_path, capsys):
    out = tmp_path / "ars"
    argv = ["train", "dojax/Pendulum-v0", "--algo", "ars", "--steps", "10", "--seed", "1", "--out", str(out),
            "--set", "num_directions=2", "--set", "top_directions=1", "--set", "episode_length=20"]
    assert main(argv) == 0  # one update of 2 x 2 episodes of 20 steps
    for name in ("policy.npz", "progress.csv", "learning_curve.png", "policy.gif"):
        assert (out / name).stat().st_size > 0
    with Image.open(out / "policy.gif") as gif:
        assert gif.n_frames == 20
    assert len((out / "progress.csv").read_text().splitlines()) == 2
    from dojax import learn
    agent = learn.ARS.load(str(out / "policy.npz"))
    assert agent.num_timesteps == 80 and agent.seed == 1
    mean, std = learn.evaluate_policy(agent, "dojax/Pendulum-v0", n_episodes=1)  # a gymnasium id
    assert np.isfinite(mean) and std == 0.0
    printed = capsys.readouterr().out
    assert str(out / "policy.gif") in printed and "return:" in printed
