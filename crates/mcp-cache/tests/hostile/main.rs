//! Hostile input to the Redis envelope decoder, under `cargo test`: the
//! committed seed corpus of the fuzz target replayed through the checks it
//! runs, then a bounded number of generated inputs. The long runs are
//! `fuzz/run`.

mod cache_envelope;

use proptest::prelude::*;

#[global_allocator]
static ALLOC: mcp_testkit::PeakAlloc = mcp_testkit::PeakAlloc;

#[test]
fn cache_envelope_seed_corpus() {
    for (_, bytes) in mcp_testkit::seed_corpus("cache_envelope") {
        cache_envelope::check(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn cache_envelope_generated(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        cache_envelope::check(&bytes);
    }

    /// Well-formed heads with any tail, so the body paths are reached.
    #[test]
    fn cache_envelope_generated_heads(
        flags in 0u8..4,
        partition in 0u8..3,
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = b"MCPC\x01".to_vec();
        bytes.push(flags);
        bytes.extend_from_slice(&[7; 40]);
        bytes.push(partition);
        bytes.extend_from_slice(&[9; 16]);
        bytes.extend_from_slice(&tail);
        cache_envelope::check(&bytes);
    }
}
