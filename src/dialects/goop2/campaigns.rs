//! Campaigns and referrals (goop2-credit-system.md, "Phase 3: Polish & Analytics":
//! promotional credit campaigns, referral bonuses). Each write is one unit of work;
//! amounts are whole credits.
//!
//! - A campaign code gives its amount as a `promo` entry, inside its window, at most
//!   `max_redemptions` times in all and once per peer.
//! - An invite code (`GET /api/credits/referral`) redeemed by a peer whose account is
//!   less than [`REFERRAL_WINDOW`] old gives both peers `goop2.referral_bonus` as
//!   `referral` entries, once per invitee; the inviter receives at most
//!   `goop2.referral_cap` bonuses (the invitee still gets its own past the cap); a
//!   peer's own code gives nothing.

use std::time::Duration;

use super::error::Goop2Error;
use super::repo::{Campaign, NewCampaign, PromotionReads, Promotions};
use super::settings::CEILING;
use crate::ledger::{
    canonical_time, AccountId, Actor, Amount, EntryKind, LedgerError, LedgerRead, LedgerTx,
    Posting, TenantId,
};

/// How long after its account was opened a peer may redeem an invite code.
pub const REFERRAL_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Characters of invite codes: no 0/O, 1/I/L.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Length of an invite code (≈ 49 bits).
const INVITE_LEN: usize = 10;

/// The referral rules of `[goop2]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferralRules {
    /// Whole credits to each of the two peers.
    pub bonus: i64,
    /// Most bonuses one inviter receives.
    pub cap: i64,
}

/// What a redemption gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// A campaign code: `amount` credits as a `promo` entry.
    Campaign {
        /// Credits given.
        amount: i64,
        /// The balance after.
        new_balance: i64,
    },
    /// An invite code: `amount` credits as a `referral` entry to the caller and, under
    /// the cap, to the inviter.
    Referral {
        /// Credits given to the caller.
        amount: i64,
        /// The balance after.
        new_balance: i64,
        /// Whether the inviter received its bonus (false past `goop2.referral_cap`).
        inviter_rewarded: bool,
    },
}

/// Upper-cases and checks a code: 3 to 32 of `A-Z 0-9 - _`.
///
/// # Errors
/// [`Goop2Error::BadRequest`] naming the field.
pub fn normalize_code(code: &str) -> Result<String, Goop2Error> {
    let code = code.trim().to_ascii_uppercase();
    if !(3..=32).contains(&code.len())
        || !code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(Goop2Error::BadRequest(
            "code: 3 to 32 letters, digits, '-' or '_'".into(),
        ));
    }
    Ok(code)
}

fn parse_time(field: &str, t: &str) -> Result<jiff::Timestamp, Goop2Error> {
    canonical_time(t)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| Goop2Error::BadRequest(format!("{field}: not an RFC 3339 time ({t:?})")))
}

/// Makes a campaign after checking it: code (see [`normalize_code`]), amount 1 to
/// [`CEILING`], `max_redemptions` ≥ 1, `ends_at` after `starts_at` (RFC 3339, stored
/// in UTC), note ≤ 500 bytes. Returns the campaign as stored.
///
/// # Errors
/// [`Goop2Error::BadRequest`] naming the field; [`Goop2Error::Refused`]
/// `code_taken` when a campaign or an invite code already has the code.
pub fn create_campaign(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    mut campaign: NewCampaign,
) -> Result<Campaign, Goop2Error> {
    campaign.code = normalize_code(&campaign.code)?;
    if !(1..=CEILING).contains(&campaign.amount) {
        return Err(Goop2Error::BadRequest(format!(
            "amount: must be 1 to {CEILING} credits"
        )));
    }
    if campaign.max_redemptions < 1 {
        return Err(Goop2Error::BadRequest(
            "max_redemptions: must be at least 1".into(),
        ));
    }
    if campaign.note.as_ref().is_some_and(|n| n.len() > 500) {
        return Err(Goop2Error::BadRequest("note: at most 500 bytes".into()));
    }
    let starts = parse_time("starts_at", &campaign.starts_at)?;
    let ends = parse_time("ends_at", &campaign.ends_at)?;
    if ends <= starts {
        return Err(Goop2Error::BadRequest(
            "ends_at: must be after starts_at".into(),
        ));
    }
    campaign.starts_at = canonical_time(&campaign.starts_at)?;
    campaign.ends_at = canonical_time(&campaign.ends_at)?;
    let repo = tx.repo::<dyn Promotions>()?;
    if repo.code_taken(tenant, &campaign.code)? {
        return Err(Goop2Error::Refused {
            code: "code_taken",
            message: format!("the code {} is already in use", campaign.code),
        });
    }
    let now = tx.now();
    let id = tx
        .repo::<dyn Promotions>()?
        .insert_campaign(tenant, &campaign, now)?;
    Ok(Campaign {
        id,
        code: campaign.code,
        amount: campaign.amount,
        starts_at: campaign.starts_at,
        ends_at: campaign.ends_at,
        max_redemptions: campaign.max_redemptions,
        redeemed: 0,
        note: campaign.note,
        created_at: now.to_string(),
    })
}

/// The invite code of `peer`, made (random, unique) on first use, and how many
/// referral bonuses `peer` has received as an inviter.
///
/// # Errors
/// Storage errors.
pub fn invite_code(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    peer: &str,
) -> Result<(String, i64), Goop2Error> {
    let account = tx.open_account(tenant, peer)?;
    let repo = tx.repo::<dyn Promotions>()?;
    let bonuses = repo.inviter_bonuses(account)?;
    if let Some(code) = repo.referral_code(account)? {
        return Ok((code, bonuses));
    }
    let code = loop {
        let code: String = (0..INVITE_LEN)
            .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
            .collect();
        if !tx.repo::<dyn Promotions>()?.code_taken(tenant, &code)? {
            break code;
        }
    };
    let now = tx.now();
    tx.repo::<dyn Promotions>()?
        .insert_referral_code(account, &code, now)?;
    Ok((code, bonuses))
}

