use std::time::Duration;

use serde_json::json;
use tenantctl::onboard;

use crate::helpers::spawn;

pub const HOSTILE: &[&str] = &[
    "*",
    "acme*",
    "ac?e",
    "${aws:username}",
    "acme/labs",
    "..",
    "../acme",
    "Acme",
    "\u{0430}cme", // Cyrillic а
    "",
    "abcdefghijklmnopqrstuvwxyz0123456",
    "1acme",
    "-acme",
];

/// The CLI refuses these before any AWS call (unit-tested in the domain crate); here the
/// state machine is started directly, bypassing the CLI, to show the workflow refuses
/// them too and creates nothing.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_ids_are_refused_by_the_workflow_and_nothing_is_created() {
    let t = spawn().await;
    let c = &t.ops.ctx.clients;
    let s = &t.ops.ctx.settings;
    for (i, raw) in HOSTILE.iter().enumerate() {
        assert!(tenant_domain::TenantId::parse(raw).is_err(), "{raw:?} must be invalid");
        let out = c
            .sfn
            .start_execution()
            .state_machine_arn(&t.ops.onboarding_arn)
            .name(format!("hostile-{i}"))
            .input(json!({"tenant_id": raw, "name": null, "email": null, "attempt": 1}).to_string())
            .send()
            .await
            .unwrap();
        let done = onboard::wait(&t.ops, out.execution_arn(), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(done.status, "FAILED", "{raw:?}");
        assert_eq!(done.error.as_deref(), Some("InvalidTenantId"), "{raw:?}: {done:?}");
        assert!(
            done.cause.as_deref().unwrap_or("").contains("tenant id"),
            "{raw:?}: {done:?}"
        );
    }
    // Nothing was created anywhere.
    let items = c.ddb.scan().table_name(&s.table).send().await.unwrap();
    assert_eq!(items.count(), 0, "no tenant records");
    let groups = c.idp.list_groups().user_pool_id(&s.user_pool_id).send().await.unwrap();
    assert!(groups.groups().is_empty(), "no groups");
    let roles = c.iam.list_roles().path_prefix("/tenants/").send().await.unwrap();
    assert!(roles.roles().is_empty(), "no tenant roles");
    let secrets = c.secrets.list_secrets().send().await.unwrap();
    assert!(secrets.secret_list().is_empty(), "no secrets");
    let objects = c.s3.list_objects_v2().bucket(&s.bucket).send().await.unwrap();
    assert_eq!(objects.key_count(), Some(0), "no objects");
    let roles = c
        .identity
        .get_identity_pool_roles()
        .identity_pool_id(&s.identity_pool_id)
        .send()
        .await
        .unwrap();
    assert!(roles.role_mappings().is_none_or(|m| m.is_empty()), "no mapping rules");
    t.stack.stop().await;
}
