"""A deterministic MCP server on the Python SDK, for the gateway's peer tests.

Usage: python_server.py stdio | http PORT

Environment:
  PEER_STATE_DIR  where the server records what a test observes from outside:
                  `pid` (its process id, written at start) and `cancelled`
                  (one line per `slow` call that saw its cancellation).
"""

import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

STATE_DIR = os.environ.get("PEER_STATE_DIR")

server = MCPServer("mcp-stack-peer", version="1.0.0", log_level="WARNING")


def record(name: str, line: str) -> None:
    if STATE_DIR:
        with open(os.path.join(STATE_DIR, name), "a", encoding="utf-8") as file:
            file.write(line + "\n")


@server.tool(annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True))
def echo(text: str) -> str:
    """Returns its text."""
    return text


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
async def progress(steps: int, ctx: Context) -> str:
    """Reports `steps` steps of progress when the request asked for it."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    return f"{steps} steps"


@server.tool()
async def slow(tag: str, seconds: float, ctx: Context) -> str:
    """Waits `seconds`; a cancellation meanwhile is recorded under `tag`."""
    record("started", tag)
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        record("cancelled", tag)
        raise
    return f"{tag} slept"


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Adds a tool called `name` and says the tool list changed."""

    def added() -> str:
        return f"{name} ran"

    server.add_tool(added, name=name, description="Added by grow.")
    await ctx.session.send_tool_list_changed()
    return f"added {name}"


def main() -> None:
    record("pid", str(os.getpid()))
    transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if transport == "stdio":
        server.run("stdio")
    elif transport == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        sys.exit(f"unknown transport {transport}")


if __name__ == "__main__":
    main()
