//! Checks for lesson 05's exercise. `cargo test -p l05-sysv-segments` runs them against
//! src/solution.rs; `cargo exercise l05-sysv-segments` against your src/exercise.rs.
//! They fork, so they run in this file's own single-threaded `main`.
//!
//! Whatever your code leaves behind, these checks remove (and tell you), so a failing run
//! leaves no segment on the machine.

use std::process::ExitCode;

use common::{Exit, fork_child};
use l05_sysv_segments::exercise::run_in_children;
use l05_sysv_segments::{ProcShmLine, proc_sysvipc_shm, remove, segment_stat};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, getpid};

fn main() -> ExitCode {
    let verdict = common::run_tests!(
        each_childs_value_arrives_in_its_slot,
        every_child_is_a_process_of_its_own,
        large_values_arrive_whole,
        no_children_and_empty_values_are_fine,
        the_values_travel_through_a_system_v_segment,
        the_segment_is_marked_before_the_children_run,
        a_child_that_panics_is_an_error_not_a_value,
        nothing_is_left_behind,
        nothing_is_left_even_when_the_caller_is_killed,
    );
    let swept = clean_up(&leftovers(getpid()));
    if !swept.is_empty() {
        println!("removed what the checks left behind:\n{swept}");
    }
    verdict
}

/// `run_in_children`, or a failed check that shows the error as the lesson prints it.
fn run<T: Copy>(what: &str, children: usize, work: impl Fn(usize) -> T) -> Vec<T> {
    run_in_children(children, work).unwrap_or_else(|err| {
        let hint = if err.to_string().contains("EINVAL") {
            " (EINVAL from shmat or shmctl means the segment is already gone: IPC_RMID on a \
             segment nobody has attached destroys it at once, so attach first, then mark it)"
        } else {
            ""
        };
        panic!("run_in_children({children}, {what}) failed: {err}{hint}")
    })
}

fn each_childs_value_arrives_in_its_slot() {
    let got = run("|i| i * i + 1", 4, |i| (i * i + 1) as u64);
    assert_eq!(
        got,
        [1, 2, 5, 10],
        "child i computed i * i + 1, but the parent read {got:?}. Zeros mean the value never \
         reached memory the parent shares (or the parent read before waiting); a wrong order \
         means child i did not write slot i"
    );
}

fn every_child_is_a_process_of_its_own() {
    let pids = run("|_| std::process::id()", 3, |_| std::process::id());
    let mut distinct = pids.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        !pids.contains(&std::process::id()) && distinct.len() == 3,
        "work ran in processes {pids:?} (this is {}): fork one child per index, and call \
         work(i) in that child",
        std::process::id()
    );
}

fn large_values_arrive_whole() {
    // 16 KiB each, 48 KiB in all: the segment must be sized for every slot, not one page.
    let got = run("|i| [i as u64; 2048]", 3, |i| [i as u64 + 7; 2048]);
    for (i, words) in got.iter().enumerate() {
        if let Some(w) = words.iter().position(|&w| w != i as u64 + 7) {
            panic!(
                "word {w} of child {i}'s 2048 came back as {}, not {}: size the segment for \
                 children * size_of::<T>() bytes",
                words[w],
                i + 7
            );
        }
    }
}

fn the_values_travel_through_a_system_v_segment() {
    let seen = run("|_| System V attachments in the child", 2, |_| {
        sysv_attachments_here().len()
    });
    assert!(
        seen.iter().all(|&n| n >= 1),
        "the children had {seen:?} System V attachments in /proc/self/maps: carry the values \
         in a segment from Segment::create and attach (lesson 03's mmap would work too, but \
         this exercise is about System V)"
    );
}

/// What a child finds out about the segment it inherited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    NoSegment,
    Unmarked,
    Marked,
}

fn the_segment_is_marked_before_the_children_run() {
    let seen = run(
        "|_| is the segment marked?",
        2,
        |_| match sysv_attachments_here()
            .first()
            .map(|&shmid| segment_stat(shmid))
        {
            Some(Ok(info)) if info.marked_for_destruction() => Seen::Marked,
            Some(_) => Seen::Unmarked,
            None => Seen::NoSegment,
        },
    );
    assert!(
        seen.iter().all(|&s| s == Seen::Marked),
        "while the children ran, the segment was {seen:?}: mark it with IPC_RMID (Segment::remove) \
         right after attaching it, before any fork. A marked segment still works for everyone \
         attached, and the kernel frees it when the last of them detaches or exits, whatever \
         happens to this process (the last check kills it to see)"
    );
}

fn no_children_and_empty_values_are_fine() {
    let none = run_in_children(0, |i| i)
        .unwrap_or_else(|err| panic!("run_in_children(0, ..) failed: {err}. shmget refuses a size of 0: ask for at least 1 byte"));
    assert!(none.is_empty(), "no children, so no values; got {none:?}");
    let units = run_in_children(2, |_| ())
        .unwrap_or_else(|err| panic!("run_in_children(2, |_| ()) failed: {err}. size_of::<()>() is 0: ask for at least 1 byte"));
    assert_eq!(units.len(), 2, "two children, two () values");
}

