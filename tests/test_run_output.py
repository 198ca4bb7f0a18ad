"""What `rosetta-cl run` prints: verdict lines with the paper's value, which way is better,
forgetting and backward transfer for streams, and every line within 100 characters."""

import numpy as np
import pytest

from rosetta_cl.cli import main
from rosetta_cl.cli.verdict import direction_line, paper_values, verdict_lines
from rosetta_cl.metrics.summary import summarize, table_lines
from rosetta_cl.metrics.transfer import stream_transfer


def lsd_table(vae, rvae):
    return summarize({"vae": {"LSD_D1": np.array(vae[0]), "LSD_D2": np.array(vae[1])},
                      "rvae": {"LSD_D1": np.array(rvae[0]), "LSD_D2": np.array(rvae[1])}}, "LSD")


def test_verdict_says_closer_or_further_with_the_papers_value():
    table = lsd_table(([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]), ([0.55, 0.5, 0.6], [2.4, 2.5, 2.6]))
    paper, dataset = paper_values("gaussians8", "sequential")
    assert paper["rvae"] == {"D1": -0.049, "D2": -0.303} and dataset == ""
    assert verdict_lines(table, paper) == [
        "D1: R-VAE 45% closer to the jointly trained model than the VAE (95% interval 40-50% "
        "closer); paper: 4.9% closer",
        "D2: R-VAE 25% further from the jointly trained model than the VAE (95% interval "
        "20-30% further); paper: 30% closer"]


def test_rv_verdict_and_a_stand_in_data_set_are_named():
    table = summarize({"vae": {"RV": np.array([0.0, 1.0, 2.0])},
                       "rvae": {"RV": np.array([-9.0, -8.0, -7.0])}}, "RV")
    paper, dataset = paper_values("digits", "reproducibility")
    assert dataset == "MNIST"
    (line,) = verdict_lines(table, paper, dataset)
    assert line.startswith("RV: R-VAE RV 9 lower than the VAE's (retrainings agree more) (95% "
                           "interval 9-9 lower); paper (MNIST): ")


def test_no_verdict_without_a_vae_row_and_no_paper_for_user_data():
    table = summarize({"rvae": {"LSD_D1": np.array([1.0])}}, "LSD")
    assert verdict_lines(table) == []
    assert paper_values("data", "sequential") == ({}, "")


def test_direction_line_reads_the_metric_registry():
    assert direction_line(["LSD_D1", "CKA_D1", "after_D2/MCC_D1"]) == (
        "lower is better: LSD; higher is better: CKA, MCC")
    assert direction_line(["RV"]) == "lower is better: RV"


def test_wide_tables_are_split_to_fit_the_width():
    head = ["method", *(f"column {i}" for i in range(12))]
    rows = [["rvae", *("-0.000401 (-0.00424, 0.00344)" for _ in range(12))]]
    lines = table_lines(head, rows, 100)
    assert max(map(len, lines)) <= 100 and sum(line.startswith("|---") for line in lines) == 6
    assert all(f"column {i} |" in "\n".join(lines) for i in range(12))  # nothing dropped
    assert table_lines(head, rows) == table_lines(head, rows, 10_000)


def test_forgetting_and_backward_transfer_by_their_definitions():
    # two runs through three parts; recon[t][j] = NLL of part j after experience t
    logged = {"after_D1/recon_D1": [10.0, 10.0],
              "after_D2/recon_D1": [12.0, 9.0], "after_D2/recon_D2": [20.0, 20.0],
              "after_D3/recon_D1": [11.0, 13.0], "after_D3/recon_D2": [21.0, 19.0],
              "after_D3/recon_D3": [30.0, 30.0],
              "after_D2/LSD_D1": [0.5, 0.5], "after_D2/LSD_D2": [0.4, 0.4],
              "after_D3/LSD_D1": [0.7, 0.3], "after_D3/LSD_D2": [0.4, 0.6],
              "after_D3/LSD_D3": [0.1, 0.1]}
    out = stream_transfer(logged, ["D1", "D2", "D3"])
    assert out["forgetting"]["after_D2"] == [2.0, -1.0]  # above the best before; -: improved
    # after D3, run 1: D1 11 - min(10, 12) = 1, D2 21 - 20 = 1; run 2: 13 - 9 = 4, 19 - 20 = -1
    assert out["forgetting"]["after_D3"] == [1.0, 1.5]
    assert out["bwt"]["after_D2"] == [-2.0, 1.0]  # learnt minus now: negative = forgetting
    assert out["bwt"]["after_D3"] == [(-1.0 - 1.0) / 2, (-3.0 + 1.0) / 2]
    # LSD: D1 and D2 were first compared after D2
    assert out["bwt_lsd"] == {"after_D3": pytest.approx([(-0.2 + 0.0) / 2, (0.2 - 0.2) / 2])}


@pytest.mark.slow
def test_quick_run_prints_verdicts_within_100_characters(store, capsys):
    main_ok(["run", "gaussians8", "--quick", "--methods", "vae,rvae", "--figures", "none",
             "--tracking-uri", store])
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines() if store not in line) <= 100
    assert "lower is better: LSD" in out
    verdicts = out.split("lower is better: LSD\n", 1)[1].split("\nverdict:", 1)[0]
    lines = [" ".join(line.split()) for line in verdicts.replace("\n  ", " ").splitlines()]
    assert len(lines) == 2 and all(line.startswith(("D1: R-VAE", "D2: R-VAE")) for line in lines)
    assert all(line.endswith(("paper: 4.9% closer", "paper: 30% closer")) for line in lines)
    assert all("(95% interval " in line for line in lines)
    assert "1 seed" not in out and "3 seeds x 2 methods" in out


@pytest.mark.slow
def test_continual_output_names_plugins_and_shows_forgetting(store, capsys):
    main_ok(["run", "digits5", "--protocol", "continual", "--quick", "--subsample", "60",
             "--seeds", "2", "--epochs", "1", "-k", "3", "--no-reinit",
             "--plugin", "ewc:ewc_lambda=100",
             "--figures", "none", "--tracking-uri", store])
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines() if store not in line) <= 100
    flat = " ".join(out.split())
    assert "plugins: ewc:ewc_lambda=100" in flat and "accumulate latest" in flat
    for title in ("forgetting:", "BWT, backward transfer:", "BWT on LSD:"):
        assert title in out
    assert "| method | after_D2 | after_D3 | after_D4 | after_D5 |" in out


def main_ok(argv):
    """Run the CLI in this process; it must exit 0 (the store's own path may make the last line,
    the command that opens it, longer than 100 characters: the tests skip that line)."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
