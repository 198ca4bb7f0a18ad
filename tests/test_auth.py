"""A shared store for a team (issue 18): `rosetta-cl ui --auth` lets only its users in."""

import pytest
from mlflow.tracking import MlflowClient

from rosetta_cl.cli import main

ADMIN = "correct-horse-battery-staple"
TINY = ["--quick", "--seeds", "1", "--methods", "rvae", "--epochs", "1", "--figures", "none"]


def run_as(base, user, password, capsys, monkeypatch):
    for key, value in (("MLFLOW_TRACKING_USERNAME", user), ("MLFLOW_TRACKING_PASSWORD", password)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "gaussians8", *TINY, "--tracking-uri", base])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


@pytest.mark.slow
def test_auth_server_refuses_strangers_and_takes_its_users(store, tmp_path, mlflow_ui, capsys,
                                                          monkeypatch):
    """Anonymous and wrong-password clients are refused in one line and create nothing; the
    admin (password from the environment, never the command line) runs a protocol whose
    artifacts go through the server into the store's folder."""
    with mlflow_ui(store, tmp_path, ["--auth"], {"MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN}) as base:
        code, out, err = run_as(base, None, None, capsys, monkeypatch)
        assert code == 2 and "refused no user and password (HTTP 401)" in err and out == ""
        code, _, err = run_as(base, "admin", "wrong-password-123", capsys, monkeypatch)
        assert code == 2 and "refused user 'admin' and its password (HTTP 401)" in err
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN)
        admin = MlflowClient(base)  # credentials from the environment
        assert admin.get_experiment_by_name("gaussians8") is None  # nothing was created

        code, out, err = run_as(base, "admin", ADMIN, capsys, monkeypatch)
        assert code == 0, err[-2000:]
        experiment = admin.get_experiment_by_name("gaussians8")
        runs = admin.search_runs([experiment.experiment_id])
        assert {r.info.status for r in runs} == {"FINISHED"} and len(runs) == 4
        artifacts = tmp_path / "mlruns" / "artifacts"  # beside the store's database
        assert list(artifacts.rglob("latents.npz")), "artifacts did not reach the server's store"

        from mlflow.server import get_app_client  # the README's way to add a member

        get_app_client("basic-auth", tracking_uri=base).create_user("ana", "her-password-12")
        code, _, err = run_as(base, "ana", "her-password-12", capsys, monkeypatch)
        assert code == 0, err[-2000:]
        assert len(admin.search_runs([experiment.experiment_id])) == 8  # EDIT: the team's
    assert (tmp_path / "mlruns" / "auth.db").exists()
    assert (tmp_path / "mlruns" / "basic_auth.ini").stat().st_mode & 0o077 == 0  # owner only


@pytest.mark.parametrize("args,env,message", [
    (["--host", "0.0.0.0"], {}, "--host 0.0.0.0: a non-loopback address without --auth"),
    (["--auth"], {}, "--auth: no admin password"),
    (["--auth"], {"MLFLOW_AUTH_ADMIN_PASSWORD": "short"}, "has 5 characters; allowed 12"),
    (["--auth", "--admin-password-file", "/nonexistent/pw"], {}, "cannot read it"),
    (["--admin-password-file", "pw"], {}, "allowed with --auth"),
    (["--auth", "--default-permission", "ALL"], {}, "--default-permission 'ALL': allowed READ"),
    (["--auth", "--tracking-uri", "http://127.0.0.1:9"], {}, "allowed a local SQLite store"),
])
def test_ui_refuses_unsafe_or_broken_set_ups(store, capsys, monkeypatch, args, env, message):
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exit_info:
        main(["ui", "--tracking-uri", store, *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_registered_models_follow_basic_auth_permissions(store, tmp_path, mlflow_ui, capsys,
                                                        monkeypatch):
    """A lab store with NO_PERMISSIONS by default: Alice publishes her encoder, grants Bob READ
    on it (and on her experiment, which holds its files); Bob pulls and anchors to it; Eve, a
    member without a grant, is refused in one line."""
    from mlflow.server import get_app_client
    from test_anndata import write_atlas

    write_atlas(tmp_path / "alice.h5ad", n=200, seed=0)
    write_atlas(tmp_path / "bob.h5ad", n=200, seed=1, order=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
    monkeypatch.setenv("ROSETTA_CL_DATA", str(tmp_path / "cache"))
    with mlflow_ui(store, tmp_path, ["--auth", "--default-permission", "NO_PERMISSIONS"],
                   {"MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN}) as base:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN)
        admin = get_app_client("basic-auth", tracking_uri=base)
        for user in ("alice", "bob", "eve"):
            admin.create_user(user, f"{user}-password-12")

        def as_user(user, *args):
            monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
            monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", f"{user}-password-12")
            with pytest.raises(SystemExit) as exit_info:
                main([*args, "--tracking-uri", base])
            out = capsys.readouterr()
            return exit_info.value.code, out.out, out.err

        code, out, err = as_user("alice", "train", "alice.h5ad", "-k", "8", "--quick",
                                 "--seeds", "1", "--json")
        assert code == 0, err[-2000:]
        import json

        run_id = json.loads(out)["runs"][0]["run_id"]
        code, out, err = as_user("alice", "anchors", "publish", run_id, "--name", "atlas",
                                 "--alias", "champion")
        assert code == 0 and "registered models:/atlas/1" in out, err[-2000:]
        code, _, err = as_user("eve", "embed", "models:/atlas@champion", "bob.h5ad", "-o",
                               "eve.npz")
        assert code == 2 and "403" in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "eve.npz").exists()
        # Alice (MANAGE on what she created) grants Bob READ on the model and its experiment
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "alice-password-12")
        alice = get_app_client("basic-auth", tracking_uri=base)
        alice.grant_user_permission("bob", "registered_model", "atlas", "READ")
        from mlflow import MlflowClient

        experiment = MlflowClient(base).get_run(run_id).info.experiment_id
        alice.grant_user_permission("bob", "experiment", experiment, "READ")
        code, out, err = as_user("bob", "train", "bob.h5ad", "--anchors",
                                 "models:/atlas@champion", "--quick", "--seeds", "1")
        assert code == 0 and "anchored to models:/atlas/1" in out, err[-2000:]
        code, _, err = as_user("bob", "anchors", "publish", run_id, "--name", "atlas")
        assert code == 2 and "403" in err, err  # READ: no new versions of Alice's model
