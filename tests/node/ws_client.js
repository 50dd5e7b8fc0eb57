// WebSocket interop client (Node's `ws`) for percore's tests.
// usage: node ws_client.js BASE_URL compress|plain [PATH]
// Prints "ok" and exits 0 when every check passes.
'use strict';
const WebSocket = require('ws');
const crypto = require('crypto');

const base = process.argv[2].replace('http://', 'ws://');
const compress = process.argv[3] !== 'plain';

const path = process.argv[4] || '/ws';
const ws = new WebSocket(base + path, { perMessageDeflate: compress, maxPayload: 8 << 20 });
const expected = [
  'hello',
  '',
  'żółć ✓ 𝄞',
  'y'.repeat(200000),
  crypto.randomBytes(1),
  crypto.randomBytes(126),
  crypto.randomBytes(65536),
  crypto.randomBytes(1 << 20),
];
let next = 0;

function fail(msg) {
  console.error(msg);
  process.exit(1);
}

setTimeout(() => fail('timed out'), 20000).unref();

let answer = '';
ws.on('upgrade', (res) => {
  answer = res.headers['sec-websocket-extensions'] || '';
});

ws.on('open', () => {
  const ext = ws.extensions || '';
  if (compress !== ext.startsWith('permessage-deflate')) fail(`extensions: "${ext}"`);
  // /ws keeps no compression context; /ws-takeover keeps it.
  if (compress && answer.includes('no_context_takeover') === (path === '/ws-takeover')) {
    fail(`Sec-WebSocket-Extensions: "${answer}"`);
  }
  for (const m of expected) ws.send(m);
});

ws.on('message', (data, isBinary) => {
  const want = expected[next++];
  if (typeof want === 'string') {
    if (isBinary || data.toString('utf8') !== want) fail(`text ${next - 1} differs`);
  } else if (!isBinary || !Buffer.from(data).equals(want)) {
    fail(`binary ${next - 1} differs`);
  }
  if (next === expected.length) ws.ping('ping?');
});

ws.on('pong', (data) => {
  if (data.toString() !== 'ping?') fail('wrong pong');
  ws.close(1000, 'bye');
});

ws.on('close', (code) => {
  if (next !== expected.length) fail(`closed after ${next} messages`);
  if (code !== 1000) fail(`close code ${code}`);
  console.log('ok');
  process.exit(0);
});

ws.on('error', (e) => fail(`error: ${e}`));
