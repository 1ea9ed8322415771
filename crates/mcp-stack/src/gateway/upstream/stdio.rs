//! [`StdioLeg`]: an upstream MCP server run as a child process, speaking
//! line-delimited JSON-RPC on its stdin and stdout.
//!
//! Every client session shares one child. A child per session would start
//! a Python or Node process (a second or so, tens of MiB) per client and
//! multiply whatever the server holds (models, connections, caches), while
//! the stack in front already shares one cache between sessions. So the
//! gateway is the child's only client: it initializes it once, and gives
//! each forwarded request an id of its own (and its progress token the same
//! id), mapping the answers and the progress back to the client's ids.
//!
//! What sharing costs, and what the gateway does about it:
//! - the child negotiated its protocol version and capabilities with the
//!   gateway, which declares `roots`, `sampling` and `elicitation` so that
//!   its requests for them can be relayed;
//! - the child's own requests (sampling, elicitation, roots) and its log
//!   messages carry no link to the request they serve on stdio: they go to
//!   the client whose request to this child started last, which is exact
//!   whenever one client at a time has requests in flight;
//! - `logging/setLevel` and subscriptions are the child's, for every
//!   client at once; change notifications reach every session.
//!
//! A child that exits fails its requests in flight at once; requests made
//! while it is down fail fast with [`McpError::Unavailable`] naming the exit
//! (the breaker counts them), and it is started again after a doubling
//! delay (250 ms up to 30 s, reset by a run of 30 s). A restarted child may
//! have changed anything, so the upstream's cache is cleared.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    process::Stdio,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use mcp_service::{
    McpError, McpRequest, RpcError, jsonrpc::JsonRpcRequest, jsonrpc::JsonRpcResponse,
};
use serde_json::{Value, json, value::RawValue};
use tokio::{
    io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
    sync::{mpsc, oneshot, watch},
};
use tokio_util::sync::CancellationToken;

use super::{Inbound, UpstreamInfo, accepted, backoff::Backoff};
use crate::gateway::{
    session::CallContext,
    wire::{self, Envelope, Kind},
};

/// The protocol version the gateway asks a child for.
const CHILD_PROTOCOL_VERSION: &str = "2025-11-25";
/// Lines waiting to be written to the child at most; a request over that
/// is shed.
const WRITE_QUEUE: usize = 1024;

/// How one stdio upstream is started.
#[derive(Debug, Clone)]
pub(crate) struct StdioOptions {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    /// The longest line read from the child.
    pub(crate) max_line_bytes: usize,
    /// How long the child may take to answer `initialize`.
    pub(crate) start_timeout: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
}

enum ChildState {
    Starting,
    Up {
        writer: mpsc::Sender<Vec<u8>>,
        pid: Option<u32>,
        init: Arc<RawValue>,
    },
    Down {
        reason: String,
        retry_at: Instant,
    },
    Stopped,
}

struct Pending {
    answer: oneshot::Sender<Result<JsonRpcResponse, McpError>>,
    context: CallContext,
    /// The client's progress token, given back in the child's progress.
    progress_token: Option<Value>,
}

struct Shared {
    info: Arc<UpstreamInfo>,
    options: StdioOptions,
    state: Mutex<ChildState>,
    /// Bumped whenever the state changes, for calls waiting for a start.
    changed: watch::Sender<u64>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
    starts: AtomicU64,
    closing: CancellationToken,
}

/// The leg of a stdio upstream. Clones share the child.
#[derive(Clone)]
pub(crate) struct StdioLeg {
    shared: Arc<Shared>,
}

