//! Onboarding adopts, and teardown deletes, only a resource that carries the tenant's
//! tag: anything else under the tenant's name was not made by onboarding.

use tenant_domain::TenantId;
use tenant_domain::names::TAG_KEY;

use crate::StepError;

/// Ok when `tags` (key, value) include `tenant={id}`; otherwise a `ResourceConflict`
/// naming the resource and `consequence` (what happens to it, what to do).
pub fn require_tenant_tag<'a>(
    tenant: &TenantId,
    resource: &str,
    mut tags: impl Iterator<Item = (&'a str, &'a str)>,
    consequence: &str,
) -> Result<(), StepError> {
    if tags.any(|(k, v)| k == TAG_KEY && v == tenant.as_str()) {
        return Ok(());
    }
    Err(StepError::ResourceConflict {
        tenant: tenant.to_string(),
        message: format!("{resource} is not tagged {TAG_KEY}={tenant}; {consequence}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tenants_own_tag_passes() {
        let acme = TenantId::parse("acme").unwrap();
        assert!(require_tenant_tag(&acme, "role r", [("x", "y"), ("tenant", "acme")].into_iter(), "-").is_ok());
        for tags in [vec![], vec![("tenant", "acme-labs")], vec![("Tenant", "acme")]] {
            let err = require_tenant_tag(&acme, "role r", tags.into_iter(), "left in place").unwrap_err();
            assert_eq!(
                err,
                StepError::ResourceConflict {
                    tenant: "acme".into(),
                    message: "role r is not tagged tenant=acme; left in place".into()
                }
            );
        }
    }
}
