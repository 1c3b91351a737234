-- rendezvous-credits ledger schema.
--
-- Embedded in the binary (src/store/sqlite/connect.rs). The file is a sequence of migrations, each
-- introduced by a line `-- version N`; at start every migration above the file's
-- `PRAGMA user_version` is applied in one transaction with the version bump. Released
-- migrations are never edited: a change is a new `-- version N+1` section at the end.
--
-- Money columns are INTEGER minor units of the owning tenant's scale
-- (goop2: whole credits, roochip: hundredths of a ROO, rrr: points).
-- Timestamps are RFC 3339 UTC strings ("2026-02-07T10:30:00Z").

-- version 1

-- A tenant is one economy: its own accounts, scale, ceiling and hash chain.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    mode        TEXT NOT NULL CHECK (mode IN ('goop2', 'roochip', 'rrr')),
    scale       INTEGER NOT NULL CHECK (scale BETWEEN 0 AND 6),
    ceiling     INTEGER NOT NULL CHECK (ceiling > 0),
    created_at  TEXT NOT NULL
);

-- One account per (tenant, holder): a Goop2 peer id, a Roochip external user id,
-- an RRR member id. `ceiling` is copied from the tenant so that a CHECK can hold it.
CREATE TABLE credit_accounts (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    holder      TEXT NOT NULL,
    available   INTEGER NOT NULL DEFAULT 0 CHECK (available >= 0),
    held        INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
    pending     INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0),
    ceiling     INTEGER NOT NULL CHECK (ceiling > 0),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (tenant_id, holder),
    CHECK (available <= ceiling AND held <= ceiling AND pending <= ceiling)
);

-- Entries: the append-only journal. Every change of a balance bucket is one row;
-- `amount` is signed (+ credit, - debit) and `balance_after` is the bucket's balance
-- after the row. `seq` numbers a tenant's entries 1, 2, 3, … and `hash` chains each
-- entry to the previous one of the same tenant (see src/ledger/hash.rs).
CREATE TABLE credit_transactions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    seq            INTEGER NOT NULL CHECK (seq > 0),
    account_id     INTEGER NOT NULL REFERENCES credit_accounts(id),
    bucket         TEXT NOT NULL DEFAULT 'available'
                   CHECK (bucket IN ('available', 'held', 'pending')),
    kind           TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount <> 0),
    balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),
    ref_type       TEXT,
    ref_id         TEXT,
    note           TEXT,
    actor          TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    hash           BLOB NOT NULL CHECK (length(hash) = 32),
    UNIQUE (tenant_id, seq)
);
CREATE INDEX idx_txn_account ON credit_transactions (account_id, id DESC);

CREATE TRIGGER credit_transactions_no_update BEFORE UPDATE ON credit_transactions
BEGIN
    SELECT RAISE(ABORT, 'credit_transactions is append-only: UPDATE refused');
END;
CREATE TRIGGER credit_transactions_no_delete BEFORE DELETE ON credit_transactions
BEGIN
    SELECT RAISE(ABORT, 'credit_transactions is append-only: DELETE refused');
END;

