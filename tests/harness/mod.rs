//! What the process-level reliability tests share: demo nodes (the
//! `full_stack` example) started as child processes, HTTP and Prometheus
//! helpers, resident memory, MCP clients, and a load driver that records
//! every request it sends.

#![allow(dead_code, reason = "each test binary uses a part of it")]

use std::{
    collections::HashMap,
    net::TcpListener,
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use mcp_stack::client::HttpClient;
use rmcp::{
    ClientCacheConfig, RoleClient,
    model::{
        CallToolRequestParams, ClientConfig, ProtocolVersion, ReadResourceRequestParams,
        ResourceContents,
    },
    service::RunningService,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
    sync::MutexGuard,
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// Heavy scenarios run one at a time, so their timings are their own.
pub async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// One line of figures for `docs/RELIABILITY.md`, on stderr (shown with
/// `--nocapture`).
pub fn report(scenario: &str, figures: Value) {
    eprintln!(
        "RELIABILITY {}",
        json!({ "scenario": scenario, "figures": figures })
    );
}

/// `cargo test` builds the examples next to the test binaries' directory.
pub fn example_binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().unwrap();
    let profile = test.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile.join("examples").join(name);
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --workspace` builds it (or `cargo build --examples`)",
        binary.display()
    );
    binary
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `condition` every 5 ms until it holds or `within` passes; how long
/// it took, or `None`.
pub async fn until<F, Fut>(within: Duration, mut condition: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if condition().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How a demo node is started.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    pub redis: Option<String>,
    pub admin: bool,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl NodeOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn redis(mut self, url: &str) -> Self {
        self.redis = Some(url.to_owned());
        self
    }

    pub fn admin(mut self) -> Self {
        self.admin = true;
        self
    }

    /// Command-line arguments of its own (`--no-stack`, ...).
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// A stack setting, as `MCP_STACK__{KEY}` (`CACHE__MAX_TTL`, ...).
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.env
            .push((format!("MCP_STACK__{key}"), value.to_string()));
        self
    }

    /// One global rate limit of `requests` a second.
    pub fn global_limit(self, requests: u32) -> Self {
        self.set("RATE_LIMITS__0__REQUESTS", requests)
            .set("RATE_LIMITS__0__PERIOD", "\"1s\"")
            .set("RATE_LIMITS__0__KEY", "\"global\"")
    }
}

/// A demo node or a gateway, killed on drop; its stdout and stderr are
/// kept.
pub struct Node {
    child: Child,
    pub address: String,
    pub pid: u32,
    output: Arc<Mutex<String>>,
}

impl Node {
    /// A demo node (the `full_stack` example).
    pub async fn start(options: NodeOptions) -> Self {
        Self::start_at(format!("127.0.0.1:{}", free_port()), options).await
    }

    /// A demo node on `address` (a killed node's, to restart it).
    pub async fn start_at(address: String, options: NodeOptions) -> Self {
        let mut command = Command::new(example_binary("full_stack"));
        command.args(["--listen", &address]);
        if options.admin {
            command.arg("--admin");
        }
        Self::spawn(command, address, options).await
    }

    /// A gateway (the `gateway` example) with one upstream, `demo`, the MCP
    /// endpoint of `upstream` (a node's address); `admin` is not for it.
    pub async fn gateway(upstream: &str, options: NodeOptions) -> Self {
        let address = format!("127.0.0.1:{}", free_port());
        let mut command = Command::new(example_binary("gateway"));
        command.args(["--listen", &address]);
        command.args(["--upstream", &format!("demo=http://{upstream}/mcp")]);
        Self::spawn(command, address, options).await
    }

    async fn spawn(mut command: Command, address: String, options: NodeOptions) -> Self {
        if let Some(url) = &options.redis {
            command.args(["--redis", url]);
        }
        command.args(&options.args);
        for (name, _) in std::env::vars() {
            if name.starts_with("MCP_STACK__") || name == "MCP_REDIS_URL" {
                command.env_remove(name);
            }
        }
        command.envs(options.env.iter().map(|(k, v)| (k, v)));
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        keep_lines(child.stdout.take().unwrap(), output.clone());
        keep_lines(child.stderr.take().unwrap(), output.clone());
        let pid = child.id().unwrap();
        let node = Self {
            child,
            address,
            pid,
            output,
        };
        let up = until(Duration::from_secs(30), || async {
            tokio::net::TcpStream::connect(&node.address).await.is_ok()
                && http(&node.address, "GET", "/healthz", &[], b"").await.0 == 200
        })
        .await;
        assert!(
            up.is_some(),
            "the process did not answer /healthz: {}",
            node.output()
        );
        node
    }

    /// Everything the node printed so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = http(&self.address, "GET", path, &[], b"").await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Asks the node to invalidate `target` (`{"uri": ...}`, ...) through
    /// its admin route; how long the node took to answer.
    pub async fn invalidate(&self, target: Value) -> Duration {
        let started = Instant::now();
        let (status, _, body) = http(
            &self.address,
            "POST",
            "/admin/invalidate",
            &[("content-type", "application/json")],
            target.to_string().as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        started.elapsed()
    }

    pub async fn metrics(&self) -> Metrics {
        let (status, body) = self.get("/metrics").await;
        assert_eq!(status, 200, "{body}");
        Metrics(body)
    }

    /// Resident memory, in bytes.
    pub fn rss(&self) -> u64 {
        rss_of(self.pid)
    }

    pub async fn client(&self, token: Option<&str>) -> Client {
        Client::connect(&self.address, token).await
    }

    /// A client asking for protocol `version`.
    pub async fn client_at(&self, token: Option<&str>, version: ProtocolVersion) -> Client {
        Client::connect_at(&self.address, token, version).await
    }

    /// Kills the process and waits for it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

fn keep_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut output = into.lock().unwrap_or_else(PoisonError::into_inner);
            output.push_str(&line);
            output.push('\n');
        }
    });
}

/// Resident memory of process `pid`, in bytes.
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap();
    kib * 1024
}

/// One HTTP/1.1 exchange on a new connection: status, headers (names in
/// lower case), body. Chunked bodies are decoded.
pub async fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, HashMap<String, String>, Vec<u8>) {
    let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
        return (0, HashMap::new(), Vec::new());
    };
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    // A server may answer and close before reading a refused body whole.
    let _ = stream.write_all(&bytes).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, HashMap::new(), response);
    };
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let mut body = response[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&bytes[..end])
            .ok()
            .and_then(|size| usize::from_str_radix(size.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || bytes.len() < end + 2 + size {
            break;
        }
        body.extend_from_slice(&bytes[end + 2..end + 2 + size]);
        bytes = &bytes[(end + 4 + size).min(bytes.len())..];
    }
    body
}

/// A Prometheus text page.
pub struct Metrics(pub String);

impl Metrics {
    /// The sum of the series of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (series_name, series_labels) = match series.split_once('{') {
                    Some((series_name, rest)) => (series_name, rest),
                    None => (series, ""),
                };
                (series_name == name
                    && labels
                        .iter()
                        .all(|(key, value)| series_labels.contains(&format!("{key}=\"{value}\""))))
                .then(|| value.parse::<f64>().ok())
                .flatten()
            })
            .sum()
    }

    /// `mcp.cache.requests{tier, result}`.
    pub fn cache(&self, tier: &str, result: &str) -> f64 {
        self.sum(
            "mcp_cache_requests_total",
            &[("tier", tier), ("result", result)],
        )
    }

    /// `mcp.cache.invalidations{source}`.
    pub fn invalidations(&self, source: &str) -> f64 {
        self.sum("mcp_cache_invalidations_total", &[("source", source)])
    }

    /// `mcp.limit.fallbacks`: limit decisions made locally because Redis
    /// did not answer.
    pub fn fallbacks(&self) -> f64 {
        self.sum("mcp_limit_fallbacks_total", &[])
    }
}

/// An rmcp client over HTTP with a bearer token (or none).
pub struct Client {
    session: RunningService<RoleClient, ClientConfig>,
}

impl Client {
    pub async fn connect(address: &str, token: Option<&str>) -> Self {
        Self::try_connect(address, token, ClientConfig::default())
            .await
            .unwrap()
    }

    /// A client that asks for protocol `version` in `initialize`.
    pub async fn connect_at(address: &str, token: Option<&str>, version: ProtocolVersion) -> Self {
        Self::try_connect(
            address,
            token,
            ClientConfig::default().with_protocol_version(version),
        )
        .await
        .unwrap()
    }

    /// A client, or why the handshake failed.
    pub async fn try_connect(
        address: &str,
        token: Option<&str>,
        info: ClientConfig,
    ) -> Result<Self, String> {
        let mut endpoint = HttpClient::new()
            .endpoint(&format!("http://{address}/mcp"))
            .map_err(|error| error.to_string())?;
        if let Some(token) = token {
            endpoint = endpoint.bearer_token(token);
        }
        let session = endpoint
            .connect(info)
            .await
            .map_err(|error| error.to_string())?;
        session
            .peer()
            .set_response_cache_config(ClientCacheConfig::disabled())
            .await;
        Ok(Self { session })
    }

    /// A tool's text, or the error it gave (a tool error's text, or the
    /// JSON-RPC error).
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<String, String> {
        let params = CallToolRequestParams::new(tool.to_owned())
            .with_arguments(arguments.as_object().cloned().unwrap_or_default());
        let result = self
            .session
            .call_tool(params)
            .await
            .map_err(|error| error.to_string())?;
        let content = serde_json::to_value(&result.content).unwrap_or_default();
        let text = content[0]["text"].as_str().unwrap_or_default().to_owned();
        if result.is_error == Some(true) {
            Err(text)
        } else {
            Ok(text)
        }
    }

    /// A resource's text, or the error.
    pub async fn read(&self, uri: &str) -> Result<String, String> {
        let result = self
            .session
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .map_err(|error| error.to_string())?;
        match result.contents.first() {
            Some(ResourceContents::TextResourceContents { text, .. }) => Ok(text.clone()),
            Some(ResourceContents::BlobResourceContents { blob, .. }) => Ok(blob.clone()),
            other => Err(format!("unexpected contents: {other:?}")),
        }
    }

    /// A resource's text and where the cache served it from (`l1`, `l2`;
    /// `None` from the server), with whether it was stale: the node must
    /// run with `CACHE__HIT_MARKER=true`.
    pub async fn read_served(&self, uri: &str) -> Result<(String, Option<Served>), String> {
        let result = self
            .session
            .read_resource(ReadResourceRequestParams::new(uri))
            .await
            .map_err(|error| error.to_string())?;
        let result = serde_json::to_value(&result).unwrap_or_default();
        let text = result["contents"][0]["text"]
            .as_str()
            .ok_or_else(|| format!("no text in {result}"))?
            .to_owned();
        let marker = &result["_meta"][mcp_cache::HIT_MARKER];
        let served = marker["tier"].as_str().map(|tier| Served {
            tier: tier.to_owned(),
            stale: marker["stale"].as_bool().unwrap_or(false),
        });
        Ok((text, served))
    }

    /// How many tools the server lists.
    pub async fn list_tools(&self) -> Result<usize, String> {
        self.session
            .list_all_tools()
            .await
            .map(|tools| tools.len())
            .map_err(|error| error.to_string())
    }

    /// Sends `request` and checks its answer.
    pub async fn send(&self, request: &Request) -> Result<(), String> {
        let (answer, expected) = match request {
            Request::Call {
                tool,
                arguments,
                expect,
            } => (self.call(tool, arguments.clone()).await?, expect.as_deref()),
            Request::Read { uri, expect } => (self.read(uri).await?, expect.as_deref()),
            Request::ListTools => {
                let tools = self.list_tools().await?;
                return if tools == 4 {
                    Ok(())
                } else {
                    Err(format!("wrong answer: {tools} tools"))
                };
            }
        };
        match expected {
            Some(expected) if expected != answer => Err(format!(
                "wrong answer: `{answer:.80}`, not `{expected:.80}`"
            )),
            _ => Ok(()),
        }
    }
}

/// Where the cache served a result from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub tier: String,
    pub stale: bool,
}

/// What a load driver sends, with the answer it must get (when known).
#[derive(Debug, Clone)]
pub enum Request {
    Call {
        tool: String,
        arguments: Value,
        expect: Option<String>,
    },
    Read {
        uri: String,
        expect: Option<String>,
    },
    ListTools,
}

impl Request {
    pub fn echo(text: &str) -> Self {
        Self::Call {
            tool: "echo".into(),
            arguments: json!({ "text": text }),
            expect: Some(text.to_owned()),
        }
    }

    /// `slow` for `ms`, with `key` making the call a cache entry of its own.
    pub fn slow(ms: u64, key: u64) -> Self {
        Self::Call {
            tool: "slow".into(),
            arguments: json!({ "ms": ms, "key": key }),
            expect: Some(format!("slept {ms} ms")),
        }
    }

    pub fn read(uri: &str, expect: &str) -> Self {
        Self::Read {
            uri: uri.into(),
            expect: Some(expect.into()),
        }
    }
}

/// One request a load driver sent.
#[derive(Debug, Clone)]
pub struct Record {
    /// When it was due, from the start of the load.
    pub due: Duration,
    /// From when it was due until its answer.
    pub latency: Duration,
    /// The client (closed loop) or the client it went through (open loop).
    pub client: usize,
    pub outcome: Result<(), String>,
}

/// What a driver asks of the test for the `n`th request of client `client`.
pub type Plan = Arc<dyn Fn(usize, u64) -> Request + Send + Sync>;

/// A load running in the background; every request is recorded.
pub struct Load {
    records: Arc<Mutex<Vec<Record>>>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Load {
    /// Closed loop: each client sends its next request when the previous
    /// one is answered.
    pub fn closed(clients: Vec<Arc<Client>>, plan: Plan) -> Self {
        let records = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let started = Instant::now();
        let tasks = clients
            .into_iter()
            .enumerate()
            .map(|(index, client)| {
                let (records, stop, plan) = (records.clone(), stop.clone(), plan.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.is_cancelled() {
                        let request = plan(index, n);
                        n += 1;
                        let due = Instant::now();
                        let outcome = client.send(&request).await;
                        push(&records, started, due, index, outcome);
                    }
                })
            })
            .collect();
        Self {
            records,
            stop,
            tasks,
            started,
        }
    }

    /// Open loop: `rate` requests a second on a fixed timetable, spread
    /// over the clients, latency counted from when each was due; past
    /// `max_outstanding` in flight a request is dropped and recorded as a
    /// client-side failure.
    pub fn open(clients: Vec<Arc<Client>>, rate: f64, max_outstanding: usize, plan: Plan) -> Self {
        let records = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let started = Instant::now();
        let scheduler = {
            let (records, stop) = (records.clone(), stop.clone());
            tokio::spawn(async move {
                let outstanding = Arc::new(AtomicUsize::new(0));
                let interval = Duration::from_secs_f64(1.0 / rate);
                let mut n: u64 = 0;
                loop {
                    let due = started + interval.mul_f64(n as f64);
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep_until(due.into()) => {}
                    }
                    let index = (n as usize) % clients.len();
                    let request = plan(index, n);
                    n += 1;
                    if outstanding.load(Ordering::Acquire) >= max_outstanding {
                        push(
                            &records,
                            started,
                            due,
                            index,
                            Err("dropped by the client".into()),
                        );
                        continue;
                    }
                    outstanding.fetch_add(1, Ordering::AcqRel);
                    let (client, records, outstanding) =
                        (clients[index].clone(), records.clone(), outstanding.clone());
                    tokio::spawn(async move {
                        let outcome = client.send(&request).await;
                        push(&records, started, due, index, outcome);
                        outstanding.fetch_sub(1, Ordering::AcqRel);
                    });
                }
            })
        };
        Self {
            records,
            stop,
            tasks: vec![scheduler],
            started,
        }
    }

    /// Time since the load started.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// The requests answered so far.
    pub fn records(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops sending, waits for the closed loops' last answers (the open
    /// loop's requests in flight get up to 30 s), and returns every record.
    pub async fn stop(self) -> Vec<Record> {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = usize::MAX;
        loop {
            let count = self
                .records
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len();
            if count == last || Instant::now() > deadline {
                break;
            }
            last = count;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn push(
    records: &Mutex<Vec<Record>>,
    started: Instant,
    due: Instant,
    client: usize,
    outcome: Result<(), String>,
) {
    let record = Record {
        due: due.saturating_duration_since(started),
        latency: due.elapsed(),
        client,
        outcome,
    };
    records
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(record);
}

/// Figures of a set of records.
#[derive(Debug, Clone)]
pub struct Summary {
    pub sent: usize,
    pub failed: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Failures by their text (numbers stripped), with a count.
    pub failures: Vec<(String, usize)>,
}

impl Summary {
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        let records: Vec<&Record> = records.into_iter().collect();
        let mut latencies: Vec<f64> = records
            .iter()
            .map(|record| record.latency.as_secs_f64() * 1000.0)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let mut failures: HashMap<String, usize> = HashMap::new();
        for record in &records {
            if let Err(error) = &record.outcome {
                let shape: String = error
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .take(120)
                    .collect();
                *failures.entry(shape).or_default() += 1;
            }
        }
        let mut failures: Vec<_> = failures.into_iter().collect();
        failures.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        Self {
            sent: records.len(),
            failed: records.iter().filter(|r| r.outcome.is_err()).count(),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
            max_ms: latencies.last().copied().unwrap_or(0.0),
            failures,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "sent": self.sent,
            "failed": self.failed,
            "p50_ms": round(self.p50_ms),
            "p99_ms": round(self.p99_ms),
            "max_ms": round(self.max_ms),
            "failures": self.failures.iter().take(5).map(|(text, n)| json!([text, n])).collect::<Vec<_>>(),
        })
    }
}

/// The `q` quantile of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

pub fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// A connection to a Redis for looking at it from the test.
pub async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Stalls the whole Redis at `port` for `seconds` (`DEBUG SLEEP`), from a
/// connection of its own; returns once the command is sent.
pub async fn stall_redis(port: u16, seconds: f64) -> JoinHandle<()> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(format!("DEBUG SLEEP {seconds}\r\n").as_bytes())
        .await
        .unwrap();
    tokio::spawn(async move {
        let mut reply = [0; 5];
        let _ = stream.read_exact(&mut reply).await;
    })
}
