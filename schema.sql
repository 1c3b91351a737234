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

-- version 4

-- RedRoomRewards tenants (rrr-xcn-api-contract-v1.md). Points are the tenant's minor
-- units (scale 0); every movement goes through the core's entries and lots; the
-- tables below hold what the contract shows and remembers beside them.

-- The lot a credit opened (a chargeback takes back what is left of it).
CREATE INDEX idx_lots_entry ON lots (entry_id);
-- Every read of an account's lots wants those with something left: the partial index
-- idx_lots_open serves them, and one index fewer is written per credit.
DROP INDEX idx_lots_account;

-- The request trace (`X-Request-Trace`) of the request that caused an event, sent
-- with each delivery of it.
ALTER TABLE outbox ADD COLUMN trace TEXT;

-- Members: a member id (UUID) is one account of the tenant (the holder), created by
-- the first confirmed link of one client, which owns it. `lifetime_spend_minor` sums
-- the `amount_minor` of its earns; `cohort` is the America/Toronto month of its
-- first earn.
CREATE TABLE rrr_members (
    tenant_id             TEXT NOT NULL REFERENCES tenants(id),
    member_id             TEXT NOT NULL,
    client_id             TEXT NOT NULL,
    account_id            INTEGER NOT NULL REFERENCES credit_accounts(id),
    lifetime_spend_minor  INTEGER NOT NULL DEFAULT 0 CHECK (lifetime_spend_minor >= 0),
    cohort                TEXT,
    created_at            TEXT NOT NULL,
    PRIMARY KEY (tenant_id, member_id)
) WITHOUT ROWID;

-- Link intents: live 15 minutes; the link code is kept as its SHA-256; five wrong
-- proofs burn the intent.
CREATE TABLE rrr_link_intents (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    client_id       TEXT NOT NULL,
    client_user_id  TEXT NOT NULL,
    link_type       TEXT NOT NULL CHECK (link_type IN ('MEMBER', 'MODEL')),
    code_sha256     TEXT NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL CHECK (status IN ('OPEN', 'USED', 'BURNED')),
    expires_at      TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

-- Links between a client's user and a member: one active link per user of a client,
-- and per member (one-to-one both ways). A revoked link stays as history.
CREATE TABLE rrr_links (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    client_id       TEXT NOT NULL,
    client_user_id  TEXT NOT NULL,
    member_id       TEXT NOT NULL,
    link_type       TEXT NOT NULL CHECK (link_type IN ('MEMBER', 'MODEL')),
    proof_method    TEXT NOT NULL,
    intent_id       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('ACTIVE', 'REVOKED')),
    linked_at       TEXT NOT NULL,
    revoked_at      TEXT,
    revoke_reason   TEXT
);
CREATE UNIQUE INDEX idx_rrr_links_user ON rrr_links (tenant_id, client_id, client_user_id)
    WHERE status = 'ACTIVE';
CREATE UNIQUE INDEX idx_rrr_links_member ON rrr_links (tenant_id, member_id)
    WHERE status = 'ACTIVE';

-- The member ledger as the contract shows it (§5.2): one row per movement of a
-- member's points, written in the unit that moved them (each refers to the core
-- entry that did). `balance_after` is the available balance. Append-only; paged by
-- `id` (newest first).
CREATE TABLE rrr_entries (
    id             INTEGER PRIMARY KEY,
    entry_uuid     TEXT NOT NULL,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    account_id     INTEGER NOT NULL REFERENCES credit_accounts(id),
    member_id      TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    type           TEXT NOT NULL CHECK (type IN ('EARN', 'REDEEM', 'EXPIRE', 'ADJUST',
                       'TRANSFER_IN', 'TRANSFER_OUT', 'REVERSAL')),
    points_delta   INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),
    reason_code    TEXT NOT NULL,
    source_ref     TEXT,
    actor_type     TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    posted_at      TEXT NOT NULL,
    core_entry_id  INTEGER REFERENCES credit_transactions(id),
    metadata       TEXT
);
CREATE INDEX idx_rrr_entries_member ON rrr_entries (account_id, id);
CREATE TRIGGER rrr_entries_no_update BEFORE UPDATE ON rrr_entries
BEGIN
    SELECT RAISE(ABORT, 'rrr_entries is append-only: UPDATE refused');
END;
CREATE TRIGGER rrr_entries_no_delete BEFORE DELETE ON rrr_entries
BEGIN
    SELECT RAISE(ABORT, 'rrr_entries is append-only: DELETE refused');
END;

