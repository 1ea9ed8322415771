//! Hostile input to the cursor decoders, under `cargo test`: the committed
//! seed corpora of the fuzz targets replayed through the checks they run,
//! then a bounded number of generated inputs. The long runs are `fuzz/run`.

mod cursor;

use proptest::prelude::*;

#[test]
fn page_cursor_seed_corpus() {
    for (_, bytes) in mcp_testkit::seed_corpus("page_cursor") {
        cursor::page(&bytes);
    }
}

#[test]
fn chunk_cursor_seed_corpus() {
    for (_, bytes) in mcp_testkit::seed_corpus("chunk_cursor") {
        cursor::chunk(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn page_cursor_generated(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        cursor::page(&bytes);
    }

    #[test]
    fn chunk_cursor_generated(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        cursor::chunk(&bytes);
    }

    /// Base64url texts of cursor length: past the decoding, into the tag.
    #[test]
    fn forged_base64_cursors_are_refused(text in "[A-Za-z0-9_-]{20,80}") {
        cursor::page(text.as_bytes());
        cursor::chunk(text.as_bytes());
    }
}
