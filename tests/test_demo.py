"""The main job: derive, emit and train on the diabetes data, and say where everything went."""

from __future__ import annotations

from tests.helpers import SLOW, cli


@SLOW
def test_demo_runs_and_reports(tmp_path) -> None:
    result = cli("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mean-only predictor" in result.stdout
    produced = sorted(p.name for p in (tmp_path / "symbp-demo").iterdir())
    assert produced == sorted(["tanh_identity_m8_p10.tex", "tanh_identity_m8_p10.py", "tanh_identity_m8_p10.params.npz", "tanh_identity_m8_p10.history.csv", "tanh_identity_m8_p10.loss.png"])
    share = float(result.stdout.split("(")[-1].split("%")[0])
    assert share < 50.0  # clearly better than predicting the mean
    # One scale everywhere: the summary's R is the history's last loss, on the standardised target,
    # and the mean-only predictor's R on that target is n = 442.
    assert "trained on standardised inputs and target" in result.stdout
    reported = float(result.stdout.split("loss R = ")[1].split()[0])
    last = (tmp_path / "symbp-demo" / "tanh_identity_m8_p10.history.csv").read_text().splitlines()[-1]
    assert reported == float(f"{float(last.split(',')[1]):.6g}")
    assert "vs 442 for the mean-only predictor" in result.stdout


