//! An axis: where a value goes along it, linear from 0 or logarithmic between powers of
//! ten, and the grid lines worth drawing. Figures that span orders of magnitude (a round
//! trip through shared memory against one through a pipe) need the log scale to show both.

use std::fmt::Write;

use super::{PLOT_X, text};
use crate::figures::Figure;
use crate::table::number;

/// Where a value goes along an axis `length` long: linear from 0, or logarithmic between
/// the powers of ten around the values.
pub struct Scale {
    log: bool,
    low: f64,
    high: f64,
    length: f64,
    /// Between grid lines on a linear scale.
    step: f64,
}

impl Scale {
    pub fn new(figures: &[Figure], log: bool, length: f64) -> Scale {
        let max = figures
            .iter()
            .map(|f| f.max)
            .fold(f64::MIN_POSITIVE, f64::max);
        if log {
            let min = figures
                .iter()
                .map(|f| f.min)
                .fold(f64::MAX, f64::min)
                .max(1e-6);
            let low = 10f64.powf(min.log10().floor());
            let high = 10f64.powf(max.log10().ceil()).max(low * 10.0);
            let step = 0.0;
            Scale {
                log,
                low,
                high,
                length,
                step,
            }
        } else {
            // A round step (1, 2 or 5 times a power of ten) giving about five grid lines.
            let rough = max / 5.0;
            let power = 10f64.powf(rough.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .into_iter()
                .map(|m| m * power)
                .find(|&s| s >= rough);
            let step = step.unwrap_or(power * 10.0);
            let high = (max / step).ceil() * step;
            Scale {
                log,
                low: 0.0,
                high,
                length,
                step,
            }
        }
    }

    pub fn at(&self, value: f64) -> f64 {
        let share = if self.log {
            (value.max(self.low).log10() - self.low.log10())
                / (self.high.log10() - self.low.log10())
        } else {
            value / self.high
        };
        share.clamp(0.0, 1.0) * self.length
    }

    /// Powers of ten on a log scale; five steps on a linear one.
    pub fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut ticks = vec![self.low];
            while *ticks.last().unwrap() < self.high * 0.99 {
                ticks.push(ticks.last().unwrap() * 10.0);
            }
            ticks
        } else {
            let steps = (self.high / self.step).round() as usize;
            (0..=steps).map(|i| self.step * i as f64).collect()
        }
    }

    /// Vertical grid lines with their values, for horizontal bars.
    pub fn grid(&self, out: &mut String, top: f64, bottom: f64) {
        for tick in self.ticks() {
            let x = PLOT_X + self.at(tick);
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#ddd\"/>"
            );
            text(out, x, top - 4.0, 10, "middle", &number(tick));
        }
    }
}
