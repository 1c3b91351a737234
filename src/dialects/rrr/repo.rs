//! The RedRoomRewards dialect's own tables (rrr-xcn-api-contract-v1.md): members,
//! link intents and links, the member ledger as the contract shows it, earns,
//! quotes, committed orders and the daily aggregates of the liability report. Points
//! themselves move only through the core (entries and lots); these rows are written
//! in the same unit of work. Each storage backend implements [`RrrStore`] (in a unit
//! of work, through [`LedgerTx::repo`](crate::ledger::LedgerTx::repo)) and
//! [`RrrReads`] (through [`LedgerRead::repo`](crate::ledger::LedgerRead::repo)).

use crate::ledger::{AccountId, LedgerError, TenantId};

/// A member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// The member id (UUID, lowercase).
    pub member_id: String,
    /// The client whose link created it (it owns the member).
    pub client_id: String,
    /// Its account in the core.
    pub account: AccountId,
    /// Sum of the `amount_minor` of its earns, currency minor units.
    pub lifetime_spend_minor: i64,
    /// America/Toronto month (`YYYY-MM`) of its first earn.
    pub cohort: Option<String>,
}

/// Status of a link intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentStatus {
    /// Waiting for its confirmation.
    Open,
    /// Confirmed.
    Used,
    /// Too many wrong proofs.
    Burned,
}

impl IntentStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::Open => "OPEN",
            IntentStatus::Used => "USED",
            IntentStatus::Burned => "BURNED",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<IntentStatus> {
        match s {
            "OPEN" => Some(IntentStatus::Open),
            "USED" => Some(IntentStatus::Used),
            "BURNED" => Some(IntentStatus::Burned),
            _ => None,
        }
    }
}

/// A link intent as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRow {
    /// UUID.
    pub id: String,
    /// The client that created it.
    pub client_id: String,
    /// The client's id of its user.
    pub client_user_id: String,
    /// `MEMBER` or `MODEL`.
    pub link_type: String,
    /// Lowercase hex SHA-256 of the link code.
    pub code_sha256: String,
    /// Wrong proofs so far.
    pub failures: u32,
    /// Its state.
    pub status: IntentStatus,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

/// An active link (or a revoked one, as history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    /// Row id.
    pub id: i64,
    /// The client.
    pub client_id: String,
    /// The client's id of its user.
    pub client_user_id: String,
    /// The member.
    pub member_id: String,
    /// `MEMBER` or `MODEL`.
    pub link_type: String,
    /// `SIGNED_JWT` or `EMAIL_OTP`.
    pub proof_method: String,
    /// RFC 3339 UTC.
    pub linked_at: String,
}

/// A new link.
#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    /// The client.
    pub client_id: &'a str,
    /// The client's id of its user.
    pub client_user_id: &'a str,
    /// The member.
    pub member_id: &'a str,
    /// `MEMBER` or `MODEL`.
    pub link_type: &'a str,
    /// How the link was proven.
    pub proof_method: &'a str,
    /// The intent it confirmed.
    pub intent_id: &'a str,
}

/// One row of the member ledger (contract §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// Row id: the keyset of the ledger's pages.
    pub id: i64,
    /// `entry_id` (UUID).
    pub entry_uuid: String,
    /// The member's account.
    pub account: AccountId,
    /// The member.
    pub member_id: String,
    /// The client the member belongs to.
    pub client_id: String,
    /// `EARN`, `REDEEM`, `EXPIRE`, `ADJUST`, `TRANSFER_IN`, `TRANSFER_OUT`, `REVERSAL`.
    pub entry_type: String,
    /// Signed points.
    pub points_delta: i64,
    /// Available points after the entry.
    pub balance_after: i64,
    /// Why (the earn's source event type, the adjustment's reason code, …).
    pub reason_code: String,
    /// The client's reference (order id, …).
    pub source_ref: Option<String>,
    /// `SERVICE`, `CLIENT_ADMIN`, `RRR_ADMIN` or `SYSTEM`.
    pub actor_type: String,
    /// The actor's opaque id (a client id, an admin id, `scheduler`).
    pub actor_id: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub posted_at: String,
    /// The core entry that moved the points.
    pub core_entry_id: Option<i64>,
    /// The request's `metadata` as given (adjustments), not shown in the ledger.
    pub metadata: Option<String>,
}

/// Status of an earn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarnStatus {
    /// In the member's pending points.
    Pending,
    /// Credited as a lot.
    Posted,
    /// Taken back (chargeback) or cancelled before posting.
    Reversed,
}

