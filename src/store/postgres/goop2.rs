//! Goop2's repositories on PostgreSQL: `template_purchases`, `campaigns`,
//! `campaign_redemptions`, `referral_codes` and `referrals`. Rows a unit decides on
//! are locked (`FOR UPDATE`): an owned template, a campaign being redeemed (so that
//! nodes redeeming at once count against one `redeemed`), and the inviter's code (so
//! that the referral cap holds across nodes).

use postgres::Row;

use super::read::PgRead;
use super::tx::{PgConn, PgTx};
use crate::dialects::goop2::repo::{
    Campaign, NewCampaign, Owned, PromotionReads, Promotions, PurchaseReads, Purchases,
};
use crate::ledger::{AccountId, LedgerError, TenantId};

fn owned_row(r: &Row) -> Owned {
    Owned {
        id: r.get(0),
        template: r.get(1),
        price_paid: r.get(2),
        purchased_at: r.get(3),
    }
}

fn campaign_row(r: &Row) -> Campaign {
    Campaign {
        id: r.get(0),
        code: r.get(1),
        amount: r.get(2),
        starts_at: r.get(3),
        ends_at: r.get(4),
        max_redemptions: r.get(5),
        redeemed: r.get(6),
        note: r.get(7),
        created_at: r.get(8),
    }
}

fn exists(
    conn: &mut PgConn,
    sql: &'static str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<bool, LedgerError> {
    Ok(conn.query_opt(sql, params)?.is_some())
}

impl Purchases for PgTx {
    fn owned(&mut self, account: AccountId, template: &str) -> Result<Option<Owned>, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT id, template_name, price_paid, created_at FROM template_purchases
                 WHERE account_id = $1 AND template_name = $2 AND revoked_at IS NULL FOR UPDATE",
                &[&account.0, &template],
            )?
            .as_ref()
            .map(owned_row))
    }

    fn insert_purchase(
        &mut self,
        account: AccountId,
        template: &str,
        price_paid: i64,
        entry_id: i64,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO template_purchases (account_id, template_name, price_paid, txn_id, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&account.0, &template, &price_paid, &entry_id, &now],
        )?;
        Ok(())
    }

    fn revoke_purchase(
        &mut self,
        id: i64,
        refund_entry: Option<i64>,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE template_purchases SET revoked_at = $2, refund_txn_id = $3 WHERE id = $1",
            &[&id, &now, &refund_entry],
        )?;
        Ok(())
    }
}

impl PurchaseReads for PgRead {
    fn owned_templates(&mut self, account: AccountId) -> Result<Vec<Owned>, LedgerError> {
        let rows = self.0.query(
            "SELECT id, template_name, price_paid, created_at FROM template_purchases
             WHERE account_id = $1 AND revoked_at IS NULL ORDER BY id",
            &[&account.0],
        )?;
        Ok(rows.iter().map(owned_row).collect())
    }

    fn owns(&mut self, account: AccountId, template: &str) -> Result<bool, LedgerError> {
        exists(
            &mut self.0,
            "SELECT 1 FROM template_purchases
             WHERE account_id = $1 AND template_name = $2 AND revoked_at IS NULL",
            &[&account.0, &template],
        )
    }
}

