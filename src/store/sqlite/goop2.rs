//! Goop2's repositories on SQLite: `template_purchases`, `campaigns`,
//! `campaign_redemptions`, `referral_codes` and `referrals`.

use rusqlite::{params, Connection, OptionalExtension};

use super::read::SqliteRead;
use super::tx::SqliteTx;
use crate::dialects::goop2::repo::{
    Campaign, NewCampaign, Owned, PromotionReads, Promotions, PurchaseReads, Purchases,
};
use crate::ledger::{AccountId, LedgerError, TenantId};

fn owned(
    conn: &Connection,
    account: AccountId,
    template: &str,
) -> Result<Option<Owned>, LedgerError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, template_name, price_paid, created_at FROM template_purchases
             WHERE account_id = ?1 AND template_name = ?2 AND revoked_at IS NULL",
        )?
        .query_row(params![account.0, template], row)
        .optional()?)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Owned> {
    Ok(Owned {
        id: r.get(0)?,
        template: r.get(1)?,
        price_paid: r.get(2)?,
        purchased_at: r.get(3)?,
    })
}

impl Purchases for SqliteTx {
    fn owned(&mut self, account: AccountId, template: &str) -> Result<Option<Owned>, LedgerError> {
        owned(self.conn(), account, template)
    }

    fn insert_purchase(
        &mut self,
        account: AccountId,
        template: &str,
        price_paid: i64,
        entry_id: i64,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO template_purchases (account_id, template_name, price_paid, txn_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![account.0, template, price_paid, entry_id, now])?;
        Ok(())
    }

    fn revoke_purchase(
        &mut self,
        id: i64,
        refund_entry: Option<i64>,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "UPDATE template_purchases SET revoked_at = ?2, refund_txn_id = ?3 WHERE id = ?1",
            )?
            .execute(params![id, now, refund_entry])?;
        Ok(())
    }
}

impl PurchaseReads for SqliteRead {
    fn owned_templates(&mut self, account: AccountId) -> Result<Vec<Owned>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, template_name, price_paid, created_at FROM template_purchases
             WHERE account_id = ?1 AND revoked_at IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([account.0], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn owns(&mut self, account: AccountId, template: &str) -> Result<bool, LedgerError> {
        Ok(owned(self.conn(), account, template)?.is_some())
    }
}

const CAMPAIGN_COLUMNS: &str =
    "id, code, amount, starts_at, ends_at, max_redemptions, redeemed, note, created_at";

fn campaign_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Campaign> {
    Ok(Campaign {
        id: r.get(0)?,
        code: r.get(1)?,
        amount: r.get(2)?,
        starts_at: r.get(3)?,
        ends_at: r.get(4)?,
        max_redemptions: r.get(5)?,
        redeemed: r.get(6)?,
        note: r.get(7)?,
        created_at: r.get(8)?,
    })
}

impl Promotions for SqliteTx {
    fn campaign(&mut self, tenant: &TenantId, code: &str) -> Result<Option<Campaign>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE tenant_id = ?1 AND code = ?2"
            ))?
            .query_row(params![tenant.as_str(), code], campaign_row)
            .optional()?)
    }

    fn insert_campaign(
        &mut self,
        tenant: &TenantId,
        c: &NewCampaign,
        now: &str,
    ) -> Result<i64, LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO campaigns (tenant_id, code, amount, starts_at, ends_at, max_redemptions, note, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                tenant.as_str(),
                c.code,
                c.amount,
                c.starts_at,
                c.ends_at,
                c.max_redemptions,
                c.note,
                now
            ])?;
        Ok(self.conn().last_insert_rowid())
    }

    fn has_redeemed(&mut self, campaign_id: i64, account: AccountId) -> Result<bool, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT 1 FROM campaign_redemptions WHERE campaign_id = ?1 AND account_id = ?2",
            )?
            .exists(params![campaign_id, account.0])?)
    }

    fn insert_redemption(
        &mut self,
        campaign_id: i64,
        account: AccountId,
        entry_id: i64,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO campaign_redemptions (campaign_id, account_id, entry_id, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![campaign_id, account.0, entry_id, now])?;
        self.conn()
            .prepare_cached("UPDATE campaigns SET redeemed = redeemed + 1 WHERE id = ?1")?
            .execute([campaign_id])?;
        Ok(())
    }

    fn referral_code(&mut self, account: AccountId) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT code FROM referral_codes WHERE account_id = ?1")?
            .query_row([account.0], |r| r.get(0))
            .optional()?)
    }

    fn code_taken(&mut self, tenant: &TenantId, code: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT 1 FROM referral_codes WHERE code = ?2
                 UNION ALL SELECT 1 FROM campaigns WHERE tenant_id = ?1 AND code = ?2",
            )?
            .exists(params![tenant.as_str(), code])?)
    }

    fn insert_referral_code(
        &mut self,
        account: AccountId,
        code: &str,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO referral_codes (code, account_id, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![code, account.0, now])?;
        Ok(())
    }

    fn referral_owner(
        &mut self,
        tenant: &TenantId,
        code: &str,
    ) -> Result<Option<AccountId>, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT r.account_id FROM referral_codes r
                 JOIN credit_accounts a ON a.id = r.account_id
                 WHERE r.code = ?1 AND a.tenant_id = ?2",
            )?
            .query_row(params![code, tenant.as_str()], |r| r.get(0))
            .optional()?
            .map(AccountId))
    }

    fn referred(&mut self, invitee: AccountId) -> Result<bool, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM referrals WHERE invitee_account = ?1")?
            .exists([invitee.0])?)
    }

    fn inviter_bonuses(&mut self, inviter: AccountId) -> Result<i64, LedgerError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT count(*) FROM referrals WHERE inviter_account = ?1 AND inviter_entry IS NOT NULL",
            )?
            .query_row([inviter.0], |r| r.get(0))?)
    }

    fn insert_referral(
        &mut self,
        invitee: AccountId,
        inviter: AccountId,
        invitee_entry: Option<i64>,
        inviter_entry: Option<i64>,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO referrals (invitee_account, inviter_account, invitee_entry, inviter_entry, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![invitee.0, inviter.0, invitee_entry, inviter_entry, now])?;
        Ok(())
    }

    fn account_opened_at(&mut self, account: AccountId) -> Result<String, LedgerError> {
        self.conn()
            .prepare_cached("SELECT created_at FROM credit_accounts WHERE id = ?1")?
            .query_row([account.0], |r| r.get(0))
            .optional()?
            .ok_or(LedgerError::UnknownAccount(account.0))
    }
}

impl PromotionReads for SqliteRead {
    fn campaigns(&mut self, tenant: &TenantId) -> Result<Vec<Campaign>, LedgerError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE tenant_id = ?1 ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map([tenant.as_str()], campaign_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
