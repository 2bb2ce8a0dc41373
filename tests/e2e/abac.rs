//! Abac mode end to end: one shared tenant role scoped by the session's `tenant` tag, no
//! per-tenant role, no mapping entry, no propagation wait; the same proof at the end of
//! every onboarding, and `audit` watching the shared role and the tag map.

use tenant_domain::policy::PRINCIPAL_TAG;
use tenant_domain::{MappingType, Status, TenantNames};
use tenant_localstack::bootstrap::SHARED_ROLE;
use tenant_localstack::lambda_endpoint::FaultMode;
use tenant_steps::{Step, record};
use tenantctl::audit::Kind;

use crate::helpers::{TestStack, spawn_mode, tid};

async fn roles_under_tenants(t: &TestStack) -> Vec<String> {
    let out = t
        .ops
        .ctx
        .clients
        .iam
        .list_roles()
        .path_prefix("/tenants/")
        .send()
        .await
        .unwrap();
    out.roles().iter().map(|r| r.role_name().to_string()).collect()
}

async fn set_tag_map(t: &TestStack, claim: &str) {
    let s = &t.ops.ctx.settings;
    t.ops
        .ctx
        .clients
        .identity
        .set_principal_tag_attribute_map()
        .identity_pool_id(&s.identity_pool_id)
        .identity_provider_name(s.user_pool_provider())
        .use_defaults(false)
        .principal_tags(PRINCIPAL_TAG, claim)
        .send()
        .await
        .unwrap();
}

/// The record's failure message after a failed onboarding, with nothing of it left.
async fn failed_and_clean(t: &TestStack, tenant: &str) -> String {
    let done = t.onboard(tenant).await;
    assert_eq!(done.status, "FAILED", "{tenant}: {done:?}");
    assert_eq!(done.error.as_deref(), Some("IsolationNotProven"), "{tenant}: {done:?}");
    let rec = record::get(&t.ops.ctx, tenant).await.unwrap().expect("record");
    assert_eq!(rec.status, Status::Failed, "{rec:?}");
    assert_eq!(rec.failed_step.as_deref(), Some("Verify"));
    let res = tenantctl::status::inspect(&t.ops, &tid(tenant)).await.unwrap();
    assert!(res.present().is_empty(), "{tenant} left {:?}", res.present());
    rec.error_message.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn abac_onboarding_has_no_tenant_role_and_audit_watches_the_shared_ones() {
    let t = spawn_mode(MappingType::Abac).await;
    let done = t.onboard("acme").await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let rec = record::get(&t.ops.ctx, "acme").await.unwrap().expect("record");
    assert_eq!(rec.status, Status::Active);

    // No IAM entity per tenant, no entry in the pool's mapping.
    assert_eq!(roles_under_tenants(&t).await, [SHARED_ROLE]);
    let names = TenantNames::new(&tid("acme"));
    let err = t
        .ops
        .ctx
        .clients
        .iam
        .get_role()
        .role_name(&names.role_name)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().is_some_and(|e| e.is_no_such_entity_exception()),
        "{err:?}"
    );
    let mapping = tenant_steps::mapping::provider_mapping(&t.ops.ctx).await.unwrap();
    assert!(mapping.is_none(), "{mapping:?}");

    // status: nothing missing; the role and the mapping are "not used".
    let st = tenantctl::status::status(&t.ops, &tid("acme")).await.unwrap();
    assert!(st.resources.missing().is_empty(), "{:?}", st.resources.missing());
    let rows = st.resources.rows(&tid("acme"), &t.ops.ctx.settings);
    for label in ["role", "mapping"] {
        assert_eq!(
            rows.iter().find(|r| r.label == label).unwrap().state,
            "not used",
            "{rows:?}"
        );
    }
    let findings = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert!(findings.is_empty(), "{findings:#?}");

    // The tag map names another claim: audit says so, and the next onboarding's proof
    // fails at once (nothing propagates in Abac mode), rolled back.
    set_tag_map(&t, "sub").await;
    let findings = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].kind, Kind::Drift);
    assert!(findings[0].resource.starts_with("principal tag map "), "{findings:?}");
    let message = failed_and_clean(&t, "globex").await;
    assert!(message.contains("principal tag map"), "{message}");
    set_tag_map(&t, tenant_domain::claim::CLAIM).await;

    // The shared policy widened: the canary is reachable, the proof fails.
    t.stack.faults.set("initech", Step::Verify, FaultMode::WidenPolicy);
    let message = failed_and_clean(&t, "initech").await;
    assert!(message.contains("canary"), "{message}");
    let findings = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert!(
        findings.len() == 1
            && findings[0]
                .resource
                .starts_with(&format!("shared tenant role {SHARED_ROLE}")),
        "{findings:#?}"
    );
    // The shared policy gone: own access refused, final at the first attempt.
    t.stack.faults.set("umbrella", Step::Verify, FaultMode::RevokePolicy);
    let message = failed_and_clean(&t, "umbrella").await;
    assert!(
        message.contains("Abac mode creates nothing that propagates"),
        "{message}"
    );
    let findings = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert!(
        findings.len() == 1 && findings[0].kind == Kind::Missing && findings[0].resource.contains(SHARED_ROLE),
        "{findings:#?}"
    );

    // Offboarding removes the group, secret and prefix; there was no role to remove.
    let done = t.offboard("acme", false).await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let rec = record::get(&t.ops.ctx, "acme").await.unwrap().expect("record");
    assert_eq!(rec.status, Status::Offboarded);
    let res = tenantctl::status::inspect(&t.ops, &tid("acme")).await.unwrap();
    assert!(res.present().is_empty(), "{:?}", res.present());
    assert_eq!(roles_under_tenants(&t).await, [SHARED_ROLE]);
    t.stack.stop().await;
}
