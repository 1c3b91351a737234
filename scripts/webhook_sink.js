// A webhook sink for load tests: verifies every Roochip signature the guide's way
// (HMAC-SHA256 of JSON.stringify(JSON.parse(body))), counts deliveries, and answers
// 200. GET /count answers {"delivered": n, "invalid": n, "duplicates": n}.
// Usage: WEBHOOK_SECRET=… node scripts/webhook_sink.js PORT
'use strict';
const http = require('http');
const crypto = require('crypto');

const secret = process.env.WEBHOOK_SECRET;
const port = Number(process.argv[2] || 0);
let delivered = 0;
let invalid = 0;
let duplicates = 0;
const seen = new Set();

http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/count') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ delivered, invalid, duplicates }));
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let ok = false;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const expected = crypto.createHmac('sha256', secret).update(JSON.stringify(body)).digest('hex');
      const given = String(req.headers['x-roochip-signature'] || '');
      ok = given.length === expected.length &&
        crypto.timingSafeEqual(Buffer.from(given, 'hex'), Buffer.from(expected, 'hex'));
    } catch (e) {
      ok = false;
    }
    if (!ok) {
      invalid += 1;
      res.statusCode = 401;
      res.end();
      return;
    }
    const id = String(req.headers['webhook-id']);
    if (seen.has(id)) duplicates += 1; else { seen.add(id); delivered += 1; }
    res.end();
  });
}).listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
