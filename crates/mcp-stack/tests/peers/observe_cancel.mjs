// Preloaded into server-everything (`node --import`), which has no tool that
// reports a cancellation: records each `notifications/cancelled` its SDK
// receives, and whether the named request's handler was still running (it
// is then aborted and its result never sent), so a test sees the upstream
// side of a cancellation. Also records the process id.
//
// Environment: PEER_STATE_DIR (where `pid` and `cancelled` are written) and
// PEER_SDK_PROTOCOL (the absolute path of the SDK's shared/protocol.js that
// the server loads).

import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.env.PEER_STATE_DIR;
const protocol = process.env.PEER_SDK_PROTOCOL;

if (dir && protocol) {
  appendFileSync(join(dir, "pid"), `${process.pid}\n`);
  const { Protocol } = await import(pathToFileURL(protocol).href);
  const receive = Protocol.prototype._oncancel;
  Protocol.prototype._oncancel = async function (notification) {
    const requestId = notification?.params?.requestId;
    const running = this._requestHandlerAbortControllers?.has(requestId) ?? false;
    appendFileSync(join(dir, "cancelled"), `${JSON.stringify({ requestId, running })}\n`);
    return receive.call(this, notification);
  };
}
