// Subscribes with the graphql-ws client (graphql-transport-ws protocol) and prints every event
// as one JSON line on stdout. Driven by tests/api/live_updates.rs.
//
//   node ws_client.mjs <ws url> <token or ""> '<JSON array of {query, variables}>'
//
// Lines: {"event":"connected"}, {"event":"next","op":i,"payload":...},
// {"event":"error","op":i,"errors":[...]} (GraphQL errors) or {"event":"error","op":i,"code":..}
// (the socket closed), {"event":"complete","op":i}, {"event":"closed","code":..,"reason":..}.
// It exits once the socket closes. No retries: the test sees every close code.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, opsJson] = process.argv.slice(2);
const ops = JSON.parse(opsJson);
const print = (line) => process.stdout.write(JSON.stringify(line) + '\n');

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  retryAttempts: 0,
  shouldRetry: () => false,
  lazy: false,
  onNonLazyError: () => {},
  on: {
    connected: () => print({ event: 'connected' }),
    closed: (e) => {
      print({ event: 'closed', code: e?.code, reason: e?.reason });
      process.exit(0);
    },
  },
});

ops.forEach((op, i) => {
  client.subscribe(op, {
    next: (payload) => print({ event: 'next', op: i, payload }),
    error: (e) => {
      if (Array.isArray(e)) print({ event: 'error', op: i, errors: e });
      else if (e && typeof e.code === 'number') print({ event: 'error', op: i, code: e.code, reason: e.reason });
      else print({ event: 'error', op: i, message: String(e?.message ?? e) });
    },
    complete: () => print({ event: 'complete', op: i }),
  });
});