-- Earns (§8), one per (client, source event type, order, line). `entry_uuid` is the
-- `ledger_entry_id` answered (the EARN entry's id once posted); `core_entry_id` the
-- credit of available that opened the lot (NULL while pending). The source is the
-- earn's business key: `fingerprint` (of the request) and `response` (the answer)
-- let a retry with a new Idempotency-Key get the original answer.
CREATE TABLE rrr_earns (
    entry_uuid       TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    client_id        TEXT NOT NULL,
    member_id        TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    order_id         TEXT NOT NULL,
    line_id          TEXT NOT NULL,
    points           INTEGER NOT NULL CHECK (points > 0),
    bonus_points     INTEGER NOT NULL DEFAULT 0 CHECK (bonus_points >= 0),
    amount_minor     INTEGER NOT NULL DEFAULT 0,
    tier             TEXT,
    promotion_id     TEXT,
    pending_id       INTEGER REFERENCES pending_credits(id),
    core_entry_id    INTEGER REFERENCES credit_transactions(id),
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'POSTED', 'REVERSED')),
    reversed_points  INTEGER NOT NULL DEFAULT 0,
    shortfall        INTEGER NOT NULL DEFAULT 0,
    metadata         TEXT,
    fingerprint      TEXT NOT NULL,
    response         TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    UNIQUE (tenant_id, client_id, event_type, order_id, line_id)
);
CREATE INDEX idx_rrr_earns_pending ON rrr_earns (pending_id) WHERE pending_id IS NOT NULL;

-- Quotes of redemptions and top-ups (§10, §11); `used_by` is the order that
-- committed it.
CREATE TABLE rrr_quotes (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    client_id       TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('REDEMPTION', 'TOPUP')),
    member_id       TEXT,
    points          INTEGER NOT NULL CHECK (points > 0),
    money_minor     INTEGER NOT NULL CHECK (money_minor >= 0),
    expires_at      TEXT NOT NULL,
    used_by         TEXT,
    created_at      TEXT NOT NULL
);

-- Committed orders: redemptions (points burned) and top-ups (points issued), one per
-- (client, kind, client order id).
CREATE TABLE rrr_orders (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    client_id        TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('REDEMPTION', 'TOPUP')),
    client_order_id  TEXT NOT NULL,
    quote_id         TEXT NOT NULL UNIQUE REFERENCES rrr_quotes(id),
    member_id        TEXT NOT NULL,
    points           INTEGER NOT NULL CHECK (points > 0),
    money_minor      INTEGER NOT NULL,
    core_entry_id    INTEGER NOT NULL REFERENCES credit_transactions(id),
    status           TEXT NOT NULL CHECK (status IN ('COMMITTED', 'REVERSED')),
    reverse_reason   TEXT,
    created_at       TEXT NOT NULL,
    reversed_at      TEXT,
    PRIMARY KEY (tenant_id, client_id, kind, client_order_id)
) WITHOUT ROWID;

-- Daily aggregates of each client's points, by America/Toronto day, written in the
-- same unit as the entries they count: the liability report reads days, not entries.
-- `issued`, `expired`, `reversed` and `transferred` only grow; `redeemed` is net of
-- redemption reversals (a day of reversals alone is negative) and `adjusted` is net;
-- `d_*` are the net changes of the three balances.
CREATE TABLE rrr_daily (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    client_id    TEXT NOT NULL,
    day          TEXT NOT NULL,
    issued       INTEGER NOT NULL DEFAULT 0,
    redeemed     INTEGER NOT NULL DEFAULT 0,
    expired      INTEGER NOT NULL DEFAULT 0,
    reversed     INTEGER NOT NULL DEFAULT 0,
    adjusted     INTEGER NOT NULL DEFAULT 0,
    transferred  INTEGER NOT NULL DEFAULT 0,
    d_available  INTEGER NOT NULL DEFAULT 0,
    d_escrow     INTEGER NOT NULL DEFAULT 0,
    d_pending    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, client_id, day)
) WITHOUT ROWID;

CREATE INDEX idx_rrr_members_account ON rrr_members (account_id);

