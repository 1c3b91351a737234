-- rendezvous-credits ledger schema, PostgreSQL 15 or newer.
--
-- Embedded in the binary (src/store/postgres/migrate.rs). As with schema.sql for
-- SQLite, the file is a sequence of migrations, each introduced by a line
-- `-- version N`; `migrate` applies every migration above the database's
-- `schema_version`, in one transaction, under an advisory lock so that nodes starting
-- together apply each migration once. Released migrations are never edited.
--
-- Money columns are bigint minor units of the owning tenant's scale (goop2: whole
-- credits, roochip: hundredths of a ROO, rrr: points). Timestamps are RFC 3339 UTC
-- text ("2026-02-07T10:30:00Z"), as on SQLite, so that both backends hash and compare
-- the same strings.

-- version 1

-- The core's tables: tenants, accounts, the hash-chained entries, holds, lots and
-- their uses, reversals, pending credits, idempotency records, the outbox, webhook
-- endpoints and deliveries.

CREATE TABLE tenants (
    id          text PRIMARY KEY,
    mode        text NOT NULL CHECK (mode IN ('goop2', 'roochip', 'rrr')),
    scale       integer NOT NULL CHECK (scale BETWEEN 0 AND 6),
    ceiling     bigint NOT NULL CHECK (ceiling > 0),
    lots        boolean NOT NULL DEFAULT false,
    created_at  text NOT NULL,
    -- The chain head: the last entry's seq and hash. A writer locks this row
    -- (SELECT … FOR UPDATE) for its transaction, so the chain never forks across nodes.
    head_seq    bigint NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
    head_hash   bytea
);

CREATE TABLE credit_accounts (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants(id),
    holder      text NOT NULL,
    available   bigint NOT NULL DEFAULT 0 CHECK (available >= 0),
    held        bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
    pending     bigint NOT NULL DEFAULT 0 CHECK (pending >= 0),
    ceiling     bigint NOT NULL CHECK (ceiling > 0),
    created_at  text NOT NULL,
    updated_at  text NOT NULL,
    UNIQUE (tenant_id, holder),
    CHECK (available <= ceiling AND held <= ceiling AND pending <= ceiling)
);

-- Entries: append-only (the trigger below refuses UPDATE and DELETE).
CREATE TABLE credit_transactions (
    id             bigserial PRIMARY KEY,
    tenant_id      text NOT NULL REFERENCES tenants(id),
    seq            bigint NOT NULL CHECK (seq > 0),
    account_id     bigint NOT NULL REFERENCES credit_accounts(id),
    bucket         text NOT NULL DEFAULT 'available'
                   CHECK (bucket IN ('available', 'held', 'pending')),
    kind           text NOT NULL,
    amount         bigint NOT NULL CHECK (amount <> 0),
    balance_after  bigint NOT NULL CHECK (balance_after >= 0),
    ref_type       text,
    ref_id         text,
    note           text,
    actor          text NOT NULL,
    created_at     text NOT NULL,
    hash           bytea NOT NULL CHECK (length(hash) = 32),
    UNIQUE (tenant_id, seq)
);
CREATE INDEX idx_txn_account ON credit_transactions (account_id, id DESC);

CREATE FUNCTION refuse_entry_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_transactions is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER credit_transactions_append_only
    BEFORE UPDATE OR DELETE ON credit_transactions
    FOR EACH ROW EXECUTE FUNCTION refuse_entry_change();
CREATE TRIGGER credit_transactions_no_truncate
    BEFORE TRUNCATE ON credit_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_entry_change();

CREATE TABLE holds (
    id          text NOT NULL,
    account_id  bigint NOT NULL REFERENCES credit_accounts(id),
    amount      bigint NOT NULL CHECK (amount > 0),
    status      text NOT NULL CHECK (status IN ('open', 'captured', 'released')),
    ref_type    text,
    ref_id      text,
    created_at  text NOT NULL,
    resolved_at text,
    expires_at  text,
    entry_id    bigint REFERENCES credit_transactions(id),
    PRIMARY KEY (account_id, id)
);
CREATE INDEX idx_holds_due ON holds (expires_at) WHERE status = 'open' AND expires_at IS NOT NULL;