impl StdioLeg {
    /// Starts the child (in the background) and keeps it running.
    pub(crate) fn start(info: Arc<UpstreamInfo>, options: StdioOptions) -> Self {
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            info,
            options,
            state: Mutex::new(ChildState::Starting),
            changed,
            pending: Mutex::default(),
            next_id: AtomicU64::new(1),
            starts: AtomicU64::new(0),
            closing: CancellationToken::new(),
        });
        tokio::spawn(supervise(shared.clone()));
        Self { shared }
    }

    pub(crate) fn call(&self, request: JsonRpcRequest) -> StdioCall {
        let shared = &self.shared;
        let method = request.method();
        if method == "notifications/initialized" {
            // The gateway initialized the child itself, once.
            return StdioCall::Ready(Some(accepted()));
        }
        let writer = match &*shared.lock_state() {
            ChildState::Up { writer, init, .. } => {
                if method == "initialize" {
                    return StdioCall::Ready(Some(initialize_result(init, &request)));
                }
                writer.clone()
            }
            ChildState::Starting => {
                let leg = self.clone();
                return StdioCall::Slow(Box::pin(async move {
                    leg.wait_for_start().await?;
                    leg.call(request).await
                }));
            }
            ChildState::Down { reason, retry_at } => {
                let wait = retry_at.saturating_duration_since(Instant::now());
                return StdioCall::Ready(Some(Err(shared.unavailable(format_args!(
                    "{reason}; starting it again in {} ms",
                    wait.as_millis()
                )))));
            }
            ChildState::Stopped => {
                return StdioCall::Ready(Some(Err(
                    shared.unavailable("the gateway is shutting down")
                )));
            }
        };
        if request.is_notification() {
            let _ = writer.try_send(request.encode());
            return StdioCall::Ready(Some(accepted()));
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (params, progress_token) = with_progress_token(request.params(), id);
        let line = wire::request(Some(id), method, params.as_deref().or(request.params()));
        let (answer, receiver) = oneshot::channel();
        let context = request
            .extension::<CallContext>()
            .cloned()
            .unwrap_or_default();
        shared.lock_pending().insert(
            id,
            Pending {
                answer,
                context,
                progress_token,
            },
        );
        if writer.try_send(line).is_err() {
            shared.lock_pending().remove(&id);
            return StdioCall::Ready(Some(Err(McpError::Overloaded)));
        }
        StdioCall::Waiting {
            receiver,
            guard: Forget {
                shared: self.shared.clone(),
                id,
            },
        }
    }

    async fn wait_for_start(&self) -> Result<(), McpError> {
        let mut changed = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + self.shared.options.start_timeout;
        loop {
            if !matches!(&*self.shared.lock_state(), ChildState::Starting) {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    return Err(self.shared.unavailable("it did not start in time"));
                }
            }
        }
    }

    /// Writes `message` (an answer or a notification) to the child.
    pub(crate) fn send_message(&self, message: Vec<u8>) {
        if let ChildState::Up { writer, .. } = &*self.shared.lock_state() {
            let _ = writer.try_send(message);
        }
    }

    /// Stops the child for good.
    pub(crate) fn shutdown(&self) {
        self.shared.closing.cancel();
    }

    pub(crate) fn health(&self) -> Value {
        let starts = self.shared.starts.load(Ordering::Relaxed);
        let (state, pid, reason) = match &*self.shared.lock_state() {
            ChildState::Starting => ("starting", None, None),
            ChildState::Up { pid, .. } => ("up", *pid, None),
            ChildState::Down { reason, .. } => ("down", None, Some(reason.clone())),
            ChildState::Stopped => ("stopped", None, None),
        };
        json!({
            "transport": "stdio",
            "command": self.shared.options.program,
            "process": state,
            "pid": pid,
            "restarts": starts.saturating_sub(1),
            "last_exit": reason,
        })
    }
}

impl Shared {
    fn lock_state(&self) -> std::sync::MutexGuard<'_, ChildState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_state(&self, state: ChildState) {
        *self.lock_state() = state;
        self.changed.send_modify(|generation| *generation += 1);
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> McpError {
        McpError::unavailable(format!("upstream {} (stdio): {why}", self.info.name))
    }

    /// The context of the request started last, which the child's
    /// unattributed messages go to.
    fn latest_context(&self) -> Option<CallContext> {
        let pending = self.lock_pending();
        pending
            .iter()
            .filter(|(_, call)| call.context.session.is_some())
            .max_by_key(|(id, _)| **id)
            .map(|(_, call)| call.context.clone())
    }

    /// One line the child wrote.
    fn dispatch(&self, line: &[u8], writer: &mpsc::Sender<Vec<u8>>) {
        let Some(envelope) = Envelope::read(line) else {
            tracing::debug!(upstream = %self.info.name, "the child wrote a line that is not JSON-RPC");
            return;
        };
        match envelope.kind() {
            Kind::Response => {
                let Some(id) = envelope.id.and_then(|id| id.get().parse::<u64>().ok()) else {
                    return;
                };
                let Some(call) = self.lock_pending().remove(&id) else {
                    return;
                };
                let _ = call.answer.send(envelope.outcome());
            }
            Kind::Notification if envelope.method.as_deref() == Some("notifications/progress") => {
                self.progress(envelope.params);
            }
            Kind::Notification => {
                let method = envelope.method.as_deref().unwrap_or_default();
                let context = (method == "notifications/message")
                    .then(|| self.latest_context())
                    .flatten();
                let _ = self.info.inbound(context.as_ref(), None, line);
            }
            Kind::Request => {
                let context = self.latest_context();
                if let Inbound::Answer(answer) = self.info.inbound(context.as_ref(), None, line) {
                    let _ = writer.try_send(answer);
                }
            }
            Kind::Invalid => {}
        }
    }