-- Promotions (§9): created DRAFT by a client, submitted, approved by two distinct
-- client admins and one RRR admin (then ACTIVE, applying to earns between `starts_at`
-- and `ends_at`), paused, resumed, ended. `multiplier_bp` is the multiplier in basis
-- points (1.5 = 15000); `tiers` a JSON array of membership tiers (empty: any).
CREATE TABLE rrr_promotions (
    id                        TEXT PRIMARY KEY,
    tenant_id                 TEXT NOT NULL REFERENCES tenants(id),
    client_id                 TEXT NOT NULL,
    name                      TEXT NOT NULL,
    description               TEXT,
    starts_at                 TEXT NOT NULL,
    ends_at                   TEXT NOT NULL,
    tiers                     TEXT NOT NULL DEFAULT '[]',
    min_lifetime_spend_minor  INTEGER NOT NULL DEFAULT 0,
    multiplier_bp             INTEGER NOT NULL CHECK (multiplier_bp >= 10000),
    cap_points                INTEGER CHECK (cap_points >= 0),
    expiry_days               INTEGER CHECK (expiry_days >= 0),
    status                    TEXT NOT NULL CHECK (status IN ('DRAFT', 'PENDING_APPROVAL',
                                  'ACTIVE', 'PAUSED', 'ENDED')),
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX idx_rrr_promotions_status ON rrr_promotions (tenant_id, client_id, status);

-- Approvals of promotions: one append-only audit row per signature. The attestation
-- is kept as its SHA-256.
CREATE TABLE rrr_promotion_approvals (
    promotion_id        TEXT NOT NULL REFERENCES rrr_promotions(id),
    actor_type          TEXT NOT NULL CHECK (actor_type IN ('CLIENT_ADMIN', 'RRR_ADMIN')),
    actor_id            TEXT NOT NULL,
    signature_method    TEXT NOT NULL,
    attestation_sha256  TEXT NOT NULL,
    approved_at         TEXT NOT NULL,
    PRIMARY KEY (promotion_id, actor_type, actor_id)
);
CREATE TRIGGER rrr_promotion_approvals_no_update BEFORE UPDATE ON rrr_promotion_approvals
BEGIN
    SELECT RAISE(ABORT, 'rrr_promotion_approvals is append-only: UPDATE refused');
END;
CREATE TRIGGER rrr_promotion_approvals_no_delete BEFORE DELETE ON rrr_promotion_approvals
BEGIN
    SELECT RAISE(ABORT, 'rrr_promotion_approvals is append-only: DELETE refused');
END;

-- The bonus a promotion gave each member so far (its `cap_points` bounds it).
CREATE TABLE rrr_promotion_bonus (
    promotion_id  TEXT NOT NULL REFERENCES rrr_promotions(id),
    member_id     TEXT NOT NULL,
    bonus_points  INTEGER NOT NULL CHECK (bonus_points >= 0),
    PRIMARY KEY (promotion_id, member_id)
) WITHOUT ROWID;

-- Awards (§12): a model gives a viewer points. The intent holds the model's points
-- (escrow) until it expires; the commit moves them. `day` is the America/Toronto day
-- of the intent (the model's daily cap).
CREATE TABLE rrr_awards (
    intent_id               TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants(id),
    client_id               TEXT NOT NULL,
    model_member_id         TEXT NOT NULL,
    viewer_member_id        TEXT NOT NULL,
    client_model_id         TEXT NOT NULL,
    client_viewer_user_id   TEXT NOT NULL,
    points                  INTEGER NOT NULL CHECK (points > 0),
    day                     TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('OPEN', 'INELIGIBLE',
                                'COMMITTED', 'EXPIRED', 'REVERSED')),
    reason                  TEXT,
    in_entry_id             INTEGER REFERENCES credit_transactions(id),
    expires_at              TEXT NOT NULL,
    created_at              TEXT NOT NULL
);
CREATE INDEX idx_rrr_awards_model_day ON rrr_awards (tenant_id, model_member_id, day);

-- Segments of the earns (no PII), per America/Toronto day and (membership tier,
-- promotion, cohort = the month of the member's first earn); '' for none. One row per
-- combination and day: a report by one of them sums over the others.
CREATE TABLE rrr_segments (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    client_id     TEXT NOT NULL,
    day           TEXT NOT NULL,
    tier          TEXT NOT NULL,
    promotion_id  TEXT NOT NULL,
    cohort        TEXT NOT NULL,
    earns         INTEGER NOT NULL DEFAULT 0,
    points        INTEGER NOT NULL DEFAULT 0,
    bonus_points  INTEGER NOT NULL DEFAULT 0,
    spend_minor   INTEGER NOT NULL DEFAULT 0,
    new_members   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, client_id, day, tier, promotion_id, cohort)
) WITHOUT ROWID;

-- version 5
-- Real-money payments (Stripe Checkout sessions, Apple and Google in-app purchases):
-- one row per payment at its provider, written in the same transaction as the credit
-- or claw-back it records. `credits` and the claw-back counters are the tenant's
-- minor units; `amount` is the price in the currency's minor units.
CREATE TABLE payments (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    provider         TEXT NOT NULL CHECK (provider IN ('stripe', 'apple_iap', 'google_iap')),
    external_id      TEXT NOT NULL,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    account          TEXT NOT NULL,
    package_id       TEXT NOT NULL,
    credits          INTEGER NOT NULL CHECK (credits > 0),
    amount           INTEGER NOT NULL CHECK (amount >= 0),
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'credited', 'refunded', 'disputed')),
    order_ref        TEXT,
    entry_id         INTEGER REFERENCES credit_transactions(id),
    refund_claimed   INTEGER NOT NULL DEFAULT 0 CHECK (refund_claimed >= 0),
    refund_taken     INTEGER NOT NULL DEFAULT 0
                     CHECK (refund_taken >= 0 AND refund_taken <= refund_claimed),
    dispute_claimed  INTEGER NOT NULL DEFAULT 0 CHECK (dispute_claimed >= 0),
    dispute_taken    INTEGER NOT NULL DEFAULT 0
                     CHECK (dispute_taken >= 0 AND dispute_taken <= dispute_claimed),
    product_id       TEXT,
    dispute_id       TEXT,
    dispute_closed   INTEGER NOT NULL DEFAULT 0 CHECK (dispute_closed IN (0, 1)),
    receipt_url      TEXT,
    answer           TEXT,
    acknowledged     INTEGER CHECK (acknowledged IN (0, 1, 2)),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK (refund_claimed + dispute_claimed <= credits),
    CHECK (status = 'open' OR entry_id IS NOT NULL),
    UNIQUE (provider, external_id)
);
CREATE INDEX idx_payments_order ON payments (provider, order_ref) WHERE order_ref IS NOT NULL;
CREATE INDEX idx_payments_unacknowledged ON payments (id) WHERE acknowledged = 0;

