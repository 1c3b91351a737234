//! A Roochip tenant's money settings from `[[tenants]]`, read exactly at the ROO scale:
//! the promo code amount and the credit packages ("Available packages").

use sha2::{Digest, Sha256};

use crate::config::{PackageConfig, TenantConfig};
use crate::ledger::Amount;

/// Decimal places of ROO (hundredths).
pub const SCALE: u32 = 2;

/// The largest wallet balance: 9,999,999,999.99 ROO in hundredths (the spec's
/// NUMERIC(12,2) ceiling, "The ROO Currency").
pub const CEILING: i64 = crate::server::ROOCHIP_CEILING;

/// ROO issued by one promo code of `tenant` (`promo_code_credits`), in hundredths.
///
/// # Errors
/// A message naming the setting when it is not a positive amount with at most 2
/// decimals under the wallet ceiling.
pub fn promo_code_credits(tenant: &TenantConfig) -> Result<Amount, String> {
    let text = tenant.promo_code_credits.text();
    Amount::parse_decimal(&text, SCALE, CEILING).map_err(|e| {
        format!(
            "tenants[id = {:?}].promo_code_credits {text:?}: {e}",
            tenant.id
        )
    })
}

/// ROO issued by package `p` of `tenant` (`credits_to_issue`), in hundredths.
///
/// # Errors
/// A message naming the setting when it is not a valid amount.
pub fn package_credits(tenant: &TenantConfig, p: &PackageConfig) -> Result<Amount, String> {
    let text = p.credits_to_issue.text();
    Amount::parse_decimal(&text, SCALE, CEILING).map_err(|e| {
        format!(
            "tenants[id = {:?}].packages[name = {:?}].credits_to_issue {text:?}: {e}",
            tenant.id, p.name
        )
    })
}

/// The id of package `p`: its configured `id`, else a UUID (version 8) derived from
/// the SHA-256 of the tenant id and the package name, so that it stays the same
/// across restarts and differs between tenants.
pub fn package_id(tenant: &TenantConfig, p: &PackageConfig) -> String {
    if let Some(id) = p.id.as_deref().filter(|id| !id.is_empty()) {
        return id.to_string();
    }
    let digest = Sha256::digest(format!("roochip-package\n{}\n{}", tenant.id, p.name).as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Checks what the config types cannot: `promo_code_credits` and each package's
/// `credits_to_issue` (positive, at most 2 decimals, under the ceiling),
/// `price_amount` (not negative) and package ids (unique).
///
/// # Errors
/// A message naming the setting at fault.
pub fn check(tenant: &TenantConfig) -> Result<(), String> {
    promo_code_credits(tenant)?;
    let mut ids = std::collections::HashSet::new();
    for p in &tenant.packages {
        package_credits(tenant, p)?;
        let name = format!(
            "tenants[id = {:?}].packages[name = {:?}]",
            tenant.id, p.name
        );
        if p.price_amount < 0 {
            return Err(format!("{name}.price_amount: must not be negative"));
        }
        if !ids.insert(package_id(tenant, p)) {
            return Err(format!("{name}: the package id (or name) is used twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{seed_packages, DecimalSetting};

    fn tenant(id: &str) -> TenantConfig {
        TenantConfig {
            id: id.into(),
            mode: "roochip".into(),
            active: true,
            scale: 2,
            api_keys: Vec::new(),
            admin_api_keys: Vec::new(),
            webhook_url: String::new(),
            webhook_secret: String::new(),
            promo_code_credits: DecimalSetting::Text("5.00".into()),
            packages: seed_packages(),
        }
    }

    #[test]
    fn the_seed_settings_are_valid_and_exact() {
        let t = tenant("rooverse");
        assert_eq!(check(&t), Ok(()));
        assert_eq!(promo_code_credits(&t).unwrap().minor(), 500);
        assert_eq!(package_credits(&t, &t.packages[0]).unwrap().minor(), 1000);
    }

    #[test]
    fn package_ids_are_stable_uuids_per_tenant() {
        let a = tenant("a");
        let b = tenant("b");
        let id = package_id(&a, &a.packages[0]);
        assert_eq!(id, package_id(&a, &a.packages[0]));
        assert_ne!(id, package_id(&a, &a.packages[1]));
        assert_ne!(id, package_id(&b, &b.packages[0]));
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
        let mut c = tenant("c");
        c.packages[0].id = Some("starter".into());
        assert_eq!(package_id(&c, &c.packages[0]), "starter");
    }

    #[test]
    fn bad_amounts_are_named() {
        let mut t = tenant("t");
        t.promo_code_credits = DecimalSetting::Text("0.001".into());
        assert!(check(&t).unwrap_err().contains("promo_code_credits"));
        let mut t = tenant("t");
        t.packages[1].credits_to_issue = DecimalSetting::Integer(0);
        let err = check(&t).unwrap_err();
        assert!(
            err.contains("Popular Pack") && err.contains("credits_to_issue"),
            "{err}"
        );
        let mut t = tenant("t");
        t.packages[2].name = t.packages[0].name.clone();
        assert!(check(&t).unwrap_err().contains("used twice"));
    }
}
