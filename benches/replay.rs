//! Metric replay speed, all in one run so the ratios are fair: 1,000 series x 1,440 samples at
//! 1m (800 `cpu` gauges, 100 `reqs_total` and 100 `errs_total` counters) with the 10 rules of
//! benches/replay.rules evaluated every minute, by
//!   (a) the engine with the JIT and (b) with the interpreter (ingest and evaluation, as
//!       `vigil replay` runs them, without JSON parsing),
//!   (c) ingest alone (the same samples into the store, no evaluation), so evaluation alone is
//!       (a) - (c),
//!   (d) a hand-written Rust program computing the same 10 conditions with sliding sums over
//!       arrays (no labels, no state machine beyond `for` counters): the practical limit.
//!
//! `vigil replay --stats` reports the same run from JSON lines, and
//! benches/replay_scenario.py writes the scenario for it and for `promtool test rules`.

use divan::Bencher;
use std::sync::LazyLock;
use vigil_compiler::eval::{Engine as Backend, RuleSet};
use vigil_engine::{Config, Engine};

fn main() {
    divan::main();
}

const STEPS: usize = 1_440;
const CPU: usize = 800;
const COUNTERS: usize = 100;
const MIN: i64 = 60_000;

struct Data {
    /// `cpu` per series per minute.
    cpu: Vec<Vec<f64>>,
    reqs: Vec<Vec<f64>>,
    errs: Vec<Vec<f64>>,
    cpu_labels: Vec<[(String, String); 2]>,
    ctr_labels: Vec<[(String, String); 2]>,
}

/// xorshift64*: deterministic data.
fn rng(state: &mut u64) -> f64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

static DATA: LazyLock<Data> = LazyLock::new(|| {
    let mut s = 0x1234_5678_9ABC_DEF1u64;
    let mut cpu = Vec::new();
    for _ in 0..CPU {
        let mut v = 50.0;
        let mut vals = Vec::with_capacity(STEPS);
        for _ in 0..STEPS {
            v = (v + (rng(&mut s) - 0.5) * 12.0).clamp(0.0, 100.0);
            if rng(&mut s) < 0.002 {
                v = 99.0;
            }
            vals.push((v * 100.0).round() / 100.0);
        }
        cpu.push(vals);
    }
    let counter = |s: &mut u64, rate: f64| {
        let mut v = 0.0;
        (0..STEPS)
            .map(|_| {
                v += (rng(s) * 2.0 * rate).round();
                v
            })
            .collect::<Vec<f64>>()
    };
    let reqs: Vec<Vec<f64>> = (0..COUNTERS).map(|_| counter(&mut s, 300.0)).collect();
    let errs: Vec<Vec<f64>> = (0..COUNTERS)
        .map(|i| counter(&mut s, if i % 17 == 0 { 30.0 } else { 6.0 }))
        .collect();
    let pair = |svc: usize, host: usize| {
        [
            ("host".to_string(), format!("h{host:03}")),
            ("svc".to_string(), format!("s{svc}")),
        ]
    };
    Data {
        cpu,
        reqs,
        errs,
        cpu_labels: (0..CPU).map(|i| pair(i % 10, i)).collect(),
        ctr_labels: (0..COUNTERS).map(|i| pair(i % 10, i)).collect(),
    }
});

fn engine(backend: Backend) -> Engine {
    let src = include_str!("replay.rules");
    let checked = vigil_compiler::check_source("replay.rules", src, None);
    assert_eq!(checked.errors(), 0);
    let rules = RuleSet::from_checked(&checked, backend).expect("lowers");
    Engine::new(
        rules,
        Config {
            interval: MIN,
            ..Config::default()
        },
    )
    .expect("runs")
}

fn refs(l: &[(String, String); 2]) -> [(&str, &str); 2] {
    [(&l[0].0, &l[0].1), (&l[1].0, &l[1].1)]
}

/// Feeds every sample minute by minute; evaluates when `evaluate`. Returns transitions.
fn replay(e: &mut Engine, evaluate: bool) -> usize {
    let d = &*DATA;
    let mut out = Vec::new();
    let mut n = 0;
    let cpu_l: Vec<[(&str, &str); 2]> = d.cpu_labels.iter().map(refs).collect();
    let ctr_l: Vec<[(&str, &str); 2]> = d.ctr_labels.iter().map(refs).collect();
    for m in 0..STEPS {
        let t = m as i64 * MIN;
        if evaluate {
            e.advance(t - 1, &mut out);
            n += out.len();
            out.clear();
        }
        for (i, s) in d.cpu.iter().enumerate() {
            e.ingest("cpu", &cpu_l[i], t, s[m]);
        }
        for (i, l) in ctr_l.iter().enumerate() {
            e.ingest("reqs_total", l, t, d.reqs[i][m]);
            e.ingest("errs_total", l, t, d.errs[i][m]);
        }
    }
    if evaluate {
        e.finish((STEPS as i64 - 1) * MIN, &mut out);
        n += out.len();
    }
    n
}

#[divan::bench(sample_count = 3)]
fn engine_jit(b: Bencher) {
    LazyLock::force(&DATA);
    b.with_inputs(|| engine(Backend::Jit))
        .bench_local_refs(|e| replay(e, true));
}

