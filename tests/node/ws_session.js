// The server side of a WebSocket session for percore's client tests,
// shared by ws_server.js (HTTP/1.1) and ws_h2_server.js (HTTP/2, RFC 8441):
// first "hello <subprotocol or none> <extensions or none>", then every
// message is echoed, except the text commands:
//   "ping-me"  the server pings and sends "pong-received" once answered;
//   "close-me" the server closes with code 4000, reason "bye".
'use strict';

function session(ws) {
  const proto = ws.protocol || 'none';
  const ext = ws.extensions || 'none';
  ws.send(`hello ${proto} ${ext}`);
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text === 'ping-me') {
      ws.once('pong', () => ws.send('pong-received'));
      ws.ping(Buffer.from('percore?'));
    } else if (text === 'close-me') {
      ws.close(4000, 'bye');
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
}

module.exports = { session };