    /// The child's progress for request N (its token is N): given back
    /// under the client's token, to the client that asked.
    fn progress(&self, params: Option<&RawValue>) {
        let Some(mut params) = params.and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        else {
            return;
        };
        let Some(id) = params.get("progressToken").and_then(Value::as_u64) else {
            return;
        };
        let (context, token) = {
            let pending = self.lock_pending();
            let Some(call) = pending.get(&id) else {
                return;
            };
            (call.context.clone(), call.progress_token.clone())
        };
        let Some(token) = token else {
            return;
        };
        params["progressToken"] = token;
        let Ok(params) = serde_json::value::to_raw_value(&params) else {
            return;
        };
        let message = wire::request::<u8>(None, "notifications/progress", Some(&params));
        context.deliver(Bytes::from(message));
    }

    /// Fails every request in flight: the child that had them is gone.
    fn fail_pending(&self, reason: &str) {
        let pending: Vec<Pending> = self.lock_pending().drain().map(|(_, call)| call).collect();
        for call in pending {
            let _ = call.answer.send(Err(self.unavailable(reason)));
        }
    }
}

/// The child's `initialize` result for a client: the child's capabilities
/// and identity, at the version the client asked for when the gateway
/// speaks it.
fn initialize_result(
    init: &RawValue,
    request: &JsonRpcRequest,
) -> Result<JsonRpcResponse, McpError> {
    let mut result: Value = serde_json::from_str(init.get())
        .map_err(|error| McpError::from(RpcError::internal(error.to_string())))?;
    let asked = crate::gateway::core::asked_version(request);
    if let Some(version) =
        asked.filter(|version| crate::gateway::SESSION_VERSIONS.contains(&version.as_str()))
    {
        result["protocolVersion"] = Value::String(version);
    }
    JsonRpcResponse::from_value(&result)
}

/// `params` with `_meta.progressToken` set to `id`, when the client asked
/// for progress, and the client's own token.
fn with_progress_token(
    params: Option<&RawValue>,
    id: u64,
) -> (Option<Box<RawValue>>, Option<Value>) {
    let Some(params) = params.filter(|params| params.get().contains("progressToken")) else {
        return (None, None);
    };
    let Ok(mut value) = serde_json::from_str::<Value>(params.get()) else {
        return (None, None);
    };
    let Some(meta) = value.get_mut("_meta").and_then(Value::as_object_mut) else {
        return (None, None);
    };
    let Some(token) = meta.insert("progressToken".into(), Value::from(id)) else {
        return (None, None);
    };
    (serde_json::value::to_raw_value(&value).ok(), Some(token))
}

/// The response future of [`StdioLeg`].
pub(crate) enum StdioCall {
    Ready(Option<Result<JsonRpcResponse, McpError>>),
    Waiting {
        receiver: oneshot::Receiver<Result<JsonRpcResponse, McpError>>,
        guard: Forget,
    },
    /// Waiting for the child to start: rare, so boxed.
    Slow(Pin<Box<dyn Future<Output = Result<JsonRpcResponse, McpError>> + Send>>),
}

impl Future for StdioCall {
    type Output = Result<JsonRpcResponse, McpError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Ready(outcome) => Poll::Ready(
                outcome
                    .take()
                    .unwrap_or_else(|| Err(RpcError::internal("polled after completion").into())),
            ),
            Self::Waiting { receiver, guard } => {
                let outcome = match std::task::ready!(Pin::new(receiver).poll(cx)) {
                    Ok(outcome) => outcome,
                    Err(_) => Err(guard.shared.unavailable("the child went away")),
                };
                guard.id = 0;
                Poll::Ready(outcome)
            }
            Self::Slow(future) => future.as_mut().poll(cx),
        }
    }
}

/// Forgets a request dropped before its answer and tells the child.
pub(crate) struct Forget {
    shared: Arc<Shared>,
    /// 0 once answered.
    id: u64,
}

