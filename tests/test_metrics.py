import numpy as np
import pytest

from rosetta_cl import fit_linear_map, lsd, lsd_split, rv, rv_per_point, summarize


def test_lsd_zero_for_exact_affine_map():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(200, 3))
    A = rng.normal(size=(2, 3))
    b = np.array([1.0, -2.0])
    target = source @ A.T + b
    assert lsd(source, target) == pytest.approx(0.0, abs=1e-18)
    A_fit, b_fit = fit_linear_map(source, target)
    assert np.allclose(A_fit, A) and np.allclose(b_fit, b)


def test_lsd_equals_residual_variance_of_independent_noise():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(100_000, 2))
    noise = rng.normal(scale=0.5, size=(100_000, 2))
    # best map is the identity; the residual is the noise: E||noise||^2 = 2 * 0.25
    assert lsd(source, source + noise) == pytest.approx(0.5, rel=0.02)


def test_lsd_split_uses_one_map_for_both_groups():
    rng = np.random.default_rng(2)
    source = rng.normal(size=(400, 2))
    target = source.copy()
    target[200:] = -source[200:]  # D2 maps by -I, D1 by +I: no single map fits both
    groups = {"D1": np.arange(400) < 200, "D2": np.arange(400) >= 200}
    split = lsd_split(source, target, groups)
    assert split["D1"] > 0.5 and split["D2"] > 0.5
    # a separate fit per group would give ~0: the split is not that
    assert lsd(source[:200], target[:200]) < 1e-20


def test_rv_identical_runs_is_minus_inf():
    means = np.repeat(np.random.default_rng(3).normal(size=(1, 50, 2)), 5, axis=0)
    assert rv(means) == -np.inf


def test_rv_isotropic_spread_of_known_variance():
    rng = np.random.default_rng(4)
    sigma2, d = 0.3, 2
    means = rng.normal(scale=np.sqrt(sigma2), size=(2000, 20, d))  # 2000 runs, 20 points
    assert rv(means) == pytest.approx(d * np.log(sigma2), abs=0.1)


def test_rv_exact_for_hand_built_runs():
    # two points, three runs in 1-D: variances 1 and 4 (ddof=1) -> log 1, log 4
    means = np.array([[[0.0], [0.0]], [[1.0], [2.0]], [[2.0], [4.0]]])
    assert np.allclose(rv_per_point(means), [0.0, np.log(4.0)])


def test_rv_singular_when_latent_dim_not_below_runs():
    means = np.random.default_rng(5).normal(size=(3, 10, 3))  # M = d = 3: rank <= 2
    assert np.all(rv_per_point(means) == -np.inf)


def test_summary_normalises_to_median_vae():
    table = summarize({"vae": {"LSD_D1": np.array([1.0, 2.0, 4.0])},
                       "rvae": {"LSD_D1": np.array([0.5, 1.0, 1.5])}}, "LSD")
    assert table.normalized["vae"]["LSD_D1"].median == 0.0
    assert table.normalized["rvae"]["LSD_D1"].median == pytest.approx(1.0 / 2.0 - 1.0)
    assert table.raw["rvae"]["LSD_D1"].q75 == pytest.approx(1.25)
    rv_table = summarize({"vae": {"RV": np.array([-1.0, 0.0, 1.0])},
                          "rvae": {"RV": np.array([-5.0, -4.0, -3.0])}}, "RV")
    assert rv_table.normalized["rvae"]["RV"].median == pytest.approx(-4.0)
    assert "| rvae |" in rv_table.markdown() and "rvae,RV,normalized" in rv_table.csv()


def test_summary_without_vae_has_no_normalisation():
    table = summarize({"rvae": {"LSD_D1": np.array([1.0, 2.0])}}, "LSD")
    assert table.normalized is None and table.as_dict()["normalization"] is None


def test_linear_map_analysis_of_known_maps():
    from rosetta_cl.metrics.latent import linear_map_analysis

    theta = np.pi / 2
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    out = linear_map_analysis(3.0 * rotation, np.array([3.0, 4.0]))
    assert np.allclose(out["P_eigenvalues"], [3.0, 3.0])  # a scaled rotation: P = 3 I
    assert out["identity_gap"] == pytest.approx(2.0)  # ||I - R||_F for a quarter turn
    assert out["bias_norm"] == pytest.approx(5.0)
    scaled = linear_map_analysis(np.diag([4.0, 4.0]), np.zeros(2))
    assert scaled["identity_gap"] == pytest.approx(0.0, abs=1e-12)
    shear = linear_map_analysis(np.array([[2.0, 0.0], [0.0, 1.0]]), np.zeros(2))
    assert np.allclose(shear["P_eigenvalues"], [2.0, 1.0])
    assert shear["identity_gap"] == pytest.approx(0.5)


def test_sequential_protocol_reports_the_linear_maps():
    from rosetta_cl import RunConfig, run_benchmark

    result = run_benchmark(RunConfig(benchmark="gaussians8", quick=True, seeds=2, epochs=2),
                           track=False)
    maps = result.extra["linear_map"]
    assert set(maps) == {"vae", "bvae", "rvae"}
    for stats in maps.values():
        assert set(stats) == {"map_identity_gap", "map_bias_norm", "map_P_eig_0", "map_P_eig_1"}
        assert stats["map_P_eig_0"] >= stats["map_P_eig_1"] > 0


