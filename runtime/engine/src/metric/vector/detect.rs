//! Detections over a series' window: significance-tested trends, anomaly scores (window
//! or seasonal baselines), and Holt-Winters forecast bands.

use super::{LOOKBACK, VExpr, Vector};
use crate::metric::stats;
use vigil_compiler::ir::series::{AnomalyMethod, TrendDir, TrendMethod};

impl super::Eval<'_> {
    /// `trend(x, w) is ...`: 1 where the trend test is significant at `p`.
    pub(super) fn trend(&mut self, e: &VExpr, out: &mut Vector) {
        let VExpr::Trend {
            dir,
            method,
            p,
            sel,
            range,
        } = e
        else {
            return;
        };
        let t = self.t;
        for &s in self.store.selected(*sel) {
            self.window_of(s, t - range, t);
            let tested = match method {
                TrendMethod::Regression => {
                    stats::slope_test(self.scratch).map(|(_, u, d, two)| (u, d, two))
                }
                TrendMethod::MannKendall => {
                    self.fscratch.clear();
                    self.fscratch.extend(self.scratch.iter().map(|x| x.1));
                    stats::mann_kendall_test(self.fscratch)
                }
            };
            let Some((up, down, two)) = tested else {
                continue;
            };
            let pv = match dir {
                TrendDir::Increasing => up,
                TrendDir::Decreasing => down,
                TrendDir::Changing => two,
            };
            out.push((
                self.store.series[s as usize].labels,
                f64::from(u8::from(pv < *p)),
            ));
        }
    }

    /// `anomaly(..)`: the score (or, as a condition, whether it passes `bands`).
    pub(super) fn anomaly(&mut self, e: &VExpr, out: &mut Vector) {
        let VExpr::Anomaly {
            method,
            sel,
            range,
            season,
            calendar,
            bands,
            flag,
        } = e
        else {
            return;
        };
        let t = self.t;
        for &s in self.store.selected(*sel) {
            let series = &self.store.series[s as usize];
            let labels = series.labels;
            let score = match (method, season) {
                (_, Some(_)) if calendar.is_some() => {
                    // Like with like: the same offset into the same session on the
                    // calendar's earlier open days; no score while it is closed.
                    let Some(cal) = calendar else { continue };
                    let Some((start, session)) = cal.session_at(t) else {
                        continue;
                    };
                    let Some((_, last)) = series.at_or_before(t).filter(|x| x.0 > t - LOOKBACK)
                    else {
                        continue;
                    };
                    self.fscratch.clear();
                    for earlier in cal.earlier_starts(t, *range, session) {
                        let at = earlier + (t - start);
                        if let Some((pt, pv)) = series.at_or_before(at)
                            && pt > at - LOOKBACK
                        {
                            self.fscratch.push(pv);
                        }
                    }
                    stats::robust(last, self.fscratch)
                }
                (_, Some(period)) => {
                    // Seasonal baseline: the value at the same phase of each earlier
                    // season within the window, scored robustly.
                    let Some((_, last)) = series.at_or_before(t).filter(|x| x.0 > t - LOOKBACK)
                    else {
                        continue;
                    };
                    self.fscratch.clear();
                    let mut k = 1;
                    while k * period <= *range {
                        let at = t - k * period;
                        if let Some((pt, pv)) = series.at_or_before(at)
                            && pt > at - LOOKBACK
                        {
                            self.fscratch.push(pv);
                        }
                        k += 1;
                    }
                    stats::robust(last, self.fscratch)
                }
                (m, None) => {
                    self.window_of(s, t - range, t);
                    self.fscratch.clear();
                    self.fscratch.extend(self.scratch.iter().map(|x| x.1));
                    match m {
                        AnomalyMethod::Zscore => stats::zscore(self.fscratch),
                        AnomalyMethod::Robust => {
                            let Some(last) = self.fscratch.last().copied() else {
                                continue;
                            };
                            let n = self.fscratch.len();
                            stats::robust(last, &mut self.fscratch[..n - 1])
                        }
                        AnomalyMethod::Ewma => stats::ewma_score(self.fscratch),
                        AnomalyMethod::HoltWinters => stats::holt_winters(self.fscratch, 0)
                            .and_then(|(f, sd)| {
                                self.fscratch.last().map(|l| {
                                    if sd == 0.0 {
                                        if *l == f { 0.0 } else { f64::INFINITY }
                                    } else {
                                        (l - f) / sd
                                    }
                                })
                            }),
                    }
                }
            };
            let Some(score) = score else { continue };
            let v = if *flag {
                f64::from(u8::from(score.abs() > *bands))
            } else {
                score
            };
            out.push((labels, v));
        }
    }

    /// `outside(x, forecast holt_winters(x, p))`: 1 where the last value leaves the band.
    pub(super) fn outside(&mut self, sel: usize, period: i64, bands: f64, out: &mut Vector) {
        let t = self.t;
        for &s in self.store.selected(sel) {
            self.window_of(s, t - 3 * period, t);
            if self.scratch.len() < 3 {
                continue;
            }
            let span = self.scratch[self.scratch.len() - 1].0 - self.scratch[0].0;
            let step = span / (self.scratch.len() as i64 - 1).max(1);
            let per = if step > 0 {
                (period / step) as usize
            } else {
                0
            };
            self.fscratch.clear();
            self.fscratch.extend(self.scratch.iter().map(|x| x.1));
            let Some((f, sd)) = stats::holt_winters(self.fscratch, per) else {
                continue;
            };
            let last = self.fscratch[self.fscratch.len() - 1];
            out.push((
                self.store.series[s as usize].labels,
                f64::from(u8::from((last - f).abs() > bands * sd)),
            ));
        }
    }
}
