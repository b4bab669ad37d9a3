//! The random kill moments: repeatable, so that a failure's seed replays it.

/// xorshift64: enough to spread kill moments, and repeatable from a seed.
pub(crate) struct Random(pub(crate) u64);

impl Random {
    pub(crate) fn fraction(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
