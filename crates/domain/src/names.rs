//! Deterministic resource names: every name is a function of the tenant id alone, so
//! compensation and offboarding find what onboarding created without its outputs.

use crate::TenantId;

pub const ROLE_PATH: &str = "/tenants/";
pub const INLINE_POLICY_NAME: &str = "tenant-access";
pub const TAG_KEY: &str = "tenant";
/// The role's tag naming the template version its documents were rendered from.
pub const TEMPLATE_VERSION_TAG_KEY: &str = "template-version";

/// The marker object's name inside the tenant's prefix.
pub const MARKER_NAME: &str = ".tenant";

/// Every name derived from one tenant id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantNames {
    pub tenant: TenantId,
    /// `tenant:{id}:members`. The `:` on both sides (never part of an id) make the group
    /// name of one tenant impossible to find inside another's, so `Contains` rules on
    /// `cognito:groups` never match a neighbour (`acme` vs `acme-labs`).
    pub group: String,
    pub role_name: String,
    pub role_path: &'static str,
    /// `tenants/{id}/app`: the delimiter after the id keeps `tenants/acme/*` away from
    /// `tenants/acme-labs/...`.
    pub secret_name: String,
    /// `tenants/{id}/`, always with the trailing delimiter.
    pub prefix: String,
    /// The marker object that creates the prefix and carries its tag.
    pub marker_key: String,
}

impl TenantNames {
    pub fn new(tenant: &TenantId) -> Self {
        let id = tenant.as_str();
        TenantNames {
            tenant: tenant.clone(),
            group: format!("tenant:{id}:members"),
            role_name: format!("tenant-{id}"),
            role_path: ROLE_PATH,
            secret_name: format!("tenants/{id}/app"),
            prefix: format!("tenants/{id}/"),
            marker_key: format!("tenants/{id}/{MARKER_NAME}"),
        }
    }

    pub fn role_arn(&self, partition: &str, account_id: &str) -> String {
        format!(
            "arn:{partition}:iam::{account_id}:role{}{}",
            self.role_path, self.role_name
        )
    }

    /// The pattern covering every secret of the tenant, including Secrets Manager's
    /// random 6-character suffix.
    pub fn secret_arn_pattern(&self, partition: &str, region: &str, account_id: &str) -> String {
        format!(
            "arn:{partition}:secretsmanager:{region}:{account_id}:secret:tenants/{}/*",
            self.tenant
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant_id::strategy::valid_id;
    use proptest::prelude::*;

    #[test]
    fn names_for_acme() {
        let n = TenantNames::new(&TenantId::parse("acme").unwrap());
        assert_eq!(n.group, "tenant:acme:members");
        assert_eq!(n.role_name, "tenant-acme");
        assert_eq!(
            n.role_arn("aws", "123456789012"),
            "arn:aws:iam::123456789012:role/tenants/tenant-acme"
        );
        assert_eq!(n.secret_name, "tenants/acme/app");
        assert_eq!(n.prefix, "tenants/acme/");
        assert!(n.marker_key.starts_with(&n.prefix));
    }

    #[test]
    fn names_fit_service_limits() {
        let longest = TenantId::parse(&"a".repeat(crate::tenant_id::MAX_LEN)).unwrap();
        let n = TenantNames::new(&longest);
        assert!(n.role_name.len() <= 64, "IAM role name limit");
        assert!(n.group.len() <= 128, "Cognito group name limit");
        assert!(n.secret_name.len() <= 512, "Secrets Manager name limit");
    }

    proptest! {
        #[test]
        fn no_group_name_is_inside_another(a in valid_id(), b in valid_id()) {
            prop_assume!(a != b);
            let na = TenantNames::new(&TenantId::parse(&a).unwrap());
            let nb = TenantNames::new(&TenantId::parse(&b).unwrap());
            prop_assert!(!nb.group.contains(&na.group));
            prop_assert!(!na.group.contains(&nb.group));
            prop_assert!(!nb.prefix.starts_with(&na.prefix));
            prop_assert!(!nb.secret_name.starts_with(&na.prefix));
        }

        #[test]
        fn confusable_suffixes_stay_apart(a in valid_id(), suffix in "-[a-z0-9]{1,5}") {
            // The case that matters most: one id is the other plus "-something".
            let b = format!("{a}{suffix}");
            prop_assume!(b.len() <= crate::tenant_id::MAX_LEN);
            let na = TenantNames::new(&TenantId::parse(&a).unwrap());
            let nb = TenantNames::new(&TenantId::parse(&b).unwrap());
            prop_assert!(!nb.group.contains(&na.group));
            prop_assert!(!nb.prefix.starts_with(&na.prefix));
        }
    }
}
