//! Trend tests, anomaly scores and window statistics against values computed independently
//! with NumPy/SciPy (fixtures/stats.py writes fixtures/stats.json).

use serde_json::Value;
use vigil_compiler::ir::series::WindowFn;
use vigil_engine::metric::{stats, window};

fn close(got: f64, want: f64, what: &str) {
    let tol = 1e-9 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tol || (got.is_nan() && want.is_nan()),
        "{what}: got {got}, expected {want}"
    );
}

/// p-values near 0 or 1 are compared absolutely (the t CDF's tails differ in the last bits).
fn close_p(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9,
        "{what}: got {got}, expected {want}"
    );
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

fn list(v: &Value) -> Vec<f64> {
    v.as_array().expect("a list").iter().map(f).collect()
}

#[test]
fn statistics_match_numpy_and_scipy() {
    let text = include_str!("fixtures/stats.json");
    let cases: Vec<Value> = serde_json::from_str(text).expect("valid fixture");
    assert!(cases.len() >= 10);
    for (i, c) in cases.iter().enumerate() {
        let ts: Vec<i64> = c["ts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_i64().unwrap())
            .collect();
        let ys = list(&c["values"]);
        let pts: Vec<(i64, f64)> = ts.iter().copied().zip(ys.iter().copied()).collect();

        let (slope, up, down, two) = stats::slope_test(&pts).expect("enough samples");
        let r = &c["regression"];
        close(slope, f(&r["slope"]), &format!("case {i} slope"));
        close_p(up, f(&r["up"]), &format!("case {i} p up"));
        close_p(down, f(&r["down"]), &format!("case {i} p down"));
        close_p(two, f(&r["two"]), &format!("case {i} p two-sided"));
        // PromQL's regression (deriv) agrees with the textbook slope.
        let end = *ts.last().unwrap();
        let mut scratch = Vec::new();
        let d = window::apply(WindowFn::Slope, 0.0, &pts, end, end + 1, &mut scratch).unwrap();
        close(d, f(&r["slope"]), &format!("case {i} deriv"));

        let (s, z, p) = stats::mann_kendall(&ys).expect("enough values");
        let mk = &c["mann_kendall"];
        assert_eq!(s, f(&mk["s"]), "case {i} MK S");
        close(z, f(&mk["z"]), &format!("case {i} MK z"));
        close_p(p, f(&mk["p"]), &format!("case {i} MK p"));

        close(
            stats::zscore(&ys).unwrap(),
            f(&c["zscore"]),
            &format!("case {i} zscore"),
        );
        close(
            window::apply(WindowFn::Quantile, 0.9, &pts, end, end + 1, &mut scratch).unwrap(),
            f(&c["quantile90"]),
            &format!("case {i} quantile"),
        );
        close(
            window::apply(WindowFn::Stddev, 0.0, &pts, end, end + 1, &mut scratch).unwrap(),
            f(&c["stddev"]),
            &format!("case {i} stddev"),
        );
        close(
            stats::ewma_score(&ys).unwrap(),
            f(&c["ewma"]),
            &format!("case {i} ewma"),
        );

        let rb = &c["robust"];
        let mut base = list(&rb["baseline"]);
        close(
            stats::robust(f(&rb["x"]), &mut base).unwrap(),
            f(&rb["score"]),
            &format!("case {i} robust"),
        );

        let hw = &c["holt_winters"];
        let period = hw["period"].as_u64().unwrap() as usize;
        let (fc, sd) = stats::holt_winters(&list(&hw["values"]), period).expect("two seasons");
        close(
            fc,
            f(&hw["forecast"]),
            &format!("case {i} holt-winters forecast"),
        );
        close(sd, f(&hw["sd"]), &format!("case {i} holt-winters sd"));
    }
}
