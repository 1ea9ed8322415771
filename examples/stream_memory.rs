//! Serves a large file resource chunk by chunk from a server in a process
//! of its own and writes it to disk, then prints the server's idle and peak
//! resident memory (the kernel's `VmRSS` and `VmHWM`) and the throughput.
//!
//! ```sh
//! cargo run --release --example stream_memory            # 1 GiB
//! cargo run --release --example stream_memory -- 256     # 256 MiB
//! ```
//!
//! The parent writes the file, starts itself again as the server (rmcp
//! over stdio, a `ChunkLayer` with the file as its resource source), reads
//! the resource with `ResourceReader::copy_to` into a second file, checks
//! the copy byte for byte, and fails if the server's peak grew by 64 MiB or
//! more above its idle memory. Linux only: it reads `/proc/<pid>/status`.

#![allow(missing_docs)]

use std::{
    error::Error,
    path::{Path, PathBuf},
    process::Stdio,
    time::Instant,
};

use futures::future::BoxFuture;
use mcp_service::{McpError, rmcp::StackedHandler};
use mcp_stream::{
    ChunkLayer, ContentKind, OpenRequest, ResourceReader, ResourceSource, ResourceStream,
};
use mcp_testkit::DemoHandler;
use rmcp::ServiceExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceBuilder;
use xxhash_rust::xxh3::Xxh3;

const URI: &str = "file:///big.bin";
const BOUND: u64 = 64 << 20;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// The one file this server serves, at `URI`.
struct OneFile(PathBuf);

impl ResourceSource for OneFile {
    fn open<'a>(
        &'a self,
        request: OpenRequest<'a>,
    ) -> BoxFuture<'a, std::result::Result<Option<ResourceStream>, McpError>> {
        Box::pin(async move {
            if request.uri != URI {
                return Ok(None);
            }
            let stream = ResourceStream::file(&self.0, ContentKind::Blob, request.offset)
                .await
                .map_err(|error| McpError::unavailable(error.to_string()))?;
            Ok(Some(stream.with_mime_type("application/octet-stream")))
        })
    }
}

/// The server: rmcp over this process's stdin and stdout.
async fn serve(path: PathBuf) -> Result<()> {
    let layer = ChunkLayer::builder().source(OneFile(path)).build()?;
    let handler = StackedHandler::new(DemoHandler::default(), ServiceBuilder::new().layer(layer));
    handler
        .serve((tokio::io::stdin(), tokio::io::stdout()))
        .await?
        .waiting()
        .await?;
    Ok(())
}

/// `VmRSS` and `VmHWM` of process `pid`, in bytes.
fn memory(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find(|line| line.starts_with(name))
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib: u64 = line.split_whitespace().nth(1).unwrap_or_default().parse()?;
        Ok(kib << 10)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Writes `size` bytes of a pseudo-random sequence, 4 MiB at a time.
async fn write_file(path: &Path, size: u64) -> Result<()> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut piece = vec![0u8; 4 << 20];
    let mut left = size;
    while left > 0 {
        for word in piece.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let take = left.min(piece.len() as u64) as usize;
        file.write_all(&piece[..take]).await?;
        left -= take as u64;
    }
    file.flush().await?;
    Ok(())
}

async fn digest(path: &Path) -> Result<(u64, u64)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Xxh3::new();
    let mut piece = vec![0u8; 4 << 20];
    let mut len = 0;
    loop {
        let read = file.read(&mut piece).await?;
        if read == 0 {
            return Ok((len, hasher.digest()));
        }
        hasher.update(&piece[..read]);
        len += read as u64;
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// The client: writes the file, starts the server, copies the resource.
async fn measure(size: u64, dir: PathBuf) -> Result<bool> {
    let dir = dir.join(format!("mcp-stream-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (input, output) = (dir.join("big.bin"), dir.join("copy.bin"));
    println!("writing {:.0} MiB to {}", mib(size), input.display());
    write_file(&input, size).await?;

    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg(&input)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the server exited at once")?;
    let (stdout, stdin) = (
        child.stdout.take().ok_or("no server stdout")?,
        child.stdin.take().ok_or("no server stdin")?,
    );
    let client = ().serve((stdout, stdin)).await?;
    let (idle, _) = memory(pid)?;

    let started = Instant::now();
    let mut file = tokio::fs::File::create(&output).await?;
    let summary = ResourceReader::new(client.peer())
        .copy_to(URI, &mut file)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let (_, peak) = memory(pid)?;
    let (_, client_peak) = memory(std::process::id())?;
    client.cancel().await?;
    let _ = child.wait().await;

    let exact = digest(&output).await? == digest(&input).await?;
    let grown = peak.saturating_sub(idle);
    println!(
        "served {:.0} MiB in {} chunks in {seconds:.2} s: {:.0} MB/s",
        mib(summary.bytes),
        summary.chunks,
        summary.bytes as f64 / 1e6 / seconds
    );
    println!(
        "server RSS idle {:.1} MiB, peak {:.1} MiB (+{:.1} MiB; bound +{:.0} MiB)",
        mib(idle),
        mib(peak),
        mib(grown),
        mib(BOUND)
    );
    println!("client peak RSS {:.1} MiB", mib(client_peak));
    println!("copy byte-exact: {exact}");
    std::fs::remove_dir_all(&dir)?;
    Ok(exact && summary.bytes == size && grown < BOUND)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("serve") => serve(args.next().ok_or("serve needs a path")?.into()).await,
        size => {
            let size: u64 = size.map_or(Ok(1024), str::parse)?;
            let dir = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
            if measure(size << 20, dir).await? {
                println!("PASS");
                Ok(())
            } else {
                Err("FAIL: the copy differs or the server's memory grew past the bound".into())
            }
        }
    }
}
