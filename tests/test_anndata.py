"""AnnData (.h5ad) input: X, a layer or an obsm entry, dense or sparse, split by obs columns;
every bad input a one-line error (exit 2) with nothing written."""

from pathlib import Path

import anndata  # the [anndata] extra; the dev extra installs it
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from helpers import run_main

from rosetta_cl.data import anndata_file
from rosetta_cl.data.anndata_file import read_h5ad
from rosetta_cl.data.user_data import user_benchmark

QUICK = ["--quick", "--figures", "none", "--methods", "vae,rvae"]


def write_atlas(path: Path, n: int = 240, genes: int = 10, seed: int = 0, sparse="csr",
                order=None) -> Path:
    """Counts-like data for ``n`` cells of three batches; genes ``g0..g{genes-1}`` in ``order``."""
    rng = np.random.default_rng(seed)
    x = rng.poisson(2.0, size=(n, genes)).astype(np.float32)
    batch = np.array(["A", "B", "C"])[np.arange(n) % 3]
    names = [f"g{j}" for j in range(genes)]
    order = list(range(genes)) if order is None else list(order)
    matrix = x[:, order]
    matrix = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "dense": np.asarray}[sparse](matrix)
    adata = anndata.AnnData(
        X=matrix, obs=pd.DataFrame({"batch": pd.Categorical(batch), "donor": np.arange(n) % 2},
                                   index=[f"cell{i}" for i in range(n)]),
        var=pd.DataFrame(index=[names[j] for j in order]))
    adata.layers["log1p"] = np.log1p(x[:, order])
    adata.obsm["X_pca"] = x[:, :3] - x[:, :3].mean(0)
    adata.write_h5ad(path)
    return path


@pytest.mark.parametrize("kind", ["csr", "csc", "dense"])
def test_dense_and_sparse_matrices_read_to_the_same_rows(tmp_path, kind, monkeypatch):
    monkeypatch.setattr(anndata_file, "BLOCK_ROWS", 7)  # several blocks, a short last one
    reference = read_h5ad(write_atlas(tmp_path / "dense.h5ad", sparse="dense"))
    data = read_h5ad(write_atlas(tmp_path / f"{kind}.h5ad", sparse=kind))
    assert data.x.dtype == np.float32 and data.x.shape == (240, 10)
    np.testing.assert_array_equal(data.x, reference.x)
    assert data.features == tuple(f"g{j}" for j in range(10))
    assert data.obs["batch"][:4].tolist() == ["A", "B", "C", "A"]


def test_layer_and_obsm_choose_the_matrix(tmp_path):
    path = write_atlas(tmp_path / "a.h5ad")
    x = read_h5ad(path).x
    np.testing.assert_allclose(read_h5ad(path, layer="log1p").x, np.log1p(x), rtol=1e-6)
    pca = read_h5ad(path, obsm="X_pca")
    assert pca.x.shape == (240, 3) and pca.features == ("0", "1", "2")


def test_obs_rules_split_rows_by_their_values(tmp_path):
    path = write_atlas(tmp_path / "a.h5ad")
    bench = user_benchmark(path, "obs:batch=A,B|C")
    sizes = [len(e.dataset) + len(v.dataset)
             for e, v in zip(bench.train_stream, bench.valid_stream, strict=True)]
    assert bench.parts == ("D1", "D2") and sizes == [160, 80]
    assert bench.features == tuple(f"g{j}" for j in range(10))
    assert user_benchmark(path, "obs:batch").parts == ("D1", "D2", "D3")  # one per value
    assert user_benchmark(path, "obs:donor=0|1").parts == ("D1", "D2")  # values as text
    whole = user_benchmark(path, whole=True)
    assert whole.parts == ("D1",) and len(whole.train_stream[0].dataset) == 144


@pytest.mark.slow
def test_run_on_an_h5ad_file_by_obs_column(store, tmp_path, capsys):
    path = write_atlas(tmp_path / "atlas.h5ad")
    code, out, err = run_main(["run", str(path), "--split-by", "obs:batch=A,B|C", *QUICK,
                               "--tracking-uri", store], capsys)
    assert code == 0, err
    assert "D1: R-VAE" in out and "MLflow parent run" in out


BAD = [
    (["--split-by", "obs:tissue=A|B"], "has no obs column 'tissue' (its columns: batch, donor)"),
    (["--split-by", "obs:batch=A|Z"],
     "value 'Z' is not in obs column 'batch' (its values: A, B, C)"),
    (["--split-by", "obs:batch=A,B|B"], "value 'B' is in sets 1 and 2"),
    (["--split-by", "obs:batch=A"], "give at least two non-empty value sets"),
    (["--split-by", "label:0|1"], "allowed obs:COLUMN=A,B|C,D"),
    ([], "needs --split-by"),
    (["--split-by", "half", "--layer", "raw"], "--layer 'raw': atlas.h5ad has layers log1p"),
    (["--split-by", "half", "--obsm", "X_umap"], "--obsm 'X_umap': atlas.h5ad has obsm X_pca"),
    (["--split-by", "half", "--layer", "log1p", "--obsm", "X_pca"], "give at most one"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_h5ad_inputs_are_one_line_errors(store, tmp_path, capsys, args, message):
    write_atlas(Path("atlas.h5ad"))
    code, out, err = run_main(["run", "atlas.h5ad", *args, *QUICK, "--tracking-uri", store],
                              capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not Path("mlruns").exists()  # nothing written


def test_unreadable_nan_and_oversized_files_are_refused(store, tmp_path, capsys, monkeypatch):
    Path("text.h5ad").write_text("not hdf5")
    code, _, err = run_main(["run", "text.h5ad", "--split-by", "half", "--tracking-uri", store],
                            capsys)
    assert code == 2 and "text.h5ad: not an HDF5 file" in err
    adata = anndata.read_h5ad(write_atlas(Path("atlas.h5ad")))
    x = adata.X.toarray()
    x[100, 3] = np.nan
    adata.X = x
    adata.write_h5ad("nan.h5ad")
    code, _, err = run_main(["run", "nan.h5ad", "--split-by", "half", "--tracking-uri", store],
                            capsys)
    # the row and column of the NaN (it said "rows 0-177", the whole block)
    assert code == 2 and "nan.h5ad: the matrix has NaN or inf at row 100, column 3 'g3' " \
        "(1 value)" in err, err
    monkeypatch.setattr(anndata_file, "MEMORY_SHARE", 1e-12)
    code, _, err = run_main(["run", "atlas.h5ad", "--split-by", "half", "--tracking-uri", store],
                            capsys)
    assert code == 2 and "the dense float32 matrix needs 0.0 GiB" in err
    assert not Path("mlruns").exists()


def test_layer_is_refused_outside_h5ad_files(store, capsys):
    code, _, err = run_main(["run", "gaussians8", "--layer", "x", "--tracking-uri", store],
                            capsys)
    assert code == 2 and "they choose the matrix of an .h5ad data file" in err
