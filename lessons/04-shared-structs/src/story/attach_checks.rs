//! Step 3: `attach` checks before it trusts.
//!
//! Each bad case is built in a scratch mapping that only this step uses: a copy of the real
//! header, spoilt one field at a time, and two ranges that start or end in the wrong place.
//! The real region is never touched, so the children of step 4 find it as it was published.

use common::{Result, section};
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
use l04_shared_structs::{AttachError, Header, REGION_SIZE, Region, hex32};
use nix::sys::mman::ProtFlags;

// ANCHOR: attach
pub fn attach_checks_first(region: &Region) -> Result<()> {
    section("3. attach checks before it trusts");
    let scratch = Scratch::new()?;
    let cases: [Corruption; 4] = [
        ("a copy with magic 0xdead_beef", |h| h.magic = 0xdead_beef),
        ("a copy with version 2", |h| h.version = 2),
        ("a copy claiming 1048576 bytes", |h| h.total_size = 1 << 20),
        ("an exact copy", |_| {}),
    ];
    report("fresh zeroed pages", scratch.attach(0, REGION_SIZE));
    for (what, corrupt) in cases {
        let mut header = region.header();
        corrupt(&mut header);
        scratch.write_header(header);
        report(what, scratch.attach(0, REGION_SIZE));
    }
    report("base + 4", scratch.attach(4, REGION_SIZE - 4));
    report("only 16 bytes", scratch.attach(0, 16));
    Ok(())
}

/// What was done to a copy of the header, and how.
type Corruption = (&'static str, fn(&mut Header));

fn report(what: &str, outcome: Result<Region, AttachError>) {
    match outcome {
        Ok(region) => println!("attach({what}): ok, magic {}", hex32(region.header().magic)),
        Err(err) => println!("attach({what}): refused: {err}"),
    }
}
// ANCHOR_END: attach

/// A mapping of `REGION_SIZE` bytes of this process's own, to build bad regions in.
struct Scratch(Mapping);

impl Scratch {
    fn new() -> Result<Scratch> {
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        Ok(Scratch(Mapping::anonymous(
            REGION_SIZE,
            prot,
            PG_MMAP_FLAGS,
        )?))
    }

    /// Writes `header` at offset 0.
    fn write_header(&self, header: Header) {
        // SAFETY: the mapping is page-aligned and REGION_SIZE bytes, room for a Header; no
        // other process or thread has it, so nobody reads it while this writes.
        unsafe { self.0.as_ptr().cast::<Header>().write(header) }
    }

    /// `Region::attach` on bytes `offset..offset + len` of the scratch mapping.
    fn attach(&self, offset: usize, len: usize) -> Result<Region<'_>, AttachError> {
        assert!(
            offset + len <= self.0.len(),
            "the range must lie in the mapping"
        );
        // SAFETY: the range lies inside the mapping (checked above), readable and writable,
        // and `self` keeps it mapped for as long as the returned Region borrows it.
        unsafe { Region::attach(self.0.as_ptr().add(offset), len) }
    }
}