CREATE TABLE lots (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES credit_accounts(id),
    entry_id    bigint NOT NULL REFERENCES credit_transactions(id),
    amount      bigint NOT NULL CHECK (amount > 0),
    remaining   bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at  text,
    created_at  text NOT NULL
);
CREATE INDEX idx_lots_open ON lots (account_id, (expires_at IS NULL), expires_at, id)
    WHERE remaining > 0;
CREATE INDEX idx_lots_due ON lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;
CREATE INDEX idx_lots_entry ON lots (entry_id);

CREATE TABLE lot_uses (
    entry_id     bigint NOT NULL REFERENCES credit_transactions(id),
    lot_id       bigint NOT NULL REFERENCES lots(id),
    amount       bigint NOT NULL CHECK (amount > 0),
    restored_by  bigint REFERENCES credit_transactions(id),
    PRIMARY KEY (entry_id, lot_id)
);

CREATE TABLE reversals (
    entry_id     bigint PRIMARY KEY REFERENCES credit_transactions(id),
    reversal_id  bigint NOT NULL REFERENCES credit_transactions(id)
);

CREATE TABLE pending_credits (
    id              bigserial PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES credit_accounts(id),
    amount          bigint NOT NULL CHECK (amount > 0),
    pending_until   text NOT NULL,
    lot_expires_at  text,
    status          text NOT NULL CHECK (status IN ('pending', 'posted', 'cancelled')),
    entry_id        bigint NOT NULL REFERENCES credit_transactions(id),
    settled_entry   bigint REFERENCES credit_transactions(id),
    ref_type        text,
    ref_id          text,
    created_at      text NOT NULL,
    settled_at      text
);
CREATE INDEX idx_pending_due ON pending_credits (pending_until) WHERE status = 'pending';

