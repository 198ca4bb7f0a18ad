"""The CLI end to end, in a subprocess, as a user runs it."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import CLI, run_main
from mlflow.tracking import MlflowClient

from rosetta_cl.cli import main


def cli(args, cwd, env_extra=None, timeout=300):
    env = {**os.environ, **(env_extra or {})}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["sequential", "reproducibility"])
def test_run_quick_json_end_to_end(tmp_path, protocol):
    out = cli(["run", "gaussians8", "--quick", "--protocol", protocol, "--json"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)  # stdout is pure JSON
    assert summary["protocol"] == protocol and summary["benchmark"] == "gaussians8"
    config = summary["config"]  # typed values, not strings
    assert config["quick"] is True and isinstance(config["seeds"], int) and config["lr"] == 1e-3
    assert config["methods"] == ["vae", "bvae", "rvae"] and config["anchors"] is None
    rows = {r["method"]: r for r in summary["table"]["rows"]}
    assert set(rows) == {"vae", "bvae", "rvae"}
    column = "LSD_D1" if protocol == "sequential" else "RV"
    assert rows["vae"][column]["normalized"]["median"] == 0.0
    # the default store was created under ./mlruns and holds the runs
    assert (tmp_path / "mlruns" / "mlflow.db").exists()
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    run = client.get_run(summary["parent_run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith((tmp_path / "mlruns" / "artifacts").as_uri())


@pytest.mark.slow
def test_run_prints_table(tmp_path):
    out = cli(["run", "digits", "--quick", "--seeds", "2", "--epochs", "1"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| rvae |" in out.stdout
    assert "LSD, normalised to median VAE (relative change, value / median - 1)" in out.stdout
    assert "--quick: SMOKE OUTPUT" in out.stdout  # a smoke table is not mistaken for a result
    assert "(see it with `rosetta-cl ui`)" in out.stdout
    store = f"sqlite:///{tmp_path}/other/mlflow.db"
    out = cli(["run", "gaussians8", "--quick", "--seeds", "3", "--epochs", "1", "--protocol",
               "reproducibility", "--figures", "none", "--tracking-uri", store], tmp_path)
    assert "RV, normalised to median VAE (difference, value - median)" in out.stdout
    assert f"(see it with `rosetta-cl ui --tracking-uri {store}`)" in out.stdout


BAD = [
    (["run", "nope"], "unknown benchmark 'nope'"),
    (["run", "gaussianz"], "unknown benchmark 'gaussianz' (did you mean 'gaussians8'?): allowed"),
    (["run", "gaussians8", "--methods", "rvea"], "unknown method 'rvea' (did you mean 'rvae'?)"),
    (["run", "gaussians8", "--methods", "vae,xyz"], "unknown method 'xyz'"),
    (["run", "gaussians8", "--protocol", "joint"], "unknown protocol 'joint'"),
    (["run", "gaussians8", "-k", "0"], "k=0"),
    (["run", "gaussians8", "-k", "5000"], "k=5000"),
    (["run", "gaussians8", "--rho", "-1"], "rho -1.0"),
    (["run", "gaussians8", "--beta", "-0.5"], "beta -0.5"),
    (["run", "gaussians8", "--protocol", "reproducibility", "--seeds", "1"], "seeds 1"),
    (["run", "gaussians8", "--protocol", "reproducibility", "--seeds", "2"], "RV needs seeds"),
    (["run", "gaussians8", "--latent-dim", "0"], "latent dim 0"),
    (["run", "gaussians8", "--device", "tpu"], "device 'tpu'"),
    (["run", "gaussians8", "--device", "cuda:7"], "device 'cuda:7'"),
    (["run", "gaussians8", "--tracking-uri", "http://127.0.0.1:9"], "not reachable"),
    (["run", "gaussians8", "--seeds", "abc"], "'abc'"),
    (["run", "gaussians8", "--ensemble", "--protocol", "continual"],
     "--ensemble with protocol 'continual': allowed with sequential, reproducibility"),
    (["run", "gaussians8", "--ensemble", "--plugin", "ewc", "--plugins-dir",
      str(Path(__file__).resolve().parents[1] / "plugins")], "--ensemble with --plugin 'ewc'"),
    (["tune", "gaussians8", "--ensemble"], "--ensemble with tune"),
    (["run", "gaussians8", "--executor", "spark"], "executor 'spark': allowed local, ray"),
    (["run", "gaussians8", "--executor", "ray", "--cpus-per-training", "0"],
     "cpus-per-training 0: allowed > 0"),
    (["run", "gaussians8", "--executor", "ray", "--gpus-per-training", "-1"],
     "gpus-per-training -1: allowed >= 0"),
    (["run", "gaussians8", "--ray-address", "127.0.0.1:1"], "allowed with --executor ray"),
    (["run", "gaussians8", "--executor", "ray", "--ray-address", "127.0.0.1:1"],
     "ray address '127.0.0.1:1': not reachable"),
    (["tune", "gaussians8", "--executor", "ray", "--ray-address", "nohost"],
     "ray address 'nohost': allowed: HOST:PORT"),
    (["run", "gaussians8", "--resume", "--ensemble"], "--resume with --ensemble"),
    # issue 18: each was a traceback, accepted, or refused only after training
    (["run", "gaussians8", "--quick", "--lr", "1e10"],
     "training diverged: template (seed 0), epoch 1: the loss is nan"),
    (["run", "digits5", "--protocol", "continual", "--plugin", "replay:mem_size=-5"],
     "plugin replay option mem_size=-5: allowed >= 1"),
    (["run", "digits5", "--protocol", "continual", "--plugin", "si"],
     "--plugin si with --reinit (the continual default): si protects the previous "
     "experience's weights, which --reinit throws away; allowed with --no-reinit"),
    (["run", "digits5", "--protocol", "continual", "--no-reinit", "--plugin", "ewc:mode=both"],
     "plugin ewc option mode='both': allowed separate | online"),
    (["report", "gaussians8", "--tracking-uri", "http://127.0.0.1:9"], "not reachable"),
    (["runs", "clean", "--tracking-uri", "http://127.0.0.1:9"], "not reachable"),
]



@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a[1:]) for a, _ in BAD])
def test_bad_input_one_line_exit_2(store, capsys, args, message):
    code, stdout, stderr = run_main(args, capsys)
    assert code == 2, stderr[-1500:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], stderr[-1500:]
    assert "Traceback" not in stderr and stdout == ""


def test_console_script_bad_input_has_no_traceback(tmp_path):
    out = subprocess.run(["rosetta-cl", "run", "gaussians8", "--rho", "-2"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2
    # the error is the only thing on stderr: no import-time warning before it (qpsolvers)
    assert out.stderr.strip().splitlines() == ["Error: rho -2.0: must be >= 0"], out.stderr
    assert not (tmp_path / "mlruns").exists()  # nothing was created for a rejected run


@pytest.mark.parametrize("plugin", ["si", "replay:mem_size=-5"])
def test_bad_plugins_are_refused_before_any_run(store, tmp_path, capsys, plugin):
    """Both trained a template and a target (2 runs FAILED) before the plugin said no."""
    code, _, stderr = run_main(["run", "digits5", "--protocol", "continual", "--plugin", plugin],
                               capsys)
    assert code == 2 and not (tmp_path / "mlruns").exists(), stderr


def test_divergence_names_run_and_epoch_and_marks_it_failed(store, tmp_path, capsys):
    code, _, stderr = run_main(["run", "gaussians8", "--quick", "--lr", "1e10", "--figures",
                                "none"], capsys)
    assert code == 2 and "epoch 1" in stderr and "lower --lr, now 1e+10" in stderr
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("gaussians8").experiment_id
    (run,) = client.search_runs([experiment])
    assert run.info.status == "FAILED" and f"[MLflow run {run.info.run_id}" in stderr
    assert run.data.tags["rosetta.failure"].startswith("DivergenceError: training diverged")


def test_bad_k_is_refused_before_any_run(store, tmp_path, capsys):
    code, _, stderr = run_main(["run", "gaussians8", "-k", "1201"], capsys)
    assert code == 2 and "allowed 1 <= k <= 1200 (training points of D1)" in stderr
    assert not (tmp_path / "mlruns").exists()


def test_failure_mid_run_marks_runs_failed(store, tmp_path, capsys, monkeypatch):
    """An error after runs were opened leaves them FAILED in MLflow, never RUNNING. A model's run
    is written when the model is done (issue 14: records), so the model that failed has none and
    those done before it are complete."""
    import rosetta_cl.metrics.latent

    def broken(*args, **kwargs):
        raise RuntimeError("metric exploded")

    monkeypatch.setattr(rosetta_cl.metrics.latent, "lsd_split", broken)
    with pytest.raises(RuntimeError, match="metric exploded"):
        main(["run", "gaussians8", "--epochs", "1", "--seeds", "1", "--methods", "vae",
              "--templates", "1"])
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    status = {r.info.run_name: r.info.status for r in runs}
    assert status["sequential-gaussians8"] == "FAILED" and "vae/seed1" not in status
    assert status["template"] == status["target"] == "FINISHED"
    assert "RUNNING" not in status.values()


def test_ctrl_c_mid_run_leaves_no_running_run(store, tmp_path, capsys, monkeypatch):
    import rosetta_cl.metrics.latent

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rosetta_cl.metrics.latent, "lsd_split", interrupted)
    code, _, stderr = run_main(["run", "gaussians8", "--epochs", "1", "--seeds", "1",
                                "--methods", "vae"], capsys)
    assert code == 130 and "Interrupted (SIGINT)" in stderr  # issue 18: KILLED, not FAILED
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    status = {r.info.run_name: r.info.status for r in runs}
    assert status["sequential-gaussians8"] == "KILLED" and "vae/seed1" not in status
    assert "RUNNING" not in status.values()


def test_benchmarks_lists_streams_and_methods(capsys):
    code, stdout, _ = run_main(["benchmarks"], capsys)
    assert code == 0
    for name in ("gaussians8", "digits", "vae", "bvae", "rvae"):
        assert name in stdout


def test_every_config_field_is_one_option_with_the_fields_default():
    """Declared once: `run` and `tune` options are generated from RunConfig's fields."""
    from dataclasses import fields

    import click

    from rosetta_cl.cli.run import run, tune
    from rosetta_cl.config.options import RunConfig

    for command in (run, tune):
        params = {p.name: p for p in command.params}
        for f in fields(RunConfig):
            if f.name == "benchmark":  # the positional argument (run: TARGET)
                assert not isinstance(params.get(f.name), click.Option)
                continue
            if f.name == "epochs_rule":  # spelt `--epochs plateau`
                assert f.name not in params and "plateau" in params["epochs"].help
                continue
            option = params[f.name]
            expected = (",".join(f.default) or None if isinstance(f.default, tuple)
                        and not option.multiple else f.default)
            assert option.default == expected, f.name
            assert option.help == f.metadata["help"], f.name


