//! A real rmcp client and server over an in-memory pipe.

use rmcp::{
    ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient, ServerHandler, ServiceExt,
    service::RunningService,
};
use tokio::task::JoinHandle;

/// Why a client/server pair could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("client failed to connect: {0}")]
pub struct PairError(String);

/// A connected client and its server, which runs in a task of its own until
/// the client goes away. Dropping the pair stops both.
pub struct Pair<C: ClientHandler = ()> {
    /// The client; send requests through `client.peer()` or its helpers.
    pub client: RunningService<RoleClient, C>,
    server: JoinHandle<()>,
}

impl<C: ClientHandler> Drop for Pair<C> {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Connects a client to `handler` with the `initialize` handshake.
pub async fn connect<S: ServerHandler>(handler: S) -> Result<Pair, PairError> {
    connect_with(handler, (), ClientLifecycleMode::Initialize).await
}

/// Connects `client` to `handler` with the given lifecycle, for example
/// `server/discover` with per-request metadata (MCP 2026-07-28).
pub async fn connect_with<S: ServerHandler, C: ClientHandler>(
    handler: S,
    client: C,
    lifecycle: ClientLifecycleMode,
) -> Result<Pair<C>, PairError> {
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    // With `server/discover` the server picks its lifecycle only at the first
    // request after discovery, so it must run on while the client connects.
    let server = tokio::spawn(async move {
        if let Ok(running) = handler.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let client = client
        .serve_with_lifecycle(client_io, lifecycle)
        .await
        .map_err(|error| PairError(error.to_string()))?;
    Ok(Pair { client, server })
}
