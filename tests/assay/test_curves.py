"""Standard-curve fitting: R parity, falling curves, garbage, xPONENT form."""

from __future__ import annotations

import numpy as np
import pytest

from msclab.assay.curves import CurveFit, fit_curve

# R `datasets::DNase`, Run == 1 (Davidian & Giltinan 1995, section 5.2.4), as
# listed in vincentarelbundock/Rdatasets csv/datasets/DNase.csv.
DNASE1_CONC = np.repeat([0.04882812, 0.1953125, 0.390625, 0.78125, 1.5625, 3.125, 6.25, 12.5], 2)
DNASE1_DENSITY = np.array([
    0.017, 0.018, 0.121, 0.124, 0.206, 0.215, 0.377, 0.374,
    0.614, 0.609, 1.019, 1.001, 1.334, 1.364, 1.730, 1.710,
])
# R's own output of the ?DNase example
#   nls(density ~ SSfpl(log(conc), A, B, xmid, scal), data = DNase, subset = Run == 1)
# as saved in R's tests/Examples/datasets-Ex.Rout.save (wch/r-source):
#   A -0.007897 (SE 0.017200), B 2.377239 (0.109516), xmid 1.507403 (0.102080),
#   scal 1.062579 (0.056996); residual standard error 0.01981 on 12 df.
R_SSFPL = {"A": -0.007897, "B": 2.377239, "xmid": 1.507403, "scal": 1.062579}
R_SE = {"A": 0.017200, "B": 0.109516, "xmid": 0.102080}


def _sig3(a: float, b: float) -> bool:
    return f"{a:.3g}" == f"{b:.3g}"


def test_dnase_4pl_matches_r_ssfpl_to_3_significant_figures():
    fit = fit_curve(DNASE1_CONC, DNASE1_DENSITY, "4pl", "none")
    assert fit.ok
    a, b, c, d, f = fit.theta
    ours = {"A": a, "B": b, "xmid": c, "scal": 1.0 / d}
    for name, ref in R_SSFPL.items():
        assert _sig3(ours[name], ref), (name, ours[name], ref)
    se = np.sqrt(np.diag(fit.covariance))
    for k, name in enumerate(("A", "B", "xmid")):
        assert _sig3(se[k], R_SE[name])
    assert _sig3(fit.sigma, 0.01981)
    assert f == 1.0 and fit.dof == 12


def test_falling_curve_fits_and_inverts():
    truth = np.array([2.5, 0.08, np.log(150.0), 1.0, 1.0])
    ref = CurveFit("4pl", "none", truth, ok=True)
    x = np.repeat(5000.0 / 3.0 ** np.arange(8), 2)
    rng = np.random.default_rng(3)
    y = ref.predict(x) * (1 + 0.02 * rng.standard_normal(x.size))
    fit = fit_curve(x, y, "4pl", "1/y^2")
    assert fit.ok and not fit.rising
    probe = np.array([20.0, 150.0, 1000.0])
    back = fit.inverse(ref.predict(probe))
    assert np.all(np.abs(back / probe - 1) < 0.1)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("model", ["4pl", "5pl"])
def test_garbage_returns_fit_failed_without_exception(seed, model):
    rng = np.random.default_rng(seed)
    x = np.repeat(1000.0 / 2.0 ** np.arange(8), 2)
    fit = fit_curve(x, rng.lognormal(5, 0.3, x.size), model, "1/y^2")
    assert not fit.ok
    assert "no dose-response" in fit.reason


@pytest.mark.parametrize(
    ("x", "y", "words"),
    [
        (np.ones(8), np.arange(8.0), "usable standard levels"),
        (np.arange(1.0, 9.0), np.full(8, 3.0), "no signal range"),
        (np.arange(1.0, 9.0), np.full(8, np.nan), "usable standard levels"),
        ([], [], "usable standard levels"),
    ],
)
def test_degenerate_input_is_a_flagged_failure(x, y, words):
    fit = fit_curve(x, y, "5pl")
    assert not fit.ok and words in fit.reason
    assert np.all(np.isnan(fit.inverse(np.array([1.0]))))


def test_unknown_model_or_weighting_fails_with_reason():
    assert "unknown model" in fit_curve([1, 2], [1, 2], "6pl").reason
    assert "unknown weighting" in fit_curve([1, 2], [1, 2], "4pl", "1/x").reason


def test_xponent_coefficients_round_trip():
    # xPONENT IL10 "Logistic 5P" coefficients of the pone.0187901 S1 export.
    curve = CurveFit.from_xponent(0.816535778517361, 24472.230728556, 4061.9838600788,
                                  -0.900736841705853, 1.13145248051074)
    x = np.array([1.0, 100.0, 20850.0])
    a, b, c, d, f = curve.to_dict().values()
    expected = a + (b - a) / (1 + (x / c) ** -d) ** f
    assert np.allclose(curve.predict(x), expected, rtol=1e-12)
    assert np.allclose(curve.inverse(curve.predict(x)), x, rtol=1e-9)
    assert np.isnan(curve.inverse(np.array([-5.0, 1e6]))).all()


def test_params_give_c_in_concentration_units_as_curves_csv_does(repo_root):
    # One unit everywhere: CurveFit.params["C"] (notebook) == curves.csv's C == exp(ln C) of the fit.
    import json

    import msclab

    export = msclab.io.read_assay(repo_root / "example_data" / "elisa" / "ifng_plate1.csv",
                                  layout=repo_root / "example_data" / "elisa" / "ifng_plate1_layout.csv",
                                  analyte="IFN-g")
    result = msclab.assay.quantify(export)
    cal = next(iter(result.calibrations.values()))
    assert cal.fit.ok
    table = json.loads(result.curves["params"].iloc[0])
    assert set(cal.fit.params) == {"A", "B", "C", "D", "F"}
    assert cal.fit.params["C"] == pytest.approx(table["C"], rel=1e-12)
    assert cal.fit.params["C"] == pytest.approx(np.exp(cal.fit.theta[2]), rel=1e-12)
    # C is a concentration: inside the standards' range for this kit (15.6-1000 pg/mL), not its log.
    assert 15.6 < cal.fit.params["C"] < 1000
    assert f"C={cal.fit.params['C']:.4g}" in repr(cal.fit)
