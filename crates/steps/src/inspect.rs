//! What exists for a tenant, read live from AWS rather than from our records: for
//! operators, for residue checks, and for naming what a failed rollback left behind. One
//! observation per resource of [`crate::resources::Resource::ALL`]; a resource that cannot
//! be read is shown as such, the others still are.

pub use crate::resources::{Observation, Resources, inspect};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;
    use tenant_domain::TenantId;

    /// A failed read names the service and operation that failed, and fails only that
    /// resource's observation.
    #[tokio::test]
    async fn errors_name_the_real_service_and_operation() {
        let ctx = Context::offline();
        let res = inspect(&ctx, &TenantId::parse("acme").unwrap()).await;
        let reason = res.group.unavailable_reason().expect("group unavailable offline");
        assert!(reason.starts_with("unavailable: "), "{reason}");
        assert!(reason.contains("cognito-idp GetGroup"), "{reason}");
        let reason = res.role.unavailable_reason().expect("role unavailable offline");
        assert!(reason.contains("iam GetRole"), "{reason}");
        let reason = res.prefix.unavailable_reason().expect("prefix unavailable offline");
        assert!(reason.contains("s3 ListObjectsV2"), "{reason}");
    }
}
