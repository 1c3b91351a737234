//! Roochip's repositories on SQLite: `promo_code_requests` and `promo_codes`.

use rusqlite::{params, OptionalExtension};

use super::read::SqliteRead;
use super::tx::SqliteTx;
use crate::dialects::roochip::repo::{
    CodeRequest, NewCode, PromoCodeReads, PromoCodes, StoredCode,
};
use crate::ledger::{LedgerError, TenantId};

fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CodeRequest> {
    Ok(CodeRequest {
        id: r.get(0)?,
        external_user_id: r.get(1)?,
        status: r.get(2)?,
        created_at: r.get(3)?,
    })
}

impl PromoCodes for SqliteTx {
    fn request_of_user(
        &mut self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Option<CodeRequest>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, external_user_id, status, created_at FROM promo_code_requests
                 WHERE tenant_id = ?1 AND external_user_id = ?2",
            )?
            .query_row(params![tenant.as_str(), user], request_row)
            .optional()?)
    }

    fn request(&mut self, tenant: &TenantId, id: &str) -> Result<Option<CodeRequest>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, external_user_id, status, created_at FROM promo_code_requests
                 WHERE id = ?1 AND tenant_id = ?2",
            )?
            .query_row(params![id, tenant.as_str()], request_row)
            .optional()?)
    }

    fn insert_request(
        &mut self,
        tenant: &TenantId,
        request: &CodeRequest,
        resolved_at: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO promo_code_requests
                   (id, tenant_id, external_user_id, status, created_at, resolved_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                request.id,
                tenant.as_str(),
                request.external_user_id,
                request.status,
                request.created_at,
                resolved_at
            ])?;
        Ok(())
    }

    fn resolve_request(&mut self, id: &str, status: &str, now: &str) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE promo_code_requests SET status = ?2, resolved_at = ?3 WHERE id = ?1",
            )?
            .execute(params![id, status, now])?;
        Ok(())
    }

    fn user_has_code(&mut self, tenant: &TenantId, user: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT 1 FROM promo_codes WHERE tenant_id = ?1 AND external_user_id = ?2",
            )?
            .exists(params![tenant.as_str(), user])?)
    }

    fn digest_taken(&mut self, digest: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM promo_codes WHERE code_sha256 = ?1")?
            .exists([digest])?)
    }

    fn insert_code(&mut self, c: &NewCode<'_>) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO promo_codes
                   (code_sha256, tenant_id, external_user_id, credits, request_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                c.digest,
                c.tenant.as_str(),
                c.user,
                c.credits,
                c.request_id,
                c.created_at
            ])?;
        Ok(())
    }

    fn code(&mut self, tenant: &TenantId, digest: &str) -> Result<Option<StoredCode>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT external_user_id, credits, request_id, redeemed_at FROM promo_codes
                 WHERE code_sha256 = ?1 AND tenant_id = ?2",
            )?
            .query_row(params![digest, tenant.as_str()], |r| {
                Ok(StoredCode {
                    owner: r.get(0)?,
                    credits: r.get(1)?,
                    request_id: r.get(2)?,
                    redeemed_at: r.get(3)?,
                })
            })
            .optional()?)
    }

    fn user_redeemed(&mut self, tenant: &TenantId, user: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT 1 FROM promo_codes
                 WHERE tenant_id = ?1 AND external_user_id = ?2 AND redeemed_at IS NOT NULL",
            )?
            .exists(params![tenant.as_str(), user])?)
    }

    fn mark_redeemed(&mut self, digest: &str, entry_id: i64, now: &str) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE promo_codes SET redeemed_at = ?2, entry_id = ?3 WHERE code_sha256 = ?1",
            )?
            .execute(params![digest, now, entry_id])?;
        Ok(())
    }
}

impl PromoCodeReads for SqliteRead {
    fn code_requests(
        &mut self,
        tenant: &TenantId,
        status: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<(u64, Vec<CodeRequest>), LedgerError> {
        let conn = self.conn();
        let total: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM promo_code_requests
                 WHERE tenant_id = ?1 AND (?2 IS NULL OR status = ?2)",
            )?
            .query_row(params![tenant.as_str(), status], |r| r.get(0))?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, external_user_id, status, created_at FROM promo_code_requests
             WHERE tenant_id = ?1 AND (?2 IS NULL OR status = ?2)
             ORDER BY rowid LIMIT ?3 OFFSET ?4",
        )?;
        let rows = stmt.query_map(
            params![
                tenant.as_str(),
                status,
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            request_row,
        )?;
        Ok((
            u64::try_from(total).unwrap_or(0),
            rows.collect::<Result<_, _>>()?,
        ))
    }
}
