//! The metric side: the series store, window functions (sliding where possible; long ones
//! from per-series buckets), series slots
//! as instant vectors with aggregation and vector matching, statistics for trend and anomaly
//! tests, and the joins that turn a program's slots into rows.

pub mod incremental;
pub mod rollup;
pub mod rows;
pub mod stats;
pub mod store;
pub mod vector;
pub mod window;
