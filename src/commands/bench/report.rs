//! What a benchmark measured: rows of named figures, printed as a table and written as JSON.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// The result of one benchmark: its figures and what it was run with.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub benchmark: &'static str,
    pub parameters: serde_json::Value,
    pub figures: Vec<Figure>,
}

impl Report {
    pub fn new(benchmark: &'static str, parameters: serde_json::Value) -> Self {
        Self {
            benchmark,
            parameters,
            figures: Vec::new(),
        }
    }

    pub fn add(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.figures.push(Figure {
            name: name.into(),
            value,
            unit,
        });
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value)
    }

    pub fn print(&self) {
        println!("\n{} ({})", self.benchmark, self.parameters);
        let width = self.figures.iter().map(|f| f.name.len()).max().unwrap_or(0);
        for f in &self.figures {
            println!(
                "  {:<width$}  {:>14}  {}",
                f.name,
                format_value(f.value),
                f.unit
            );
        }
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.json", self.benchmark));
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }
}

fn format_value(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// Latencies of a run, for its percentiles.
#[derive(Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, latency: Duration) {
        self.0.push(latency);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Adds p50, p99 and p99.9 in milliseconds, named after `prefix`.
    pub fn report(&mut self, report: &mut Report, prefix: &str) {
        self.0.sort_unstable();
        for (label, q) in [("p50", 0.50), ("p99", 0.99), ("p99.9", 0.999)] {
            report.add(format!("{prefix} {label}"), self.quantile_ms(q), "ms");
        }
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.0.len() as f64 * q).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1].as_secs_f64() * 1000.0
    }
}