/// The campaigns of `tenant`, newest first.
///
/// # Errors
/// Storage errors.
pub fn campaigns(r: &mut LedgerRead<'_>, tenant: &TenantId) -> Result<Vec<Campaign>, LedgerError> {
    r.repo::<dyn PromotionReads>()?.campaigns(tenant)
}

/// Redeems `code` for `peer`: a campaign code of the tenant, else an invite code.
///
/// # Errors
/// [`Goop2Error::NotFound`] for a code that is neither; [`Goop2Error::Refused`] with
/// the rule that refused it; nothing is written then.
pub fn redeem(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    peer: &str,
    code: &str,
    rules: ReferralRules,
) -> Result<Redeemed, Goop2Error> {
    let code = normalize_code(code)?;
    if let Some(campaign) = tx.repo::<dyn Promotions>()?.campaign(tenant, &code)? {
        return redeem_campaign(tx, tenant, peer, &campaign);
    }
    let Some(inviter) = tx.repo::<dyn Promotions>()?.referral_owner(tenant, &code)? else {
        return Err(Goop2Error::NotFound(format!("unknown code {code}")));
    };
    redeem_invite(tx, tenant, peer, inviter, &code, rules)
}

fn redeem_campaign(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    peer: &str,
    campaign: &Campaign,
) -> Result<Redeemed, Goop2Error> {
    let now = tx.now();
    if now < campaign.starts_at.as_str() || now >= campaign.ends_at.as_str() {
        return Err(Goop2Error::Refused {
            code: "campaign_not_open",
            message: format!(
                "the code {} can be redeemed from {} until {}",
                campaign.code, campaign.starts_at, campaign.ends_at
            ),
        });
    }
    if campaign.redeemed >= campaign.max_redemptions {
        return Err(Goop2Error::Refused {
            code: "campaign_exhausted",
            message: format!("the code {} has been fully redeemed", campaign.code),
        });
    }
    let account = tx.open_account(tenant, peer)?;
    if tx
        .repo::<dyn Promotions>()?
        .has_redeemed(campaign.id, account)?
    {
        return Err(Goop2Error::Refused {
            code: "already_redeemed",
            message: format!("you have already redeemed {}", campaign.code),
        });
    }
    let amount = Amount::new(campaign.amount)
        .ok_or_else(|| Goop2Error::Internal(format!("campaign {} has no amount", campaign.id)))?;
    let entry = tx.credit(
        account,
        amount,
        &Posting::new(EntryKind::Promo, Actor::Peer(peer.to_string()))
            .reference("campaign", &campaign.code)
            .note(format!("Campaign code {}", campaign.code)),
    )?;
    tx.repo::<dyn Promotions>()?
        .insert_redemption(campaign.id, account, entry.id, now)?;
    Ok(Redeemed::Campaign {
        amount: campaign.amount,
        new_balance: entry.balance_after,
    })
}

fn redeem_invite(
    tx: &mut LedgerTx<'_>,
    tenant: &TenantId,
    peer: &str,
    inviter: AccountId,
    code: &str,
    rules: ReferralRules,
) -> Result<Redeemed, Goop2Error> {
    let invitee = tx.open_account(tenant, peer)?;
    if invitee == inviter {
        return Err(Goop2Error::Refused {
            code: "own_code",
            message: "this is your own invite code: share it with new peers".into(),
        });
    }
    let repo = tx.repo::<dyn Promotions>()?;
    if repo.referred(invitee)? {
        return Err(Goop2Error::Refused {
            code: "already_referred",
            message: "you have already redeemed an invite code".into(),
        });
    }
    let opened: jiff::Timestamp = repo
        .account_opened_at(invitee)?
        .parse()
        .map_err(|e| Goop2Error::Internal(format!("account {}: created_at: {e}", invitee.0)))?;
    let now: jiff::Timestamp = tx
        .now()
        .parse()
        .map_err(|e| Goop2Error::Internal(format!("unit time: {e}")))?;
    let window = jiff::SignedDuration::try_from(REFERRAL_WINDOW)
        .map_err(|e| Goop2Error::Internal(e.to_string()))?;
    if now.duration_since(opened) >= window {
        return Err(Goop2Error::Refused {
            code: "referral_window_closed",
            message: "invite codes can be redeemed only within a day of joining".into(),
        });
    }
    let posting = |actor: Actor| {
        Posting::new(EntryKind::Referral, actor)
            .reference("referral", code)
            .note("Referral bonus")
    };
    // With a zero bonus there is no entry: the referral is still recorded, once.
    let (new_balance, invitee_entry, inviter_entry) = match Amount::new(rules.bonus) {
        Some(bonus) => {
            let entry = tx.credit(invitee, bonus, &posting(Actor::Peer(peer.to_string())))?;
            let inviter_entry =
                if tx.repo::<dyn Promotions>()?.inviter_bonuses(inviter)? < rules.cap {
                    Some(tx.credit(inviter, bonus, &posting(Actor::System))?.id)
                } else {
                    None
                };
            (entry.balance_after, Some(entry.id), inviter_entry)
        }
        None => (tx.balances(invitee)?.available, None, None),
    };
    let now = tx.now();
    tx.repo::<dyn Promotions>()?.insert_referral(
        invitee,
        inviter,
        invitee_entry,
        inviter_entry,
        now,
    )?;
    Ok(Redeemed::Referral {
        amount: rules.bonus,
        new_balance,
        inviter_rewarded: inviter_entry.is_some(),
    })
}
