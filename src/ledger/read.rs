//! Reads on the store's read-only connections: balances, history, and `verify`.

use std::collections::HashMap;

use super::backend::{AccountTotals, EntryRecord, ReadBackend, VerifyVisitor};
use super::hash::{entry_hash, EntryFields, GENESIS};
use super::repo::Repositories;
use super::tx::canonical_time;
use super::{AccountId, Bucket, LedgerError, TenantId};

/// An account as readers see it. Amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    /// Row id.
    pub id: AccountId,
    /// Holder id (peer id, external user id, member id).
    pub holder: String,
    /// Spendable balance.
    pub available: i64,
    /// In escrow.
    pub held: i64,
    /// Not yet settled.
    pub pending: i64,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC of the last change.
    pub updated_at: String,
}

/// One entry as readers see it. Amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryView {
    /// Row id (global, increasing).
    pub id: i64,
    /// Bucket (`available`, `held`, `pending`).
    pub bucket: String,
    /// Transaction type.
    pub kind: String,
    /// Signed amount.
    pub amount: i64,
    /// The bucket's balance after the entry.
    pub balance_after: i64,
    /// Reference type.
    pub ref_type: Option<String>,
    /// Reference id.
    pub ref_id: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// Who caused it.
    pub actor: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// One UTC day of credits in and out of a tenant's accounts, minor units. Moves
/// between an account's own buckets are left out: a hold (available → held) and its
/// release (held → available) are neither; a capture of held credits is a debit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFlow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Credits to spendable balances (grants, purchases of credits, refunds,
    /// reversals, posted pending credits…), other than releases of holds: issued.
    pub credited: i64,
    /// Debits of spendable balances other than holds, plus captures of held credits,
    /// as a positive number: spent, expired or taken back.
    pub debited: i64,
}

/// A tenant's spendable entries of one kind, all time, minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindTotal {
    /// Entry kind (`starter`, `purchase`, `promo`, `referral`, …).
    pub kind: String,
    /// Sum of its credits.
    pub credited: i64,
    /// Sum of its debits as a positive number.
    pub debited: i64,
    /// How many entries.
    pub entries: u64,
}

/// A tenant's accounts in sum, minor units. `available + held + pending` is what the
/// tenant owes its account holders (its liability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantTotals {
    /// Accounts opened.
    pub accounts: u64,
    /// Sum of the spendable balances.
    pub available: i64,
    /// Sum of the held balances.
    pub held: i64,
    /// Sum of the pending balances.
    pub pending: i64,
    /// Accounts whose spendable balance is below the threshold asked for (0 when none
    /// was asked for).
    pub low_balance: u64,
}

impl TenantTotals {
    /// `available + held + pending` (saturating).
    pub fn liability(&self) -> i64 {
        self.available
            .saturating_add(self.held)
            .saturating_add(self.pending)
    }
}

/// What [`Ledger::read`](super::Ledger::read) closures read with: the core's reads, and
/// each module's read repository ([`LedgerRead::repo`]). Each read sees every batch
/// committed before it; reads that must agree with each other (a page and its total)
/// run inside [`LedgerRead::in_snapshot`].
pub struct LedgerRead<'a> {
    backend: &'a mut dyn ReadBackend,
    repos: &'a Repositories,
}

