//! LSNs as PostgreSQL prints them in its log ("redo starts at 0/1A0"), so that the startup
//! process's lines read like a real server's.

/// An LSN as PostgreSQL prints one (`%X/%X` of `LSN_FORMAT_ARGS`): the high 32 bits, a
/// slash, the low 32 bits, in upper-case hex without padding. Byte 416 is `0/1A0`.
pub fn lsn(position: u64) -> String {
    format!("{:X}/{:X}", position >> 32, position as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_print_as_postgresql_prints_them() {
        assert_eq!(lsn(0), "0/0");
        assert_eq!(lsn(416), "0/1A0");
        assert_eq!(lsn(0x0000_0001_203C_0048), "1/203C0048");
    }
}
