//! Filling a table: every figure still to measure, with where it goes, measured together in
//! rounds (figures.rs says why rounds); and the second figures that the same runs recorded on
//! the side, such as interrupts or lost updates.

use std::cell::RefCell;

use common::Result;
use l16_fastest_ipc::figures::{Figure, Measure, Plan};
use l16_fastest_ipc::table::Table;

/// The figures of one table still to measure: where each goes, and how to take it once.
#[derive(Default)]
pub struct Cells<'a> {
    places: Vec<(usize, usize)>,
    measures: Vec<Measure<'a>>,
}

impl<'a> Cells<'a> {
    pub fn add(&mut self, row: usize, column: usize, measure: impl FnMut() -> Result<f64> + 'a) {
        self.places.push((row, column));
        self.measures.push(Box::new(measure));
    }

    /// Measures them all in rounds (figures.rs) and puts each figure in its place.
    pub fn measure(mut self, plan: Plan, table: &mut Table) -> Result<()> {
        let figures = plan.rounds(&mut self.measures)?;
        for ((row, column), figure) in self.places.into_iter().zip(figures) {
            table.rows[row].cells[column] = Some(figure);
        }
        Ok(())
    }
}

/// A second figure that the same runs recorded on the side (interrupts, lost updates):
/// every value but the warm-up run's, which is the first.
pub fn recorded(values: &RefCell<Vec<f64>>, plan: Plan) -> Option<Figure> {
    let values = values.borrow();
    let measured = values.get(usize::from(plan.warm_up)..)?;
    (!measured.is_empty()).then(|| Figure::of(measured))
}
