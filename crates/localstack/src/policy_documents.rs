//! The documents `tenant_domain::policy` renders, for the reference check: what the
//! workflow puts into IAM at run time, beside what `template.yaml` deploys.

use tenant_domain::TenantId;
use tenant_domain::policy::{self, Deployment};
use tenant_domain::template::TenantTemplate;

/// The example template a team adds a connector's secrets with (docs/operations.md).
const CONNECTOR_EXAMPLE: &str = include_str!("../../domain/templates/examples/connector.json");

/// (name, JSON text) of the tenant policy of a sample tenant, Abac mode's shared tenant
/// policy, the boundary and the trust.
pub fn rendered() -> Vec<(&'static str, String)> {
    let deployment = Deployment {
        partition: "aws".into(),
        region: crate::REGION.into(),
        account_id: crate::ACCOUNT_ID.into(),
        bucket: "tenant-bucket-example".into(),
        identity_pool_id: format!("{}:00000000-0000-4000-8000-000000000000", crate::REGION),
    };
    let tenant = TenantId::parse("acme").expect("a valid sample id");
    vec![
        ("tenant-policy", policy::tenant_policy(&tenant, &deployment).to_json()),
        ("abac-policy", policy::abac_policy(&deployment).to_json()),
        ("boundary", policy::boundary_policy(&deployment).to_json()),
        ("trust", policy::trust_policy(&deployment.identity_pool_id).to_string()),
        (
            "tenant-policy-connector",
            TenantTemplate::parse(CONNECTOR_EXAMPLE)
                .expect("the example template is checked by tenant_domain's tests")
                .render(&tenant, &deployment)
                .to_json(),
        ),
    ]
}
