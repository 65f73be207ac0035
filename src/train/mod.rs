//! Training and evaluation: losses, metrics, synthetic fakes (self-blended images, face swaps),
//! datasets, and the LNCLIP-DF training loop.
//!
//! Everything random in here draws from [`Rng`], a seeded PCG32, so a run (and every generated
//! fake) is reproducible from its seed alone, independently of libtorch's global generator.
pub mod dataset;
pub mod losses;
pub mod metrics;
pub mod retrain;
pub mod sbi;
pub mod swap;
pub mod trainer;

/// PCG32 (M. E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient Statistically Good
/// Algorithms for Random Number Generation", 2014; `pcg32_random_r` of the reference C code):
/// 64-bit LCG state, XSH-RR output. Small, fast and good enough for augmentation; not for secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
    inc: u64,
}

impl Rng {
    const MULT: u64 = 6_364_136_223_846_793_005;

    /// The generator for `seed` on stream 0x5eed (`pcg32_srandom_r(seed, stream)`).
    pub fn new(seed: u64) -> Self {
        Self::with_stream(seed, 0x5eed)
    }

    /// Independent sequences for the same seed, e.g. one per sample index.
    pub fn with_stream(seed: u64, stream: u64) -> Self {
        let mut r = Rng {
            state: 0,
            inc: (stream << 1) | 1,
        };
        r.next_u32();
        r.state = r.state.wrapping_add(seed);
        r.next_u32();
        r
    }

    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(Self::MULT).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    pub fn next_u64(&mut self) -> u64 {
        ((self.next_u32() as u64) << 32) | self.next_u32() as u64
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in [0, n); 0 when n is 0. Rejection sampling, so no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal (Box–Muller; one of the pair is dropped, which keeps the state simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln stays finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn pcg32_matches_the_reference_sequence() {
        // pcg32-global-demo of the reference C library, seeded with (42, 54): first outputs.
        let mut r = Rng::with_stream(42, 54);
        let got: Vec<u32> = (0..6).map(|_| r.next_u32()).collect();
        assert_eq!(
            got,
            [0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e]
        );
    }

    #[test]
    fn uniform_and_below_stay_in_range() {
        let mut r = Rng::new(7);
        let mut hist = [0usize; 5];
        for _ in 0..5000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            hist[r.below(5) as usize] += 1;
        }
        assert!(hist.iter().all(|&h| (800..1200).contains(&h)), "{hist:?}");
    }
}
