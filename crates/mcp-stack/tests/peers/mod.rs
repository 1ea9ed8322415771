//! Third-party MCP servers for the gateway's peer tests, installed from
//! their registries on first use: a server on the Python SDK (PyPI `mcp`,
//! run from `python_server.py` beside this file) and the TypeScript
//! reference server (npm `@modelcontextprotocol/server-everything`), each
//! over stdio and over Streamable HTTP on loopback. Also the clients the
//! tests talk to them with, directly: a raw Streamable HTTP session that
//! reads event streams as they arrive and answers the server's requests,
//! and a line-delimited stdio client.
//!
//! Installs go to `$HOME/.cache/mcp-stack/peers`, once per test binary,
//! and are reused by later runs. When pip or npm cannot install, a test
//! prints `SKIPPED: ...` and returns, unless `MCP_TEST_REQUIRE_PEERS=1`.

#![allow(dead_code, reason = "each test uses part of it")]

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::gateway_support::events;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
    sync::{mpsc, oneshot},
};

/// The Python SDK release the tests run (`pip index versions mcp`).
pub(crate) const PYTHON_MCP_VERSION: &str = "2.3.0";
/// The reference server release the tests run (`npm view
/// @modelcontextprotocol/server-everything version`).
pub(crate) const EVERYTHING_VERSION: &str = "2026.8.31";
/// Set to `1` to make a peer that cannot be installed a failure.
pub(crate) const REQUIRE_PEERS_VAR: &str = "MCP_TEST_REQUIRE_PEERS";
/// The protocol version every peer and the gateway speak with sessions.
pub(crate) const PROTOCOL_VERSION: &str = "2025-11-25";
/// The sessionless protocol version the Python SDK also speaks.
pub(crate) const MODERN_VERSION: &str = "2026-07-28";

/// An installed peer, for starting it.
#[derive(Debug)]
pub(crate) struct Installed {
    pub(crate) server: Server,
    /// The venv's interpreter (with `mcp`), or `node`.
    pub(crate) program: String,
    /// `python_server.py`, or server-everything's `dist/index.js`.
    pub(crate) script: PathBuf,
    /// For server-everything: the SDK module it loads and
    /// `observe_cancel.mjs`, which watches it.
    pub(crate) sdk_protocol: Option<PathBuf>,
    pub(crate) observe: Option<PathBuf>,
}

/// `server`, installed, or `None` after a `SKIPPED` line; panics instead
/// when `MCP_TEST_REQUIRE_PEERS=1`. Each peer installs once per test
/// binary, and one that cannot install leaves the other's tests running.
pub(crate) async fn installed(server: Server) -> Option<&'static Installed> {
    static PYTHON: OnceLock<Result<Installed, String>> = OnceLock::new();
    static EVERYTHING: OnceLock<Result<Installed, String>> = OnceLock::new();
    let outcome = tokio::task::spawn_blocking(move || match server {
        Server::Python => PYTHON.get_or_init(|| install(server)),
        Server::Everything => EVERYTHING.get_or_init(|| install(server)),
    })
    .await
    .expect("the install task");
    match outcome {
        Ok(installed) => Some(installed),
        Err(why) if std::env::var(REQUIRE_PEERS_VAR).as_deref() == Ok("1") => {
            panic!("{REQUIRE_PEERS_VAR}=1 and a peer could not be installed: {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: {why} (set {REQUIRE_PEERS_VAR}=1 to fail instead)");
            None
        }
    }
}

fn install(server: Server) -> Result<Installed, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set, so there is no cache dir")?;
    let root = PathBuf::from(home).join(".cache/mcp-stack/peers");
    std::fs::create_dir_all(&root)
        .map_err(|error| format!("creating {}: {error}", root.display()))?;
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
    let started = Instant::now();
    let installed = match server {
        Server::Python => Installed {
            server,
            program: install_python(&root)?.display().to_string(),
            script: here.join("python_server.py"),
            sdk_protocol: None,
            observe: None,
        },
        Server::Everything => {
            let (script, sdk_protocol) = install_everything(&root)?;
            Installed {
                server,
                program: "node".into(),
                script,
                sdk_protocol: Some(sdk_protocol),
                observe: Some(here.join("observe_cancel.mjs")),
            }
        }
    };
    let release = match server {
        Server::Python => format!("mcp {PYTHON_MCP_VERSION} from PyPI"),
        Server::Everything => {
            format!("@modelcontextprotocol/server-everything {EVERYTHING_VERSION} from npm")
        }
    };
    eprintln!("{release}: ready in {} ms", started.elapsed().as_millis());
    Ok(installed)
}