impl Promotions for PgTx {
    fn campaign(&mut self, tenant: &TenantId, code: &str) -> Result<Option<Campaign>, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT id, code, amount, starts_at, ends_at, max_redemptions, redeemed, note, created_at
                 FROM campaigns WHERE tenant_id = $1 AND code = $2 FOR UPDATE",
                &[&tenant.as_str(), &code],
            )?
            .as_ref()
            .map(campaign_row))
    }

    fn insert_campaign(
        &mut self,
        tenant: &TenantId,
        c: &NewCampaign,
        now: &str,
    ) -> Result<i64, LedgerError> {
        self.conn
            .query_opt(
                "INSERT INTO campaigns
                   (tenant_id, code, amount, starts_at, ends_at, max_redemptions, note, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &tenant.as_str(),
                    &c.code,
                    &c.amount,
                    &c.starts_at,
                    &c.ends_at,
                    &c.max_redemptions,
                    &c.note,
                    &now,
                ],
            )?
            .map(|r| r.get(0))
            .ok_or_else(|| LedgerError::Invalid("the campaign was not written".into()))
    }

    fn has_redeemed(&mut self, campaign_id: i64, account: AccountId) -> Result<bool, LedgerError> {
        exists(
            &mut self.conn,
            "SELECT 1 FROM campaign_redemptions WHERE campaign_id = $1 AND account_id = $2",
            &[&campaign_id, &account.0],
        )
    }

    fn insert_redemption(
        &mut self,
        campaign_id: i64,
        account: AccountId,
        entry_id: i64,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO campaign_redemptions (campaign_id, account_id, entry_id, created_at)
             VALUES ($1, $2, $3, $4)",
            &[&campaign_id, &account.0, &entry_id, &now],
        )?;
        self.conn.execute(
            "UPDATE campaigns SET redeemed = redeemed + 1 WHERE id = $1",
            &[&campaign_id],
        )?;
        Ok(())
    }

    fn referral_code(&mut self, account: AccountId) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT code FROM referral_codes WHERE account_id = $1",
                &[&account.0],
            )?
            .map(|r| r.get(0)))
    }

    fn code_taken(&mut self, tenant: &TenantId, code: &str) -> Result<bool, LedgerError> {
        exists(
            &mut self.conn,
            "SELECT 1 FROM referral_codes WHERE code = $2
             UNION ALL SELECT 1 FROM campaigns WHERE tenant_id = $1 AND code = $2",
            &[&tenant.as_str(), &code],
        )
    }

    fn insert_referral_code(
        &mut self,
        account: AccountId,
        code: &str,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO referral_codes (code, account_id, created_at) VALUES ($1, $2, $3)",
            &[&code, &account.0, &now],
        )?;
        Ok(())
    }

    fn referral_owner(
        &mut self,
        tenant: &TenantId,
        code: &str,
    ) -> Result<Option<AccountId>, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT r.account_id FROM referral_codes r
                 JOIN credit_accounts a ON a.id = r.account_id
                 WHERE r.code = $1 AND a.tenant_id = $2 FOR UPDATE OF r",
                &[&code, &tenant.as_str()],
            )?
            .map(|r| AccountId(r.get(0))))
    }

    fn referred(&mut self, invitee: AccountId) -> Result<bool, LedgerError> {
        exists(
            &mut self.conn,
            "SELECT 1 FROM referrals WHERE invitee_account = $1",
            &[&invitee.0],
        )
    }

    fn inviter_bonuses(&mut self, inviter: AccountId) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .query_opt(
                "SELECT count(*) FROM referrals WHERE inviter_account = $1 AND inviter_entry IS NOT NULL",
                &[&inviter.0],
            )?
            .map_or(0, |r| r.get(0)))
    }

    fn insert_referral(
        &mut self,
        invitee: AccountId,
        inviter: AccountId,
        invitee_entry: Option<i64>,
        inviter_entry: Option<i64>,
        now: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO referrals
               (invitee_account, inviter_account, invitee_entry, inviter_entry, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&invitee.0, &inviter.0, &invitee_entry, &inviter_entry, &now],
        )?;
        Ok(())
    }

    fn account_opened_at(&mut self, account: AccountId) -> Result<String, LedgerError> {
        self.conn
            .query_opt(
                "SELECT created_at FROM credit_accounts WHERE id = $1",
                &[&account.0],
            )?
            .map(|r| r.get(0))
            .ok_or(LedgerError::UnknownAccount(account.0))
    }
}

impl PromotionReads for PgRead {
    fn campaigns(&mut self, tenant: &TenantId) -> Result<Vec<Campaign>, LedgerError> {
        let rows = self.0.query(
            "SELECT id, code, amount, starts_at, ends_at, max_redemptions, redeemed, note, created_at
             FROM campaigns WHERE tenant_id = $1 ORDER BY id DESC",
            &[&tenant.as_str()],
        )?;
        Ok(rows.iter().map(campaign_row).collect())
    }
}
