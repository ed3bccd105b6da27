// The link to the server: the session token (kept in localStorage: the same memory on every visit),
// authorised API calls, and the WebSocket, which counts as open only once the server says "ready"
// (a refused socket is accepted first and then closed with a code: see docs/PROTOCOL.md).
const KEY = "omniliveToken";

export class LinkError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

export const CODES = { token: 4401, deleted: 4404, origin: 4403, busy: 4409, takenOver: 4410, full: 4429 };  // 4408 (idle): reconnect
const PING_MS = 60000;  // an open page says so at least this often (the server closes idle sockets: 4408)

export const storedToken = () => localStorage.getItem(KEY);

// "New memory": this token and its memory are deleted on the server, then a new one is made.
export async function replaceToken() {
  if (storedToken()) await api("/api/session", { method: "DELETE" }).catch(() => {});  // (gone already: fine)
  return newToken();
}

export async function newToken() {
  const r = await fetch("/api/sessions", { method: "POST" });
  if (!r.ok) throw new LinkError(r.status === 429 ? CODES.full : r.status, (await r.json()).detail);
  const token = (await r.json()).token;
  localStorage.setItem(KEY, token);
  return token;
}

// GET/DELETE on /api/... with this browser's token; throws LinkError (401: unknown token, 0: offline).
export async function api(path, { method = "GET", json = true } = {}) {
  let r;
  try {
    r = await fetch(path, { method, headers: { Authorization: `Bearer ${storedToken()}` } });
  } catch (err) {
    throw new LinkError(0, err.message);
  }
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail || detail; } catch (_) {}
    throw new LinkError(r.status, detail);
  }
  return json ? r.json() : r.blob();
}

// "ok" with the session's info, "unknown" (the server no longer knows this token), "none", or "offline".
export async function checkToken() {
  if (!storedToken()) return { state: "none" };
  try {
    return { state: "ok", info: await api("/api/session") };
  } catch (err) {
    return { state: err.code === 401 ? "unknown" : "offline", error: err };
  }
}

// Resolves with [socket, ready message]; rejects with LinkError(close code) when refused or unreachable.
export function openSocket({ takeover = false } = {}) {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${takeover ? "?takeover=1" : ""}`;
  return new Promise((resolve, reject) => {
    // the token travels as a subprotocol, not in the URL (URLs end up in logs)
    const sock = new WebSocket(url, ["omnilive", `token.${storedToken()}`]);
    sock.binaryType = "arraybuffer";
    let refusal = "";
    sock.onmessage = (e) => {
      if (typeof e.data !== "string") return;
      const ev = JSON.parse(e.data);
      if (ev.type === "ready") {
        const ping = setInterval(() => { if (sock.readyState === WebSocket.OPEN) sock.send('{"type":"ping"}'); }, PING_MS);
        sock.addEventListener("close", () => clearInterval(ping));
        resolve([sock, ev]);
      }
      else if (ev.type === "error") refusal = ev.message;
    };
    sock.onclose = (e) => reject(new LinkError(e.code || 1006, refusal || "the connection closed"));
  });
}

export function packet(kind, t, payload) {
  const head = new DataView(new ArrayBuffer(9));
  head.setUint8(0, kind);
  head.setFloat64(1, t, true);
  return new Blob([head, payload]);
}