impl Drop for Forget {
    fn drop(&mut self) {
        if self.id == 0 || self.shared.lock_pending().remove(&self.id).is_none() {
            return;
        }
        let params = json!({
            "requestId": self.id,
            "reason": "cancelled by the gateway's client, or its deadline passed",
        });
        if let Ok(params) = serde_json::value::to_raw_value(&params) {
            let message = wire::request::<u8>(None, "notifications/cancelled", Some(&params));
            StdioLeg {
                shared: self.shared.clone(),
            }
            .send_message(message);
        }
    }
}

/// Keeps the child running: starts it, and starts it again after it
/// exits, until shutdown.
async fn supervise(shared: Arc<Shared>) {
    let options = &shared.options;
    let mut backoff = Backoff::new(
        options.backoff_initial,
        options.backoff_max,
        Duration::from_secs(30),
    );
    loop {
        if shared.closing.is_cancelled() {
            break;
        }
        let started = Instant::now();
        let reason = run(&shared).await;
        shared.fail_pending(&reason);
        if shared.closing.is_cancelled() {
            break;
        }
        let delay = backoff.after_run(started.elapsed());
        tracing::warn!(upstream = %shared.info.name, %reason, delay_ms = delay.as_millis() as u64, "stdio upstream down");
        shared.set_state(ChildState::Down {
            reason,
            retry_at: Instant::now() + delay,
        });
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.closing.cancelled() => break,
        }
        shared.set_state(ChildState::Starting);
    }
    shared.set_state(ChildState::Stopped);
    shared.fail_pending("the gateway is shutting down");
}

/// One run of the child; returns why it ended.
async fn run(shared: &Arc<Shared>) -> String {
    let options = &shared.options;
    let mut command = Command::new(&options.program);
    command
        .args(&options.args)
        .envs(options.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => return format!("could not start `{}`: {error}", options.program),
    };
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return "the child has no stdin or stdout".into();
    };
    let pid = child.id();
    let (writer, mut lines) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    let write = async move {
        while let Some(mut line) = lines.recv().await {
            line.push(b'\n');
            if stdin.write_all(&line).await.is_err() {
                return;
            }
            // Whatever else is queued goes in the same flush.
            while let Ok(mut more) = lines.try_recv() {
                more.push(b'\n');
                if stdin.write_all(&more).await.is_err() {
                    return;
                }
            }
            if stdin.flush().await.is_err() {
                return;
            }
        }
    };
    let mut reader = BufReader::with_capacity(64 << 10, stdout);
    let serve = async {
        let init = match handshake(shared, &writer, &mut reader).await {
            Ok(init) => init,
            Err(why) => return why,
        };
        let generation = shared.starts.fetch_add(1, Ordering::Relaxed);
        if generation > 0 {
            shared.info.invalidate_all();
        }
        tracing::info!(upstream = %shared.info.name, pid, "stdio upstream up");
        shared.set_state(ChildState::Up {
            writer: writer.clone(),
            pid,
            init,
        });
        let mut line = Vec::new();
        loop {
            match read_line(&mut reader, &mut line, options.max_line_bytes).await {
                Ok(Line::Complete) => shared.dispatch(&line, &writer),
                Ok(Line::TooLong) => tracing::warn!(
                    upstream = %shared.info.name,
                    max_bytes = options.max_line_bytes,
                    "skipped a line over the size limit"
                ),
                Ok(Line::End) => return "it closed its stdout".to_owned(),
                Err(error) => return format!("reading its stdout failed: {error}"),
            }
        }
    };
    let why = tokio::select! {
        why = serve => why,
        () = write => "it stopped reading its stdin".to_owned(),
        () = shared.closing.cancelled() => "the gateway is shutting down".to_owned(),
    };
    // The state says down before the child is reaped, so no call is sent
    // to a writer that is gone.
    shared.set_state(ChildState::Starting);
    let status = match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
        Ok(Ok(status)) => Some(status),
        _ => {
            let _ = child.kill().await;
            child.try_wait().ok().flatten()
        }
    };
    match status {
        Some(status) => format!("it exited ({status}): {why}"),
        None => format!("it was stopped: {why}"),
    }
}