-- Holds (escrow): an amount moved from `available` to `held`, later captured
-- (spent) or released (returned). A hold id is the caller's, unique per account.
CREATE TABLE holds (
    id          TEXT NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES credit_accounts(id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    status      TEXT NOT NULL CHECK (status IN ('open', 'captured', 'released')),
    ref_type    TEXT,
    ref_id      TEXT,
    created_at  TEXT NOT NULL,
    resolved_at TEXT,
    PRIMARY KEY (account_id, id)
);

-- Lots: credited amounts that may expire (loyalty points). `remaining` is what is
-- left of the lot; spending draws from the oldest lot first.
CREATE TABLE lots (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES credit_accounts(id),
    entry_id    INTEGER NOT NULL REFERENCES credit_transactions(id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    remaining   INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at  TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX idx_lots_account ON lots (account_id, expires_at);

-- Idempotency records: the stored answer to a request, written in the same
-- transaction as its effect. (scope, key) is unique; `fingerprint` is a digest of the
-- request so that a reuse with another request is told apart from a replay.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Outbox: events (webhooks) written in the unit of work that caused them.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    account_id  INTEGER REFERENCES credit_accounts(id),
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX idx_outbox_account ON outbox (account_id, id);

-- Template ownership (goop2-credit-system.md, "Data Model"), keyed by the account.
-- A refund revokes ownership (`revoked_at`); buying again opens a new row.
CREATE TABLE template_purchases (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES credit_accounts(id),
    template_name   TEXT NOT NULL,
    price_paid      INTEGER NOT NULL CHECK (price_paid >= 0),
    txn_id          INTEGER REFERENCES credit_transactions(id),
    created_at      TEXT NOT NULL,
    revoked_at      TEXT,
    refund_txn_id   INTEGER REFERENCES credit_transactions(id)
);
CREATE UNIQUE INDEX idx_purchases_owned
    ON template_purchases (account_id, template_name) WHERE revoked_at IS NULL;

-- Peers seen by the libp2p node.
CREATE TABLE peers (
    peer_id     TEXT PRIMARY KEY,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL
);

-- Rendezvous registrations (one per peer and namespace), kept so that they survive a
-- restart until they expire. `record` is the signed peer record exactly as received.
CREATE TABLE registrations (
    peer_id        TEXT NOT NULL REFERENCES peers(peer_id),
    namespace      TEXT NOT NULL,
    addrs          TEXT NOT NULL,
    ttl            INTEGER NOT NULL CHECK (ttl > 0),
    record         BLOB NOT NULL,
    record_domain  TEXT NOT NULL CHECK (record_domain IN ('standard', 'legacy')),
    registered_at  TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    last_seen      TEXT NOT NULL,
    PRIMARY KEY (peer_id, namespace)
);

-- version 2

-- Delivery state of outbox events (webhooks): one row per event, written in the same
-- unit as the event. `next_attempt_at` is unix milliseconds. Events of one account are
-- delivered in order: a pending event holds back the later ones of its account.
CREATE TABLE webhook_deliveries (
    outbox_id        INTEGER PRIMARY KEY REFERENCES outbox(id),
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    account_id       INTEGER REFERENCES credit_accounts(id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  INTEGER NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     TEXT,
    updated_at       TEXT NOT NULL
);
CREATE INDEX idx_deliveries_pending ON webhook_deliveries (status, outbox_id);
CREATE INDEX idx_deliveries_account ON webhook_deliveries (account_id, status, outbox_id);

-- Promo code requests (roochip-lite-integration-guide.md, "Phase 1: Promo Code Flow"):
-- one per user of a tenant, ever.
CREATE TABLE promo_code_requests (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    external_user_id  TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'fulfilled', 'rejected')),
    created_at        TEXT NOT NULL,
    resolved_at       TEXT,
    UNIQUE (tenant_id, external_user_id)
);
CREATE INDEX idx_code_requests_status ON promo_code_requests (tenant_id, status, created_at);

-- Promo codes, kept as the SHA-256 of the code (a code is a secret until redeemed).
-- Single use, bound to one user; one redemption per user of a tenant, ever.
CREATE TABLE promo_codes (
    code_sha256       TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    external_user_id  TEXT NOT NULL,
    credits           INTEGER NOT NULL CHECK (credits > 0),
    request_id        TEXT REFERENCES promo_code_requests(id),
    created_at        TEXT NOT NULL,
    redeemed_at       TEXT,
    entry_id          INTEGER REFERENCES credit_transactions(id)
);
CREATE UNIQUE INDEX idx_codes_one_redemption
    ON promo_codes (tenant_id, external_user_id) WHERE redeemed_at IS NOT NULL;

-- version 3

-- The time dimension of money, owned by the core: lots with expiry, pending credits,
-- holds that expire, idempotency records with a retention, webhook endpoints as data.

-- A tenant with `lots = 1` keeps a lot per credit (loyalty points that expire); its
-- accounts' available balance is always the sum of their open lots. A tenant with
-- `lots = 0` keeps none: its balance is one implicit lot that never expires.
ALTER TABLE tenants ADD COLUMN lots INTEGER NOT NULL DEFAULT 0 CHECK (lots IN (0, 1));

-- Lots: `expires_at` NULL never expires. Debits draw the earliest-expiring open lot
-- first, never-expiring ones last.
CREATE INDEX idx_lots_open ON lots (account_id, expires_at IS NULL, expires_at, id)
    WHERE remaining > 0;
CREATE INDEX idx_lots_due ON lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;

-- What each debit (or hold, or expiry) took from which lot, so that a reversal can
-- restore exactly those lots (`restored_by` is the reversal's entry).
CREATE TABLE lot_uses (
    entry_id     INTEGER NOT NULL REFERENCES credit_transactions(id),
    lot_id       INTEGER NOT NULL REFERENCES lots(id),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    restored_by  INTEGER REFERENCES credit_transactions(id),
    PRIMARY KEY (entry_id, lot_id)
);

-- Reversals: a debit is given back at most once (`reversal_id` is the credit).
CREATE TABLE reversals (
    entry_id     INTEGER PRIMARY KEY REFERENCES credit_transactions(id),
    reversal_id  INTEGER NOT NULL REFERENCES credit_transactions(id)
);

-- Pending credits: announced into the `pending` bucket, posted to available (with
-- their lot) by `pending_until`, or cancelled.
CREATE TABLE pending_credits (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES credit_accounts(id),
    amount          INTEGER NOT NULL CHECK (amount > 0),
    pending_until   TEXT NOT NULL,
    lot_expires_at  TEXT,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'cancelled')),
    entry_id        INTEGER NOT NULL REFERENCES credit_transactions(id),
    settled_entry   INTEGER REFERENCES credit_transactions(id),
    ref_type        TEXT,
    ref_id          TEXT,
    created_at      TEXT NOT NULL,
    settled_at      TEXT
);
CREATE INDEX idx_pending_due ON pending_credits (pending_until) WHERE status = 'pending';

-- Holds that release themselves at `expires_at`.
ALTER TABLE holds ADD COLUMN expires_at TEXT;
CREATE INDEX idx_holds_due ON holds (expires_at) WHERE status = 'open' AND expires_at IS NOT NULL;

-- Idempotency records are kept until `expires_at` (NULL: forever, e.g. once-per-peer
-- grants). Records written before this version keep the default retention of 30 days.
-- Scopes are now `tenant:route:client`; Roochip keys (unique per tenant, any route)
-- move from `roochip:<tenant>` to `<tenant>:*:` so that a retry across the upgrade
-- still finds its answer.
ALTER TABLE idempotency_keys ADD COLUMN expires_at TEXT;
UPDATE idempotency_keys
   SET expires_at = strftime('%Y-%m-%dT%H:%M:%SZ', created_at, '+30 days')
 WHERE scope <> 'goop2:starter';
UPDATE idempotency_keys SET scope = substr(scope, 9) || ':*:' WHERE scope LIKE 'roochip:%';
CREATE INDEX idx_idempotency_expiry ON idempotency_keys (expires_at) WHERE expires_at IS NOT NULL;

-- The entry that moved a hold's funds out of available (its lots are restored from
-- it when the hold is released).
ALTER TABLE holds ADD COLUMN entry_id INTEGER REFERENCES credit_transactions(id);