CREATE TABLE idempotency_keys (
    scope        text NOT NULL,
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    status       integer NOT NULL,
    response     text NOT NULL,
    created_at   text NOT NULL,
    expires_at   text,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idx_idempotency_expiry ON idempotency_keys (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants(id),
    account_id  bigint REFERENCES credit_accounts(id),
    event_type  text NOT NULL,
    payload     text NOT NULL,
    created_at  text NOT NULL,
    trace       text
);
CREATE INDEX idx_outbox_account ON outbox (account_id, id);

CREATE TABLE webhook_endpoints (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants(id),
    url         text NOT NULL,
    secret      text NOT NULL,
    events      text NOT NULL DEFAULT '*',
    active      boolean NOT NULL DEFAULT true,
    created_at  text NOT NULL,
    updated_at  text NOT NULL
);
CREATE INDEX idx_endpoints_tenant ON webhook_endpoints (tenant_id, active);

-- Deliveries: `leased_until` (unix milliseconds) is set by the node that claims a
-- pending delivery (FOR UPDATE SKIP LOCKED); another node takes it only after the lease
-- ran out, so an event goes out once while its node lives.
CREATE TABLE webhook_deliveries (
    outbox_id        bigint NOT NULL REFERENCES outbox(id),
    endpoint_id      text NOT NULL DEFAULT '',
    tenant_id        text NOT NULL REFERENCES tenants(id),
    account_id       bigint REFERENCES credit_accounts(id),
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  bigint NOT NULL,
    leased_until     bigint,
    last_status      integer,
    last_error       text,
    delivered_at     text,
    updated_at       text NOT NULL,
    PRIMARY KEY (outbox_id, endpoint_id)
);
CREATE INDEX idx_deliveries_pending ON webhook_deliveries (status, outbox_id);
CREATE INDEX idx_deliveries_account
    ON webhook_deliveries (account_id, endpoint_id, status, outbox_id);

-- version 2

-- Goop2: template ownership, campaigns and referrals (as SQLite's versions 1 and 6).

CREATE TABLE template_purchases (
    id              bigserial PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES credit_accounts(id),
    template_name   text NOT NULL,
    price_paid      bigint NOT NULL CHECK (price_paid >= 0),
    txn_id          bigint REFERENCES credit_transactions(id),
    created_at      text NOT NULL,
    revoked_at      text,
    refund_txn_id   bigint REFERENCES credit_transactions(id)
);
CREATE UNIQUE INDEX idx_purchases_owned
    ON template_purchases (account_id, template_name) WHERE revoked_at IS NULL;

CREATE TABLE campaigns (
    id               bigserial PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES tenants(id),
    code             text NOT NULL,
    amount           bigint NOT NULL CHECK (amount > 0),
    starts_at        text NOT NULL,
    ends_at          text NOT NULL CHECK (ends_at > starts_at),
    max_redemptions  bigint NOT NULL CHECK (max_redemptions > 0),
    redeemed         bigint NOT NULL DEFAULT 0
                     CHECK (redeemed >= 0 AND redeemed <= max_redemptions),
    note             text,
    created_at       text NOT NULL,
    UNIQUE (tenant_id, code)
);

CREATE TABLE campaign_redemptions (
    campaign_id  bigint NOT NULL REFERENCES campaigns(id),
    account_id   bigint NOT NULL REFERENCES credit_accounts(id),
    entry_id     bigint NOT NULL REFERENCES credit_transactions(id),
    created_at   text NOT NULL,
    PRIMARY KEY (campaign_id, account_id)
);

CREATE TABLE referral_codes (
    code        text PRIMARY KEY,
    account_id  bigint NOT NULL UNIQUE REFERENCES credit_accounts(id),
    created_at  text NOT NULL
);

CREATE TABLE referrals (
    invitee_account  bigint PRIMARY KEY REFERENCES credit_accounts(id),
    inviter_account  bigint NOT NULL REFERENCES credit_accounts(id),
    invitee_entry    bigint REFERENCES credit_transactions(id),
    inviter_entry    bigint REFERENCES credit_transactions(id),
    created_at       text NOT NULL,
    CHECK (invitee_account <> inviter_account)
);
CREATE INDEX idx_referrals_inviter ON referrals (inviter_account);

-- version 3
-- The peer directory, payments and Roochip's promo codes.

-- Peers seen by any node of the cluster.
CREATE TABLE peers (
    peer_id     text PRIMARY KEY,
    first_seen  text NOT NULL,
    last_seen   text NOT NULL
);

-- Rendezvous registrations, per node: libp2p registrations live in the node a peer
-- registered with (`node_id` is that node's peer id), and a node restores only its
-- own at start. `record` is the signed peer record exactly as received.
CREATE TABLE registrations (
    node_id        text NOT NULL,
    peer_id        text NOT NULL REFERENCES peers(peer_id),
    namespace      text NOT NULL,
    addrs          text NOT NULL,
    ttl            bigint NOT NULL CHECK (ttl > 0),
    record         bytea NOT NULL,
    record_domain  text NOT NULL CHECK (record_domain IN ('standard', 'legacy')),
    registered_at  text NOT NULL,
    expires_at     bigint NOT NULL,
    last_seen      text NOT NULL,
    PRIMARY KEY (node_id, peer_id, namespace)
);

-- Real-money payments (Stripe Checkout sessions, Apple and Google in-app purchases),
-- as SQLite's version 5: one row per payment at its provider, written in the same
-- transaction as the credit or claw-back it records. `credits` and the claw-back
-- counters are the tenant's minor units; `amount` is the price in the currency's
-- minor units. `acknowledged`: Google's acknowledgement, 0 pending, 1 done, 2 refused.
CREATE TABLE payments (
    id               bigserial PRIMARY KEY,
    provider         text NOT NULL CHECK (provider IN ('stripe', 'apple_iap', 'google_iap')),
    external_id      text NOT NULL,
    tenant_id        text NOT NULL REFERENCES tenants(id),
    account          text NOT NULL,
    package_id       text NOT NULL,
    credits          bigint NOT NULL CHECK (credits > 0),
    amount           bigint NOT NULL CHECK (amount >= 0),
    currency         text NOT NULL,
    status           text NOT NULL CHECK (status IN ('open', 'credited', 'refunded', 'disputed')),
    order_ref        text,
    entry_id         bigint REFERENCES credit_transactions(id),
    refund_claimed   bigint NOT NULL DEFAULT 0 CHECK (refund_claimed >= 0),
    refund_taken     bigint NOT NULL DEFAULT 0
                     CHECK (refund_taken >= 0 AND refund_taken <= refund_claimed),
    dispute_claimed  bigint NOT NULL DEFAULT 0 CHECK (dispute_claimed >= 0),
    dispute_taken    bigint NOT NULL DEFAULT 0
                     CHECK (dispute_taken >= 0 AND dispute_taken <= dispute_claimed),
    product_id       text,
    dispute_id       text,
    dispute_closed   boolean NOT NULL DEFAULT false,
    receipt_url      text,
    answer           text,
    acknowledged     integer CHECK (acknowledged IN (0, 1, 2)),
    created_at       text NOT NULL,
    updated_at       text NOT NULL,
    CHECK (refund_claimed + dispute_claimed <= credits),
    CHECK (status = 'open' OR entry_id IS NOT NULL),
    UNIQUE (provider, external_id)
);
CREATE INDEX idx_payments_order ON payments (provider, order_ref, id) WHERE order_ref IS NOT NULL;
CREATE INDEX idx_payments_unacknowledged ON payments (id) WHERE acknowledged = 0;
CREATE INDEX idx_payments_unrecovered ON payments (id)
    WHERE refund_claimed > refund_taken OR dispute_claimed > dispute_taken;

-- Receipts that arrived before their payment (Stripe often sends `charge.succeeded`
-- before `checkout.session.completed`): held by order until the payment takes them.
CREATE TABLE payment_receipts (
    provider     text NOT NULL,
    order_ref    text NOT NULL,
    receipt_url  text NOT NULL,
    created_at   text NOT NULL,
    PRIMARY KEY (provider, order_ref)
);

-- Roochip's promo code requests (roochip-lite-integration-guide.md, "Phase 1: Promo
-- Code Flow"): one per user of a tenant, ever. `seq` is the order they were recorded
-- in, which listings follow (SQLite's rowid).
CREATE TABLE promo_code_requests (
    id                text PRIMARY KEY,
    seq               bigserial NOT NULL,
    tenant_id         text NOT NULL REFERENCES tenants(id),
    external_user_id  text NOT NULL,
    status            text NOT NULL CHECK (status IN ('pending', 'fulfilled', 'rejected')),
    created_at        text NOT NULL,
    resolved_at       text,
    UNIQUE (tenant_id, external_user_id)
);
CREATE INDEX idx_code_requests_tenant ON promo_code_requests (tenant_id, seq);
CREATE INDEX idx_code_requests_status ON promo_code_requests (tenant_id, status, seq);

-- Promo codes, kept as the SHA-256 of the code (a code is a secret until redeemed).
-- Single use, bound to one user; one redemption per user of a tenant, ever. `credits`
-- in hundredths of a ROO.
CREATE TABLE promo_codes (
    code_sha256       text PRIMARY KEY,
    tenant_id         text NOT NULL REFERENCES tenants(id),
    external_user_id  text NOT NULL,
    credits           bigint NOT NULL CHECK (credits > 0),
    request_id        text REFERENCES promo_code_requests(id),
    created_at        text NOT NULL,
    redeemed_at       text,
    entry_id          bigint REFERENCES credit_transactions(id)
);
CREATE INDEX idx_codes_user ON promo_codes (tenant_id, external_user_id);
CREATE UNIQUE INDEX idx_codes_one_redemption
    ON promo_codes (tenant_id, external_user_id) WHERE redeemed_at IS NOT NULL;

-- version 4
-- RedRoomRewards (the rrr dialect).
-- As SQLite's version 4 (rrr-xcn-api-contract-v1.md). Points are the tenant's minor
-- units (scale 0) and move only through the core's entries and lots; these tables
-- hold what the contract shows and remembers beside them. Times, days, months and
-- the segment keys compare and sort byte by byte (COLLATE "C"), as on SQLite.

-- Refuses UPDATE, DELETE and TRUNCATE on an append-only table.
CREATE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$;

-- Members: a member id (UUID) is one account of the tenant (the holder), created by
-- the first confirmed link of one client, which owns it. `lifetime_spend_minor` sums
-- the `amount_minor` of its earns; `cohort` is the America/Toronto month of its
-- first earn. A unit that decides on a member locks its row (FOR UPDATE).
CREATE TABLE rrr_members (
    tenant_id             text NOT NULL REFERENCES tenants(id),
    member_id             text NOT NULL,
    client_id             text NOT NULL,
    account_id            bigint NOT NULL REFERENCES credit_accounts(id),
    lifetime_spend_minor  bigint NOT NULL DEFAULT 0 CHECK (lifetime_spend_minor >= 0),
    cohort                text COLLATE "C",
    created_at            text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, member_id)
);
CREATE INDEX idx_rrr_members_account ON rrr_members (account_id);

-- Link intents: live 15 minutes; the link code is kept as its SHA-256; five wrong
-- proofs burn the intent.
CREATE TABLE rrr_link_intents (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants(id),
    client_id       text NOT NULL,
    client_user_id  text NOT NULL,
    link_type       text NOT NULL CHECK (link_type IN ('MEMBER', 'MODEL')),
    code_sha256     text NOT NULL,
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    status          text NOT NULL CHECK (status IN ('OPEN', 'USED', 'BURNED')),
    expires_at      text COLLATE "C" NOT NULL,
    created_at      text COLLATE "C" NOT NULL
);

-- Links between a client's user and a member: one active link per user of a client,
-- and per member (one-to-one both ways). A revoked link stays as history.
CREATE TABLE rrr_links (
    id              bigserial PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants(id),
    client_id       text NOT NULL,
    client_user_id  text NOT NULL,
    member_id       text NOT NULL,
    link_type       text NOT NULL CHECK (link_type IN ('MEMBER', 'MODEL')),
    proof_method    text NOT NULL,
    intent_id       text NOT NULL,
    status          text NOT NULL CHECK (status IN ('ACTIVE', 'REVOKED')),
    linked_at       text COLLATE "C" NOT NULL,
    revoked_at      text COLLATE "C",
    revoke_reason   text
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
    id             bigserial PRIMARY KEY,
    entry_uuid     text NOT NULL,
    tenant_id      text NOT NULL REFERENCES tenants(id),
    account_id     bigint NOT NULL REFERENCES credit_accounts(id),
    member_id      text NOT NULL,
    client_id      text NOT NULL,
    type           text NOT NULL CHECK (type IN ('EARN', 'REDEEM', 'EXPIRE', 'ADJUST',
                       'TRANSFER_IN', 'TRANSFER_OUT', 'REVERSAL')),
    points_delta   bigint NOT NULL,
    balance_after  bigint NOT NULL CHECK (balance_after >= 0),
    reason_code    text NOT NULL,
    source_ref     text,
    actor_type     text NOT NULL,
    actor_id       text NOT NULL,
    created_at     text COLLATE "C" NOT NULL,
    posted_at      text COLLATE "C" NOT NULL,
    core_entry_id  bigint REFERENCES credit_transactions(id),
    metadata       text
);
CREATE INDEX idx_rrr_entries_member ON rrr_entries (account_id, id);
CREATE TRIGGER rrr_entries_append_only
    BEFORE UPDATE OR DELETE ON rrr_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER rrr_entries_no_truncate
    BEFORE TRUNCATE ON rrr_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

-- Earns (§8), one per (client, source event type, order, line). `entry_uuid` is the
-- `ledger_entry_id` answered (the EARN entry's id once posted); `core_entry_id` the
-- credit of available that opened the lot (NULL while pending). The source is the
-- earn's business key: `fingerprint` (of the request) and `response` (the answer)
-- let a retry with a new Idempotency-Key get the original answer.
CREATE TABLE rrr_earns (
    entry_uuid       text PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES tenants(id),
    client_id        text NOT NULL,
    member_id        text NOT NULL,
    event_type       text NOT NULL,
    order_id         text NOT NULL,
    line_id          text NOT NULL,
    points           bigint NOT NULL CHECK (points > 0),
    bonus_points     bigint NOT NULL DEFAULT 0 CHECK (bonus_points >= 0),
    amount_minor     bigint NOT NULL DEFAULT 0,
    tier             text,
    promotion_id     text,
    pending_id       bigint REFERENCES pending_credits(id),
    core_entry_id    bigint REFERENCES credit_transactions(id),
    status           text NOT NULL CHECK (status IN ('PENDING', 'POSTED', 'REVERSED')),
    reversed_points  bigint NOT NULL DEFAULT 0,
    shortfall        bigint NOT NULL DEFAULT 0,
    metadata         text,
    fingerprint      text NOT NULL,
    response         text NOT NULL,
    created_at       text COLLATE "C" NOT NULL,
    UNIQUE (tenant_id, client_id, event_type, order_id, line_id)
);
CREATE INDEX idx_rrr_earns_pending ON rrr_earns (pending_id) WHERE pending_id IS NOT NULL;

-- Quotes of redemptions and top-ups (§10, §11); `used_by` is the order that
-- committed it.
CREATE TABLE rrr_quotes (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants(id),
    client_id       text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('REDEMPTION', 'TOPUP')),
    member_id       text,
    points          bigint NOT NULL CHECK (points > 0),
    money_minor     bigint NOT NULL CHECK (money_minor >= 0),
    expires_at      text COLLATE "C" NOT NULL,
    used_by         text,
    created_at      text COLLATE "C" NOT NULL
);

-- Committed orders: redemptions (points burned) and top-ups (points issued), one per
-- (client, kind, client order id), one per quote.
CREATE TABLE rrr_orders (
    tenant_id        text NOT NULL REFERENCES tenants(id),
    client_id        text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('REDEMPTION', 'TOPUP')),
    client_order_id  text NOT NULL,
    quote_id         text NOT NULL UNIQUE REFERENCES rrr_quotes(id),
    member_id        text NOT NULL,
    points           bigint NOT NULL CHECK (points > 0),
    money_minor      bigint NOT NULL,
    core_entry_id    bigint NOT NULL REFERENCES credit_transactions(id),
    status           text NOT NULL CHECK (status IN ('COMMITTED', 'REVERSED')),
    reverse_reason   text,
    created_at       text COLLATE "C" NOT NULL,
    reversed_at      text COLLATE "C",
    PRIMARY KEY (tenant_id, client_id, kind, client_order_id)
);

-- Daily aggregates of each client's points, by America/Toronto day, written in the
-- same unit as the entries they count (an upsert that adds: nodes writing at once
-- never lose a count). `issued`, `expired`, `reversed` and `transferred` only grow;
-- `redeemed` is net of redemption reversals and `adjusted` is net; `d_*` are the net
-- changes of the three balances.
CREATE TABLE rrr_daily (
    tenant_id    text NOT NULL REFERENCES tenants(id),
    client_id    text NOT NULL,
    day          text COLLATE "C" NOT NULL,
    issued       bigint NOT NULL DEFAULT 0,
    redeemed     bigint NOT NULL DEFAULT 0,
    expired      bigint NOT NULL DEFAULT 0,
    reversed     bigint NOT NULL DEFAULT 0,
    adjusted     bigint NOT NULL DEFAULT 0,
    transferred  bigint NOT NULL DEFAULT 0,
    d_available  bigint NOT NULL DEFAULT 0,
    d_escrow     bigint NOT NULL DEFAULT 0,
    d_pending    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, client_id, day)
);

-- Promotions (§9): created DRAFT by a client, submitted, approved by two distinct
-- client admins and one RRR admin (then ACTIVE, applying to earns between `starts_at`
-- and `ends_at`), paused, resumed, ended. `multiplier_bp` is the multiplier in basis
-- points (1.5 = 15000); `tiers` a JSON array of membership tiers (empty: any).
CREATE TABLE rrr_promotions (
    id                        text PRIMARY KEY,
    tenant_id                 text NOT NULL REFERENCES tenants(id),
    client_id                 text NOT NULL,
    name                      text NOT NULL,
    description               text,
    starts_at                 text COLLATE "C" NOT NULL,
    ends_at                   text COLLATE "C" NOT NULL,
    tiers                     text NOT NULL DEFAULT '[]',
    min_lifetime_spend_minor  bigint NOT NULL DEFAULT 0,
    multiplier_bp             bigint NOT NULL CHECK (multiplier_bp >= 10000),
    cap_points                bigint CHECK (cap_points >= 0),
    expiry_days               integer CHECK (expiry_days >= 0),
    status                    text NOT NULL CHECK (status IN ('DRAFT', 'PENDING_APPROVAL',
                                  'ACTIVE', 'PAUSED', 'ENDED')),
    created_at                text COLLATE "C" NOT NULL,
    updated_at                text COLLATE "C" NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX idx_rrr_promotions_status ON rrr_promotions (tenant_id, client_id, status);

-- Approvals of promotions: one append-only audit row per signature, in the order
-- given (`id`). The attestation is kept as its SHA-256.
CREATE TABLE rrr_promotion_approvals (
    id                  bigserial NOT NULL,
    promotion_id        text NOT NULL REFERENCES rrr_promotions(id),
    actor_type          text NOT NULL CHECK (actor_type IN ('CLIENT_ADMIN', 'RRR_ADMIN')),
    actor_id            text NOT NULL,
    signature_method    text NOT NULL,
    attestation_sha256  text NOT NULL,
    approved_at         text COLLATE "C" NOT NULL,
    PRIMARY KEY (promotion_id, actor_type, actor_id)
);
CREATE TRIGGER rrr_promotion_approvals_append_only
    BEFORE UPDATE OR DELETE ON rrr_promotion_approvals
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER rrr_promotion_approvals_no_truncate
    BEFORE TRUNCATE ON rrr_promotion_approvals
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

-- The bonus a promotion gave each member so far (its `cap_points` bounds it).
CREATE TABLE rrr_promotion_bonus (
    promotion_id  text NOT NULL REFERENCES rrr_promotions(id),
    member_id     text NOT NULL,
    bonus_points  bigint NOT NULL CHECK (bonus_points >= 0),
    PRIMARY KEY (promotion_id, member_id)
);

-- Awards (§12): a model gives a viewer points. The intent holds the model's points
-- (escrow) until it expires; the commit moves them. `day` is the America/Toronto day
-- of the intent (the model's daily cap).
CREATE TABLE rrr_awards (
    intent_id               text PRIMARY KEY,
    tenant_id               text NOT NULL REFERENCES tenants(id),
    client_id               text NOT NULL,
    model_member_id         text NOT NULL,
    viewer_member_id        text NOT NULL,
    client_model_id         text NOT NULL,
    client_viewer_user_id   text NOT NULL,
    points                  bigint NOT NULL CHECK (points > 0),
    day                     text COLLATE "C" NOT NULL,
    status                  text NOT NULL CHECK (status IN ('OPEN', 'INELIGIBLE',
                                'COMMITTED', 'EXPIRED', 'REVERSED')),
    reason                  text,
    in_entry_id             bigint REFERENCES credit_transactions(id),
    expires_at              text COLLATE "C" NOT NULL,
    created_at              text COLLATE "C" NOT NULL
);
CREATE INDEX idx_rrr_awards_model_day ON rrr_awards (tenant_id, model_member_id, day);

-- Segments of the earns (no PII), per America/Toronto day and (membership tier,
-- promotion, cohort = the month of the member's first earn); '' for none. One row per
-- combination and day: a report by one of them sums over the others.
CREATE TABLE rrr_segments (
    tenant_id     text NOT NULL REFERENCES tenants(id),
    client_id     text NOT NULL,
    day           text COLLATE "C" NOT NULL,
    tier          text COLLATE "C" NOT NULL,
    promotion_id  text COLLATE "C" NOT NULL,
    cohort        text COLLATE "C" NOT NULL,
    earns         bigint NOT NULL DEFAULT 0,
    points        bigint NOT NULL DEFAULT 0,
    bonus_points  bigint NOT NULL DEFAULT 0,
    spend_minor   bigint NOT NULL DEFAULT 0,
    new_members   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, client_id, day, tier, promotion_id, cohort)
);
