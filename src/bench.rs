//! `nightshift bench`: replay throughput and per-incident latency through rules → evidence →
//! diagnosis → plan → policy, measured in one run (ratios, not timed assertions).

use std::fmt::Write as _;
use std::time::Instant;

pub mod approve;
pub mod detect;
pub mod pages;
pub mod webhook;

use crate::domain::policy::Policy;
use crate::replay::{self, Case};
use crate::rules::RuleSet;

/// Runs every case `iterations` times and returns a table.
pub fn run(cases: &[Case], rules: &RuleSet, policy: &Policy, iterations: usize) -> String {
    let mut samples: Vec<f64> = Vec::with_capacity(cases.len() * iterations);
    let started = Instant::now();
    let mut incidents = 0usize;
    for _ in 0..iterations.max(1) {
        for case in cases {
            let t = Instant::now();
            let outcome = replay::run(case, rules, policy);
            samples.push(t.elapsed().as_secs_f64() * 1e3);
            incidents += usize::from(outcome.incident.is_some());
        }
    }
    let total = started.elapsed().as_secs_f64();
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&samples, p);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "replay bench: {} cases × {} iterations ({incidents} incidents)",
        cases.len(),
        iterations.max(1)
    );
    let _ = writeln!(out, "| metric | value |\n|---|---|");
    let _ = writeln!(
        out,
        "| throughput | {:.0} incidents/s |",
        samples.len() as f64 / total.max(1e-9)
    );
    let _ = writeln!(out, "| p50 per incident | {:.3} ms |", pct(0.50));
    let _ = writeln!(out, "| p99 per incident | {:.3} ms |", pct(0.99));
    let _ = writeln!(
        out,
        "| max per incident | {:.3} ms |",
        samples.last().copied().unwrap_or(0.0)
    );
    let _ = writeln!(
        out,
        "| target | p99 < 5 ms: {} |",
        if pct(0.99) < 5.0 { "met" } else { "NOT met" }
    );
    out
}

/// The `p` quantile (0.0–1.0) of `sorted` samples, nearest rank; 0 for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}
