//! Memory stays bounded: a file resource larger than the bound itself is
//! served and written to disk chunk by chunk, and the process's peak
//! resident memory (the kernel's `VmHWM`) grows by far less than the file.
//!
//! Client and server share this process, so the bound covers both. It is
//! alone in its test binary so no other test's memory is counted. The
//! 1 GiB version, with the server in a process of its own, is
//! `cargo run --release --example stream_memory`.

#![cfg(all(feature = "rmcp", target_os = "linux"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use mcp_service::{McpError, rmcp::StackedHandler};
use mcp_stream::{
    ChunkLayer, ContentKind, OpenRequest, ResourceReader, ResourceSource, ResourceStream,
};
use mcp_testkit::{DemoHandler, connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceBuilder;
use xxhash_rust::xxh3::Xxh3;

const SIZE: u64 = 72 << 20;
const BOUND: u64 = 64 << 20;

/// `file:///big.bin` from a path.
struct OneFile(PathBuf);

impl ResourceSource for OneFile {
    fn open<'a>(
        &'a self,
        request: OpenRequest<'a>,
    ) -> BoxFuture<'a, Result<Option<ResourceStream>, McpError>> {
        Box::pin(async move {
            if request.uri != "file:///big.bin" {
                return Ok(None);
            }
            let stream = ResourceStream::file(&self.0, ContentKind::Blob, request.offset)
                .await
                .map_err(|error| McpError::unavailable(error.to_string()))?;
            Ok(Some(stream))
        })
    }
}

/// `VmRSS` and `VmHWM` of this process, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        let line = status.lines().find(|line| line.starts_with(name)).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib << 10
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Writes `SIZE` bytes of a pseudo-random sequence, a piece at a time.
async fn write_file(path: &Path) {
    let mut file = tokio::fs::File::create(path).await.unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut piece = vec![0u8; 1 << 20];
    for _ in 0..SIZE >> 20 {
        for word in piece.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&piece).await.unwrap();
    }
    file.flush().await.unwrap();
}

async fn digest(path: &Path) -> (u64, u64) {
    let mut file = tokio::fs::File::open(path).await.unwrap();
    let mut hasher = Xxh3::new();
    let mut piece = vec![0u8; 1 << 20];
    let mut len = 0;
    loop {
        let read = file.read(&mut piece).await.unwrap();
        if read == 0 {
            return (len, hasher.digest());
        }
        hasher.update(&piece[..read]);
        len += read as u64;
    }
}

#[tokio::test]
async fn a_file_larger_than_the_bound_is_served_within_it() {
    let dir = std::env::temp_dir().join(format!("mcp-stream-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("big.bin"), dir.join("copy.bin"));
    write_file(&input).await;

    let layer = ChunkLayer::builder()
        .source(OneFile(input.clone()))
        .build()
        .unwrap();
    let handler = StackedHandler::new(DemoHandler::default(), ServiceBuilder::new().layer(layer));
    let pair = connect(handler).await.unwrap();

    // The peak so far is forgotten where the kernel allows (Linux 4.0+).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (idle, _) = memory();
    let mut file = tokio::fs::File::create(&output).await.unwrap();
    let summary = ResourceReader::new(pair.client.peer())
        .copy_to("file:///big.bin", &mut file)
        .await
        .unwrap();
    let (_, peak) = memory();
    drop(pair);

    let grown = peak.saturating_sub(idle);
    println!(
        "idle {} MiB, peak {} MiB, grown {} MiB for {} MiB in {} chunks",
        idle >> 20,
        peak >> 20,
        grown >> 20,
        SIZE >> 20,
        summary.chunks
    );
    assert_eq!(summary.bytes, SIZE);
    assert_eq!(
        digest(&output).await,
        digest(&input).await,
        "the copy is exact"
    );
    assert!(grown < BOUND, "peak grew by {grown} bytes, over {BOUND}");
    std::fs::remove_dir_all(&dir).unwrap();
}