def test_config_parts_own_their_rules():
    from rosetta_cl.config.options import (
        DataOptions,
        ExecutionOptions,
        ModelOptions,
        RunConfig,
        TrainingOptions,
    )

    config = RunConfig(benchmark="digits", latent_dim=4, epochs=7, device="cpu")
    assert config.part(ModelOptions) == ModelOptions(latent_dim=4)
    assert config.part(TrainingOptions).epochs == 7
    assert config.part(ExecutionOptions).device == "cpu"
    assert config.part(DataOptions).benchmark == "digits"
    owners = [set(part._parameter_constraints) for part in
              (DataOptions, ModelOptions, TrainingOptions, ExecutionOptions)]
    assert sum(len(o) for o in owners) == len(set().union(*owners))  # each rule in one place
    parts = (DataOptions, ModelOptions, TrainingOptions, ExecutionOptions)
    for part, names in zip(parts, owners, strict=True):
        assert names <= {f.name for f in fields_of(part)}


def fields_of(cls):
    from dataclasses import fields

    return fields(cls)


def test_ui_starts_one_worker_and_no_job_consumer(store, monkeypatch, capsys):
    """A local UI: `mlflow server --workers 1`, job execution off (no huey consumer)."""
    import rosetta_cl.cli.store

    calls = []
    monkeypatch.setattr(rosetta_cl.cli.store.os, "execv", lambda path, args: calls.append(args))
    for name in ("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "PYTHONWARNINGS"):
        monkeypatch.setenv(name, "")  # recorded, so the test's changes are undone after it
        monkeypatch.delenv(name)
    code, _, err = run_main(["ui", "--port", "5099", "--tracking-uri", store], capsys)
    assert code == 0 and "MLflow UI at http://127.0.0.1:5099" in err
    (args,) = calls
    assert args[args.index("--workers") + 1] == "1"
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


def test_run_help_names_every_kind_of_target(capsys):
    code, out, _ = run_main(["run", "--help"], capsys)
    assert code == 0 and "BENCHMARK|SPEC|DATA" in out and "DATA.npz / .npy / .h5ad" in out


def help_text(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_run_help_groups_options_lists_choices_and_shows_quoting(capsys):
    out = help_text(["run"], capsys)
    sections = [line for line in out.splitlines() if line.endswith(" options:")]
    assert sections == ["Data options:", "Model options:", "Training options:",
                        "Anchors options:", "Execution options:", "Output options:"]
    data, training = out.index("Data options:"), out.index("Training options:")
    assert data < out.index("--seed INTEGER") < training < out.index("--seeds INTEGER")
    assert training < out.index("  --quick ") < out.index("Anchors options:")
    assert "--protocol [sequential|reproducibility|continual]" in out
    assert "--accumulate [all|latest|reselect]" in out and "--executor [local|ray]" in out
    assert "--split-by 'label:0,1|2,3'" in out  # quoting shown in an example
    assert "Quote a value with |" in " ".join(out.split())


def test_top_level_help_shows_whole_command_descriptions(capsys):
    out = help_text([], capsys)
    commands = out[out.index("Commands:"):]
    assert "..." not in commands
    assert "print the table; log everything to MLflow." in " ".join(out.split())


def test_shell_completion_offers_benchmarks_and_spec_names():
    import subprocess
    import sys

    env = {**os.environ, "_ROSETTA_CL_COMPLETE": "bash_complete",
           "COMP_WORDS": "rosetta-cl run table2_seq", "COMP_CWORD": "2"}
    out = subprocess.run([sys.executable, "-m", "rosetta_cl"], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    words = [line.split(",", 1)[1] for line in out.stdout.splitlines() if "," in line]
    assert "table2_sequential_gaussians8" in words and "gaussians8" not in words
    env["COMP_WORDS"] = "rosetta-cl run gau"
    out = subprocess.run([sys.executable, "-m", "rosetta_cl"], env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert "plain,gaussians8" in out.stdout.splitlines()


@pytest.mark.parametrize("args", [["run", "nope.npz"], ["run", "gaussians8", "--data", "nope.npz"],
                                  ["tune", "nope.npz"], ["train", "nope.h5ad"],
                                  ["embed", "models:/atlas/1", "nope.npz", "-o", "z.npz"]])
def test_a_missing_data_file_is_refused_before_torch_is_imported(args, tmp_path):
    """It took 6.9 s to refuse (torch, Avalanche and MLflow imported first); a directory 0.3 s."""
    import subprocess
    import sys

    code = ("import atexit, sys\nfrom rosetta_cl.cli.main import main\n"
            "atexit.register(lambda: print('torch' in sys.modules))\n"
            f"main({args!r})\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=False)
    data = next(a for a in args if a.startswith("nope"))
    assert out.returncode == 2 and out.stderr == f"Error: data file {data} does not exist\n"
    assert out.stdout == "False\n"  # refused before torch was imported
