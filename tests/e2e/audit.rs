//! `tenantctl audit` on the local stack: clean after onboardings, then drift injected out
//! of band (a widened role policy, a removed mapping rule, an orphan role under
//! `/tenants/`, an extra secret under an ACTIVE tenant's prefix) is reported, by the library and by the binary with `--json` and exit 1.
//!
//! Part of the `tenantctl` package's tests (see its Cargo.toml) to run the real binary.

#[path = "helpers.rs"]
#[allow(dead_code)]
mod helpers;

use serde_json::{Value, json};
use tenantctl::audit::{self, Kind};

#[tokio::test(flavor = "multi_thread")]
async fn audit_is_clean_after_onboarding_and_reports_injected_drift() {
    let t = helpers::spawn().await;
    for tenant in ["acme", "acme-labs"] {
        let done = t.onboard(tenant).await;
        assert_eq!(done.status, "SUCCEEDED", "{tenant}: {done:?}");
    }
    let clean = audit::audit(&t.ops).await.unwrap();
    assert!(clean.is_empty(), "{clean:#?}");

    let c = &t.ops.ctx.clients;
    let s = &t.ops.ctx.settings;
    // 1. The role policy widened to every tenant's objects, out of band.
    let widened = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{}/tenants/*", s.bucket)}]
    });
    c.iam
        .put_role_policy()
        .role_name("tenant-acme")
        .policy_name("tenant-access")
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    // 2. acme-labs' mapping rule removed.
    let pool = tenant_steps::mapping::pool_roles(&t.ops.ctx).await.unwrap();
    let mut mappings = pool.role_mappings().cloned().unwrap();
    let provider = s.provider_name();
    let mapping = mappings.remove(&provider).unwrap();
    let mut rules = mapping.rules_configuration().unwrap().rules().to_vec();
    rules.retain(|r| r.value() != "acme-labs");
    let mapping = aws_sdk_cognitoidentity::types::RoleMapping::builder()
        .r#type(mapping.r#type().clone())
        .ambiguous_role_resolution(mapping.ambiguous_role_resolution().unwrap().clone())
        .rules_configuration(
            aws_sdk_cognitoidentity::types::RulesConfigurationType::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    mappings.insert(provider, mapping);
    c.identity
        .set_identity_pool_roles()
        .identity_pool_id(&s.identity_pool_id)
        .set_roles(pool.roles().cloned())
        .set_role_mappings(Some(mappings))
        .send()
        .await
        .unwrap();
    // 3. An orphan role in the tenants' namespace, with no record.
    c.iam
        .create_role()
        .role_name("tenant-ghost")
        .path("/tenants/")
        .assume_role_policy_document(tenant_domain::policy::trust_policy(&s.identity_pool_id).to_string())
        .send()
        .await
        .unwrap();

    // 4. A second secret in an ACTIVE tenant's namespace that onboarding never creates.
    c.secrets
        .create_secret()
        .name("tenants/acme/extra")
        .secret_string("x")
        .send()
        .await
        .unwrap();

    let findings = audit::audit(&t.ops).await.unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.tenant == "acme" && f.kind == Kind::Orphan && f.resource == "secret tenants/acme/extra"),
        "{findings:#?}"
    );
    let policy = findings
        .iter()
        .find(|f| f.tenant == "acme" && f.resource == "role tenant-acme inline policy tenant-access")
        .unwrap_or_else(|| panic!("policy drift not reported: {findings:#?}"));
    assert_eq!(policy.kind, Kind::Drift);
    assert_eq!(
        policy.found.as_ref().unwrap()["Statement"][0]["Resource"],
        widened["Statement"][0]["Resource"]
    );
    assert_eq!(
        policy.expected.as_ref().unwrap()["Statement"][0]["Resource"][0],
        format!("arn:aws:s3:::{}/tenants/acme/*", s.bucket)
    );
    assert!(
        findings.iter().any(|f| f.tenant == "acme-labs"
            && f.kind == Kind::Missing
            && f.resource == "mapping rule tenant_id acme-labs"),
        "{findings:#?}"
    );
    assert!(
        findings.iter().any(|f| f.tenant == "ghost"
            && f.kind == Kind::Orphan
            && f.resource.ends_with("role/tenants/tenant-ghost")),
        "{findings:#?}"
    );
    assert_eq!(findings.len(), 4, "nothing else: {findings:#?}");

    // The binary: exit 1 on findings, and the same findings as JSON.
    let env_file =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("audit-{}.env", std::process::id()));
    let text: String = t.stack.env_lines().iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&env_file, text).unwrap();
    let run = |json: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"));
        cmd.arg("--env-file").arg(&env_file).arg("audit");
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    };
    let out = run(true);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed.len(), 4, "{parsed:#?}");
    let kinds: std::collections::BTreeSet<&str> = parsed.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["drift", "missing", "orphan"].into_iter().collect());
    let text = String::from_utf8(run(false).stdout).unwrap();
    assert!(
        text.contains("expected:") && text.contains("found:") && text.contains("tenantctl reconcile"),
        "{text}"
    );

    // Repaired, the audit is clean again (and the binary exits 0).
    tenant_steps::mapping::reconcile(&t.ops.ctx, "test").await.unwrap();
    c.iam.delete_role().role_name("tenant-ghost").send().await.unwrap();
    c.secrets
        .delete_secret()
        .secret_id("tenants/acme/extra")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let policy = tenant_domain::policy::tenant_policy(&helpers::tid("acme"), &s.deployment()).to_json();
    c.iam
        .put_role_policy()
        .role_name("tenant-acme")
        .policy_name("tenant-access")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let out = run(false);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let _ = std::fs::remove_file(&env_file);
    t.stack.stop().await;
}
