'use strict';
// sandvisor Node.js runner: one vm context per session, notebook-style.
//
// Speaks docs/runner-protocol.md: requests arrive on fd 3 and responses leave on
// fd 4 as frames (4-byte little-endian length + UTF-8 JSON); the user's output
// goes straight to fds 1 and 2 (on Linux, Node writes pipes and files
// synchronously, so nothing is left buffered when a response is sent).
//
// An execution ends when the code has run, its completion value (if a Promise)
// has settled, and the event loop has no pending work left that would keep
// `node script.js` alive (timers, I/O requests, child processes). Servers and
// the stdio pipes do not count, so a server started in one execution stays up
// for the next. Between executions the runner blocks on fd 3 and user timers
// do not fire.

const fs = require('fs');
const path = require('path');
const util = require('util');
const vm = require('vm');
const { createRequire } = require('module');

const REQ_FD = 3;
const RESP_FD = 4;
const MAX_FRAME = 64 << 20;
const MAX_VALUE = 1 << 20;

// Handle types that do not keep an execution open (long-lived by nature).
const IDLE_OK = new Set(['TTYWrap', 'PipeWrap', 'TCPServerWrap', 'PipeServerWrap',
  'SignalWrap', 'FSEventWrap', 'StatWatcher', 'UDPWrap']);

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readExact(n) {
  const buf = Buffer.allocUnsafe(n);
  let got = 0;
  while (got < n) {
    let k;
    try {
      k = fs.readSync(REQ_FD, buf, got, Math.min(n - got, 1 << 20), null);
    } catch (e) {
      if (e.code === 'EAGAIN') { sleepMs(1); continue; }
      if (e.code === 'EINTR') continue;
      throw e;
    }
    if (k === 0) return null;
    got += k;
  }
  return buf;
}

function readFrame() {
  const head = readExact(4);
  if (head === null) return null;
  const n = head.readUInt32LE(0);
  if (n > MAX_FRAME) {
    for (let left = n; left > 0;) {
      const part = readExact(Math.min(left, 1 << 20));
      if (part === null) return null;
      left -= part.length;
    }
    return new Error(`request of ${n} bytes is larger than ${MAX_FRAME}`);
  }
  return readExact(n);
}

function writeFrame(obj) {
  // JSON.stringify escapes lone surrogates (well-formed JSON.stringify), so the
  // frame is always valid UTF-8.
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  const buf = Buffer.allocUnsafe(4 + body.length);
  buf.writeUInt32LE(body.length, 0);
  body.copy(buf, 4);
  for (let off = 0; off < buf.length;) {
    try {
      off += fs.writeSync(RESP_FD, buf, off, buf.length - off);
    } catch (e) {
      if (e.code === 'EAGAIN') { sleepMs(1); continue; }
      throw e;
    }
  }
}

function makeContext() {
  const filename = path.join(process.cwd(), '[sandvisor]');
  const userRequire = createRequire(filename);
  const sandbox = {
    console, process, Buffer, require: userRequire,
    module: { exports: {}, require: userRequire, filename, id: '.' },
    __filename: filename, __dirname: process.cwd(),
    setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate,
    queueMicrotask, structuredClone, URL, URLSearchParams, TextEncoder, TextDecoder,
    AbortController, AbortSignal, Event, EventTarget, atob, btoa, performance,
    fetch: globalThis.fetch, Headers: globalThis.Headers, Request: globalThis.Request,
    Response: globalThis.Response, FormData: globalThis.FormData, Blob: globalThis.Blob,
    BroadcastChannel: globalThis.BroadcastChannel, MessageChannel, MessagePort, crypto: globalThis.crypto,
    WebAssembly,
  };
  sandbox.exports = sandbox.module.exports;
  sandbox.global = sandbox;
  const ctx = vm.createContext(sandbox, { name: 'sandvisor' });
  // `global` and `globalThis` must name the context's own global object.
  vm.runInContext('globalThis.global = globalThis;', ctx);
  return ctx;
}

// --- asynchronous errors: attributed to the running execution -------------
let current = null;   // { error: string|null } while an execution runs

function formatError(e) {
  let text;
  if (e && typeof e === 'object' && typeof e.stack === 'string') {
    // Drop the runner's and vm's own frames; keep the user's.
    text = e.stack.split('\n').filter((l) =>
      !(l.includes(__filename) || /\(node:vm[:)]/.test(l) || /at node:vm/.test(l))).join('\n');
  } else {
    text = 'Uncaught ' + util.inspect(e);
  }
  return text.endsWith('\n') ? text : text + '\n';
}

function onAsyncError(e) {
  const text = formatError(e);
  try { fs.writeSync(2, text); } catch (_) { /* stderr gone */ }
  if (current && current.error === null) current.error = text;
}
process.on('uncaughtException', onAsyncError);
process.on('unhandledRejection', onAsyncError);

function pendingWork(ownTimers) {
  let busy = 0;
  for (const r of process.getActiveResourcesInfo()) {
    if (IDLE_OK.has(r)) continue;
    if (r === 'Timeout' && ownTimers > 0) { ownTimers--; continue; }
    busy++;
  }
  return busy;
}

// Resolves once nothing but long-lived handles keeps the event loop alive.
function eventLoopIdle() {
  return new Promise((resolve) => {
    let delay = 1;
    const check = (own) => {
      if (pendingWork(own) === 0) return resolve();
      setTimeout(() => check(1), delay);
      delay = Math.min(delay * 2, 20);
    };
    setImmediate(() => check(0));
  });
}

async function execute(ctx, id, code) {
  current = { error: null };
  let value = null;
  try {
    const script = new vm.Script(code, { filename: `<exec-${id}>` });
    let result = script.runInContext(ctx, { displayErrors: false });
    if (result && typeof result.then === 'function') result = await result;
    if (result !== undefined) {
      ctx._ = result;
      value = util.inspect(result);
      if (value.length > MAX_VALUE) value = value.slice(0, MAX_VALUE) + '... [truncated]';
    }
  } catch (e) {
    const text = formatError(e);
    try { fs.writeSync(2, text); } catch (_) { /* stderr gone */ }
    if (current.error === null) current.error = text;
  }
  await eventLoopIdle();
  const error = current.error;
  current = null;
  return error === null ? { ok: true, value, error: null } : { ok: false, value: null, error };
}

async function main() {
  const ctx = makeContext();
  for (;;) {
    const frame = readFrame();
    if (frame === null) break;   // agent closed the request pipe: end of session
    let id = null;
    let resp;
    if (frame instanceof Error) {
      resp = { ok: false, value: null, error: frame.message };
    } else {
      let req;
      try {
        req = JSON.parse(frame.toString('utf8'));
        id = req.id === undefined ? null : req.id;
        if (typeof req.code !== 'string') throw new Error('request has no code string');
      } catch (e) {
        resp = { ok: false, value: null, error: 'bad request: ' + e.message };
      }
      if (!resp) resp = await execute(ctx, id, req.code);
    }
    writeFrame({ id, ...resp });
  }
  process.exit(0);
}

main().catch((e) => {
  try { fs.writeSync(2, 'sandvisor runner: ' + (e && e.stack || e) + '\n'); } catch (_) { /* */ }
  process.exit(70);
});
