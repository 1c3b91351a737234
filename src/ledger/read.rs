//! Reads on the pool's read-only connections: balances, history, and `verify`.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::hash::{entry_hash, EntryFields, GENESIS};
use super::{AccountId, LedgerError, TenantId};

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

/// The account of `holder` in `tenant`, if opened.
///
/// # Errors
/// Storage errors.
pub fn account(
    conn: &Connection,
    tenant: &TenantId,
    holder: &str,
) -> Result<Option<AccountView>, LedgerError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, holder, available, held, pending, created_at, updated_at
             FROM credit_accounts WHERE tenant_id = ?1 AND holder = ?2",
        )?
        .query_row(params![tenant.as_str(), holder], |r| {
            Ok(AccountView {
                id: AccountId(r.get(0)?),
                holder: r.get(1)?,
                available: r.get(2)?,
                held: r.get(3)?,
                pending: r.get(4)?,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
            })
        })
        .optional()?)
}

/// Entries of `account` in `bucket`, newest first, skipping `offset`, at most `limit`.
///
/// # Errors
/// Storage errors.
pub fn entries(
    conn: &Connection,
    account: AccountId,
    bucket: &str,
    limit: u32,
    offset: u64,
) -> Result<Vec<EntryView>, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, bucket, kind, amount, balance_after, ref_type, ref_id, note, actor, created_at
         FROM credit_transactions WHERE account_id = ?1 AND bucket = ?2
         ORDER BY id DESC LIMIT ?3 OFFSET ?4",
    )?;
    let rows = stmt.query_map(
        params![
            account.0,
            bucket,
            limit,
            i64::try_from(offset).unwrap_or(i64::MAX)
        ],
        |r| {
            Ok(EntryView {
                id: r.get(0)?,
                bucket: r.get(1)?,
                kind: r.get(2)?,
                amount: r.get(3)?,
                balance_after: r.get(4)?,
                ref_type: r.get(5)?,
                ref_id: r.get(6)?,
                note: r.get(7)?,
                actor: r.get(8)?,
                created_at: r.get(9)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many entries `account` has in `bucket`.
///
/// # Errors
/// Storage errors.
pub fn entry_count(
    conn: &Connection,
    account: AccountId,
    bucket: &str,
) -> Result<u64, LedgerError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM credit_transactions WHERE account_id = ?1 AND bucket = ?2",
        )?
        .query_row(params![account.0, bucket], |r| r.get::<_, i64>(0))? as u64)
}

/// The first thing `verify` found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Discrepancy {
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

/// Recomputes every tenant's hash chain, every running balance and every account
/// balance from the entries, and every held balance from the open holds. Stops at the
/// first discrepancy. Everything is read in one transaction (a consistent snapshot,
/// safe beside a running node). `progress` is called with the number of entries
/// checked so far every 100,000 entries.
///
/// # Errors
/// `Ok(Err(d))` names the first discrepancy; `Err` is a storage error.
pub fn verify(
    conn: &Connection,
    progress: &mut dyn FnMut(u64),
) -> Result<Result<VerifyReport, Discrepancy>, LedgerError> {
    // One read transaction: both scans see the same snapshot, even while a node
    // writes to the file.
    let snapshot = conn.unchecked_transaction()?;
    let conn: &Connection = &snapshot;
    let mut report = VerifyReport::default();
    let mut running: HashMap<(i64, String), i64> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT id, tenant_id, seq, account_id, bucket, kind, amount, balance_after,
                ref_type, ref_id, note, actor, created_at, hash
         FROM credit_transactions ORDER BY tenant_id, seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut tenant = String::new();
    let mut prev = GENESIS;
    let mut expected_seq = 1;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let row_tenant: String = r.get(1)?;
        let seq: i64 = r.get(2)?;
        let account_id: i64 = r.get(3)?;
        let bucket: String = r.get(4)?;
        let kind: String = r.get(5)?;
        let amount: i64 = r.get(6)?;
        let balance_after: i64 = r.get(7)?;
        let ref_type: Option<String> = r.get(8)?;
        let ref_id: Option<String> = r.get(9)?;
        let note: Option<String> = r.get(10)?;
        let actor: String = r.get(11)?;
        let created_at: String = r.get(12)?;
        let hash: Vec<u8> = r.get(13)?;
        if row_tenant != tenant {
            tenant = row_tenant;
            prev = GENESIS;
            expected_seq = 1;
            report.tenants += 1;
        }
        if seq != expected_seq {
            return Ok(Err(Discrepancy::SequenceGap {
                tenant,
                entry_id: id,
                seq,
                expected: expected_seq,
            }));
        }
        let computed = entry_hash(
            &prev,
            &EntryFields {
                tenant_id: &tenant,
                seq,
                account_id,
                bucket: &bucket,
                kind: &kind,
                amount,
                balance_after,
                ref_type: ref_type.as_deref(),
                ref_id: ref_id.as_deref(),
                note: note.as_deref(),
                actor: &actor,
                created_at: &created_at,
            },
        );
        if computed.as_slice() != hash.as_slice() {
            return Ok(Err(Discrepancy::HashMismatch {
                tenant,
                entry_id: id,
                seq,
            }));
        }
        prev = computed;
        expected_seq += 1;
        let sum = running.entry((account_id, bucket.clone())).or_insert(0);
        *sum += amount;
        if *sum != balance_after {
            return Ok(Err(Discrepancy::RunningBalance {
                account_id,
                bucket,
                entry_id: id,
                recorded: balance_after,
                computed: *sum,
            }));
        }
        report.entries += 1;
        if report.entries % 100_000 == 0 {
            progress(report.entries);
        }
    }
    drop(rows);

    let mut accounts = conn.prepare(
        "SELECT a.id, a.available, a.held, a.pending,
                (SELECT coalesce(sum(h.amount), 0) FROM holds h
                  WHERE h.account_id = a.id AND h.status = 'open')
         FROM credit_accounts a ORDER BY a.id",
    )?;
    let mut rows = accounts.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let stored = [
            ("available", r.get::<_, i64>(1)?),
            ("held", r.get::<_, i64>(2)?),
            ("pending", r.get::<_, i64>(3)?),
        ];
        for (bucket, value) in stored {
            let computed = running.get(&(id, bucket.to_string())).copied().unwrap_or(0);
            if computed != value {
                return Ok(Err(Discrepancy::AccountBalance {
                    account_id: id,
                    bucket: bucket.to_string(),
                    stored: value,
                    computed,
                }));
            }
        }
        let open_holds: i64 = r.get(4)?;
        if open_holds != stored[1].1 {
            return Ok(Err(Discrepancy::Holds {
                account_id: id,
                held: stored[1].1,
                open_holds,
            }));
        }
        report.accounts += 1;
    }
    progress(report.entries);
    Ok(Ok(report))
}
