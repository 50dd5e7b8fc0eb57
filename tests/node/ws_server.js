// WebSocket interop server (Node `ws`) for percore's client tests.
//
// usage: node ws_server.js compress|plain
// Prints "listening on 127.0.0.1:PORT", then serves until killed. Each
// connection first gets "hello <subprotocol or none> <extensions or none>",
// then every message is echoed, except the text commands:
//   "ping-me"  the server pings and sends "pong-received" once answered;
//   "close-me" the server closes with code 4000, reason "bye".
'use strict';
const { WebSocketServer } = require('ws');
const { session } = require('./ws_session');

const compress = process.argv[2] === 'compress';
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: compress ? { threshold: 0 } : false,
  maxPayload: 8 << 20,
  handleProtocols: (protocols) => {
    for (const p of ['chat.v1', 'chat.v2']) {
      if (protocols.has(p)) return p;
    }
    return false;
  },
});

wss.on('listening', () => {
  console.log(`listening on 127.0.0.1:${wss.address().port}`);
});

wss.on('connection', session);