-- Receipts that arrived before their payment (Stripe often sends `charge.succeeded`
-- before `checkout.session.completed`): held by order until the payment takes them.
CREATE TABLE payment_receipts (
    provider     TEXT NOT NULL,
    order_ref    TEXT NOT NULL,
    receipt_url  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (provider, order_ref)
) WITHOUT ROWID;
CREATE INDEX idx_payments_unrecovered ON payments (id)
    WHERE refund_claimed > refund_taken OR dispute_claimed > dispute_taken;

-- version 6

-- Goop2 campaigns (goop2-credit-system.md, "Phase 3": promotional credit campaigns): an
-- operator-made code worth `amount` whole credits, open from `starts_at` (inclusive)
-- to `ends_at` (exclusive), at most `max_redemptions` times, once per account. Codes
-- are stored upper-case; they are published, so they are kept in clear.
CREATE TABLE campaigns (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    code             TEXT NOT NULL,
    amount           INTEGER NOT NULL CHECK (amount > 0),
    starts_at        TEXT NOT NULL,
    ends_at          TEXT NOT NULL CHECK (ends_at > starts_at),
    max_redemptions  INTEGER NOT NULL CHECK (max_redemptions > 0),
    redeemed         INTEGER NOT NULL DEFAULT 0
                     CHECK (redeemed >= 0 AND redeemed <= max_redemptions),
    note             TEXT,
    created_at       TEXT NOT NULL,
    UNIQUE (tenant_id, code)
);

-- One redemption per campaign and account, with its `promo` entry.
CREATE TABLE campaign_redemptions (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    account_id   INTEGER NOT NULL REFERENCES credit_accounts(id),
    entry_id     INTEGER NOT NULL REFERENCES credit_transactions(id),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (campaign_id, account_id)
) WITHOUT ROWID;

-- Referral (invite) codes: one per account, made when the peer first asks for it.
CREATE TABLE referral_codes (
    code        TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL UNIQUE REFERENCES credit_accounts(id),
    created_at  TEXT NOT NULL
);

-- Referrals: once per invitee. The entries are NULL when `goop2.referral_bonus` is 0;
-- `inviter_entry` is NULL too when the inviter had already received
-- `goop2.referral_cap` bonuses (the invitee still gets its own).
CREATE TABLE referrals (
    invitee_account  INTEGER PRIMARY KEY REFERENCES credit_accounts(id),
    inviter_account  INTEGER NOT NULL REFERENCES credit_accounts(id),
    invitee_entry    INTEGER REFERENCES credit_transactions(id),
    inviter_entry    INTEGER REFERENCES credit_transactions(id),
    created_at       TEXT NOT NULL,
    CHECK (invitee_account <> inviter_account)
);
CREATE INDEX idx_referrals_inviter ON referrals (inviter_account);

-- version 7

-- Delivery leases: nodes that share one database lease a delivery before attempting
-- it (unix milliseconds). Kept here as well so that both engines answer alike; a
-- single node has no one to lease against.
ALTER TABLE webhook_deliveries ADD COLUMN leased_until INTEGER;

-- "Does this user have a code?" without a scan of every code (PostgreSQL has it too).
CREATE INDEX idx_codes_user ON promo_codes (tenant_id, external_user_id);
