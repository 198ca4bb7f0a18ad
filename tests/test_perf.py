"""Every performance benchmark runs end to end in its tiny mode (its speed is not checked
here: timing targets live in benchmarks/perf/, measured on a quiet machine)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parents[1] / "benchmarks" / "perf"


def run_tiny(script: str, tmp_path) -> dict:
    out = tmp_path / f"{script}.json"
    done = subprocess.run([sys.executable, str(PERF / f"{script}.py"), "--tiny", "--json",
                           str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| " in done.stdout  # the printed table
    return json.loads(out.read_text())


@pytest.mark.slow
def test_loop_overhead_compares_like_with_like(tmp_path):
    """The plain loop and the strategy do the same arithmetic: same weights after 2 epochs."""
    rows = run_tiny("loop_overhead", tmp_path)["rows"]
    assert [r["benchmark"].split()[0] for r in rows] == ["gaussians8", "digits"]
    assert all(r["same weights"] is True and r["ratio"] > 0 for r in rows)


@pytest.mark.slow
def test_selection_speed_reports_time_and_inertia(tmp_path):
    rows = run_tiny("selection_speed", tmp_path)["rows"]
    assert [(r["d"], r["k"]) for r in rows] == [(16, 64), (16, 128), (32, 64), (32, 128)]
    for r in rows:
        assert r["distinct anchors"] is True and r["speed-up"] > 0
        assert abs(r["inertia ours/sklearn - 1"]) < 0.05  # same clustering quality


@pytest.mark.slow
def test_tracking_overhead_and_protocol_wall_run(tmp_path):
    rows = run_tiny("tracking_overhead", tmp_path)["rows"]
    assert [r["variant"] for r in rows] == ["off", "on", "on + figures"]
    assert rows[0]["extra vs off"] == 0
    rows = run_tiny("protocol_wall", tmp_path)["rows"]
    assert [r["variant"] for r in rows] == ["plain script", "rosetta-cl"]
    assert rows[0]["ratio"] == 1


@pytest.mark.slow
def test_ensemble_speed_runs_and_matches_sequential(tmp_path):
    result = run_tiny("ensemble_speed", tmp_path)
    assert [r["part"].split(",")[0] for r in result["rows"]] == ["training", "protocols"]
    assert all(r["speed-up"] > 0 for r in result["rows"])
    assert result["max |mu_ensemble - mu_sequential|"] < 1e-5 < result["max |mu|"]


@pytest.mark.slow
def test_gpu_throughput_runs_on_whatever_device_is_here(tmp_path):
    result = run_tiny("gpu_throughput", tmp_path)
    rows = {r["part"].split(",")[0]: r for r in result["rows"]}
    assert rows["training images per second (whole protocol)"]["value"] > 0
    # 1 epoch, 60 training points per part: template on D1, target on D1 u D2, 3 methods x 2 seeds
    # on D2 u the 8 x_r
    assert result["images"] == 60 + 120 + 3 * 2 * (60 + 8)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # starts Ray (see tests/test_ray.py)
def test_ray_throughput_runs_both_executors_with_the_same_table(tmp_path):
    rows = run_tiny("ray_throughput", tmp_path)["rows"]
    assert [r["same table"] for r in rows] == [True]  # the script fails on different tables
    assert all(r["local s"] > 0 and r["ray s"] > 0 for r in rows)


@pytest.mark.slow
def test_birdsong_memory_tiny(tmp_path):
    result = run_tiny("birdsong_memory", tmp_path)
    rows = {r["step"]: r for r in result["rows"]}
    assert list(rows) == ["import", "read", "benchmark"] and result["n"] == 300
    # reading adds at least the float16 array to the imports' peak; building the streams more
    assert rows["import"]["peak_rss_gib"] <= rows["read"]["peak_rss_gib"]
    assert rows["read"]["peak_rss_gib"] <= rows["benchmark"]["peak_rss_gib"]


@pytest.mark.slow
def test_contention_times_one_alone_and_two_at_once(tmp_path):
    result = run_tiny("contention", tmp_path)
    rows = result["rows"]
    assert [r["threads"] for r in rows] == sorted({1, result["cores"]})
    for r in rows:
        assert r["workload"] == "gaussians8-mlp"
        assert r["alone_s"] > 0 and r["pair_s"] > 0
        assert r["pair/alone"] == pytest.approx(r["pair_s"] / r["alone_s"])
