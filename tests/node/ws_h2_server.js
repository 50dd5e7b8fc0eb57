// WebSocket over HTTP/2 (RFC 8441) interop server for percore's client
// tests: Node's own HTTP/2 server (nghttp2) offering
// SETTINGS_ENABLE_CONNECT_PROTOCOL, and Node `ws` speaking WebSocket on
// each extended CONNECT stream it accepts (200), as ws's own
// WebSocketServer does on an upgraded socket.
//
// usage: node ws_h2_server.js compress|plain
// Prints "listening on 127.0.0.1:PORT" (h2c, prior knowledge), then serves
// the session of ws_session.js until killed.
'use strict';
const http2 = require('http2');
const { WebSocket } = require('ws');
const path = require('path');
// Not exported by the package: loaded by file (as WebSocketServer uses them).
const wsLib = (file) => require(path.join(path.dirname(require.resolve('ws')), 'lib', file));
const PerMessageDeflate = wsLib('permessage-deflate.js');
const extension = wsLib('extension.js');
const { session } = require('./ws_session');

const compress = process.argv[2] === 'compress';
const maxPayload = 8 << 20;
const server = http2.createServer({ settings: { enableConnectProtocol: true } });

server.on('stream', (stream, headers) => {
  if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
    stream.respond({ ':status': 400 });
    stream.end();
    return;
  }
  const answer = { ':status': 200 };
  // WebSocketServer's defaults (a server-side socket answers pings itself).
  const ws = new WebSocket(null, undefined, { autoPong: true, allowSynchronousEvents: true });
  const offered = (headers['sec-websocket-protocol'] || '')
    .split(',')
    .map((p) => p.trim());
  const protocol = ['chat.v1', 'chat.v2'].find((p) => offered.includes(p));
  if (protocol) {
    answer['sec-websocket-protocol'] = protocol;
    ws._protocol = protocol;
  }
  const offer = headers['sec-websocket-extensions'];
  if (compress && offer) {
    const offers = extension.parse(offer);
    if (offers[PerMessageDeflate.extensionName]) {
      const pmd = new PerMessageDeflate({ threshold: 0, isServer: true, maxPayload });
      pmd.accept(offers[PerMessageDeflate.extensionName]);
      answer['sec-websocket-extensions'] = extension.format({
        [PerMessageDeflate.extensionName]: [pmd.params],
      });
      ws._extensions = { [PerMessageDeflate.extensionName]: pmd };
    }
  }
  stream.respond(answer);
  ws.setSocket(stream, Buffer.alloc(0), { allowSynchronousEvents: true, maxPayload });
  session(ws);
});

server.listen(0, '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
