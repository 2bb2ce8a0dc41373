use tenantctl::probe::{self, Outcome};

use crate::helpers::{spawn, tid};

#[tokio::test(flavor = "multi_thread")]
async fn prefix_confusable_tenants_are_denied_each_others_data_by_iam() {
    let t = spawn().await;
    for tenant in ["acme", "acme-labs"] {
        let done = t.onboard(tenant).await;
        assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    }
    let checks = probe::check_isolation(&t.ops, &[tid("acme"), tid("acme-labs")])
        .await
        .unwrap();
    assert_eq!(checks.len(), 24);
    for c in &checks {
        assert!(c.holds(), "{c:?}");
    }
    let cross: Vec<_> = checks.iter().filter(|c| c.actor != c.target).collect();
    assert_eq!(cross.len(), 12);
    for action in [
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "s3:DeleteObject",
    ] {
        assert!(
            cross
                .iter()
                .filter(|c| c.action == action)
                .all(|c| c.actual == Outcome::Denied),
            "{action}"
        );
    }
    // The denial is IAM's: the message names the assumed tenant role.
    let denied = cross
        .iter()
        .find(|c| c.action == "secretsmanager:GetSecretValue")
        .unwrap();
    assert!(denied.detail.contains("assumed-role/tenant-"), "{}", denied.detail);

    // Listing the whole bucket (no prefix) is not something a tenant can do either.
    let acme = probe::sign_in(&t.ops, &tid("acme")).await.unwrap();
    let err = acme
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