impl EarnStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            EarnStatus::Pending => "PENDING",
            EarnStatus::Posted => "POSTED",
            EarnStatus::Reversed => "REVERSED",
        }
    }

    /// Parses the stored text.
    pub fn parse(s: &str) -> Option<EarnStatus> {
        match s {
            "PENDING" => Some(EarnStatus::Pending),
            "POSTED" => Some(EarnStatus::Posted),
            "REVERSED" => Some(EarnStatus::Reversed),
            _ => None,
        }
    }
}

/// An earn as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarnRow {
    /// `ledger_entry_id` (UUID).
    pub entry_uuid: String,
    /// The client.
    pub client_id: String,
    /// The member.
    pub member_id: String,
    /// `source.event_type`.
    pub event_type: String,
    /// `source.order_id`.
    pub order_id: String,
    /// `source.line_id`.
    pub line_id: String,
    /// Points credited (base and promotional bonus).
    pub points: i64,
    /// Of which the promotion's bonus.
    pub bonus_points: i64,
    /// The purchase's amount, currency minor units.
    pub amount_minor: i64,
    /// `metadata.xcn_membership_tier`.
    pub tier: Option<String>,
    /// The promotion applied.
    pub promotion_id: Option<String>,
    /// The core's pending credit (PENDING earns).
    pub pending_id: Option<i64>,
    /// The core credit of available that opened the lot (once posted).
    pub core_entry_id: Option<i64>,
    /// Its state.
    pub status: EarnStatus,
    /// `metadata` as given (compact JSON).
    pub metadata: Option<String>,
    /// The fingerprint of the request (its business key's).
    pub fingerprint: String,
    /// The answer given (replayed to a retry of the same request).
    pub response: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// Kind of a quote and of a committed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// Points burned for a discount (§10).
    Redemption,
    /// Points bought (§11).
    Topup,
}

impl OrderKind {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::Redemption => "REDEMPTION",
            OrderKind::Topup => "TOPUP",
        }
    }
}

/// A quote as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteRow {
    /// UUID.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// What it quotes.
    pub kind: OrderKind,
    /// The member (redemptions).
    pub member_id: Option<String>,
    /// Points to burn or to issue.
    pub points: i64,
    /// The discount (redemption) or the price (top-up), currency minor units.
    pub money_minor: i64,
    /// RFC 3339 UTC.
    pub expires_at: String,
    /// The client order that committed it.
    pub used_by: Option<String>,
}

/// A committed order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    /// The client.
    pub client_id: String,
    /// Redemption or top-up.
    pub kind: OrderKind,
    /// The client's order id.
    pub client_order_id: String,
    /// The quote it committed.
    pub quote_id: String,
    /// The member.
    pub member_id: String,
    /// Points burned or issued.
    pub points: i64,
    /// Discount or price, currency minor units.
    pub money_minor: i64,
    /// The core entry that burned (debit) or issued (credit) the points.
    pub core_entry_id: i64,
    /// Reversed already.
    pub reversed: bool,
}

/// Changes to one client's aggregates of one day, in points. The window counters
/// (`issued` … `transferred`) are what the liability report sums; `d_*` are the net
/// changes of the balances (their sum over all days is what is outstanding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Points credited by earns (when posted) and top-ups.
    pub issued: i64,
    /// Points burned by redemptions, net of their reversals.
    pub redeemed: i64,
    /// Points expired.
    pub expired: i64,
    /// Points taken back by earn reversals.
    pub reversed: i64,
    /// Net of adjustments.
    pub adjusted: i64,
    /// Points moved between members.
    pub transferred: i64,
    /// Net change of available points.
    pub d_available: i64,
    /// Net change of escrow.
    pub d_escrow: i64,
    /// Net change of pending points.
    pub d_pending: i64,
}

impl Tally {
    /// The sum of two tallies.
    pub fn plus(self, o: Tally) -> Tally {
        Tally {
            issued: self.issued + o.issued,
            redeemed: self.redeemed + o.redeemed,
            expired: self.expired + o.expired,
            reversed: self.reversed + o.reversed,
            adjusted: self.adjusted + o.adjusted,
            transferred: self.transferred + o.transferred,
            d_available: self.d_available + o.d_available,
            d_escrow: self.d_escrow + o.d_escrow,
            d_pending: self.d_pending + o.d_pending,
        }
    }
}