# The three representation-similarity metrics, each against a case computed by hand.
X = np.array([[1.0, 1.0], [2.0, -1.0], [3.0, 1.0], [4.0, -1.0]])
Y = np.array([[1.0, 1.0], [-1.0, 4.0], [1.0, 9.0], [-1.0, 16.0]])  # y1 = x2, y2 = x1^2


def test_linear_cka_hand_computed():
    from rosetta_cl import linear_cka

    # one dimension each: CKA = corr^2; centred x = (-1.5, -.5, .5, 1.5), y = x^2 centred =
    # (-6.5, -3.5, 1.5, 8.5): x.y = 25, |x|^2 = 5, |y|^2 = 129 -> 625 / 645 = 125 / 129
    assert linear_cka(X[:, :1], Y[:, 1:]) == pytest.approx(125 / 129, rel=1e-12)
    rotation = np.array([[0.6, -0.8], [0.8, 0.6]])
    assert linear_cka(X, 3 * X @ rotation + 7) == pytest.approx(1.0, rel=1e-12)
    assert linear_cka(X, X @ np.diag([1.0, 5.0])) < 0.99  # anisotropic scaling is not invariant


def test_procrustes_hand_computed():
    from rosetta_cl import lsd, procrustes_per_point

    source = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    target = np.array([[2.0, 0], [-2, 0], [0, 1], [0, -1]])
    # an affine map fits exactly; the best similarity: R = I, s = trace(S)/|X|^2 = (4+2)/4 = 1.5,
    # residuals (0.5, 0), (-0.5, 0), (0, -0.5), (0, 0.5): 0.25 per point
    assert lsd(source, target) == pytest.approx(0.0, abs=1e-20)
    assert procrustes_per_point(source, target) == pytest.approx([0.25] * 4, rel=1e-12)
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert procrustes_per_point(X, 2.5 * X @ rotation - 3) == pytest.approx([0] * 4, abs=1e-20)
    # a reflection is orthogonal too
    assert procrustes_per_point(X, X * [1, -1]) == pytest.approx([0] * 4, abs=1e-20)


def test_mcc_hand_computed():
    from rosetta_cl import mean_correlation

    # |corr|: x1-y1 2/sqrt(20), x2-y1 1, x1-y2 25/sqrt(645), x2-y2 10/sqrt(516); the matching
    # x1-y2, x2-y1 wins: MCC = (1 + 25/sqrt(645)) / 2
    assert mean_correlation(X, Y) == pytest.approx((1 + 25 / np.sqrt(645)) / 2, rel=1e-12)
    assert mean_correlation(X, -4 * X[:, ::-1] + 1) == pytest.approx(1.0, rel=1e-12)
    assert mean_correlation(X, np.c_[Y, np.ones(4)]) == mean_correlation(X, Y)  # 2 of 3 matched


def test_pairwise_scores_use_one_map_and_name_columns():
    from rosetta_cl.training.results import pairwise_scores

    rng = np.random.default_rng(0)
    source = rng.normal(size=(50, 2))
    target = source @ [[2.0, 0.0], [0.0, 0.5]] + rng.normal(scale=0.1, size=(50, 2))
    groups = {"D1": np.arange(50) < 20, "D2": np.arange(50) >= 20}
    values, arrays = pairwise_scores(("lsd", "linear_map", "cka", "procrustes", "mcc"), source,
                                     target, groups)
    assert values["LSD_D1"] == pytest.approx(lsd_split(source, target, groups)["D1"])
    assert {"LSD_D2", "CKA_D1", "CKA_D2", "PROCRUSTES_D1", "MCC_D2", "map_identity_gap",
            "map_bias_norm", "map_P_eig_0"} <= set(values)
    assert set(arrays) == {"linear_map.npz"}
    # Procrustes can only do worse than the unrestricted affine map
    assert values["PROCRUSTES_D1"] > values["LSD_D1"] and values["PROCRUSTES_D2"] > values["LSD_D2"]


def test_register_metric_refuses_clashes_and_bad_kinds():
    from rosetta_cl import METRICS, MetricSpec, register_metric

    with pytest.raises(ValueError, match="already registered"):
        register_metric(MetricSpec("lsd", "pairwise", METRICS["lsd"].compute, "again"))
    with pytest.raises(ValueError, match="kind 'triple'"):
        register_metric(MetricSpec("odd", "triple", METRICS["lsd"].compute, "odd"))
    assert "odd" not in METRICS


def test_summary_normalises_each_column_by_its_metric():
    values = {"vae": {"LSD_D1": np.array([2.0, 2.0]), "CKA_D1": np.array([0.5, 0.5])},
              "rvae": {"LSD_D1": np.array([1.0, 1.0]), "CKA_D1": np.array([0.9, 0.9])}}
    table = summarize(values, "LSD", {"LSD_D1": "ratio", "CKA_D1": "difference"})
    assert table.normalized["rvae"]["LSD_D1"].median == pytest.approx(-0.5)
    assert table.normalized["rvae"]["CKA_D1"].median == pytest.approx(0.4)
    assert table.as_dict()["normalizations"] == {"LSD_D1": "ratio", "CKA_D1": "difference"}