impl<'a> LedgerRead<'a> {
    /// Reads over `backend`. For backends and the core.
    pub fn new(backend: &'a mut dyn ReadBackend, repos: &'a Repositories) -> LedgerRead<'a> {
        LedgerRead { backend, repos }
    }

    /// Runs `f` on one snapshot: every read in it sees the same committed state,
    /// whatever the writers commit meanwhile.
    ///
    /// # Errors
    /// `f`'s, and storage errors.
    pub fn in_snapshot<T, E: From<LedgerError>>(
        &mut self,
        f: impl FnOnce(&mut LedgerRead<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.backend.begin_snapshot()?;
        let out = f(self);
        let ended = self.backend.end_snapshot();
        let out = out?;
        ended?;
        Ok(out)
    }

    /// The account of `holder` in `tenant`, if opened.
    ///
    /// # Errors
    /// Storage errors.
    pub fn account(
        &mut self,
        tenant: &TenantId,
        holder: &str,
    ) -> Result<Option<AccountView>, LedgerError> {
        self.backend.account(tenant, holder)
    }

    /// Entries of `account` in `bucket`, newest first, skipping `offset`, at most
    /// `limit`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn entries(
        &mut self,
        account: AccountId,
        bucket: Bucket,
        limit: u32,
        offset: u64,
    ) -> Result<Vec<EntryView>, LedgerError> {
        self.backend.entries(account, bucket, limit, offset)
    }

    /// How many entries `account` has in `bucket`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn entry_count(&mut self, account: AccountId, bucket: Bucket) -> Result<u64, LedgerError> {
        self.backend.entry_count(account, bucket)
    }

    /// The account's lots with something left that expire at or before `until` (RFC
    /// 3339), earliest first: (expiry in RFC 3339 UTC, minor units left).
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a malformed `until`; storage errors.
    pub fn lots_expiring(
        &mut self,
        account: AccountId,
        until: &str,
    ) -> Result<Vec<(String, i64)>, LedgerError> {
        let until = canonical_time(until)?;
        Ok(self
            .backend
            .lots_expiring(account, &until)?
            .into_iter()
            .filter_map(|l| Some((l.expires_at?, l.remaining)))
            .collect())
    }

    /// Per UTC day, credits in and out of `tenant`'s accounts ([`DayFlow`]) from
    /// `since` (RFC 3339, inclusive) on, oldest day first; days without them are left
    /// out.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] for a malformed `since`; storage errors.
    pub fn daily_flows(
        &mut self,
        tenant: &TenantId,
        since: &str,
    ) -> Result<Vec<DayFlow>, LedgerError> {
        let since = canonical_time(since)?;
        self.backend.daily_flows(tenant, &since)
    }

    /// `tenant`'s spendable entries summed by kind, all time, kinds in name order.
    ///
    /// # Errors
    /// Storage errors.
    pub fn kind_totals(&mut self, tenant: &TenantId) -> Result<Vec<KindTotal>, LedgerError> {
        self.backend.kind_totals(tenant)
    }

    /// The reference ids that `tenant`'s spendable debits of `kind` name most, by the
    /// minor units debited (largest first, then by id), at most `limit`: e.g. the
    /// templates credits were spent on. Reversed debits are not netted out.
    ///
    /// # Errors
    /// Storage errors.
    pub fn top_debit_refs(
        &mut self,
        tenant: &TenantId,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, LedgerError> {
        self.backend.top_debit_refs(tenant, kind, limit)
    }

    /// `tenant`'s accounts in sum; `low_below` counts the accounts whose spendable
    /// balance is below it.
    ///
    /// # Errors
    /// Storage errors.
    pub fn tenant_totals(
        &mut self,
        tenant: &TenantId,
        low_below: Option<i64>,
    ) -> Result<TenantTotals, LedgerError> {
        self.backend.tenant_totals(tenant, low_below)
    }

    /// `tenant`'s accounts whose holder contains `query` (all when empty) and, with
    /// `low_below`, whose spendable balance is below it; by holder, at most `limit`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn find_accounts(
        &mut self,
        tenant: &TenantId,
        query: &str,
        low_below: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AccountView>, LedgerError> {
        self.backend.find_accounts(tenant, query, low_below, limit)
    }

    /// The read repository `R` of a module.
    ///
    /// # Errors
    /// [`LedgerError::Invalid`] when the backend offers no such repository.
    pub fn repo<R: ?Sized + 'static>(&mut self) -> Result<&mut R, LedgerError> {
        self.repos.get::<R>(self.backend.as_any())
    }

    /// Recomputes every tenant's hash chain, every running balance and every account
    /// balance from the entries, and every held balance from the open holds. Stops at
    /// the first discrepancy. Everything is read in one snapshot (safe beside a running
    /// node). `progress` is called with the number of entries checked so far every
    /// 100,000 entries, and once at the end.
    ///
    /// # Errors
    /// `Ok(Err(d))` names the first discrepancy; `Err` is a storage error.
    pub fn verify(
        &mut self,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Result<VerifyReport, Discrepancy>, LedgerError> {
        let mut v = Verifier {
            progress,
            report: VerifyReport::default(),
            running: HashMap::new(),
            tenant: String::new(),
            prev: GENESIS,
            expected_seq: 1,
            found: None,
        };
        self.backend.scan(&mut v)?;
        if let Some(d) = v.found {
            return Ok(Err(d));
        }
        (v.progress)(v.report.entries);
        Ok(Ok(v.report))
    }
}

/// The first thing `verify` found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Discrepancy {
    /// A dialect's own tables disagree with the entries (its aggregates, say).
    #[error("{dialect}: {detail}")]
    Dialect {
        /// The dialect (`rrr`).
        dialect: String,
        /// What disagrees.
        detail: String,
    },
    /// An entry's hash does not match its fields and the previous hash.
    #[error("tenant {tenant}: entry id {entry_id} (seq {seq}) does not match its hash: the row was altered or the chain broken")]
    HashMismatch {
        /// Tenant.
        tenant: String,
        /// Row id.
        entry_id: i64,
        /// Chain position.
        seq: i64,
    },
    /// A gap or repeat in a tenant's sequence numbers (a deleted or inserted row).
    #[error("tenant {tenant}: entry id {entry_id} has seq {seq}, expected {expected}: entries are missing or were inserted")]
    SequenceGap {
        /// Tenant.
        tenant: String,
        /// Row id.
        entry_id: i64,
        /// Found.
        seq: i64,
        /// Expected.
        expected: i64,
    },
    /// An entry's `balance_after` is not the running sum of the account's entries.
    #[error("account {account_id} ({bucket}): entry id {entry_id} says balance {recorded}, the entries sum to {computed}")]
    RunningBalance {
        /// Account row id.
        account_id: i64,
        /// Bucket.
        bucket: String,
        /// Row id.
        entry_id: i64,
        /// `balance_after` as stored.
        recorded: i64,
        /// Recomputed.
        computed: i64,
    },
    /// An account's balance column differs from the sum of its entries.
    #[error(
        "account {account_id} ({bucket}): stored balance {stored}, the entries sum to {computed}"
    )]
    AccountBalance {
        /// Account row id.
        account_id: i64,
        /// Bucket.
        bucket: String,
        /// The column value.
        stored: i64,
        /// Sum of the entries.
        computed: i64,
    },
    /// The available balance differs from what is left of the account's lots (a
    /// tenant that keeps lots).
    #[error(
        "account {account_id}: available balance {available}, its open lots sum to {open_lots}"
    )]
    Lots {
        /// Account row id.
        account_id: i64,
        /// The available column.
        available: i64,
        /// Sum of what is left of its lots.
        open_lots: i64,
    },
    /// The pending balance differs from the sum of the account's pending credits.
    #[error("account {account_id}: pending balance {pending}, its pending credits sum to {open_pending}")]
    Pending {
        /// Account row id.
        account_id: i64,
        /// The pending column.
        pending: i64,
        /// Sum of pending credits not settled.
        open_pending: i64,
    },
    /// The held balance differs from the sum of the account's open holds.
    #[error("account {account_id}: held balance {held}, open holds sum to {open_holds}")]
    Holds {
        /// Account row id.
        account_id: i64,
        /// The held column.
        held: i64,
        /// Sum of open holds.
        open_holds: i64,
    },
}