/// A venv with `mcp` pinned. A dir without its `installed` marker is a
/// broken install, started again.
fn install_python(root: &Path) -> Result<PathBuf, String> {
    let dir = root.join(format!("python-mcp-{PYTHON_MCP_VERSION}"));
    let python = dir.join("venv/bin/python");
    let _lock = InstallLock::take(&dir)?;
    if dir.join("installed").exists() {
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
    let log = dir.join("install.log");
    run(
        std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(dir.join("venv")),
        &log,
        Duration::from_secs(60),
    )
    .map_err(|why| format!("python3 -m venv failed: {why}"))?;
    run(
        std::process::Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("mcp=={PYTHON_MCP_VERSION}"),
        ]),
        &log,
        Duration::from_secs(150),
    )
    .map_err(|why| format!("pip install mcp=={PYTHON_MCP_VERSION} failed: {why}"))?;
    std::fs::write(dir.join("installed"), PYTHON_MCP_VERSION).map_err(|error| error.to_string())?;
    Ok(python)
}

/// server-everything pinned, in a prefix of its own; returns its entry
/// point and its SDK's protocol module.
fn install_everything(root: &Path) -> Result<(PathBuf, PathBuf), String> {
    let dir = root.join(format!("server-everything-{EVERYTHING_VERSION}"));
    let modules = dir.join("node_modules/@modelcontextprotocol");
    let entry = modules.join("server-everything/dist/index.js");
    let sdk_protocol = |modules: &Path| {
        [
            modules.join("sdk"),
            modules.join("server-everything/node_modules/@modelcontextprotocol/sdk"),
        ]
        .into_iter()
        .map(|sdk| sdk.join("dist/esm/shared/protocol.js"))
        .find(|path| path.exists())
        .ok_or_else(|| "server-everything's SDK is not where npm puts it".to_owned())
    };
    let _lock = InstallLock::take(&dir)?;
    if dir.join("installed").exists() {
        return Ok((entry, sdk_protocol(&modules)?));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
    let log = dir.join("install.log");
    run(
        std::process::Command::new("node").arg("--version"),
        &log,
        Duration::from_secs(10),
    )
    .map_err(|why| format!("node is not usable: {why}"))?;
    run(
        std::process::Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(&dir)
            .args([
                "--no-audit",
                "--no-fund",
                "--no-update-notifier",
                "--loglevel=error",
                &format!("@modelcontextprotocol/server-everything@{EVERYTHING_VERSION}"),
            ]),
        &log,
        Duration::from_secs(150),
    )
    .map_err(|why| format!("npm install server-everything@{EVERYTHING_VERSION} failed: {why}"))?;
    if !entry.exists() {
        return Err(format!("npm installed no {}", entry.display()));
    }
    let protocol = sdk_protocol(&modules)?;
    std::fs::write(dir.join("installed"), EVERYTHING_VERSION).map_err(|error| error.to_string())?;
    Ok((entry, protocol))
}

/// `DIR.lock` beside an install dir, held while installing, so test
/// binaries started at once do not install into each other's dir. The lock
/// of a holder that died is taken over.
struct InstallLock(PathBuf);

impl InstallLock {
    fn take(dir: &Path) -> Result<Self, String> {
        let path = dir.with_extension("lock");
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    use std::io::Write as _;
                    let _ = write!(file, "{}", std::process::id());
                    return Ok(Self(path));
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|text| text.trim().parse::<u32>().ok());
                    let gone = holder.is_some_and(|pid| {
                        Path::new("/proc/self").exists()
                            && !Path::new(&format!("/proc/{pid}")).exists()
                    });
                    if gone {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if Instant::now() > deadline {
                        return Err(format!("{} is held for over 300 s", path.display()));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(error) => return Err(format!("{}: {error}", path.display())),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `command` to its end within `timeout`, its output appended to
/// `log`; the error says why, with the log's tail.
fn run(command: &mut std::process::Command, log: &Path, timeout: Duration) -> Result<(), String> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|error| error.to_string())?;
    let errors = file.try_clone().map_err(|error| error.to_string())?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(errors)
        .spawn()
        .map_err(|error| format!("could not start {command:?}: {error}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|error| error.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{command:?} took over {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: String = text
        .lines()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    Err(format!("{command:?} exited with {status}: {tail}"))
}

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    /// `python_server.py` on the Python SDK.
    Python,
    /// `@modelcontextprotocol/server-everything`.
    Everything,
}

/// How it is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Stdio,
    Http,
}

/// A scratch dir removed on drop, where a peer records what a test
/// observes (its pid, the cancellations it saw).
pub(crate) struct StateDir(PathBuf);

impl StateDir {
    pub(crate) fn new(label: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "mcp-stack-peer-{}-{label}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("a state dir");
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The lines of file `name`, none if it is missing.
    pub(crate) fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.0.join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The pid the peer wrote last.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.lines("pid").last().and_then(|line| line.parse().ok())
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Installed {
    /// The program, arguments and environment that start the peer on
    /// `transport` (`port` for HTTP), recording into `state`.
    pub(crate) fn command(
        &self,
        transport: Transport,
        port: u16,
        state: &StateDir,
    ) -> (String, Vec<String>, Vec<(String, String)>) {
        let mut env = vec![(
            "PEER_STATE_DIR".to_owned(),
            state.path().display().to_string(),
        )];
        let script = self.script.display().to_string();
        let args = match (self.server, &self.sdk_protocol, &self.observe) {
            (Server::Everything, Some(sdk_protocol), Some(observe)) => {
                env.push((
                    "PEER_SDK_PROTOCOL".into(),
                    sdk_protocol.display().to_string(),
                ));
                let mode = match transport {
                    Transport::Stdio => "stdio",
                    Transport::Http => {
                        env.push(("PORT".into(), port.to_string()));
                        "streamableHttp"
                    }
                };
                vec!["--import".into(), url_of(observe), script, mode.into()]
            }
            _ => match transport {
                Transport::Stdio => vec![script, "stdio".into()],
                Transport::Http => vec![script, "http".into(), port.to_string()],
            },
        };
        (self.program.clone(), args, env)
    }

    /// Starts the peer over HTTP on `port` and waits until it accepts
    /// connections.
    pub(crate) async fn serve_http(&self, port: u16, state: &StateDir) -> Process {
        let server = self.server;
        let (program, args, env) = self.command(Transport::Http, port, state);
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let mut process = Process::spawn(command);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("{server:?} over HTTP exited at start ({status})");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{server:?} does not listen on port {port} after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `path` as a `file://` URL, for `node --import`.
fn url_of(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A child process, killed when dropped.
pub(crate) struct Process {
    pub(crate) child: Child,
}

impl Process {
    pub(crate) fn spawn(mut command: Command) -> Self {
        command.kill_on_drop(true);
        Self {
            child: command.spawn().expect("the peer starts"),
        }
    }

    /// SIGKILL, and its exit reaped.
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// SIGKILL to process `pid`.
pub(crate) fn kill_pid(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -KILL {pid}");
}

/// A loopback port nobody listens on (for a moment).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// The client capabilities every test client declares: those the gateway
/// declares to its stdio children, so direct and gateway sessions see the
/// same conditional tools.
pub(crate) fn initialize_params(version: &str) -> Value {
    json!({
        "protocolVersion": version,
        "capabilities": { "roots": { "listChanged": true }, "sampling": {}, "elicitation": {} },
        "clientInfo": { "name": "mcp-stack-peer-test", "version": "1" },
    })
}

/// This client's answer to a request the server made of it: fixed roots,
/// a fixed sampling reply (no model behind it), elicitation declined.
pub(crate) fn answer_for(request: &Value) -> Value {
    let id = request["id"].clone();
    let result = match request["method"].as_str().unwrap_or_default() {
        "ping" => json!({}),
        "roots/list" => json!({"roots": [{"uri": "file:///peer-test", "name": "peer-test"}]}),
        "sampling/createMessage" => json!({
            "role": "assistant",
            "content": {"type": "text", "text": "a fixed reply"},
            "model": "peer-test",
            "stopReason": "endTurn",
        }),
        "elicitation/create" => json!({"action": "decline"}),
        other => {
            return json!({
                "jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("the test client has no {other}")},
            });
        }
    };
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// What one request brought: everything before its response, and the
/// response (`Value::Null` when none came).
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    pub(crate) before: Vec<Value>,
    pub(crate) response: Value,
}

impl Exchange {
    /// The `notifications/progress` that came with it.
    pub(crate) fn progress(&self) -> Vec<&Value> {
        self.before
            .iter()
            .filter(|message| message["method"] == "notifications/progress")
            .collect()
    }
}

/// A client: directly to a peer over HTTP or stdio, or to the gateway.
pub(crate) enum Peer {
    Http(HttpSession),
    Stdio(StdioClient),
}

impl Peer {
    /// Sends request `method` and waits (30 s at most) for its response.
    pub(crate) async fn request(&self, method: &str, params: Value) -> Exchange {
        match self {
            Self::Http(session) => session.request(method, params).await,
            Self::Stdio(client) => client.request(method, params).await,
        }
    }

    /// Sends a notification.
    pub(crate) async fn notify(&self, method: &str, params: Value) {
        match self {
            Self::Http(session) => session.notify(method, params).await,
            Self::Stdio(client) => client.notify(method, params).await,
        }
    }

    /// The id the next request gets.
    pub(crate) fn next_id(&self) -> u64 {
        match self {
            Self::Http(session) => session.next_id.load(Ordering::SeqCst),
            Self::Stdio(client) => client.next_id.load(Ordering::SeqCst),
        }
    }
}

/// A Streamable HTTP session, with its GET stream open: the server's
/// requests on it are answered, its notifications kept in `pushed`.
#[derive(Clone)]
pub(crate) struct HttpSession {
    http: Client<HttpConnector, Full<Bytes>>,
    pub(crate) url: String,
    pub(crate) session: Option<HeaderValue>,
    /// The `MCP-Protocol-Version` it sends: the negotiated one.
    version: HeaderValue,
    next_id: Arc<AtomicU64>,
    pub(crate) pushed: Arc<Mutex<Vec<Value>>>,
    listener: Arc<Mutex<Option<AbortOnDrop>>>,
}

/// Stops a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HttpSession {
    /// `initialize` and `notifications/initialized` at `url`; returns the
    /// session and the `initialize` result.
    pub(crate) async fn open(url: &str) -> (Self, Value) {
        Self::open_at(url, PROTOCOL_VERSION).await
    }

    /// As [`open`](Self::open), asking for protocol `version`.
    pub(crate) async fn open_at(url: &str, version: &str) -> (Self, Value) {
        let mut session = Self::stateless(url);
        session.version = HeaderValue::try_from(version).expect("a version");
        let message = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize_params(version)});
        let response = session.post(&message).await;
        assert_eq!(response.status(), StatusCode::OK, "initialize at {url}");
        session.session = response.headers().get("mcp-session-id").cloned();
        assert!(session.session.is_some(), "{url} opened a session");
        let exchange = session.read(response, &json!(0), None).await;
        let result = exchange.response["result"].clone();
        if let Some(negotiated) = result["protocolVersion"].as_str() {
            session.version = HeaderValue::try_from(negotiated).expect("a version");
        }
        session
            .notify("notifications/initialized", Value::Null)
            .await;
        assert!(
            result.is_object(),
            "initialize at {url}: {:?}",
            exchange.response
        );
        session.listen().await;
        (session, result)
    }

    /// A client of `url` without a session, for 2026-07-28 requests.
    pub(crate) fn stateless(url: &str) -> Self {
        Self {
            http: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            url: url.to_owned(),
            session: None,
            version: HeaderValue::from_static(PROTOCOL_VERSION),
            next_id: Arc::new(AtomicU64::new(1)),
            pushed: Arc::default(),
            listener: Arc::default(),
        }
    }

    /// A 2026-07-28 request: the envelope in its `_meta`, the routing
    /// headers (`Mcp-Method`, `Mcp-Name`) a client of that version sends.
    pub(crate) async fn modern(&self, method: &str, mut params: Value) -> Exchange {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "mcp-stack-peer-test", "version": "1"},
        });
        let name = match method {
            "tools/call" | "prompts/get" => params["name"].as_str(),
            "resources/read" => params["uri"].as_str(),
            _ => None,
        }
        .map(ToOwned::to_owned);
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut request = self.build(Method::POST, Bytes::from(message.to_string()));
        let headers = request.headers_mut();
        headers.insert(
            "mcp-protocol-version",
            HeaderValue::from_static(MODERN_VERSION),
        );
        headers.insert(
            "mcp-method",
            HeaderValue::try_from(method).expect("a method"),
        );
        if let Some(name) = name {
            headers.insert(
                "mcp-name",
                HeaderValue::try_from(name).expect("an ASCII name"),
            );
        }
        let response = tokio::time::timeout(Duration::from_secs(30), self.http.request(request))
            .await
            .expect("an HTTP answer within 30 s")
            .expect("an HTTP answer");
        self.read(response, &json!(id), None).await
    }

    /// Opens the GET stream and reads it in the background.
    async fn listen(&self) {
        let mut request = self.build(Method::GET, Bytes::new());
        request
            .headers_mut()
            .insert("accept", HeaderValue::from_static("text/event-stream"));
        let response = tokio::time::timeout(Duration::from_secs(10), self.http.request(request))
            .await
            .expect("a GET answer within 10 s")
            .expect("a GET answer");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "the GET stream of {}",
            self.url
        );
        let session = self.clone();
        let task = tokio::spawn(async move {
            let mut body = response.into_body();
            let mut pending = String::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                for message in complete_events(&mut pending, &data) {
                    if message.get("method").is_some() && message.get("id").is_some() {
                        let _ = session.post(&answer_for(&message)).await;
                    }
                    session
                        .pushed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(message);
                }
            }
        });
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) = Some(AbortOnDrop(task));
    }

    fn build(&self, method: Method, body: Bytes) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = self.url.parse().expect("a URL");
        let headers = request.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(
            "accept",
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert("mcp-protocol-version", self.version.clone());
        if let Some(session) = &self.session {
            headers.insert("mcp-session-id", session.clone());
        }
        request
    }

    async fn post(&self, message: &Value) -> http::Response<hyper::body::Incoming> {
        let request = self.build(Method::POST, Bytes::from(message.to_string()));
        tokio::time::timeout(Duration::from_secs(30), self.http.request(request))
            .await
            .expect("an HTTP answer within 30 s")
            .expect("an HTTP answer")
    }

    pub(crate) async fn notify(&self, method: &str, params: Value) {
        let mut message = json!({"jsonrpc": "2.0", "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        let response = self.post(&message).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{method}");
    }

    pub(crate) async fn request(&self, method: &str, params: Value) -> Exchange {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.post(&message).await;
        self.read(response, &json!(id), None).await
    }

    /// Sends request `method` in the background: every message before its
    /// response arrives on the receiver as it comes; the task ends with
    /// the exchange.
    pub(crate) fn start(
        &self,
        method: &str,
        params: Value,
    ) -> (
        tokio::task::JoinHandle<Exchange>,
        mpsc::UnboundedReceiver<Value>,
    ) {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (sink, messages) = mpsc::unbounded_channel();
        let session = self.clone();
        let task = tokio::spawn(async move {
            let response = session.post(&message).await;
            session.read(response, &json!(id), Some(&sink)).await
        });
        (task, messages)
    }

    /// Reads the answer to request `id`, JSON or an event stream as it
    /// comes, answering the server's requests on the way.
    async fn read(
        &self,
        response: http::Response<hyper::body::Incoming>,
        id: &Value,
        sink: Option<&mpsc::UnboundedSender<Value>>,
    ) -> Exchange {
        let is_stream = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
        let status = response.status();
        let mut body = response.into_body();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut exchange = Exchange::default();
        if !is_stream {
            let bytes = tokio::time::timeout_at(deadline, body.collect())
                .await
                .expect("a body within 30 s")
                .expect("a body")
                .to_bytes();
            exchange.response = serde_json::from_slice(&bytes).unwrap_or_else(
                |_| json!({"status": status.as_u16(), "text": String::from_utf8_lossy(&bytes)}),
            );
            return exchange;
        }
        let mut pending = String::new();
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(None | Some(Err(_))) => return exchange,
                Err(_) => panic!(
                    "no response to {id} from {} within 30 s; so far {:?}",
                    self.url, exchange.before
                ),
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            for message in complete_events(&mut pending, &data) {
                if let Some(sink) = sink {
                    let _ = sink.send(message.clone());
                }
                if message.get("method").is_some() && message.get("id").is_some() {
                    let answer = answer_for(&message);
                    let reply = self.post(&answer).await;
                    assert_eq!(
                        reply.status(),
                        StatusCode::ACCEPTED,
                        "an answer to {message}"
                    );
                    exchange.before.push(message);
                } else if message.get("id") == Some(id) && message.get("method").is_none() {
                    exchange.response = message;
                    return exchange;
                } else {
                    exchange.before.push(message);
                }
            }
        }
    }
}

