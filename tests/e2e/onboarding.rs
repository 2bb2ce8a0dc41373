use serde_json::Value;
use tenant_domain::policy::{tenant_policy, trust_policy};
use tenant_domain::{Status, TenantNames};
use tenant_steps::record;

use crate::helpers::{spawn, tid};

fn decode(doc: &str) -> Value {
    // IAM returns policy documents URL-encoded.
    tenant_domain::policy_compare::decode_document(doc).expect("policy JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn onboarding_reaches_active_with_every_resource_as_specified() {
    let t = spawn().await;
    let finished = t.onboard("acme").await;
    assert_eq!(finished.status, "SUCCEEDED", "{finished:?}");

    let s = &t.ops.ctx.settings;
    let c = &t.ops.ctx.clients;
    let tenant = tid("acme");
    let names = TenantNames::new(&tenant);

    let rec = record::get(&t.ops.ctx, "acme").await.unwrap().expect("record");
    assert_eq!(rec.status, Status::Active);
    assert_eq!(rec.execution, "acme-1");
    assert!(rec.mapped);
    // The record and the role name the template version the tenant was onboarded with.
    let version = s.template_version();
    assert_eq!(rec.template_version.as_deref(), Some(version.as_str()));

    let group = c
        .idp
        .get_group()
        .user_pool_id(&s.user_pool_id)
        .group_name(&names.group)
        .send()
        .await
        .unwrap();
    assert_eq!(group.group().unwrap().description(), Some("tenant=acme"));

    let role = c.iam.get_role().role_name(&names.role_name).send().await.unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.path(), "/tenants/");
    assert_eq!(
        role.permissions_boundary().unwrap().permissions_boundary_arn(),
        Some(s.boundary_arn.as_str())
    );
    assert!(
        role.tags()
            .iter()
            .any(|tag| tag.key() == "tenant" && tag.value() == "acme")
    );
    assert!(
        role.tags()
            .iter()
            .any(|tag| tag.key() == "template-version" && tag.value() == version),
        "{:?}",
        role.tags()
    );
    assert_eq!(
        decode(role.assume_role_policy_document().unwrap()),
        trust_policy(&s.identity_pool_id)
    );
    let inline = c
        .iam
        .get_role_policy()
        .role_name(&names.role_name)
        .policy_name("tenant-access")
        .send()
        .await
        .unwrap();
    let expected: Value = serde_json::from_str(&tenant_policy(&tenant, &s.deployment()).to_json()).unwrap();
    assert_eq!(decode(inline.policy_document()), expected);

    let secret = c
        .secrets
        .describe_secret()
        .secret_id(&names.secret_name)
        .send()
        .await
        .unwrap();
    assert!(
        secret
            .tags()
            .iter()
            .any(|tag| tag.key() == Some("tenant") && tag.value() == Some("acme"))
    );
    let value = c
        .secrets
        .get_secret_value()
        .secret_id(&names.secret_name)
        .send()
        .await
        .unwrap();
    let value: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(
        value["api_key"].as_str().map(str::len),
        Some(40),
        "random initial value"
    );

    let tagging =
        c.s3.get_object_tagging()
            .bucket(&s.bucket)
            .key(&names.marker_key)
            .send()
            .await
            .unwrap();
    assert!(
        tagging
            .tag_set()
            .iter()
            .any(|tag| tag.key() == "tenant" && tag.value() == "acme")
    );

    let mapping = tenant_steps::mapping::provider_mapping(&t.ops.ctx)
        .await
        .unwrap()
        .expect("the provider's mapping");
    let mapping = &mapping;
    assert_eq!(mapping.r#type().as_str(), "Rules");
    assert_eq!(mapping.ambiguous_role_resolution().map(|a| a.as_str()), Some("Deny"));
    let rules = mapping.rules_configuration().unwrap().rules();
    assert_eq!(rules.len(), 1);
    // On the single-valued tenant_id claim, so a user in two tenant groups matches none.
    assert_eq!(rules[0].claim(), "tenant_id");
    assert_eq!(rules[0].match_type().as_str(), "Equals");
    assert_eq!(rules[0].value(), "acme");
    assert_eq!(rules[0].role_arn(), role.arn());
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn starting_the_same_tenant_twice_gives_one_execution_and_each_step_converges() {
    let t = spawn().await;
    let a = tenantctl::onboard::start(&t.ops, &tid("globex"), None, None)
        .await
        .unwrap();
    let b = tenantctl::onboard::start_attempt(&t.ops, &tid("globex"), None, None, 1, false)
        .await
        .unwrap();
    assert_eq!(a.execution_arn, b.execution_arn);
    let done = tenantctl::onboard::wait(&t.ops, &a.execution_arn, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    // Re-running every step with the same input converges without "already exists".
    let input = serde_json::json!({
        "tenant_id": "globex", "company_name": null, "admin_email": null, "attempt": 1, "execution": "globex-1"
    });
    for step in tenant_steps::Step::forward() {
        tenant_steps::dispatch::run(&t.ops.ctx, step, input.clone())
            .await
            .unwrap_or_else(|e| panic!("{} re-run failed: {e}", step.name()));
    }
    let res = tenantctl::status::inspect(&t.ops, &tid("globex")).await.unwrap();
    assert_eq!(
        res.present(),
        [
            "group",
            "role",
            "role policy",
            "secret",
            "prefix objects",
            "mapping rule"
        ]
    );
    assert_eq!(res.prefix.found().map(|p| p.objects), Some(1));

    // The teardown converges too: offboard, then run every teardown step again.
    let off = t.offboard("globex", false).await;
    assert_eq!(off.status, "SUCCEEDED", "{off:?}");
    let input = serde_json::json!({"tenant_id": "globex", "attempt": 1, "execution": off.execution_arn.rsplit(':').next().unwrap(),
        "offboard": {"keep_prefix": false, "secret_recovery_days": 7}});
    for step in tenant_steps::Step::teardown() {
        tenant_steps::dispatch::run(&t.ops.ctx, step, input.clone())
            .await
            .unwrap_or_else(|e| panic!("{} re-run failed: {e}", step.name()));
    }
    let res = tenantctl::status::inspect(&t.ops, &tid("globex")).await.unwrap();
    assert!(res.present().is_empty(), "{:?}", res.present());
    t.stack.stop().await;
}
