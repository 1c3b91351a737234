// A webhook receiver for the integration tests, in the spirit of the Rooverse
// receiver of roochip-lite-integration-guide.md ("Webhook Signature Verification"):
// the signature is checked with the guide's own `verifyRoochipWebhook`, over
// `JSON.stringify(req.body)` of the parsed body (what `express.json()` gives), not
// over the raw bytes. Only Node's built-in modules are used.
//
// Usage: WEBHOOK_SECRET=… node webhook_receiver.js [port]
// Prints the port it listens on (127.0.0.1), then serves:
//   POST <any other path>  a webhook: verified, recorded, answered 200 / 401 / as told
//   GET  /_records         every request received so far, in arrival order
//   POST /_control         {"fail_next": n, "fail_status": 500, "fail_user": "u1"}:
//                          answer the next n webhooks (of that external_user_id only,
//                          when given) with fail_status;
//                          {"always_status": 410}: answer every webhook so (null: stop);
//                          {"hang_next": n}: never answer the next n webhooks
//                          (recorded with status 0)
'use strict';

const http = require('http');
const crypto = require('crypto');

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error('WEBHOOK_SECRET is required');
  process.exit(2);
}
const port = Number(process.argv[2] || 0);

// --- roochip-lite-integration-guide.md, "Webhook Signature Verification" ---
function verifyRoochipWebhook(req, secret) {
  const signature = req.headers['x-roochip-signature'];
  if (!signature) return false;
  const expected = crypto
    .createHmac('sha256', secret)
    .update(JSON.stringify(req.body))
    .digest('hex');
  return crypto.timingSafeEqual(
    Buffer.from(signature, 'hex'),
    Buffer.from(expected, 'hex')
  );
}
// ---------------------------------------------------------------------------

// Standard Webhooks: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{raw body}")>,
// the key being the decoded bytes of a `whsec_` secret or the secret's bytes.
function verifyStandardWebhook(headers, rawBody) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) return false;
  const key = secret.startsWith('whsec_')
    ? Buffer.from(secret.slice(6), 'base64')
    : Buffer.from(secret, 'utf8');
  const expected = crypto
    .createHmac('sha256', key)
    .update(`${id}.${timestamp}.${rawBody}`)
    .digest('base64');
  return signatures.split(' ').some((s) => s === `v1,${expected}`);
}

const records = [];
const control = { failNext: 0, failStatus: 500, failUser: null, alwaysStatus: null, hangNext: 0 };

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(text);
}

function handleWebhook(req, res, raw) {
  // express.json(): only application/json bodies are parsed; others leave {}.
  const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  req.body = {};
  if (type === 'application/json') {
    try {
      req.body = JSON.parse(raw);
    } catch (e) {
      records.push({ seq: records.length, at_ms: Date.now(), path: req.url, headers: req.headers,
        body: raw, parsed: false, verified: false, standard_verified: false, status: 400 });
      return send(res, 400, { error: 'Malformed JSON' });
    }
  }
  let verified = false;
  try {
    verified = verifyRoochipWebhook(req, secret);
  } catch (e) {
    verified = false; // timingSafeEqual throws when the lengths differ
  }
  const user = req.body && req.body.external_user_id;
  let status = 200;
  if (!verified) {
    status = 401;
  } else if (control.hangNext > 0) {
    control.hangNext -= 1;
    status = 0;
  } else if (control.alwaysStatus !== null) {
    status = control.alwaysStatus;
  } else if (control.failNext > 0 && (control.failUser === null || control.failUser === user)) {
    control.failNext -= 1;
    status = control.failStatus;
  }
  records.push({
    seq: records.length,
    at_ms: Date.now(),
    path: req.url,
    headers: req.headers,
    body: raw,
    parsed: true,
    verified,
    standard_verified: verifyStandardWebhook(req.headers, raw),
    user: user === undefined ? null : user,
    status,
  });
  if (status === 0) return; // hang: the sender's timeout or shutdown ends it
  if (status === 401) return send(res, 401, { error: 'Invalid signature' });
  if (status >= 200 && status < 300) {
    res.writeHead(status, { 'Content-Type': 'text/plain' }); // res.sendStatus(200)
    return res.end('OK');
  }
  return send(res, status, { error: `told to answer ${status}` });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    if (req.method === 'GET' && req.url === '/_records') {
      return send(res, 200, records);
    }
    if (req.method === 'POST' && req.url === '/_control') {
      const c = JSON.parse(raw || '{}');
      if ('fail_next' in c) control.failNext = c.fail_next;
      if ('fail_status' in c) control.failStatus = c.fail_status;
      if ('fail_user' in c) control.failUser = c.fail_user;
      if ('always_status' in c) control.alwaysStatus = c.always_status;
      if ('hang_next' in c) control.hangNext = c.hang_next;
      return send(res, 200, control);
    }
    if (req.method === 'POST') {
      return handleWebhook(req, res, raw);
    }
    return send(res, 404, { error: 'not found' });
  });
});
// Longer than the sender's idle pool timeout, so that a kept-alive connection is
// never closed by this side just as it is reused.
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => {
  console.log(String(server.address().port));
});
