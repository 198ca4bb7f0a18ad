"""What kills, signals, a full disk and a read-only or vanished store leave in the store
(issue 18): real processes are killed; nothing is left RUNNING once cleaned, nothing finished
is lost, every failure is one line."""

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from helpers import CLI
from mlflow.tracking import MlflowClient

from rosetta_cl.cli import main
from rosetta_cl.tracking.artifacts import atomic_path, log_artifact
from rosetta_cl.tracking.interrupts import (
    Terminated,
    deferred_interrupts,
    handling_signals,
    run_closed,
    run_opened,
)
from rosetta_cl.tracking.liveness import (
    HEARTBEAT_TAG,
    HOST_TAG,
    KILLED_TAG,
    PID_TAG,
    STALE_S,
    STARTED_TAG,
    why_gone,
)
from rosetta_cl.tracking.store import load_run_model, quiet_downloads

# 60 epochs: the template trains for some seconds, then the target as long (the kill window)
LONG = ["run", "gaussians8", "--seeds", "1", "--methods", "rvae", "--epochs", "60",
        "--templates", "1", "--figures", "none", "--experiment", "crash"]


def start(args, cwd):
    """The CLI as a user starts it. SIGINT's default is restored in the child: a test session
    started in the background by a shell (`.ci/run &`) inherits SIGINT ignored, and Python then
    never raises KeyboardInterrupt (a terminal's Ctrl-C always reaches a foreground process)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # caught -> SIG_DFL at exec
    try:
        return subprocess.Popen(CLI + args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, before)


def runs_by_name(uri, experiment="crash"):
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return client, {}
    runs = client.search_runs([found.experiment_id], max_results=1000)
    return client, {r.info.run_name: r for r in runs}


def wait_for_finished_template(proc, uri, timeout=300):
    """Poll the store until the template's run is FINISHED: the target is training then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        _, runs = runs_by_name(uri)
        if "template" in runs and runs["template"].info.status == "FINISHED":
            return
        time.sleep(0.2)
    raise AssertionError("the template never finished")


def assert_template_intact(client, template, tmp_path):
    """A finished run's artifacts survive the kill whole: model and latents load."""
    with quiet_downloads():
        model = load_run_model(client, template.info.run_id)
        latents = client.download_artifacts(template.info.run_id, "latents.npz", str(tmp_path))
    with np.load(latents, allow_pickle=False) as f:
        assert np.isfinite(f["mu_D1"]).all()
    assert model.config.latent_dim == 2
    artifacts = Path(template.info.artifact_uri.removeprefix("file://"))
    assert not list(artifacts.rglob(".*partial*"))


@pytest.mark.slow
def test_sigkill_mid_epoch_then_clean(tmp_path, capsys, monkeypatch):
    """SIGKILL while the target trains: the parent stays RUNNING (nothing can run in a killed
    process); the next run in the experiment (and `runs clean`) marks it KILLED, saying why;
    the finished template is complete."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    proc = start([*LONG, "--tracking-uri", uri], tmp_path)
    wait_for_finished_template(proc, uri)
    proc.kill()
    proc.wait(timeout=60)
    client, runs = runs_by_name(uri)
    parent = runs["sequential-gaussians8"]
    assert parent.info.status == "RUNNING" and set(runs) == {"sequential-gaussians8", "template"}
    assert parent.data.tags[PID_TAG] == str(proc.pid)
    assert parent.data.tags[HOST_TAG] == socket.gethostname()
    assert_template_intact(client, runs["template"], tmp_path)

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "clean", "crash", "--tracking-uri", uri])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "1 run marked KILLED in crash" in out
    parent = client.get_run(parent.info.run_id)
    assert parent.info.status == "KILLED"
    assert parent.data.tags[KILLED_TAG].startswith(f"process {proc.pid} on ")
    assert client.get_run(runs["template"].info.run_id).info.status == "FINISHED"
    with pytest.raises(SystemExit):  # cleaning again finds nothing
        main(["runs", "clean", "--tracking-uri", uri])
    assert "0 runs marked KILLED in all experiments" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("sig,code,name", [(signal.SIGTERM, 143, "SIGTERM"),
                                           (signal.SIGINT, 130, "SIGINT")])
def test_signal_marks_runs_killed(tmp_path, sig, code, name):
    """SIGTERM (e.g. `timeout`, a scheduler) and SIGINT (Ctrl-C) while the target trains: exit
    143 / 130 with one line, the parent KILLED (not FAILED, not RUNNING) saying which signal,
    the finished template intact."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    proc = start([*LONG, "--tracking-uri", uri], tmp_path)
    wait_for_finished_template(proc, uri)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err and f"Interrupted ({name})" in err
    client, runs = runs_by_name(uri)
    assert {n: r.info.status for n, r in runs.items()} == {
        "sequential-gaussians8": "KILLED", "template": "FINISHED"}
    assert runs["sequential-gaussians8"].data.tags[KILLED_TAG] == f"{name} received"
    assert_template_intact(client, runs["template"], tmp_path)


