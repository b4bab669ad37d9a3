//! Tests of the race harness itself (`race`, `Shared`), and of the facts lesson 08's output
//! shows redacted (lost updates, an exact atomic count, torn audits). They fork, so they
//! run in this file's own single-threaded `main`.
//!
//! The checks that need a race to happen skip, saying so, where this process may use one
//! CPU only: there the racers take turns and rarely overlap. Elsewhere they race again
//! until the effect shows (`race_until`): on a busy machine one race may not overlap.

use std::sync::atomic::{AtomicU32, Ordering};

use l08_races::{MAX_WORKERS, Shared, race, race_until, usable_cpus};

fn main() -> std::process::ExitCode {
    common::run_tests!(
        every_worker_runs_once_with_its_own_index,
        pinned_workers_are_spread_over_the_usable_cpus,
        a_failing_worker_fails_the_race,
        a_worker_that_returns_an_error_fails_the_race,
        too_many_workers_is_bad_usage,
        without_a_lock_two_pinned_processes_lose_updates,
        without_a_lock_the_lessons_four_pinned_processes_lose_updates,
        fetch_add_loses_no_update,
        per_field_atomics_keep_every_update_but_an_auditor_sees_the_sum_broken,
    )
}

fn every_worker_runs_once_with_its_own_index() {
    let runs = Shared::<[AtomicU32; 8]>::new().unwrap();
    // SAFETY: zeroed atomics in a live mapping, used only through atomic operations.
    let runs = unsafe { &*runs.as_ptr() };
    race(8, false, |index| {
        runs[index].fetch_add(1, Ordering::Relaxed);
        Ok(())
    })
    .unwrap();
    let counts: Vec<u32> = runs.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    assert_eq!(counts, [1; 8], "each index once");
}

fn pinned_workers_are_spread_over_the_usable_cpus() {
    let cpus = usable_cpus().unwrap();
    let finish = race(3, true, |_| Ok(())).unwrap();
    let pinned = finish.cpus.expect("pinned");
    assert_eq!(pinned.len(), 3);
    for (index, cpu) in pinned.iter().enumerate() {
        assert_eq!(*cpu, cpus[index % cpus.len()], "worker {index}");
    }
}

fn a_failing_worker_fails_the_race() {
    let err = race(3, false, |index| {
        if index == 1 {
            std::panic::set_hook(Box::new(|_| {}));
            panic!("worker 1 fails on purpose");
        }
        Ok(())
    })
    .unwrap_err();
    assert!(err.to_string().contains("worker 1"), "{err}");
}

fn a_worker_that_returns_an_error_fails_the_race() {
    let err = race(3, false, |index| match index {
        2 => Err(common::Error::Failed("no lock for worker 2".into())),
        _ => Ok(()),
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "worker 2 exited with status 1");
}

fn too_many_workers_is_bad_usage() {
    let err = race(MAX_WORKERS + 1, false, |_| Ok(())).unwrap_err();
    assert_eq!(err.exit_status(), 2, "{err}");
}

fn without_a_lock_two_pinned_processes_lose_updates() {
    if one_cpu_only() {
        return;
    }
    let ((count, _), races) = race_until(
        || l08_races::count_under_lock(&l08_races::NoLock, 2, 200_000, true),
        |&(count, _)| count < 400_000,
    )
    .unwrap();
    assert!(
        count < 400_000,
        "two pinned processes, no lock, and not one update lost in {races} races"
    );
}

/// True (after saying so) if this process may use one CPU only.
fn one_cpu_only() -> bool {
    let one = usable_cpus().unwrap().len() < 2;
    if one {
        println!(
            "  (skipped: this process may use one CPU only, where racers take turns and \
             overlap only when the scheduler preempts one mid-update, so a race may not show)"
        );
    }
    one
}

fn without_a_lock_the_lessons_four_pinned_processes_lose_updates() {
    if one_cpu_only() {
        return;
    }
    // What `cargo run -p l08-races` does in step 1, with its defaults.
    let ((count, _), races) = race_until(
        || l08_races::count_under_lock(&l08_races::NoLock, 4, 5_000, true),
        |&(count, _)| count < 20_000,
    )
    .unwrap();
    assert!(
        count < 20_000,
        "four pinned processes, no lock, and not one update lost in {races} races"
    );
}

fn fetch_add_loses_no_update() {
    let (count, _) = l08_races::count_with_fetch_add(4, 20_000, true).unwrap();
    assert_eq!(
        count, 80_000,
        "fetch_add is one indivisible read-modify-write"
    );
}

fn per_field_atomics_keep_every_update_but_an_auditor_sees_the_sum_broken() {
    let (audited, races) = race_until(
        || l08_races::transfer_and_audit(4, 5_000, true),
        |audited| audited.torn > 0,
    )
    .unwrap();
    assert_eq!(
        (audited.a, audited.b),
        (0, 20_000),
        "every transfer completes: no update to either balance is lost"
    );
    assert!(audited.audits >= 1, "the auditor looked at least once");
    if one_cpu_only() {
        return;
    }
    assert!(
        audited.torn > 0,
        "4 processes moved money in two atomic steps while an auditor looked ({} times in \
         the last of {races} races), and it never caught one half done",
        audited.audits
    );
}
