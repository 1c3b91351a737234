//! Roochip's repositories on PostgreSQL: `promo_code_requests` and `promo_codes`.
//!
//! Several nodes may act for one user at once. A request a unit decides on is read
//! `FOR UPDATE`, and so is a code being redeemed: the second unit waits, then sees
//! the first one's outcome. A code is issued only with its user's request (resolved
//! or recorded in the same unit), so [`PromoCodes::user_has_code`] first locks the
//! user's request; when the user has none yet, the unique (tenant, user) key of the
//! requests refuses the second of two units recording one. Writes that a unique key
//! refuses use `ON CONFLICT DO NOTHING` and report the refusal as an error without
//! failing the transaction, as on SQLite.

use postgres::Row;

use super::read::PgRead;
use super::tx::PgTx;
use crate::dialects::roochip::repo::{
    CodeRequest, NewCode, PromoCodeReads, PromoCodes, StoredCode,
};
use crate::ledger::{LedgerError, TenantId};

fn request_row(r: &Row) -> CodeRequest {
    CodeRequest {
        id: r.get(0),
        external_user_id: r.get(1),
        status: r.get(2),
        created_at: r.get(3),
    }
}

/// A write the tables refuse (a unique key or a check), as SQLite reports it: a
/// storage error.
fn refused(why: String) -> LedgerError {
    LedgerError::Storage(why.into())
}

/// The requests' status check, before the write (a failed statement would fail the
/// transaction).
fn check_status(status: &str) -> Result<(), LedgerError> {
    if matches!(status, "pending" | "fulfilled" | "rejected") {
        Ok(())
    } else {
        Err(refused(format!(
            "promo_code_requests: status {status:?} breaks the check \
             (status IN ('pending', 'fulfilled', 'rejected'))"
        )))
    }
}

impl PromoCodes for PgTx {
    fn request_of_user(
        &mut self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Option<CodeRequest>, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT id, external_user_id, status, created_at FROM promo_code_requests
                 WHERE tenant_id = $1 AND external_user_id = $2 FOR UPDATE",
                &[&tenant.as_str(), &user],
            )?
            .as_ref()
            .map(request_row))
    }

    fn request(&mut self, tenant: &TenantId, id: &str) -> Result<Option<CodeRequest>, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT id, external_user_id, status, created_at FROM promo_code_requests
                 WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
                &[&id, &tenant.as_str()],
            )?
            .as_ref()
            .map(request_row))
    }

    fn insert_request(
        &mut self,
        tenant: &TenantId,
        request: &CodeRequest,
        resolved_at: Option<&str>,
    ) -> Result<(), LedgerError> {
        check_status(&request.status)?;
        // Any unique key: the id, or (tenant, user): one request per user, ever.
        let inserted = self.conn.execute(
            "INSERT INTO promo_code_requests
               (id, tenant_id, external_user_id, status, created_at, resolved_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT DO NOTHING",
            &[
                &request.id,
                &tenant.as_str(),
                &request.external_user_id,
                &request.status,
                &request.created_at,
                &resolved_at,
            ],
        )?;
        if inserted == 1 {
            Ok(())
        } else {
            // The user's id stays out of messages.
            Err(refused(format!(
                "promo_code_requests: that request, or one of that user in tenant {tenant}, \
                 exists (unique id; unique tenant_id, external_user_id)"
            )))
        }
    }

    fn resolve_request(&mut self, id: &str, status: &str, now: &str) -> Result<(), LedgerError> {
        check_status(status)?;
        self.conn.execute(
            "UPDATE promo_code_requests SET status = $2, resolved_at = $3 WHERE id = $1",
            &[&id, &status, &now],
        )?;
        Ok(())
    }

    fn user_has_code(&mut self, tenant: &TenantId, user: &str) -> Result<bool, LedgerError> {
        // The user's request first: a unit issuing a code holds it until its
        // transaction ends, and the codes are then read with a snapshot taken after
        // the lock.
        self.conn.query(
            "SELECT 1 FROM promo_code_requests
             WHERE tenant_id = $1 AND external_user_id = $2 FOR UPDATE",
            &[&tenant.as_str(), &user],
        )?;
        Ok(self
            .conn
            .query_opt(
                "SELECT 1 FROM promo_codes WHERE tenant_id = $1 AND external_user_id = $2
                 LIMIT 1",
                &[&tenant.as_str(), &user],
            )?
            .is_some())
    }

    fn digest_taken(&mut self, digest: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT 1 FROM promo_codes WHERE code_sha256 = $1",
                &[&digest],
            )?
            .is_some())
    }

    fn insert_code(&mut self, c: &NewCode<'_>) -> Result<(), LedgerError> {
        if c.credits <= 0 {
            return Err(refused(format!(
                "promo_codes: credits {} breaks the check (credits > 0)",
                c.credits
            )));
        }
        let inserted = self.conn.execute(
            "INSERT INTO promo_codes
               (code_sha256, tenant_id, external_user_id, credits, request_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (code_sha256) DO NOTHING",
            &[
                &c.digest,
                &c.tenant.as_str(),
                &c.user,
                &c.credits,
                &c.request_id,
                &c.created_at,
            ],
        )?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(refused(
                "promo_codes: a code with this digest exists (unique code_sha256)".into(),
            ))
        }
    }

    fn code(&mut self, tenant: &TenantId, digest: &str) -> Result<Option<StoredCode>, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT external_user_id, credits, request_id, redeemed_at FROM promo_codes
                 WHERE code_sha256 = $1 AND tenant_id = $2 FOR UPDATE",
                &[&digest, &tenant.as_str()],
            )?
            .map(|r| StoredCode {
                owner: r.get(0),
                credits: r.get(1),
                request_id: r.get(2),
                redeemed_at: r.get(3),
            }))
    }

    fn user_redeemed(&mut self, tenant: &TenantId, user: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT 1 FROM promo_codes
                 WHERE tenant_id = $1 AND external_user_id = $2 AND redeemed_at IS NOT NULL",
                &[&tenant.as_str(), &user],
            )?
            .is_some())
    }

    fn mark_redeemed(&mut self, digest: &str, entry_id: i64, now: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE promo_codes SET redeemed_at = $2, entry_id = $3 WHERE code_sha256 = $1",
            &[&digest, &now, &entry_id],
        )?;
        Ok(())
    }
}

impl PromoCodeReads for PgRead {
    fn code_requests(
        &mut self,
        tenant: &TenantId,
        status: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<(u64, Vec<CodeRequest>), LedgerError> {
        let total: i64 = self
            .0
            .query_opt(
                "SELECT count(*) FROM promo_code_requests
                 WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)",
                &[&tenant.as_str(), &status],
            )?
            .map_or(0, |r| r.get(0));
        let page = self.0.query(
            "SELECT id, external_user_id, status, created_at FROM promo_code_requests
             WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
             ORDER BY seq LIMIT $3 OFFSET $4",
            &[
                &tenant.as_str(),
                &status,
                &i64::from(limit),
                &i64::try_from(offset).unwrap_or(i64::MAX),
            ],
        )?;
        Ok((
            u64::try_from(total).unwrap_or(0),
            page.iter().map(request_row).collect(),
        ))
    }
}
