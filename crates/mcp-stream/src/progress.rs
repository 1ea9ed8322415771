//! Progress notifications: [`Progress`], where a request's
//! `notifications/progress` go, and [`ProgressSender`] for raw JSON-RPC edges.

use std::{fmt, sync::Arc};

use serde_json::{Value, json};

/// A request's progress token and the way its `notifications/progress`
/// reach the client: the rmcp peer of the request, or the
/// [`ProgressSender`] a JSON-RPC edge attached to it.
#[derive(Clone)]
pub struct Progress {
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    #[cfg(feature = "rmcp")]
    Rmcp {
        peer: rmcp::Peer<rmcp::RoleServer>,
        token: rmcp::model::ProgressToken,
    },
    Sender {
        sender: ProgressSender,
        token: Value,
    },
}

impl Progress {
    /// Progress sent through an rmcp peer.
    #[cfg(feature = "rmcp")]
    pub fn rmcp(peer: rmcp::Peer<rmcp::RoleServer>, token: rmcp::model::ProgressToken) -> Self {
        Self {
            sink: Sink::Rmcp { peer, token },
        }
    }

    /// Progress sent through `sender`, for the request whose
    /// `_meta.progressToken` is `token`.
    pub fn sender(sender: ProgressSender, token: Value) -> Self {
        Self {
            sink: Sink::Sender { sender, token },
        }
    }

    /// Sends `notifications/progress` with `done` bytes of `total`. A client
    /// that went away is not an error: the read itself will fail or finish.
    pub async fn report(&self, done: u64, total: Option<u64>) {
        match &self.sink {
            #[cfg(feature = "rmcp")]
            Sink::Rmcp { peer, token } => {
                let mut param =
                    rmcp::model::ProgressNotificationParam::new(token.clone(), done as f64);
                param.total = total.map(|total| total as f64);
                let _ = peer.notify_progress(param).await;
            }
            Sink::Sender { sender, token } => (sender.0)(ProgressUpdate {
                token: token.clone(),
                progress: done,
                total,
            }),
        }
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sink {
            #[cfg(feature = "rmcp")]
            Sink::Rmcp { token, .. } => f.debug_tuple("Progress").field(&token.0).finish(),
            Sink::Sender { token, .. } => f.debug_tuple("Progress").field(token).finish(),
        }
    }
}

/// Where a JSON-RPC edge wants the progress of a request delivered: insert
/// one into the request's extensions
/// (`JsonRpcRequest::insert_extension`), and layers that report progress
/// call it with each update. The edge writes
/// [`ProgressUpdate::to_message`] to the client (an SSE event, a stdio
/// line) before the response.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use mcp_stream::{ProgressSender, ProgressUpdate};
///
/// let sent = Arc::new(Mutex::new(Vec::new()));
/// let sink = sent.clone();
/// let sender = ProgressSender::new(move |update: ProgressUpdate| {
///     sink.lock().unwrap().push(update.to_message());
/// });
/// # let _ = sender;
/// ```
#[derive(Clone)]
pub struct ProgressSender(Arc<dyn Fn(ProgressUpdate) + Send + Sync>);

impl ProgressSender {
    /// A sender that hands each update to `send`, which must not block.
    pub fn new(send: impl Fn(ProgressUpdate) + Send + Sync + 'static) -> Self {
        Self(Arc::new(send))
    }
}

impl fmt::Debug for ProgressSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressSender(..)")
    }
}

/// One `notifications/progress`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProgressUpdate {
    /// The request's `_meta.progressToken`.
    pub token: Value,
    /// Bytes done so far.
    pub progress: u64,
    /// Bytes in all, when known.
    pub total: Option<u64>,
}

impl ProgressUpdate {
    /// The JSON-RPC notification message.
    pub fn to_message(&self) -> Vec<u8> {
        let mut params = json!({ "progressToken": self.token, "progress": self.progress });
        if let Some(total) = self.total {
            params["total"] = json!(total);
        }
        let message = json!({
            "jsonrpc": "2.0",
            "method": "notifications/progress",
            "params": params,
        });
        // A JSON value always serializes.
        serde_json::to_vec(&message).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn a_sender_receives_updates_as_notifications() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let sink = sent.clone();
        let sender = ProgressSender::new(move |update| sink.lock().unwrap().push(update));
        let progress = Progress::sender(sender, json!("read-1"));
        progress.report(10, Some(30)).await;
        progress.report(30, Some(30)).await;
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        let message: Value = serde_json::from_slice(&sent[0].to_message()).unwrap();
        assert_eq!(
            message,
            json!({
                "jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": { "progressToken": "read-1", "progress": 10, "total": 30 },
            })
        );
        assert_eq!(sent[1].progress, 30);
    }
}
