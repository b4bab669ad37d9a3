//! The crash the lesson stages: which backend dies, and in which of its updates (`--crash
//! K:U`), and what it had done to its page when it died. A real crash strikes anywhere; the
//! lesson picks its place, so that every run tells the same story and the check knows which
//! change must be gone.

/// Where backend `backend` of round `round` dies: at its update number `update` (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crash {
    pub backend: usize,
    pub update: usize,
}

/// What a backend that died in the middle of an update had done to its page: row `row` of
/// block `block` was `was`, and it wrote `made` into the buffer, logged nothing, and died.
/// (A real client cannot know this; the lesson's dying backend notes it for the check.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Died {
    pub block: u32,
    pub row: u32,
    pub was: u64,
    pub made: u64,
}

/// `K:U`, as `--crash` takes it: backend K dies at its update U.
pub fn parse_crash(spec: &str) -> std::result::Result<Crash, String> {
    let (backend, update) = spec
        .split_once(':')
        .ok_or("expected BACKEND:UPDATE, e.g. 2:40")?;
    let number = |text: &str| match text.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!(
            "{text:?} is not a whole number from 1 (BACKEND:UPDATE)"
        )),
        Ok(n) => Ok(n),
    };
    Ok(Crash {
        backend: number(backend)?,
        update: number(update)?,
    })
}
