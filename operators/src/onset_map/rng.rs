//! The seeded choices of the flow: SplitMix64, the same sequence on every platform.

/// A SplitMix64 generator (Steele, Lea & Flood 2014): tiny, fast, and good enough for choosing
/// turns and slider shapes.
#[derive(Debug, Clone)]
pub(super) struct SplitMix(u64);

impl SplitMix {
    /// A generator seeded with `seed`.
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub(super) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// True with probability `p`.
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.range(0.0, 1.0) < p
    }

    /// +1 or −1, evenly.
    pub(super) fn sign(&mut self) -> f64 {
        if self.next_u64() >> 63 == 0 { 1.0 } else { -1.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_sequence_and_stays_in_range() {
        // First outputs of the reference C implementation for seed 1234567.
        let mut rng = SplitMix::new(1234567);
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
        let mut rng = SplitMix::new(7);
        for _ in 0..1000 {
            let x = rng.range(-2.0, 3.0);
            assert!((-2.0..3.0).contains(&x));
        }
        let heads = (0..1000).filter(|_| rng.sign() > 0.0).count();
        assert!((400..600).contains(&heads), "{heads}");
    }
}
