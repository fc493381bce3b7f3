//! Each rule's recent condition values for `GET /api/v1/rules/{id}/history` (the dashboard
//! charts them): per metric rule and label set, the value of every evaluation of the last
//! hours; per event rule, its matching events per minute. Bounded by age and by label sets
//! per rule (those past the bound are counted, not kept). Pure data clocked by the engine's
//! evaluations; kept in memory only (a restart keeps what the write-ahead log replays).

use serde::Deserialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use vigil_engine::Engine;
use vigil_engine::engine::Observation;
use vigil_engine::labels::LabelId;
use vigil_vocab::LabelSet;

/// `[history]` in `vigil.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// How far back values are kept (a duration; `0s` turns history off).
    pub keep: String,
    /// Label sets kept per rule; values of further ones are counted in `dropped_values`.
    pub series_per_rule: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            keep: "3h".into(),
            series_per_rule: 50,
        }
    }
}

/// Event rules' matches are counted per minute.
const BUCKET: i64 = 60_000;

#[derive(Debug, Default)]
pub struct History {
    /// ms; 0 keeps nothing.
    keep: i64,
    per_rule: usize,
    rules: HashMap<Arc<str>, Trail>,
    /// Label sets by the engine's ids (cleared when the engine is rebuilt: ids change).
    names: HashMap<LabelId, Arc<LabelSet>>,
    /// Each event rule's match count when last read, by position in the rule set (`None`:
    /// not read yet).
    matches: Vec<Option<u64>>,
}

/// One rule's kept values.
#[derive(Debug, Default)]
pub struct Trail {
    pub series: Vec<Line>,
    /// Values not kept because their label set would have been one past `series_per_rule`.
    pub dropped_values: u64,
}

#[derive(Debug)]
pub struct Line {
    pub labels: Arc<LabelSet>,
    /// `(ms, value, condition held)`, oldest first.
    pub points: VecDeque<(i64, f64, bool)>,
}

impl History {
    pub fn new(keep_ms: i64, per_rule: usize) -> History {
        History {
            keep: keep_ms.max(0),
            per_rule,
            ..History::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.keep > 0
    }

    /// The engine was rebuilt (reload, restore): its label ids mean other sets now, and its
    /// match counters start again. Rules no longer in `ids` are forgotten.
    pub fn rebuilt(&mut self, ids: &[Arc<str>]) {
        self.names.clear();
        self.matches.clear();
        self.rules.retain(|r, _| ids.contains(r));
    }

    /// Takes the engine's observations and event rules' new matches (counted in the minute of
    /// `clock`), and forgets what is older than the newest value minus `keep`.
    pub fn take(&mut self, engine: &mut Engine, clock: i64) {
        if !self.enabled() {
            return;
        }
        for o in engine.take_observed() {
            self.observe(engine, o);
        }
        // Event rules only, read in place: this runs after every batch applied.
        for (index, rule, stat) in engine.events.rule_stats() {
            if self.matches.len() <= index {
                self.matches.resize(index + 1, None);
            }
            // The first read's count so far is not this minute's.
            let before = self.matches[index].replace(stat.count);
            if let Some(before) = before.filter(|&b| stat.count > b) {
                let bucket = clock.div_euclid(BUCKET) * BUCKET;
                self.count(&rule, bucket, (stat.count - before) as f64);
            }
        }
    }

    fn observe(&mut self, engine: &Engine, o: Observation) {
        let labels = self
            .names
            .entry(o.labels)
            .or_insert_with(|| Arc::new(engine.labels.to_map(o.labels)))
            .clone();
        let (keep, per_rule) = (self.keep, self.per_rule);
        let trail = self.rules.entry(o.rule).or_default();
        let Some(line) = trail.line(&labels, per_rule) else {
            return;
        };
        line.points.push_back((o.t, o.value, o.holds));
        trim(&mut line.points, o.t - keep);
    }

    fn count(&mut self, rule: &Arc<str>, bucket: i64, n: f64) {
        let keep = self.keep;
        let trail = self.rules.entry(rule.clone()).or_default();
        let empty = Arc::new(LabelSet::new());
        let Some(line) = trail.line(&empty, 1) else {
            return;
        };
        match line.points.back_mut() {
            Some(p) if p.0 == bucket => p.1 += n,
            _ => line.points.push_back((bucket, n, true)),
        }
        trim(&mut line.points, bucket - keep);
    }
}

impl Trail {
    /// The line of `labels`, made when there is room for it.
    fn line(&mut self, labels: &Arc<LabelSet>, per_rule: usize) -> Option<&mut Line> {
        let i = match self
            .series
            .binary_search_by(|l| l.labels.as_ref().cmp(labels.as_ref()))
        {
            Ok(i) => i,
            Err(_) => {
                // Lines whose values all aged out make room first.
                self.series.retain(|l| !l.points.is_empty());
                if self.series.len() >= per_rule {
                    self.dropped_values += 1;
                    return None;
                }
                let i = self
                    .series
                    .partition_point(|l| l.labels.as_ref() < labels.as_ref());
                let labels = labels.clone();
                let points = VecDeque::new();
                self.series.insert(i, Line { labels, points });
                i
            }
        };
        Some(&mut self.series[i])
    }
}

fn trim(points: &mut VecDeque<(i64, f64, bool)>, before: i64) {
    while points.front().is_some_and(|p| p.0 < before) {
        points.pop_front();
    }
}

/// One rule's kept values as the API answers them: points are `[seconds, value, held]`
/// (value `null` where the condition had none; event rules: matches in the minute).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chart {
    pub rule: String,
    pub kind: &'static str,
    pub keep_seconds: f64,
    pub series: Vec<ChartLine>,
    pub dropped_values: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChartLine {
    pub labels: LabelSet,
    pub points: Vec<(f64, Option<f64>, bool)>,
}

impl History {
    /// Rule `rule`'s values at or after `since` (ms), or all kept.
    pub fn chart(&self, rule: &str, kind: &'static str, since: Option<i64>) -> Chart {
        let trail = self.rules.get(rule);
        let from = since.unwrap_or(i64::MIN);
        let series = trail
            .map(|t| {
                t.series
                    .iter()
                    .map(|l| ChartLine {
                        labels: (*l.labels).clone(),
                        points: l
                            .points
                            .iter()
                            .filter(|p| p.0 >= from)
                            .map(|&(t, v, held)| {
                                (t as f64 / 1000.0, v.is_finite().then_some(v), held)
                            })
                            .collect(),
                    })
                    .filter(|l| !l.points.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Chart {
            rule: rule.to_string(),
            kind,
            keep_seconds: self.keep as f64 / 1000.0,
            series,
            dropped_values: trail.map_or(0, |t| t.dropped_values),
        }
    }
}
