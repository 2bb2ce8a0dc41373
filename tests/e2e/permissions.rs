//! The steps run under their own roles, rendered from the template the stack was started
//! with: a template that lacks a permission, or grants one that never matches in AWS,
//! fails the onboarding at that step with AccessDenied, rolls back and leaves nothing.

use std::path::PathBuf;

use tenant_domain::Status;
use tenant_localstack::Options;
use tenant_steps::record;

use crate::helpers::{TEST_PROPAGATION_BUDGET_SECONDS, spawn_stack, tid};

const TEMPLATE: &str = include_str!("../../template.yaml");

/// A copy of the repository's template with one edit, in a scratch file.
fn template_variant(name: &str, from: &str, to: &str) -> PathBuf {
    assert!(TEMPLATE.contains(from), "template.yaml no longer contains {from:?}");
    let path = std::env::temp_dir().join(format!("tenant-template-{name}-{}.yaml", std::process::id()));
    std::fs::write(&path, TEMPLATE.replacen(from, to, 1)).unwrap();
    path
}

async fn fails_at(template: PathBuf, tenant: &str, step: &str, action: &str) {
    let t = spawn_stack(Options {
        iam_wait_seconds: 0,
        propagation_budget_seconds: TEST_PROPAGATION_BUDGET_SECONDS,
        template: Some(template),
        ..Options::default()
    })
    .await;
    let done = t.onboard(tenant).await;
    assert_eq!(done.status, "FAILED", "{done:?}");
    let rec = record::get(&t.ops.ctx, tenant).await.unwrap().expect("record");
    assert_eq!(rec.status, Status::Failed, "{rec:?}");
    assert_eq!(rec.failed_step.as_deref(), Some(step), "{rec:?}");
    assert_eq!(rec.error_name.as_deref(), Some("AccessDenied"), "{rec:?}");
    let message = rec.error_message.unwrap_or_default();
    assert!(
        message.contains(&format!("not authorized to perform: {action}")),
        "{message}"
    );
    let res = tenantctl::status::inspect(&t.ops, &tid(tenant)).await.unwrap();
    assert!(res.present().is_empty(), "{tenant} left {:?}", res.present());
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_without_create_secret_fails_at_create_secret_and_leaves_nothing() {
    let template = template_variant(
        "no-create-secret",
        "                - secretsmanager:CreateSecret\n",
        "",
    );
    fails_at(template, "acme", "CreateSecret", "secretsmanager:CreateSecret").await;
}

/// SetIdentityPoolRoles has no resource type: scoped to the pool's ARN, as the template
/// once had it, the grant never matches (in AWS, and so locally).
#[tokio::test(flavor = "multi_thread")]
async fn set_identity_pool_roles_scoped_to_the_pool_fails_at_rebuild_role_mappings() {
    let template = template_variant(
        "scoped-set-roles",
        "Action: cognito-identity:SetIdentityPoolRoles\n              Resource: \"*\"",
        "Action: cognito-identity:SetIdentityPoolRoles\n              Resource: !Sub \"arn:${AWS::Partition}:cognito-identity:${AWS::Region}:${AWS::AccountId}:identitypool/${IdentityPool}\"",
    );
    fails_at(
        template,
        "globex",
        "RebuildRoleMappings",
        "cognito-identity:SetIdentityPoolRoles",
    )
    .await;
}

/// IAM answers in the query protocol's XML: a refusal must reach the step as AccessDenied
/// naming the action (an error body in another shape is "unhandled" to the SDK).
#[tokio::test(flavor = "multi_thread")]
async fn a_template_without_create_role_fails_at_create_role_with_access_denied() {
    let template = template_variant(
        "no-create-role",
        "Action: [iam:CreateRole, iam:PutRolePermissionsBoundary, iam:PutRolePolicy]",
        "Action: [iam:PutRolePermissionsBoundary, iam:PutRolePolicy]",
    );
    fails_at(template, "initech", "CreateRole", "iam:CreateRole").await;
}