/// What `verify` checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Tenants whose chain was checked.
    pub tenants: u64,
    /// Accounts whose balances were recomputed.
    pub accounts: u64,
    /// Entries checked.
    pub entries: u64,
}

struct Verifier<'p> {
    progress: &'p mut dyn FnMut(u64),
    report: VerifyReport,
    running: HashMap<(i64, String), i64>,
    tenant: String,
    prev: [u8; 32],
    expected_seq: i64,
    found: Option<Discrepancy>,
}

impl Verifier<'_> {
    fn stop(&mut self, d: Discrepancy) -> bool {
        self.found = Some(d);
        false
    }
}

impl VerifyVisitor for Verifier<'_> {
    fn entry(&mut self, e: EntryRecord) -> bool {
        if e.tenant != self.tenant {
            self.tenant = e.tenant.clone();
            self.prev = GENESIS;
            self.expected_seq = 1;
            self.report.tenants += 1;
        }
        if e.seq != self.expected_seq {
            return self.stop(Discrepancy::SequenceGap {
                tenant: e.tenant,
                entry_id: e.id,
                seq: e.seq,
                expected: self.expected_seq,
            });
        }
        let computed = entry_hash(
            &self.prev,
            &EntryFields {
                tenant_id: &e.tenant,
                seq: e.seq,
                account_id: e.account,
                bucket: &e.bucket,
                kind: &e.kind,
                amount: e.amount,
                balance_after: e.balance_after,
                ref_type: e.ref_type.as_deref(),
                ref_id: e.ref_id.as_deref(),
                note: e.note.as_deref(),
                actor: &e.actor,
                created_at: &e.created_at,
            },
        );
        if computed.as_slice() != e.hash.as_slice() {
            return self.stop(Discrepancy::HashMismatch {
                tenant: e.tenant,
                entry_id: e.id,
                seq: e.seq,
            });
        }
        self.prev = computed;
        self.expected_seq += 1;
        let sum = self
            .running
            .entry((e.account, e.bucket.clone()))
            .or_insert(0);
        *sum += e.amount;
        if *sum != e.balance_after {
            let computed = *sum;
            return self.stop(Discrepancy::RunningBalance {
                account_id: e.account,
                bucket: e.bucket,
                entry_id: e.id,
                recorded: e.balance_after,
                computed,
            });
        }
        self.report.entries += 1;
        if self.report.entries.is_multiple_of(100_000) {
            (self.progress)(self.report.entries);
        }
        true
    }

    fn account(&mut self, a: AccountTotals) -> bool {
        let stored = [
            (Bucket::Available, a.balances.available),
            (Bucket::Held, a.balances.held),
            (Bucket::Pending, a.balances.pending),
        ];
        for (bucket, value) in stored {
            let computed = self
                .running
                .get(&(a.account, bucket.as_str().to_string()))
                .copied()
                .unwrap_or(0);
            if computed != value {
                return self.stop(Discrepancy::AccountBalance {
                    account_id: a.account,
                    bucket: bucket.as_str().to_string(),
                    stored: value,
                    computed,
                });
            }
        }
        if a.open_holds != a.balances.held {
            return self.stop(Discrepancy::Holds {
                account_id: a.account,
                held: a.balances.held,
                open_holds: a.open_holds,
            });
        }
        if let Some(open_lots) = a.open_lots.filter(|l| *l != a.balances.available) {
            return self.stop(Discrepancy::Lots {
                account_id: a.account,
                available: a.balances.available,
                open_lots,
            });
        }
        if a.open_pending != a.balances.pending {
            return self.stop(Discrepancy::Pending {
                account_id: a.account,
                pending: a.balances.pending,
                open_pending: a.open_pending,
            });
        }
        self.report.accounts += 1;
        true
    }
}