-- Webhook endpoints as data: where a tenant's events go. A dialect seeds them from
-- its settings (Roochip: `config:<tenant>`) or adds them through its API. `events` is
-- `*` or a comma-separated list of event types. The secret is kept in clear: it signs.
CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '*',
    active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX idx_endpoints_tenant ON webhook_endpoints (tenant_id, active);

-- One delivery per event and endpoint (`endpoint_id` '' when the tenant had none that
-- wanted the event). Rows of earlier versions belong to their tenant's configured
-- endpoint. Events of one account go in order per endpoint.
CREATE TABLE webhook_deliveries_v3 (
    outbox_id        INTEGER NOT NULL REFERENCES outbox(id),
    endpoint_id      TEXT NOT NULL DEFAULT '',
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    account_id       INTEGER REFERENCES credit_accounts(id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  INTEGER NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     TEXT,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (outbox_id, endpoint_id)
);
INSERT INTO webhook_deliveries_v3
    (outbox_id, endpoint_id, tenant_id, account_id, status, attempts, next_attempt_at,
     last_status, last_error, delivered_at, updated_at)
SELECT outbox_id, 'config:' || tenant_id, tenant_id, account_id, status, attempts,
       next_attempt_at, last_status, last_error, delivered_at, updated_at
FROM webhook_deliveries;
DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_v3 RENAME TO webhook_deliveries;
CREATE INDEX idx_deliveries_pending ON webhook_deliveries (status, outbox_id);
CREATE INDEX idx_deliveries_account
    ON webhook_deliveries (account_id, endpoint_id, status, outbox_id);