/// The messages of the events `data` completes, the rest kept in
/// `pending`. Events may end their lines with CRLF (sse-starlette does).
fn complete_events(pending: &mut String, data: &[u8]) -> Vec<Value> {
    pending.push_str(&String::from_utf8_lossy(data).replace("\r\n", "\n"));
    let mut messages = Vec::new();
    while let Some(end) = pending.find("\n\n") {
        let event: String = pending.drain(..end + 2).collect();
        messages.extend(events(&event));
    }
    messages
}

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A client of a server it started as a child, over line-delimited
/// JSON-RPC on stdio. The child is killed on drop.
pub(crate) struct StdioClient {
    _process: Process,
    writer: mpsc::UnboundedSender<String>,
    waiters: Waiters,
    /// Every message that is not a response, in arrival order.
    notes: Arc<Mutex<Vec<Value>>>,
    next_id: AtomicU64,
}

impl StdioClient {
    /// Starts `program args` with `env` and initializes it; returns the
    /// client and the `initialize` result.
    pub(crate) async fn start(
        program: &str,
        args: &[String],
        env: &[(String, String)],
    ) -> (Self, Value) {
        Self::start_at(program, args, env, PROTOCOL_VERSION).await
    }

    /// As [`start`](Self::start), asking for protocol `version`.
    pub(crate) async fn start_at(
        program: &str,
        args: &[String],
        env: &[(String, String)],
        version: &str,
    ) -> (Self, Value) {
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(env.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut process = Process::spawn(command);
        let mut stdin = process.child.stdin.take().expect("stdin");
        let stdout = process.child.stdout.take().expect("stdout");
        let (writer, mut lines) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(line) = lines.recv().await {
                if stdin.write_all(line.as_bytes()).await.is_err()
                    || stdin.write_all(b"\n").await.is_err()
                    || stdin.flush().await.is_err()
                {
                    return;
                }
            }
        });
        let waiters: Waiters = Arc::default();
        let notes: Arc<Mutex<Vec<Value>>> = Arc::default();
        tokio::spawn({
            let (waiters, notes, writer) = (waiters.clone(), notes.clone(), writer.clone());
            async move {
                let mut reader = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    let Ok(message) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    match (message.get("id"), message.get("method")) {
                        (Some(id), None) => {
                            let waiter = id.as_u64().and_then(|id| {
                                waiters
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .remove(&id)
                            });
                            if let Some(waiter) = waiter {
                                let _ = waiter.send(message);
                            }
                        }
                        (Some(_), Some(_)) => {
                            let _ = writer.send(answer_for(&message).to_string());
                            notes
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(message);
                        }
                        _ => notes
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(message),
                    }
                }
            }
        });
        let client = Self {
            _process: process,
            writer,
            waiters,
            notes,
            next_id: AtomicU64::new(1),
        };
        let init = client
            .send(0, "initialize", initialize_params(version))
            .await;
        client
            .notify("notifications/initialized", Value::Null)
            .await;
        let result = init.response["result"].clone();
        assert!(
            result.is_object(),
            "initialize {program}: {:?}",
            init.response
        );
        (client, result)
    }

    pub(crate) async fn notify(&self, method: &str, params: Value) {
        let mut message = json!({"jsonrpc": "2.0", "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        let _ = self.writer.send(message.to_string());
    }

    pub(crate) async fn request(&self, method: &str, params: Value) -> Exchange {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.send(id, method, params).await
    }

    async fn send(&self, id: u64, method: &str, params: Value) -> Exchange {
        let (waiter, answered) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, waiter);
        let seen = self
            .notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let _ = self.writer.send(message.to_string());
        let response = tokio::time::timeout(Duration::from_secs(30), answered)
            .await
            .unwrap_or_else(|_| panic!("no response to {method} within 30 s"))
            .expect("the child answers");
        let before = self.notes.lock().unwrap_or_else(PoisonError::into_inner)[seen..].to_vec();
        Exchange { before, response }
    }
}