@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_ctrl_c_during_start_up_has_no_traceback(tmp_path, delay):
    """Ctrl-C while importing, reading data or opening the store: one line, exit 130, nothing
    logged (an exception raised inside torch's import aborted the process: pybind11 terminate)."""
    proc = start(["run", "gaussians8", "--quick"], tmp_path)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert "Interrupted (SIGINT)" in err and "terminate called" not in err


def test_a_signal_during_a_write_waits_for_it():
    """SIGTERM inside deferred_interrupts (how a finished model's run is written) is raised
    only when the block is done; with a run open, a signal outside is raised at once."""
    with handling_signals():
        run_opened()
        done = []
        try:
            with pytest.raises(Terminated), deferred_interrupts():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                done.append("written")
            assert done == ["written"]
            with pytest.raises(Terminated):  # outside a write it is raised at once
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)
        finally:
            run_closed()


def test_runs_clean_judges_other_hosts_by_heartbeat(store):
    """A RUNNING run from another host is gone once its heartbeat is older than STALE_S; one
    from this host when its pid is free or reused; runs of older versions are left alone."""
    now = time.time()
    other = {HOST_TAG: "elsewhere", PID_TAG: "123", STARTED_TAG: "1.0"}
    assert why_gone(other, now - 30, now) is None
    assert "last heartbeat" in why_gone(other, now - STALE_S - 1, now)
    here = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    import psutil

    started = psutil.Process().create_time()
    assert why_gone({**here, STARTED_TAG: f"{started:.2f}"}, None, now) is None
    assert "is gone" in why_gone({**here, STARTED_TAG: f"{started - 100:.2f}"}, None, now)
    assert why_gone({}, None, now) is None

    client = MlflowClient(store)
    experiment = client.create_experiment("e")
    alive = client.create_run(experiment, tags={**other, HEARTBEAT_TAG: f"{now:.0f}"})
    stale = client.create_run(experiment, tags={**other, HEARTBEAT_TAG: f"{now - 3600:.0f}"})
    old = client.create_run(experiment, tags={})  # an older version's run: no process tags
    child = client.create_run(experiment, tags={**other, "mlflow.parentRunId":
                                                alive.info.run_id})  # beat is the parent's
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "clean", "e", "--tracking-uri", store])
    assert exit_info.value.code == 0
    status = {r: client.get_run(r.info.run_id).info.status for r in (alive, stale, old, child)}
    assert [status[r] for r in (alive, stale, old, child)] == [
        "RUNNING", "KILLED", "RUNNING", "RUNNING"]
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "clean", "nope", "--tracking-uri", store])
    assert exit_info.value.code == 2


def test_resume_refuses_a_run_still_alive(store, capsys):
    """--resume must not reopen a run whose process is alive (here: this test's process)."""
    from rosetta_cl.tracking.liveness import process_tags
    from rosetta_cl.tracking.resume import INVOCATION_TAG

    client = MlflowClient(store)
    experiment = client.create_experiment("gaussians8")
    client.create_run(experiment, run_name="sequential-gaussians8",
                      tags={**process_tags(), INVOCATION_TAG: "x", "mlflow.runName":
                            "sequential-gaussians8"})
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "gaussians8", "--quick", "--resume", "--tracking-uri", store])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "is still running (process" in err, err


