//! Figures: each the median of several runs, with the fastest and slowest beside it. The
//! tables they fill are table.rs; the chart, chart.rs.
//!
//! Why a median of several runs after a warm-up: the first run pays for page faults, cold
//! caches and CPUs waking from idle, and any run can be slowed by another program (or, on
//! a virtual machine, by another machine) taking the CPU. The median ignores a few such
//! runs; min and max show how much they moved. Why ratios: absolute figures move with the
//! machine, its clock and its load; two figures from the same run moved together.

use common::Result;

/// One measured quantity over several runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// How many times to measure each figure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub runs: usize,
    /// Run once more first, and throw that run away.
    pub warm_up: bool,
}

/// One cell's measurement: called once per round, it returns that run's value.
pub type Measure<'a> = Box<dyn FnMut() -> Result<f64> + 'a>;

impl Plan {
    // ANCHOR: rounds
    /// Measures every cell once per round (after a warm-up round, if the plan has one) and
    /// returns each cell's figure. Rounds, rather than all runs of one cell and then all of
    /// the next: whatever changes in the machine meanwhile (another program wakes up, the
    /// hypervisor moves a virtual CPU to another core) then falls on every cell alike, and
    /// the ratios between cells stay true.
    pub fn rounds(&self, cells: &mut [Measure]) -> Result<Vec<Figure>> {
        if self.warm_up {
            for measure in cells.iter_mut() {
                measure()?;
            }
        }
        let mut values = vec![Vec::new(); cells.len()];
        for _ in 0..self.runs.max(1) {
            for (measure, values) in cells.iter_mut().zip(&mut values) {
                values.push(measure()?);
            }
        }
        Ok(values.iter().map(|values| Figure::of(values)).collect())
    }
    // ANCHOR_END: rounds
}

impl Figure {
    /// The median, min and max of `values` (at least one).
    pub fn of(values: &[f64]) -> Figure {
        let mut values = values.to_vec();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median = if values.len() % 2 == 1 {
            values[middle]
        } else {
            (values[middle - 1] + values[middle]) / 2.0
        };
        Figure {
            median,
            min: values[0],
            max: values[values.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_and_an_even_number_of_runs() {
        let figure = Figure::of(&[5.0, 1.0, 9.0, 3.0, 7.0]);
        let (median, min, max) = (5.0, 1.0, 9.0);
        assert_eq!(figure, Figure { median, min, max });
        assert_eq!(Figure::of(&[4.0, 2.0]).median, 3.0);
    }

    #[test]
    fn rounds_measure_every_cell_once_per_round_after_a_warm_up() {
        let calls = std::cell::RefCell::new(Vec::new());
        let cell = |name: char| -> Measure {
            let calls = &calls;
            Box::new(move || {
                calls.borrow_mut().push(name);
                Ok(calls.borrow().len() as f64) // warm-up values are 1 and 2: never seen
            })
        };
        let plan = Plan {
            runs: 3,
            warm_up: true,
        };
        let figures = plan.rounds(&mut [cell('a'), cell('b')]).unwrap();
        assert_eq!(calls.borrow().iter().collect::<String>(), "abababab");
        assert_eq!(
            (figures[0].min, figures[0].median, figures[0].max),
            (3.0, 5.0, 7.0)
        );
        assert_eq!(
            (figures[1].min, figures[1].median, figures[1].max),
            (4.0, 6.0, 8.0)
        );
    }
}