/// `initialize` and `notifications/initialized`, as the gateway: returns
/// the child's `initialize` result.
async fn handshake<R: AsyncBufRead + Unpin>(
    shared: &Shared,
    writer: &mpsc::Sender<Vec<u8>>,
    reader: &mut R,
) -> Result<Arc<RawValue>, String> {
    let params = json!({
        "protocolVersion": CHILD_PROTOCOL_VERSION,
        "capabilities": { "roots": { "listChanged": true }, "sampling": {}, "elicitation": {} },
        "clientInfo": { "name": "mcp-stack-gateway", "version": env!("CARGO_PKG_VERSION") },
    });
    let params = serde_json::value::to_raw_value(&params).map_err(|error| error.to_string())?;
    writer
        .send(wire::request(Some(0), "initialize", Some(&params)))
        .await
        .map_err(|_| "it stopped reading its stdin".to_owned())?;
    let answer = async {
        let mut line = Vec::new();
        loop {
            match read_line(reader, &mut line, shared.options.max_line_bytes).await {
                Ok(Line::Complete) => {}
                Ok(Line::TooLong) => continue,
                Ok(Line::End) => {
                    return Err("it closed its stdout before answering initialize".to_owned());
                }
                Err(error) => return Err(format!("reading its stdout failed: {error}")),
            }
            let Some(envelope) = Envelope::read(&line) else {
                continue;
            };
            if envelope.kind() == Kind::Response && envelope.id.map(RawValue::get) == Some("0") {
                return match envelope.outcome() {
                    Ok(result) => Ok(Arc::from(result.into_raw())),
                    Err(error) => Err(format!("it refused initialize: {error}")),
                };
            }
        }
    };
    let init = tokio::time::timeout(shared.options.start_timeout, answer)
        .await
        .map_err(|_| {
            format!(
                "it did not answer initialize within {} ms",
                shared.options.start_timeout.as_millis()
            )
        })??;
    writer
        .send(wire::request::<u8>(None, "notifications/initialized", None))
        .await
        .map_err(|_| "it stopped reading its stdin".to_owned())?;
    Ok(init)
}

/// What [`read_line`] read.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A line, without its newline, is in the buffer.
    Complete,
    /// A line over the limit went by; nothing of it was kept.
    TooLong,
    /// The stream ended.
    End,
}

/// Reads one line into `line`, keeping at most `max_bytes` of it.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max_bytes: usize,
) -> std::io::Result<Line> {
    line.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if line.is_empty() && !too_long {
                Line::End
            } else if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
        let (part, end) = match available.iter().position(|&byte| byte == b'\n') {
            Some(newline) => (&available[..newline], Some(newline + 1)),
            None => (available, None),
        };
        if !too_long {
            if line.len() + part.len() > max_bytes {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(part);
            }
        }
        let consumed = end.unwrap_or(available.len());
        reader.consume(consumed);
        if end.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if too_long {
                line.clear();
                return Ok(Line::TooLong);
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                line.clear();
                continue;
            }
            return Ok(Line::Complete);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[tokio::test]
    async fn lines_are_read_whole_within_the_limit_and_long_ones_skipped() {
        let input: &[u8] = b"{\"a\":1}\r\n\n0123456789abc\nend";
        let mut reader = BufReader::with_capacity(4, input);
        let mut line = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut line, 10).await.unwrap(),
            Line::Complete
        );
        assert_eq!(line, b"{\"a\":1}");
        assert_eq!(
            read_line(&mut reader, &mut line, 10).await.unwrap(),
            Line::TooLong
        );
        assert_eq!(
            read_line(&mut reader, &mut line, 10).await.unwrap(),
            Line::Complete
        );
        assert_eq!(line, b"end");
        assert_eq!(
            read_line(&mut reader, &mut line, 10).await.unwrap(),
            Line::End
        );
    }

    #[test]
    fn progress_tokens_are_swapped_for_the_gateway_id() {
        let params =
            RawValue::from_string(r#"{"name":"x","_meta":{"progressToken":"abc"}}"#.into())
                .unwrap();
        let (rewritten, token) = with_progress_token(Some(&params), 42);
        let rewritten: Value = serde_json::from_str(rewritten.unwrap().get()).unwrap();
        assert_eq!(rewritten["_meta"]["progressToken"], 42);
        assert_eq!(rewritten["name"], "x");
        assert_eq!(token, Some(Value::from("abc")));

        let plain = RawValue::from_string(r#"{"name":"progressToken"}"#.into()).unwrap();
        let (rewritten, token) = with_progress_token(Some(&plain), 1);
        assert!(rewritten.is_none() && token.is_none());
    }
}
