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
        text.contains("expected:")
            && text.contains("found:")
            && text.contains("tenantctl reconcile")
            && text.contains("`tenantctl repair <id>` converges it in place"),
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

/// Out-of-band changes to who gets which role, each made with the SDK as an admin of the
/// account would: a user added to a second tenant's group, a precedence on a tenant
/// group, a tenant's role as the identity pool's default authenticated role, and a
/// member of a group whose tenant has no record. `tenantctl audit`, run as the operator,
/// names each (exit 1); undone, it is clean again.
#[tokio::test(flavor = "multi_thread")]
async fn audit_names_what_changes_which_role_a_user_gets() {
    let t = helpers::spawn().await;
    for tenant in ["acme", "globex"] {
        let done = t.onboard(tenant).await;
        assert_eq!(done.status, "SUCCEEDED", "{tenant}: {done:?}");
    }
    let env_file =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("audit-roles-{}.env", std::process::id()));
    let text: String = t
        .stack
        .env_lines_as(tenant_localstack::stack::Principal::Operator)
        .expect("the stack created the operator role")
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(&env_file, text).unwrap();
    let audit_json = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
            .arg("--env-file")
            .arg(&env_file)
            .args(["audit", "--json"])
            .env_remove("TENANTCTL_ENV_FILE")
            .output()
            .unwrap();
        let findings: Vec<Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), findings)
    };
    assert_eq!(audit_json(), (Some(0), vec![]));

    let c = &t.ops.ctx.clients;
    let s = &t.ops.ctx.settings;
    let pool = &s.user_pool_id;
    // 1. acme's admin also put in globex's group.
    c.idp
        .admin_add_user_to_group()
        .user_pool_id(pool)
        .username("ops@acme.example")
        .group_name("tenant:globex:members")
        .send()
        .await
        .unwrap();
    // 2. A precedence on globex's group.
    c.idp
        .update_group()
        .user_pool_id(pool)
        .group_name("tenant:globex:members")
        .description(tenant_steps::resources::group::group_description(&helpers::tid(
            "globex",
        )))
        .precedence(1)
        .send()
        .await
        .unwrap();
    // 3. acme's role as the pool's default role for authenticated identities.
    let acme_role = tenant_domain::TenantNames::new(&helpers::tid("acme")).role_arn(&s.partition, &s.account_id);
    let roles = tenant_steps::mapping::pool_roles(&t.ops.ctx).await.unwrap();
    let mut defaults = roles.roles().cloned().unwrap_or_default();
    let before = defaults.clone();
    defaults.insert("authenticated".into(), acme_role.clone());
    c.identity
        .set_identity_pool_roles()
        .identity_pool_id(&s.identity_pool_id)
        .set_roles(Some(defaults))
        .set_role_mappings(roles.role_mappings().cloned())
        .send()
        .await
        .unwrap();
    // 4. A group of no tenant, with a member.
    c.idp
        .create_group()
        .user_pool_id(pool)
        .group_name("tenant:ghost:members")
        .send()
        .await
        .unwrap();
    c.idp
        .admin_create_user()
        .user_pool_id(pool)
        .username("stray@ghost.example")
        .user_attributes(
            aws_sdk_cognitoidentityprovider::types::AttributeType::builder()
                .name("email")
                .value("stray@ghost.example")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    c.idp
        .admin_add_user_to_group()
        .user_pool_id(pool)
        .username("stray@ghost.example")
        .group_name("tenant:ghost:members")
        .send()
        .await
        .unwrap();

    let (code, findings) = audit_json();
    assert_eq!(code, Some(1), "{findings:#?}");
    // Users are shown as "email (username)"; the username is the pool's, a UUID.
    let got: std::collections::BTreeSet<(String, String, String)> = findings
        .iter()
        .map(|f| {
            let resource = f["resource"].as_str().unwrap();
            (
                f["tenant"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
                resource.split(" (").next().unwrap().to_string(),
            )
        })
        .collect();
    let want: std::collections::BTreeSet<(String, String, String)> = [
        ("acme", "drift", "user ops@acme.example"),
        ("globex", "drift", "user ops@acme.example"),
        ("globex", "drift", "group tenant:globex:members"),
        ("acme", "drift", "identity pool default authenticated role"),
        ("ghost", "orphan", "user stray@ghost.example"),
        // The group itself, as before: a group of no tenant.
        ("ghost", "orphan", "group tenant:ghost:members"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want, "{findings:#?}");
    let shared = findings
        .iter()
        .find(|f| f["resource"].as_str().unwrap().starts_with("user ops@acme.example ("))
        .unwrap();
    assert!(shared["detail"].as_str().unwrap().contains("acme, globex"), "{shared}");

    // Undone, clean again.
    c.idp
        .admin_remove_user_from_group()
        .user_pool_id(pool)
        .username("ops@acme.example")
        .group_name("tenant:globex:members")
        .send()
        .await
        .unwrap();
    c.idp
        .delete_group()
        .user_pool_id(pool)
        .group_name("tenant:globex:members")
        .send()
        .await
        .unwrap();
    c.idp
        .create_group()
        .user_pool_id(pool)
        .group_name("tenant:globex:members")
        .description(tenant_steps::resources::group::group_description(&helpers::tid(
            "globex",
        )))
        .send()
        .await
        .unwrap();
    c.idp
        .admin_add_user_to_group()
        .user_pool_id(pool)
        .username("ops@globex.example")
        .group_name("tenant:globex:members")
        .send()
        .await
        .unwrap();
    c.identity
        .set_identity_pool_roles()
        .identity_pool_id(&s.identity_pool_id)
        .set_roles(Some(before))
        .set_role_mappings(roles.role_mappings().cloned())
        .send()
        .await
        .unwrap();
    c.idp
        .admin_delete_user()
        .user_pool_id(pool)
        .username("stray@ghost.example")
        .send()
        .await
        .unwrap();
    c.idp
        .delete_group()
        .user_pool_id(pool)
        .group_name("tenant:ghost:members")
        .send()
        .await
        .unwrap();
    assert_eq!(audit_json(), (Some(0), vec![]));
    let _ = std::fs::remove_file(&env_file);
    t.stack.stop().await;
}
