//! [`serve_stdio`]: an MCP server on this process's stdin and stdout.

use rmcp::{ServerHandler, ServiceExt};

/// Serves `handler` on stdin and stdout until the client goes away. Logs
/// must go to stderr: stdout carries the protocol.
pub async fn serve_stdio<H: ServerHandler>(handler: H) -> Result<(), std::io::Error> {
    let running = handler
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}
