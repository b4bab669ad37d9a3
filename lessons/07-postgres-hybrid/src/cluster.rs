//! A real PostgreSQL cluster's directory is never the course's to write in.
//!
//! The course's servers take a data directory the way PostgreSQL does: a lock file named
//! `postmaster.pid`, an interlock at the directory's key, and (lessons 14 and 15) files of
//! their own, `16384`, `wal` and `pg_control`. Pointed at a real cluster by mistake, they would
//! write beside PostgreSQL's files, or take its lock file for a stale one and delete it. So a
//! start looks first, before it creates anything, for the two files PostgreSQL itself checks
//! before it starts: `PG_VERSION` (`ValidatePgVersion`, called by `checkDataDir` in
//! src/backend/utils/init/miscinit.c) and `global/pg_control` (`checkControlFile` in
//! src/backend/postmaster/postmaster.c). Either one, and the start is refused.

use std::io::ErrorKind;
use std::path::Path;

use common::{Error, Result};

// ANCHOR: cluster
/// The files whose presence says "a PostgreSQL cluster lives here".
pub const CLUSTER_FILES: [&str; 2] = ["PG_VERSION", "global/pg_control"];

/// Refuses `dir` if it holds a PostgreSQL cluster, or if we cannot look (then nobody can
/// tell, and the directory is not ours to risk). Only looks: it creates nothing.
pub fn refuse_a_postgresql_cluster(dir: &Path) -> Result<()> {
    let shown = dir.display();
    for name in CLUSTER_FILES {
        match std::fs::symlink_metadata(dir.join(name)) {
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Ok(_) => {
                return Err(Error::Failed(format!(
                    "{shown} holds a PostgreSQL cluster ({name} is there): the course never \
                     writes in a real server's data directory; give the course a directory of \
                     its own (mkdir)"
                )));
            }
            Err(err) => {
                return Err(Error::Failed(format!(
                    "cannot tell whether {shown} holds a PostgreSQL cluster (looking for \
                     {name}: {err}); give the course a directory of its own (mkdir)"
                )));
            }
        }
    }
    Ok(())
}
// ANCHOR_END: cluster

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_with_either_file_is_refused_and_left_as_it_was() {
        for name in CLUSTER_FILES {
            let tmp = tempfile::tempdir().unwrap();
            assert!(refuse_a_postgresql_cluster(tmp.path()).is_ok(), "empty");
            let file = tmp.path().join(name);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, "15\n").unwrap();
            let err = refuse_a_postgresql_cluster(tmp.path()).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            assert_eq!(err.exit_status(), 1);
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "15\n");
        }
    }
}