def test_atomic_artifacts_never_leave_half_files(tmp_path, monkeypatch):
    """A copy that fails half way (a full disk) leaves nothing under the real name."""
    src = tmp_path / "latents.npz"
    src.write_bytes(b"x" * 10_000)
    client = MlflowClient(f"sqlite:///{tmp_path}/db/mlflow.db")
    root = tmp_path / "artifacts"
    run = client.create_run(client.create_experiment("a", artifact_location=root.as_uri()))

    def half_then_full(src_path, dst_path, *args, **kwargs):
        Path(dst_path).write_bytes(Path(src_path).read_bytes()[:5000])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shutil.copyfile", half_then_full)
    with pytest.raises(OSError):
        log_artifact(client, run.info.run_id, src)
    folder = Path(run.info.artifact_uri.removeprefix("file://"))
    assert list(folder.iterdir()) == []  # no latents.npz, no leftover partial file
    monkeypatch.undo()
    log_artifact(client, run.info.run_id, src)
    assert (folder / "latents.npz").read_bytes() == src.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(folder / "latents.npz") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert (folder / "latents.npz").read_bytes() == src.read_bytes()  # the old one kept


def test_full_disk_mid_run_is_one_line_and_marks_runs(store, capsys, monkeypatch):
    """The disk fills while the second model's artifacts are written: one line, exit 2, the
    parent and that run FAILED saying why, the first model's run complete."""
    import shutil

    real, runs_written = shutil.copyfile, []

    def fills_up(src, dst, *args, **kwargs):
        # .../artifacts/gaussians8/<run id>/artifacts/<file> or .../models/<model id>/...
        parts = Path(dst).parts
        if "gaussians8" in parts:
            where = parts[parts.index("gaussians8") + 1:]
            runs_written.append(where[1] if where[0] == "models" else where[0])
            # the template wrote its run's and its model's folders: the next folder is the
            # second training's, failing at its first file
            if len(set(runs_written)) == 3:
                raise OSError(28, "No space left on device", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", fills_up)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "gaussians8", "--quick", "--seeds", "1", "--methods", "rvae", "--epochs",
              "1", "--figures", "none", "--tracking-uri", store])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert error_lines(err) == 1 and "No space left on device" in err
    _, runs = runs_by_name(store, "gaussians8")
    status = {n: r.info.status for n, r in runs.items()}
    assert status["sequential-gaussians8"] == "FAILED" and "RUNNING" not in status.values()
    failed = [r for r in runs.values() if r.info.status == "FAILED"]
    assert all("No space left" in r.data.tags["rosetta.failure"] for r in failed)
    assert status["template"] == "FINISHED"


def test_store_deleted_mid_run_is_one_line(store, capsys, monkeypatch):
    """The store's folder is deleted while the run trains: one line, exit 2."""
    import shutil

    from rosetta_cl.training import trainer as training

    real = training.Trainer.finish
    calls = []

    def finish_then_delete(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            shutil.rmtree(Path(store.removeprefix("sqlite:///")).parent)
        return result

    monkeypatch.setattr(training.Trainer, "finish", finish_then_delete)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "gaussians8", "--quick", "--seeds", "1", "--methods", "rvae", "--epochs",
              "1", "--figures", "none", "--tracking-uri", store])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err and error_lines(err) == 1, err