#[divan::bench(sample_count = 3)]
fn engine_interp(b: Bencher) {
    LazyLock::force(&DATA);
    b.with_inputs(|| engine(Backend::Interp))
        .bench_local_refs(|e| replay(e, true));
}

#[divan::bench(sample_count = 3)]
fn ingest_only(b: Bencher) {
    LazyLock::force(&DATA);
    b.with_inputs(|| engine(Backend::Jit))
        .bench_local_refs(|e| replay(e, false));
}

/// Running sums over a fixed window of one series: sum, sum of squares, and the regression
/// sums (x in minutes from the window start is implicit via sum of i*v).
struct Sliding {
    w: usize,
    sum: f64,
    sq: f64,
}

impl Sliding {
    fn push(&mut self, vals: &[f64], m: usize) {
        let v = vals[m];
        self.sum += v;
        self.sq += v * v;
        if m >= self.w {
            let o = vals[m - self.w];
            self.sum -= o;
            self.sq -= o * o;
        }
    }
    fn n(&self, m: usize) -> f64 {
        (m + 1).min(self.w) as f64
    }
}

/// The 10 rules by hand: per series sliding sums, small scans for min/max and regression,
/// `for` as counters. Returns the number of (rule, series) conditions that held, so nothing is
/// optimised away.
fn hand_written() -> usize {
    let d = &*DATA;
    let mut held = 0usize;
    let mut for_hot = vec![0usize; CPU];
    let mut for_z = vec![0usize; CPU];
    let mut for_ratio = vec![0usize; COUNTERS];
    let mut avg5: Vec<Sliding> = (0..CPU)
        .map(|_| Sliding {
            w: 5,
            sum: 0.0,
            sq: 0.0,
        })
        .collect();
    let mut sd10: Vec<Sliding> = (0..CPU)
        .map(|_| Sliding {
            w: 10,
            sum: 0.0,
            sq: 0.0,
        })
        .collect();
    let mut z60: Vec<Sliding> = (0..CPU)
        .map(|_| Sliding {
            w: 60,
            sum: 0.0,
            sq: 0.0,
        })
        .collect();
    let regression = |vals: &[f64], m: usize, w: usize| {
        let lo = (m + 1).saturating_sub(w);
        let n = (m + 1 - lo) as f64;
        let (mut sx, mut sy, mut sxy, mut sxx) = (0.0, 0.0, 0.0, 0.0);
        for (k, v) in vals[lo..=m].iter().enumerate() {
            let x = k as f64 * 60.0;
            sx += x;
            sy += v;
            sxy += x * v;
            sxx += x * x;
        }
        let slope = (sxy - sx * sy / n) / (sxx - sx * sx / n);
        let icept_at_end = sy / n - slope * sx / n + slope * (n - 1.0) * 60.0;
        (slope, icept_at_end)
    };
    for m in 0..STEPS {
        for (i, vals) in d.cpu.iter().enumerate() {
            let v = vals[m];
            for_hot[i] = if v > 90.0 { for_hot[i] + 1 } else { 0 };
            held += usize::from(for_hot[i] > 5);
            avg5[i].push(vals, m);
            held += usize::from(avg5[i].sum / avg5[i].n(m) > 80.0);
            let lo10 = (m + 1).saturating_sub(10);
            held += usize::from(vals[lo10..=m].iter().copied().fold(f64::MIN, f64::max) > 97.0);
            let lo5 = (m + 1).saturating_sub(5);
            held += usize::from(vals[lo5..=m].iter().copied().fold(f64::MAX, f64::min) < 2.0);
            if m >= 1 {
                let (slope, _) = regression(vals, m, 15);
                held += usize::from(slope > 0.05);
                let (slope, icept) = regression(vals, m, 30);
                held += usize::from(slope * 3600.0 + icept > 100.0);
            }
            sd10[i].push(vals, m);
            let n = sd10[i].n(m);
            let mean = sd10[i].sum / n;
            held += usize::from((sd10[i].sq / n - mean * mean).max(0.0).sqrt() > 25.0);
            z60[i].push(vals, m);
            let n = z60[i].n(m);
            let mean = z60[i].sum / n;
            let sd = (z60[i].sq / n - mean * mean).max(0.0).sqrt();
            let z = if sd == 0.0 { 0.0 } else { (v - mean) / sd };
            for_z[i] = if z > 3.0 { for_z[i] + 1 } else { 0 };
            held += usize::from(for_z[i] > 5);
        }
        let mut by_svc = [0.0f64; 10];
        for i in 0..COUNTERS {
            if m < 1 {
                continue;
            }
            let lo = m.saturating_sub(4);
            let dt = ((m - lo) * 60) as f64;
            let r = (d.reqs[i][m] - d.reqs[i][lo]) / dt;
            let e = (d.errs[i][m] - d.errs[i][lo]) / dt;
            for_ratio[i] = if e / r > 0.05 { for_ratio[i] + 1 } else { 0 };
            held += usize::from(for_ratio[i] > 2);
            by_svc[i % 10] += r;
        }
        held += by_svc.iter().filter(|r| **r > 20.0).count();
    }
    held
}

#[divan::bench(sample_count = 3)]
fn hand_written_sliding_sums(b: Bencher) {
    LazyLock::force(&DATA);
    b.bench(hand_written);
}