/// A promotion as stored (contract §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionRow {
    /// UUID.
    pub id: String,
    /// The client that created it.
    pub client_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// RFC 3339 UTC: it applies from then…
    pub starts_at: String,
    /// …until then (exclusive).
    pub ends_at: String,
    /// Membership tiers it is for (empty: every tier).
    pub tiers: Vec<String>,
    /// Lifetime spend (earlier earns) a member needs, currency minor units.
    pub min_lifetime_spend_minor: i64,
    /// The earn multiplier in basis points (1.5 = 15,000; at least 10,000).
    pub multiplier_bp: i64,
    /// Most bonus points per member over the promotion's life.
    pub cap_points: Option<i64>,
    /// Lot expiry of its earns, days.
    pub expiry_days: Option<u32>,
    /// `DRAFT`, `PENDING_APPROVAL`, `ACTIVE`, `PAUSED`, `ENDED`.
    pub status: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// One approval of a promotion (an append-only audit row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    /// `CLIENT_ADMIN` or `RRR_ADMIN`.
    pub actor_type: String,
    /// Opaque id (XCN sends 24-hex ids).
    pub actor_id: String,
    /// `signature.method`.
    pub signature_method: String,
    /// Lowercase hex SHA-256 of `signature.attestation`.
    pub attestation_sha256: String,
    /// RFC 3339 UTC.
    pub approved_at: String,
}

/// An award as stored (contract §12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwardRow {
    /// UUID (also the hold's id and the transfer id).
    pub intent_id: String,
    /// The client.
    pub client_id: String,
    /// The model (gives).
    pub model_member_id: String,
    /// The viewer (receives).
    pub viewer_member_id: String,
    /// The client's id of the model.
    pub client_model_id: String,
    /// The client's id of the viewer.
    pub client_viewer_user_id: String,
    /// Points.
    pub points: i64,
    /// America/Toronto day of the intent.
    pub day: String,
    /// `OPEN`, `INELIGIBLE`, `COMMITTED`, `EXPIRED`, `REVERSED`.
    pub status: String,
    /// Why ineligible.
    pub reason: Option<String>,
    /// The viewer's credit (once committed).
    pub in_entry_id: Option<i64>,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

/// Changes to one segment of one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentTally {
    /// Earns.
    pub earns: i64,
    /// Points they credited.
    pub points: i64,
    /// Of which promotional bonus.
    pub bonus_points: i64,
    /// What the members spent, currency minor units.
    pub spend_minor: i64,
    /// Members whose first earn it was.
    pub new_members: i64,
}

/// The stored aggregates `verify` checks (see [`RrrReads::check_data`]); every key is
/// (tenant, client, …).
#[derive(Debug, Default)]
pub struct CheckData {
    /// The daily aggregates: (tenant, client, day) and their tally.
    pub daily: Vec<(String, String, String, Tally)>,
    /// The balances of each client's members: available, held, pending.
    pub balances: Vec<(String, String, [i64; 3])>,
    /// The segments summed per (tenant, client, day).
    pub segments: Vec<(String, String, String, SegmentTally)>,
    /// How many members of each client have a cohort (have earned).
    pub cohorts: Vec<(String, String, i64)>,
}

