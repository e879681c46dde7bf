//! The figures: samples over the runs, and the table they are printed in.

use std::time::Duration;

pub(crate) const SIDES: [&str; 2] = ["tidal", "baseline"];

/// The figures of one metric over the runs.
#[derive(Default, Clone)]
pub(crate) struct Samples(Vec<f64>);

impl Samples {
    pub(crate) fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        sorted
    }

    pub(crate) fn median(&self) -> Option<f64> {
        let sorted = self.sorted();
        match sorted.len() {
            0 => None,
            n if n % 2 == 1 => Some(sorted[n / 2]),
            n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }
    }

    pub(crate) fn show(&self, unit: Show) -> String {
        let sorted = self.sorted();
        match (self.median(), sorted.first(), sorted.last()) {
            (Some(median), Some(min), Some(max)) => format!(
                "{} [{}–{}]",
                unit.show(median),
                unit.show(*min),
                unit.show(*max)
            ),
            _ => "n/a".to_owned(),
        }
    }
}

/// How a figure is shown.
#[derive(Clone, Copy)]
pub(crate) enum Show {
    Rate,
    Seconds,
    /// Seconds, shown in milliseconds.
    Millis,
    Micros,
    Count,
    KiB,
    /// CPU seconds per second: cores kept busy.
    Cores,
}

impl Show {
    fn show(self, value: f64) -> String {
        match self {
            Show::Rate if value >= 1e6 => format!("{:.2}M/s", value / 1e6),
            Show::Rate => format!("{:.1}k/s", value / 1e3),
            Show::Seconds => format!("{value:.3} s"),
            Show::Millis => format!("{:.2} ms", value * 1e3),
            Show::Micros if value < 100.0 => format!("{value:.2} µs"),
            Show::Micros => format!("{value:.0} µs"),
            Show::Count => format!("{value:.0}"),
            Show::KiB => format!("{value:.1} KiB"),
            Show::Cores => format!("{value:.2}"),
        }
    }
}

pub(crate) fn header() {
    header_with("tidal", "baseline", "ratio");
}

/// The column titles: the two sides compared, and their ratio.
pub(crate) fn header_with(first: &str, second: &str, ratio: &str) {
    println!(
        "  {:<44} {:<34} {:<34} {:<8} anchor (SwimOS 0.1.1, fixed)",
        "", first, second, ratio
    );
}

pub(crate) fn row(label: &str, samples: &[Samples; 2], unit: Show, anchor: &str) {
    let ratio = match (samples[0].median(), samples[1].median()) {
        (Some(tidal), Some(baseline)) if baseline != 0.0 => format!("{:.2}x", tidal / baseline),
        _ => "n/a".to_owned(),
    };
    println!(
        "  {:<44} {:<34} {:<34} {:<8} {}",
        label,
        samples[0].show(unit),
        samples[1].show(unit),
        ratio,
        anchor
    );
}

/// The `q` quantile of sorted durations (nearest rank).
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