fn a_child_that_panics_is_an_error_not_a_value() {
    let got = run_in_children(3, |i| {
        if i == 1 {
            std::panic::set_hook(Box::new(|_| {})); // keep the test's output quiet
            panic!("the work failed")
        }
        i
    });
    match got {
        Err(err) => assert!(
            err.to_string().contains("child 1 ") && err.to_string().contains("101"),
            "the error should name child 1 and say how it ended (fork_child exits 101 on \
             panic); it says: {err}"
        ),
        Ok(values) => panic!(
            "child 1 panicked, yet values came back ({values:?}): check every child's Exit \
             before reading"
        ),
    }
}

fn nothing_is_left_behind() {
    for i in 0..20_u64 {
        run("move |_| i", 2, move |_| i);
    }
    let _ = run_in_children(2, |i| {
        if i == 0 {
            std::panic::set_hook(Box::new(|_| {}));
            panic!("the work failed")
        }
        i
    });
    let left = leftovers(getpid());
    if !left.is_empty() {
        panic!(
            "after 21 calls, {} segment(s) created by this process still exist; removed now:\n{}\
             A segment lives until it is marked with IPC_RMID *and* nobody is attached: drop \
             the Attachment before returning, and mark the segment on every path (Segment's \
             Drop does that, or Segment::remove right away)",
            left.len(),
            clean_up(&left)
        );
    }
}

fn nothing_is_left_even_when_the_caller_is_killed() {
    // A caller process runs run_in_children; its child, in work(), kills the caller with
    // SIGKILL, so none of the caller's destructors ever run. Orphaned grandchildren are
    // handed to this process (a "subreaper") so that we can wait for them too.
    nix::sys::prctl::set_child_subreaper(true).expect("prctl(PR_SET_CHILD_SUBREAPER)");
    let caller = fork_child(|| {
        let caller = getpid();
        let outcome = run_in_children(1, move |_| {
            if getpid() != caller {
                let _ = kill(caller, Signal::SIGKILL);
            }
            7_u32
        });
        match outcome {
            Ok(_) => 0,
            Err(err) => {
                println!("\n  in the caller, run_in_children failed: {err}");
                1
            }
        }
    })
    .expect("fork the caller");
    let caller_pid = caller.pid();
    let exit = caller.wait().expect("wait for the caller");
    // Reap the orphaned worker: after it exits, nobody is attached any more.
    while waitpid(Pid::from_raw(-1), None) != Err(Errno::ECHILD) {}
    nix::sys::prctl::set_child_subreaper(false).expect("prctl(PR_SET_CHILD_SUBREAPER)");

    let left = leftovers(caller_pid);
    let removed = clean_up(&left);
    assert_eq!(
        exit,
        Exit::Signal(Signal::SIGKILL),
        "the caller should have been killed by its child's work(), but it {exit}{}",
        match exit {
            Exit::Code(101) => " (101: it panicked, see above)",
            Exit::Code(1) => " (run_in_children returned an error, see above)",
            Exit::Code(0) => ": run_in_children returned normally; did work() run in a child?",
            _ => "",
        }
    );
    assert!(
        left.is_empty(),
        "the caller was killed with SIGKILL, and its segment outlived it (removed now):\n{removed}\
         Drop never runs when a process is killed. Mark the segment with IPC_RMID as soon as \
         it is attached: the kernel then frees it when the last attachment goes"
    );
}

/// The shmids of the System V segments this process has attached: in /proc/self/maps their
/// lines are named /SYSV<key in hex>, and the inode column holds the shmid.
fn sysv_attachments_here() -> Vec<i32> {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter(|line| line.contains(" /SYSV"))
        .filter_map(|line| line.split_whitespace().nth(4)?.parse().ok())
        .collect()
}

/// Segments that `creator` made and that still exist.
fn leftovers(creator: Pid) -> Vec<ProcShmLine> {
    proc_sysvipc_shm()
        .expect("read /proc/sysvipc/shm")
        .into_iter()
        .filter(|line| line.number("cpid") == Some(i64::from(creator.as_raw())))
        .collect()
}

/// Marks each leftover for removal; describes what each looked like.
fn clean_up(left: &[ProcShmLine]) -> String {
    let mut text = String::new();
    for (n, line) in left.iter().enumerate() {
        let (shmid, perms) = (
            line.get("shmid").unwrap_or("?"),
            line.get("perms").unwrap_or("?"),
        );
        let nattch = line.get("nattch").unwrap_or("?");
        let marked = perms.len() > 3 && perms.starts_with('1');
        if let Ok(id) = shmid.parse() {
            let _ = remove(id);
        }
        if n == 3 {
            text += &format!("    ... and {} more like them\n", left.len() - 3);
        }
        if n >= 3 {
            continue;
        }
        text += &format!(
            "    shmid {shmid}: shm_nattch {nattch}, {}\n",
            if marked {
                "marked, but still attached somewhere"
            } else {
                "never marked with IPC_RMID"
            }
        );
    }
    text
}