/// The dialect's tables inside a unit of work.
pub trait RrrStore {
    /// The member `member_id` of `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn member(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
    ) -> Result<Option<MemberRow>, LedgerError>;
    /// Records a new member.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_member(
        &mut self,
        tenant: &TenantId,
        member: &MemberRow,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// Adds `amount_minor` to the member's lifetime spend and sets its cohort if it has
    /// none.
    ///
    /// # Errors
    /// Storage errors.
    fn add_spend(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
        amount_minor: i64,
        cohort: &str,
    ) -> Result<(), LedgerError>;
    /// Records a new link intent.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_intent(
        &mut self,
        tenant: &TenantId,
        intent: &IntentRow,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// The link intent `id` of `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn intent(&mut self, tenant: &TenantId, id: &str) -> Result<Option<IntentRow>, LedgerError>;
    /// Sets an intent's state and count of wrong proofs.
    ///
    /// # Errors
    /// Storage errors.
    fn set_intent(
        &mut self,
        id: &str,
        status: IntentStatus,
        failures: u32,
    ) -> Result<(), LedgerError>;
    /// The active link of a client's user.
    ///
    /// # Errors
    /// Storage errors.
    fn link_of_user(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        client_user_id: &str,
    ) -> Result<Option<LinkRow>, LedgerError>;
    /// The active link of a member.
    ///
    /// # Errors
    /// Storage errors.
    fn link_of_member(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
    ) -> Result<Option<LinkRow>, LedgerError>;
    /// Records an active link.
    ///
    /// # Errors
    /// Storage errors (a second active link of the user or the member is refused).
    fn insert_link(
        &mut self,
        tenant: &TenantId,
        link: &NewLink<'_>,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// Ends link `id`.
    ///
    /// # Errors
    /// Storage errors.
    fn revoke_link(&mut self, id: i64, reason: &str, now: &str) -> Result<(), LedgerError>;
    /// Appends a row to the member ledger (`id` is ignored). Returns its id.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_entry(&mut self, tenant: &TenantId, entry: &EntryRow) -> Result<i64, LedgerError>;
    /// Records an earn.
    ///
    /// # Errors
    /// Storage errors (a second earn of the same source is refused).
    fn insert_earn(&mut self, tenant: &TenantId, earn: &EarnRow) -> Result<(), LedgerError>;
    /// The earn of a source.
    ///
    /// # Errors
    /// Storage errors.
    fn earn_by_source(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        source: (&str, &str, &str),
    ) -> Result<Option<EarnRow>, LedgerError>;
    /// The earn whose `ledger_entry_id` is `entry_uuid`.
    ///
    /// # Errors
    /// Storage errors.
    fn earn(&mut self, tenant: &TenantId, entry_uuid: &str)
        -> Result<Option<EarnRow>, LedgerError>;
    /// The earn posted or to be posted by the core's pending credit `pending_id`.
    ///
    /// # Errors
    /// Storage errors.
    fn earn_by_pending(
        &mut self,
        pending_id: i64,
    ) -> Result<Option<(TenantId, EarnRow)>, LedgerError>;
    /// Sets an earn's state (and the credit that posted it, or what a reversal took
    /// back and could not).
    ///
    /// # Errors
    /// Storage errors.
    fn set_earn(
        &mut self,
        entry_uuid: &str,
        status: EarnStatus,
        core_entry_id: Option<i64>,
        reversed: (i64, i64),
    ) -> Result<(), LedgerError>;
    /// Records a quote.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_quote(
        &mut self,
        tenant: &TenantId,
        quote: &QuoteRow,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// The quote `id` of `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn quote(&mut self, tenant: &TenantId, id: &str) -> Result<Option<QuoteRow>, LedgerError>;
    /// Records a committed order and marks its quote used.
    ///
    /// # Errors
    /// Storage errors (an order id or a quote used twice is refused).
    fn insert_order(
        &mut self,
        tenant: &TenantId,
        order: &OrderRow,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// The committed order of a client.
    ///
    /// # Errors
    /// Storage errors.
    fn order(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        kind: OrderKind,
        client_order_id: &str,
    ) -> Result<Option<OrderRow>, LedgerError>;
    /// Marks an order reversed.
    ///
    /// # Errors
    /// Storage errors.
    fn reverse_order(
        &mut self,
        tenant: &TenantId,
        order: &OrderRow,
        reason: &str,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// Adds `tally` to the client's aggregates of `day` (`YYYY-MM-DD`, Toronto).
    ///
    /// # Errors
    /// Storage errors.
    fn add_tally(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        day: &str,
        tally: &Tally,
    ) -> Result<(), LedgerError>;

    /// The member whose account is `account`.
    ///
    /// # Errors
    /// Storage errors.
    fn member_by_account(
        &mut self,
        tenant: &TenantId,
        account: AccountId,
    ) -> Result<Option<MemberRow>, LedgerError>;
    /// Records a new promotion, or writes every field of an existing one.
    ///
    /// # Errors
    /// Storage errors.
    fn put_promotion(&mut self, tenant: &TenantId, p: &PromotionRow) -> Result<(), LedgerError>;
    /// The promotion `id` of `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn promotion(
        &mut self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<PromotionRow>, LedgerError>;
    /// The client's ACTIVE promotions live at `now` (`starts_at <= now < ends_at`).
    ///
    /// # Errors
    /// Storage errors.
    fn live_promotions(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        now: &str,
    ) -> Result<Vec<PromotionRow>, LedgerError>;
    /// Up to `limit` ACTIVE or PAUSED promotions of `tenant` past their `ends_at`.
    ///
    /// # Errors
    /// Storage errors.
    fn promotions_past_end(
        &mut self,
        tenant: &TenantId,
        now: &str,
        limit: u32,
    ) -> Result<Vec<PromotionRow>, LedgerError>;
    /// The approvals of a promotion, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    fn approvals(&mut self, promotion_id: &str) -> Result<Vec<ApprovalRow>, LedgerError>;
    /// Appends an approval.
    ///
    /// # Errors
    /// Storage errors (the same actor twice is refused).
    fn insert_approval(&mut self, promotion_id: &str, a: &ApprovalRow) -> Result<(), LedgerError>;
    /// The bonus a promotion gave a member so far.
    ///
    /// # Errors
    /// Storage errors.
    fn bonus_given(&mut self, promotion_id: &str, member_id: &str) -> Result<i64, LedgerError>;
    /// Adds to it.
    ///
    /// # Errors
    /// Storage errors.
    fn add_bonus(
        &mut self,
        promotion_id: &str,
        member_id: &str,
        points: i64,
    ) -> Result<(), LedgerError>;
    /// Records an award intent.
    ///
    /// # Errors
    /// Storage errors.
    fn insert_award(
        &mut self,
        tenant: &TenantId,
        a: &AwardRow,
        now: &str,
    ) -> Result<(), LedgerError>;
    /// The award intent `id` of `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn award(&mut self, tenant: &TenantId, id: &str) -> Result<Option<AwardRow>, LedgerError>;
    /// Sets an award's state (and the viewer's credit).
    ///
    /// # Errors
    /// Storage errors.
    fn set_award(
        &mut self,
        id: &str,
        status: &str,
        in_entry_id: Option<i64>,
    ) -> Result<(), LedgerError>;
    /// Points of the model's committed awards of a day, and of its open intents of
    /// that day not yet expired: (`day`, `now`).
    ///
    /// # Errors
    /// Storage errors.
    fn awarded_on(
        &mut self,
        tenant: &TenantId,
        model_member_id: &str,
        day_now: (&str, &str),
    ) -> Result<i64, LedgerError>;
    /// Adds `tally` to the segment (tier, promotion id, cohort; `""` for none) of
    /// `day`.
    ///
    /// # Errors
    /// Storage errors.
    fn add_segment(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        day: &str,
        segment: (&str, &str, &str),
        tally: &SegmentTally,
    ) -> Result<(), LedgerError>;
}

/// The dialect's tables as readers see them.
pub trait RrrReads {
    /// The member `member_id` of `tenant`.
    ///
    /// # Errors
    /// Storage errors.
    fn member(
        &mut self,
        tenant: &TenantId,
        member_id: &str,
    ) -> Result<Option<MemberRow>, LedgerError>;
    /// The active link of a client's user.
    ///
    /// # Errors
    /// Storage errors.
    fn link_of_user(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        client_user_id: &str,
    ) -> Result<Option<LinkRow>, LedgerError>;
    /// A page of a member's ledger, newest first: rows with an id below `before`
    /// (all when `None`), of the given types (all when empty), created in
    /// `[from, to)` (RFC 3339 UTC; open when `None`), at most `limit`.
    ///
    /// # Errors
    /// Storage errors.
    fn entries(
        &mut self,
        account: AccountId,
        before: Option<i64>,
        types: &[String],
        window: (Option<&str>, Option<&str>),
        limit: u32,
    ) -> Result<Vec<EntryRow>, LedgerError>;
    /// The client's aggregates summed over days in `[from, to]` (`YYYY-MM-DD`; open
    /// when `None`).
    ///
    /// # Errors
    /// Storage errors.
    fn tally(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Tally, LedgerError>;
    /// The promotion `id` of `tenant` and its approvals.
    ///
    /// # Errors
    /// Storage errors.
    fn promotion(
        &mut self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Option<(PromotionRow, Vec<ApprovalRow>)>, LedgerError>;
    /// The client's promotions (of one status), newest first, with their approvals.
    ///
    /// # Errors
    /// Storage errors.
    fn promotions(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        status: Option<&str>,
    ) -> Result<Vec<(PromotionRow, Vec<ApprovalRow>)>, LedgerError>;
    /// The client's segments of `dimension` summed over days in `[from, to]`.
    ///
    /// # Errors
    /// Storage errors.
    fn segments(
        &mut self,
        tenant: &TenantId,
        client_id: &str,
        dimension: &str,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Vec<(String, SegmentTally)>, LedgerError>;
    /// What `verify` compares, read in one snapshot: every member ledger row (to
    /// `entry`: tenant, client, type, points, posted_at), every earn (to `earn`:
    /// tenant, client, created_at, its segment tally), and the stored aggregates.
    ///
    /// # Errors
    /// Storage errors.
    fn check_data(
        &mut self,
        entry: &mut dyn FnMut(&str, &str, &str, i64, &str),
        earn: &mut dyn FnMut(&str, &str, &str, SegmentTally),
    ) -> Result<CheckData, LedgerError>;
}