@contextmanager
def read_only(folder: Path):
    """``folder`` (with what it holds) read-only for this process: by its mode when we are not
    root; as root (which ignores modes) on a read-only tmpfs mounted over it, the files copied
    in first; as root without mount rights, EROFS injected into the write checks (os.access
    and Path.write_bytes under the folder: the same code paths, a simulated file system)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    saved = folder.with_name(folder.name + ".saved")
    shutil.copytree(folder, saved)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)],
                      capture_output=True, check=False).returncode != 0:
        shutil.rmtree(saved)
        with _injected_read_only(folder):
            yield folder
        return
    try:
        shutil.copytree(saved, folder, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
        shutil.rmtree(saved, ignore_errors=True)


@contextmanager
def _injected_read_only(folder: Path):
    from unittest import mock

    real_access, real_write = os.access, Path.write_bytes

    def inside(path) -> bool:
        return Path(path).resolve().is_relative_to(folder.resolve())

    def access(path, mode, *args, **kwargs):
        return False if mode & os.W_OK and inside(path) else real_access(path, mode, *args,
                                                                          **kwargs)

    def write_bytes(self, data):
        if inside(self):
            raise OSError(30, "Read-only file system", str(self))
        return real_write(self, data)

    with mock.patch("os.access", access), mock.patch.object(Path, "write_bytes", write_bytes):
        yield


def error_lines(err: str) -> int:
    """Error lines of stderr: not MLflow's INFO lines, our notice of a store created, nor the
    progress lines (one per finished training when stderr is not a terminal)."""
    return len([line for line in err.splitlines() if " INFO mlflow." not in line
                and not line.startswith(("created a new MLflow store at ", "trained "))])


def one_line_exit_2(args, capsys, message):
    start = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err, err
    assert error_lines(err) == 1 and "Traceback" not in err, err
    assert time.monotonic() - start < 60  # was 117 s of MLflow retries for a read-only store
    return err


def test_read_only_store_is_one_line_at_once(tmp_path, capsys, monkeypatch):
    """A new store in a read-only folder, and an existing store made read-only: one line
    within seconds, nothing written."""
    monkeypatch.chdir(tmp_path)
    with read_only(tmp_path / "ro") as ro:
        one_line_exit_2(["run", "gaussians8", "--quick", "--tracking-uri",
                         f"sqlite:///{ro}/mlflow.db"], capsys, "is read-only")
        assert list(ro.iterdir()) == []
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    MlflowClient(uri).create_experiment("gaussians8")
    before = (tmp_path / "store" / "mlflow.db").read_bytes()
    with read_only(tmp_path / "store"):
        one_line_exit_2(["run", "gaussians8", "--quick", "--tracking-uri", uri], capsys,
                        "is read-only")
        one_line_exit_2(["runs", "clean", "--tracking-uri", uri], capsys, "is read-only")
    assert (tmp_path / "store" / "mlflow.db").read_bytes() == before


def test_read_only_artifacts_beside_a_writable_database(tmp_path, capsys, monkeypatch):
    """The artifacts folder is read-only, the database is not: refused before any run is
    opened (it left 2 runs FAILED)."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    client = MlflowClient(uri)
    client.create_experiment("gaussians8",
                             artifact_location=(tmp_path / "store" / "artifacts").as_uri())
    with read_only(tmp_path / "store" / "artifacts"):
        one_line_exit_2(["run", "gaussians8", "--quick", "--tracking-uri", uri], capsys,
                        "cannot write in")
    experiment = client.get_experiment_by_name("gaussians8").experiment_id
    assert client.search_runs([experiment]) == []


def test_read_only_outputs_are_one_line(tmp_path, capsys, monkeypatch):
    """report -o, anchors select -o, anchors merge -o into a read-only folder."""
    from rosetta_cl.anchors.rosetta_file import make_anchor_file, write_anchor_file
    from rosetta_cl.models.vae import VAE, ModelConfig, save_model

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    MlflowClient(uri).create_experiment("gaussians8")
    rng = np.random.default_rng(0)
    files = []
    for i in range(2):
        anchors = make_anchor_file(rng.random((3, 2)).astype(np.float32),
                                   rng.random((3, 2)).astype(np.float32))
        files.append(str(write_anchor_file(anchors, tmp_path / f"a{i}.rosetta")))
    save_model(VAE(ModelConfig(input_dim=2, latent_dim=2, hidden=(8,))), tmp_path / "model")
    np.save(tmp_path / "x.npy", rng.random((10, 2)).astype(np.float32))
    with read_only(tmp_path / "ro") as ro:
        one_line_exit_2(["report", "gaussians8", "-o", str(ro / "rep"), "--tracking-uri", uri],
                        capsys, "cannot write in")
        one_line_exit_2(["anchors", "select", "--model", str(tmp_path / "model"), "--data",
                         str(tmp_path / "x.npy"), "-k", "2", "-o", str(ro / "a.rosetta")],
                        capsys, "cannot write in")
        one_line_exit_2(["anchors", "merge", *files, "-o", str(ro / "m.rosetta")], capsys,
                        "cannot write in")
        assert list(ro.iterdir()) == []


def test_writes_retry_while_the_database_is_locked(monkeypatch):
    """`database is locked` is retried with back-off; any other error is raised at once."""
    from rosetta_cl.tracking import store as tracking

    waits, calls = [], []
    monkeypatch.setattr(tracking.time, "sleep", waits.append)

    def locked_twice():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "written"

    assert tracking.retry_locked(locked_twice) == "written" and waits == [0.5, 1.0]
    with pytest.raises(RuntimeError, match="always locked"):
        tracking.retry_locked(lambda: (_ for _ in ()).throw(
            RuntimeError("database is locked: always locked")))
    assert waits[2:] == [0.5, 1.0, 2.0, 4.0, 8.0]
    with pytest.raises(ValueError):
        tracking.retry_locked(lambda: (_ for _ in ()).throw(ValueError("no")))
    assert len(waits) == 7
