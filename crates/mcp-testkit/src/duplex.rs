//! A real rmcp client and server over an in-memory pipe.

use rmcp::{
    ClientLifecycleMode, ClientServiceExt, RoleClient, RoleServer, ServerHandler, ServiceExt,
    service::RunningService,
};

/// Why a client/server pair could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// The server side failed its handshake.
    #[error("server failed to start: {0}")]
    Server(String),
    /// The client side failed its handshake.
    #[error("client failed to start: {0}")]
    Client(String),
}

/// A connected client and server. Dropping it closes both.
pub struct Pair<S: ServerHandler> {
    /// The client; send requests through `client.peer()` or its helpers.
    pub client: RunningService<RoleClient, ()>,
    /// The running server.
    pub server: RunningService<RoleServer, S>,
}

/// Connects a client to `handler` with the `initialize` handshake.
pub async fn connect<S: ServerHandler>(handler: S) -> Result<Pair<S>, PairError> {
    connect_with(handler, ClientLifecycleMode::Initialize).await
}

/// Connects a client to `handler` with the given lifecycle, for example
/// `server/discover` with per-request metadata (MCP 2026-07-28).
pub async fn connect_with<S: ServerHandler>(
    handler: S,
    lifecycle: ClientLifecycleMode,
) -> Result<Pair<S>, PairError> {
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let (server, client) = tokio::join!(
        handler.serve(server_io),
        ().serve_with_lifecycle(client_io, lifecycle)
    );
    Ok(Pair {
        server: server.map_err(|error| PairError::Server(error.to_string()))?,
        client: client.map_err(|error| PairError::Client(error.to_string()))?,
    })
}
