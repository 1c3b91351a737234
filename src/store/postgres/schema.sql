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
