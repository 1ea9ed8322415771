//! [`seed_corpus`]: the committed seed inputs of a fuzz target, for tests
//! that replay them under `cargo test`.

use std::path::PathBuf;

/// The files of `fuzz/corpus/<target>/` in the workspace, by name, with
/// their bytes. Panics when the folder is missing or empty: a replay test
/// that replays nothing would pass for the wrong reason.
#[allow(clippy::panic)]
pub fn seed_corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = match std::fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(error) => panic!("the seed corpus {}: {error}", folder.display()),
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .filter_map(|entry| {
            let bytes = std::fs::read(entry.path()).ok()?;
            Some((entry.file_name().to_string_lossy().into_owned(), bytes))
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "the seed corpus {} is empty",
        folder.display()
    );
    files
}
