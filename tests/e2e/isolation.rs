use tenantctl::isolation::{self, Access};

use tenant_domain::MappingType;

use crate::helpers::{spawn_mode, tid};

#[tokio::test(flavor = "multi_thread")]
async fn prefix_confusable_tenants_are_denied_each_others_data_by_iam() {
    prefix_confusable_tenants_are_isolated(MappingType::Rules).await;
}

/// The same proof with one shared role: the session's tenant tag alone keeps `acme`
/// away from `acme-labs`.
#[tokio::test(flavor = "multi_thread")]
async fn abac_prefix_confusable_tenants_are_denied_each_others_data_by_iam() {
    prefix_confusable_tenants_are_isolated(MappingType::Abac).await;
}

async fn prefix_confusable_tenants_are_isolated(mode: MappingType) {
    let t = spawn_mode(mode).await;
    // Ids that are prefixes, extensions or near-misses of each other: every ordered pair
    // must be denied, whatever a careless `StringLike` or a missing delimiter would allow.
    const SET: [&str; 5] = ["acme", "acme-labs", "acme-lab", "acm", "acme1"];
    for tenant in SET {
        let done = t.onboard(tenant).await;
        assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    }
    let ids: Vec<_> = SET.iter().map(|s| tid(s)).collect();
    let checks = isolation::check_isolation(&t.ops, &ids).await.unwrap();
    // 8 checks of a tenant's own data (no copy: its source would be its own), 9 of
    // each other tenant's.
    assert_eq!(checks.len(), 8 * SET.len() + 9 * SET.len() * (SET.len() - 1));
    for c in &checks {
        assert!(c.holds(), "{c:?}");
    }
    let cross: Vec<_> = checks.iter().filter(|c| c.actor != c.target).collect();
    assert_eq!(cross.len(), 9 * SET.len() * (SET.len() - 1));
    let own: Vec<_> = checks.iter().filter(|c| c.actor == c.target).collect();
    assert!(
        own.iter().all(|c| c.actual == Access::Allowed),
        "own access always works"
    );
    for action in [
        "s3:GetObject",
        "s3:GetObject (presigned URL)",
        "s3:GetObject (SigV2)",
        "s3:PutObject",
        "s3:ListBucket",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "s3:DeleteObject",
        "s3:CopyObject (source)",
    ] {
        assert!(
            cross
                .iter()
                .filter(|c| c.action == action)
                .all(|c| c.actual == Access::Denied),
            "{action}"
        );
    }
    // The denial is IAM's: the message names the assumed tenant role (Abac: the shared
    // one, for every tenant).
    let denied = cross
        .iter()
        .find(|c| c.action == "secretsmanager:GetSecretValue")
        .unwrap();
    let role = match mode {
        MappingType::Abac => "assumed-role/TenantAbacRole/",
        _ => "assumed-role/tenant-",
    };
    assert!(denied.detail.contains(role), "{}", denied.detail);
    // URLs signed outside the SDK: S3's 403 AccessDenied for every other tenant, and an
    // allowed read of the actor's own marker. Together they show the request was
    // attributed to the actor's identity-pool credentials and judged by its role: an
    // unattributed request is refused for everyone, the admin is allowed everywhere.
    for action in ["s3:GetObject (presigned URL)", "s3:GetObject (SigV2)"] {
        for c in cross.iter().filter(|c| c.action == action) {
            assert!(c.detail.starts_with("HTTP 403 AccessDenied"), "{c:?}");
        }
        let own_reads: Vec<_> = own.iter().filter(|c| c.action == action).collect();
        assert_eq!(own_reads.len(), SET.len());
        assert!(
            own_reads.iter().all(|c| c.detail.starts_with("HTTP 200")),
            "{own_reads:?}"
        );
    }

    // Listing the whole bucket (no prefix) is not something a tenant can do either.
    let acme = isolation::sign_in(&t.ops, &tid("acme")).await.unwrap();
    let err = acme
        .session
        .s3
        .list_objects_v2()
        .bucket(&t.ops.ctx.settings.bucket)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("AccessDenied")
    );
    t.stack.stop().await;
}
