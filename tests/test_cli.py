"""The ``dojax`` command line, run in-process (one pendulum compilation for the whole file)."""

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
