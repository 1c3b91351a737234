// A RedRoomRewards webhook receiver for the integration tests, as XCN's receiver
// (field-notes §3) does it: `x-rrr-signature` must be the bare lowercase hex
// HMAC-SHA256 of `JSON.stringify(parsedBody)` (re-serialised, not the raw bytes),
// keyed with the secret's UTF-8 bytes; the envelope must be {event_id, event_type,
// data} with an `event_id` of at most 128 characters holding no `.` or `$`; events
// are de-duplicated on `event_id`. Only Node's built-in modules are used.
//
// Usage: node rrr_webhook_receiver.js [port]
// Prints the port it listens on (127.0.0.1), then serves:
//   POST /_secret    {"secret": "…"}: the secret to verify with (from POST /v1/webhooks)
//   GET  /_records   every webhook received, in arrival order
//   POST <any path>  a webhook: verified, recorded, answered 200 (401 when refused)
'use strict';

const http = require('http');
const crypto = require('crypto');

const port = Number(process.argv[2] || 0);
let secret = null;
const records = [];
const seen = new Set();

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

function verify(req) {
  const signature = req.headers['x-rrr-signature'];
  if (!signature || secret === null || !/^[0-9a-f]{64}$/.test(signature)) return false;
  const expected = crypto.createHmac('sha256', secret).update(JSON.stringify(req.body)).digest('hex');
  return crypto.timingSafeEqual(Buffer.from(signature, 'hex'), Buffer.from(expected, 'hex'));
}

function envelopeOk(body) {
  const id = body.event_id;
  return typeof id === 'string' && id.length > 0 && id.length <= 128 && !id.includes('.') &&
    !id.includes('$') && typeof body.event_type === 'string' && typeof body.data === 'object' &&
    body.data !== null;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    if (req.method === 'GET' && req.url === '/_records') return send(res, 200, records);
    if (req.method === 'POST' && req.url === '/_secret') {
      secret = JSON.parse(raw).secret;
      return send(res, 200, {});
    }
    if (req.method !== 'POST') return send(res, 404, { error: 'not found' });
    try {
      req.body = JSON.parse(raw);
    } catch (e) {
      return send(res, 400, { error: 'Malformed JSON' });
    }
    const verified = verify(req);
    const valid = envelopeOk(req.body);
    const duplicate = valid && seen.has(req.body.event_id);
    if (verified && valid) seen.add(req.body.event_id);
    records.push({
      path: req.url,
      headers: req.headers,
      body: req.body,
      raw_equals_restringified: raw === JSON.stringify(req.body),
      verified,
      valid,
      duplicate,
    });
    if (!verified || !valid) return send(res, 401, { error: 'Invalid signature' });
    return send(res, 200, { received: true });
  });
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => {
  console.log(String(server.address().port));
});
