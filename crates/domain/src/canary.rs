//! Names used by the isolation proof: the canary resources a tenant's credentials must be
//! refused, and the short-lived probe user that holds those credentials.
//!
//! The canary of tenant `acme` is `tenants/acme_canary/`: inside the permissions
//! boundary's namespace (`tenants/*`), so only the tenant policy's own scoping can refuse
//! it, and equal to the tenant's prefix up to the delimiter, so a policy that lost its
//! trailing `/` (`tenants/acme*`) or grants `tenants/*` is caught. `_` is outside the id
//! grammar, so no tenant can ever own a canary: a denial never depends on another tenant
//! existing, and a wrongful success never touches another tenant's data.

use crate::TenantId;

/// Reserved domain (RFC 2606): no probe address can receive mail or belong to a person.
pub const PROBE_EMAIL_DOMAIN: &str = "probe.invalid";
const PROBE_LOCAL_PREFIX: &str = "verify-";
/// Hex digits of the random part of a probe user's name.
pub const PROBE_NONCE_LEN: usize = 16;

/// `tenants/{id}_canary/`: a prefix no tenant owns, next to the tenant's own.
pub fn canary_prefix(tenant: &TenantId) -> String {
    format!("tenants/{tenant}_canary/")
}

/// A secret name no tenant owns, next to the tenant's own secrets.
pub fn canary_secret_name(tenant: &TenantId) -> String {
    format!("{}app", canary_prefix(tenant))
}

/// The probe user's email address (the user pool signs users in by email):
/// `verify-{id}-{nonce}@probe.invalid`.
pub fn probe_email(tenant: &TenantId, nonce: u64) -> String {
    format!("{PROBE_LOCAL_PREFIX}{tenant}-{nonce:016x}@{PROBE_EMAIL_DOMAIN}")
}

/// Whether `email` is a probe user of `tenant` (and of no other tenant): teardown and the
/// verify step delete exactly these, never a real user.
pub fn is_probe_email(tenant: &TenantId, email: &str) -> bool {
    let Some(local) = email.strip_suffix(&format!("@{PROBE_EMAIL_DOMAIN}")) else {
        return false;
    };
    let Some(rest) = local.strip_prefix(PROBE_LOCAL_PREFIX) else {
        return false;
    };
    let Some(nonce) = rest.strip_prefix(tenant.as_str()).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    // Exactly the nonce: `verify-acme-labs-…` is not a probe of `acme`.
    nonce.len() == PROBE_NONCE_LEN && nonce.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A password from random bytes that satisfies the user pool's policy (12+ characters,
/// upper, lower, digit, symbol): one fixed character of each class, then one alphabet
/// character per random byte (~5.8 bits each).
pub fn probe_password(random: &[u8]) -> String {
    let mut out = String::from("Aa1!");
    out.extend(
        random
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantNames;
    use crate::glob;
    use crate::policy::{Deployment, boundary_policy, tenant_policy};
    use crate::tenant_id::strategy::valid_id;
    use proptest::prelude::*;

    fn id(raw: &str) -> TenantId {
        TenantId::parse(raw).unwrap()
    }

    fn deployment() -> Deployment {
        Deployment::example()
    }

    fn resources(doc: &crate::policy::PolicyDocument, action: &str) -> Vec<String> {
        doc.statements
            .iter()
            .filter(|s| s.actions.iter().any(|a| a == action))
            .flat_map(|s| s.resources.clone())
            .collect()
    }

    #[test]
    fn canary_names() {
        assert_eq!(canary_prefix(&id("acme")), "tenants/acme_canary/");
        assert_eq!(canary_secret_name(&id("acme")), "tenants/acme_canary/app");
        assert_eq!(
            probe_email(&id("acme"), 0xab),
            "verify-acme-00000000000000ab@probe.invalid"
        );
    }

    #[test]
    fn probe_emails_belong_to_one_tenant() {
        let acme = id("acme");
        let labs = id("acme-labs");
        let e = probe_email(&labs, 7);
        assert!(is_probe_email(&labs, &e));
        assert!(!is_probe_email(&acme, &e), "a neighbour's probe is not ours");
        assert!(!is_probe_email(&acme, "ops@acme.example"));
        assert!(!is_probe_email(&acme, "verify-acme-00000000000000ab@example.com"));
        assert!(!is_probe_email(&acme, "verify-acme-00000000000000AB@probe.invalid"));
        assert!(!is_probe_email(&acme, "verify-acme-0ab@probe.invalid"));
    }

    #[test]
    fn passwords_meet_the_pool_policy() {
        let p = probe_password(&[0, 1, 2, 255, 128, 77, 3, 9, 200, 100, 50, 25, 12, 6, 99, 31]);
        assert!(p.len() >= 12);
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        assert_ne!(p, probe_password(&[1; 16]));
        // Each byte picks one character, wrapping round the 57-character alphabet, so
        // every byte value is usable and none falls outside it.
        assert_eq!(probe_password(&[0, 56, 57, 113, 255]), "Aa1!A9A9d");
    }

    proptest! {
        /// No tenant owns another tenant's canary, and the canary is inside the boundary
        /// but outside every pattern of the tenant's own policy.
        #[test]
        fn the_canary_is_nobodys_and_inside_the_boundary(a in valid_id(), b in valid_id(), key in "[a-zA-Z0-9._-]{1,12}", suffix in "[a-zA-Z0-9]{6}") {
            let ta = id(&a);
            let tb = id(&b);
            let d = deployment();
            let canary = canary_prefix(&ta);
            prop_assert!(!canary.starts_with(&TenantNames::new(&tb).prefix));
            let object = format!("arn:aws:s3:::tenant-data/{canary}{key}");
            let secret = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-{suffix}", canary_secret_name(&ta));
            let own = tenant_policy(&ta, &d);
            for pattern in resources(&own, "s3:PutObject") {
                prop_assert!(!glob::matches(&pattern, &object), "{pattern} matches {object}");
            }
            for pattern in resources(&own, "secretsmanager:GetSecretValue") {
                prop_assert!(!glob::matches(&pattern, &secret), "{pattern} matches {secret}");
            }
            let boundary = boundary_policy(&d);
            prop_assert!(resources(&boundary, "s3:PutObject").iter().any(|p| glob::matches(p, &object)));
            prop_assert!(resources(&boundary, "secretsmanager:GetSecretValue").iter().any(|p| glob::matches(p, &secret)));
        }

        #[test]
        fn probe_emails_round_trip(a in valid_id(), nonce in any::<u64>()) {
            let t = id(&a);
            prop_assert!(is_probe_email(&t, &probe_email(&t, nonce)));
        }
    }
}
