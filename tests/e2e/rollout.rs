//! `tenantctl rollout plan` and the template version through the binary: tenants onboarded
//! with the default template, then the deployment's template changed to the connector
//! example (`TENANT_POLICY_TEMPLATE`): the plan lists both tenants with, per document, what
//! a converge would change; `list --behind` and `--template-version` find them.
//!
//! Part of the `tenantctl` package's tests (see its Cargo.toml) to run the real binary.

#[path = "helpers.rs"]
#[allow(dead_code)]
mod helpers;

use serde_json::Value;
use tenant_domain::template::TenantTemplate;

const CONNECTOR: &str = include_str!("../../crates/domain/templates/examples/connector.json");

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_template_is_planned_per_tenant_and_document() {
    let t = helpers::spawn().await;
    for tenant in ["acme", "acme-labs"] {
        let done = t.onboard(tenant).await;
        assert_eq!(done.status, "SUCCEEDED", "{tenant}: {done:?}");
    }
    let s = &t.ops.ctx.settings;
    let old = s.template_version();
    let new = TenantTemplate::parse(CONNECTOR).unwrap().version(s.mapping_type);
    assert_ne!(old, new);

    let env_file = t.write_env_file(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")), "rollout");
    // The env file names no template (the default); the process environment then decides.
    let run = |template: Option<&str>, args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"));
        cmd.arg("--env-file").arg(&env_file).args(args);
        match template {
            Some(text) => cmd.env("TENANT_POLICY_TEMPLATE", text),
            None => cmd.env_remove("TENANT_POLICY_TEMPLATE"),
        };
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json = |template, args: &[&str]| -> Value { serde_json::from_str(&run(template, args)).unwrap() };

    // Under the template they were onboarded with, nobody is behind.
    let plan = json(None, &["--json", "rollout", "plan"]);
    assert_eq!(plan["current_version"], old.as_str());
    assert_eq!(plan["tenants"], Value::Array(vec![]), "{plan:#}");
    assert_eq!(plan["up_to_date"], 2);

    let plan = json(Some(CONNECTOR), &["--json", "rollout", "plan"]);
    assert_eq!(plan["current_version"], new.as_str());
    assert_eq!(plan["up_to_date"], 0);
    let tenants = plan["tenants"].as_array().unwrap();
    let ids: Vec<_> = tenants.iter().map(|t| t["tenant_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["acme", "acme-labs"]);
    for t in tenants {
        assert_eq!(t["recorded_version"], old.as_str());
        let docs: Vec<_> = t["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["document"].as_str().unwrap())
            .collect();
        assert_eq!(docs, ["tenant policy", "template-version tag"], "{t:#}");
        let mut policy: Vec<String> = t["changes"][0]["statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c["change"].as_str().unwrap(), c["sid"].as_str().unwrap()))
            .collect();
        policy.sort();
        assert_eq!(
            policy,
            [
                "added AppSecret",
                "added ConnectorSecrets",
                "added NoMarkerDeletion",
                "removed OwnSecrets"
            ]
        );
        // The added statement is rendered for that tenant, delimiter included.
        let connector = t["changes"][0]["statements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["sid"] == "ConnectorSecrets")
            .unwrap();
        let resource = connector["statement"]["Resource"].to_string();
        let own = format!("secret:tenants/{}/connector/*", t["tenant_id"].as_str().unwrap());
        assert!(resource.contains(&own), "{resource}");
        assert_eq!(t["changes"][1]["value"], serde_json::json!([old, new]));
    }
    let text = run(Some(CONNECTOR), &["rollout", "plan"]);
    assert!(
        text.contains(&format!("template {new}: 2 ACTIVE tenant(s) behind, 0 up to date"))
            && text.contains("tenant policy: + ConnectorSecrets"),
        "{text}"
    );

    // list: the same two are behind, and both are still recorded at the old version.
    let ids = |page: Value| -> Vec<String> {
        let mut ids: Vec<String> = page["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tenant_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let behind = json(Some(CONNECTOR), &["--json", "list", "--behind"]);
    assert_eq!(behind["behind"], 2);
    assert_eq!(ids(behind), ["acme", "acme-labs"]);
    assert_eq!(ids(json(None, &["--json", "list", "--behind"])), Vec::<String>::new());
    assert_eq!(
        ids(json(None, &["--json", "list", "--template-version", &old])),
        ["acme", "acme-labs"]
    );
    assert_eq!(
        ids(json(None, &["--json", "list", "--template-version", &new])),
        Vec::<String>::new()
    );
    assert!(run(Some(CONNECTOR), &["list"]).contains(&format!("{old} BEHIND")));
    let status = run(Some(CONNECTOR), &["status", "acme"]);
    assert!(
        status.contains(&format!(
            "template {old}, BEHIND the deployment's {new}: `tenantctl repair acme` converges it"
        )),
        "{status}"
    );
    assert!(run(None, &["status", "acme"]).contains(&format!("template {old} (current)")));
    t.stack.stop().await;
}

/// The default template without its object statement: it parses (every rule holds) but
/// the tenant loses its own prefix, so the Verify proof must fail.
fn without_own_objects() -> String {
    let mut doc: Value = serde_json::from_str(tenant_domain::template::DEFAULT_TEMPLATE).unwrap();
    doc["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|st| st["Sid"] != "OwnPrefixObjects");
    TenantTemplate::parse(&doc.to_string()).expect("still a valid template");
    doc.to_string()
}

/// `tenantctl repair` as the operator: a widened policy and a foreign inline policy are
/// converged in place and proven, the data kept and the previous documents recorded; under
/// a template that loses the tenant's own prefix the proof fails and the role is put back,
/// isolation still holding; a tenant without a record is not found.
#[tokio::test(flavor = "multi_thread")]
async fn repair_converges_in_place_and_a_failed_proof_reverts() {
    use tenant_localstack::stack::Principal;
    let t = helpers::spawn().await;
    for tenant in ["acme", "acme-labs"] {
        let done = t.onboard(tenant).await;
        assert_eq!(done.status, "SUCCEEDED", "{tenant}: {done:?}");
    }
    let c = &t.ops.ctx.clients;
    let s = &t.ops.ctx.settings;
    // Data the repair must keep: the secret's value and an object under the prefix.
    let secret = || async {
        c.secrets
            .get_secret_value()
            .secret_id("tenants/acme/app")
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap()
            .to_string()
    };
    let value_before = secret().await;
    c.s3.put_object()
        .bucket(&s.bucket)
        .key("tenants/acme/data.txt")
        .body(b"kept".to_vec().into())
        .send()
        .await
        .unwrap();
    // Drift, out of band: the policy widened to every tenant's objects, and a foreign policy.
    let widened = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{}/tenants/*", s.bucket)}]
    });
    for name in ["tenant-access", "extra"] {
        c.iam
            .put_role_policy()
            .role_name("tenant-acme")
            .policy_name(name)
            .policy_document(widened.to_string())
            .send()
            .await
            .unwrap();
    }
    assert!(!tenantctl::audit::audit(&t.ops).await.unwrap().is_empty());

    let lines = t.stack.env_lines_as(Principal::Operator).expect("operator roles");
    let env_file =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("repair-{}.env", std::process::id()));
    std::fs::write(
        &env_file,
        lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>(),
    )
    .unwrap();
    let run = |template: Option<&str>, args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"));
        cmd.arg("--env-file").arg(&env_file).args(args);
        match template {
            Some(text) => cmd.env("TENANT_POLICY_TEMPLATE", text),
            None => cmd.env_remove("TENANT_POLICY_TEMPLATE"),
        };
        cmd.output().unwrap()
    };

    let out = run(None, &["--json", "repair", "acme"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let repaired: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(repaired["outcome"], "converged", "{repaired:#}");
    assert_eq!(repaired["to_version"], s.template_version().as_str());
    let audit = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert!(audit.is_empty(), "{audit:#?}");
    assert_eq!(secret().await, value_before, "the secret's value is kept");
    let kept =
        c.s3.get_object()
            .bucket(&s.bucket)
            .key("tenants/acme/data.txt")
            .send()
            .await
            .unwrap();
    assert_eq!(kept.body.collect().await.unwrap().into_bytes().as_ref(), b"kept");
    let rec = tenant_steps::record::get(&t.ops.ctx, "acme").await.unwrap().unwrap();
    assert_eq!(rec.status, tenant_domain::Status::Active);
    let previous: Value = serde_json::from_str(rec.previous_documents.as_deref().unwrap()).unwrap();
    let previous_policy: Value = serde_json::from_str(previous["policy"].as_str().unwrap()).unwrap();
    assert!(
        rec.previous_by
            .as_deref()
            .is_some_and(|b| b.starts_with("repair-acme-")),
        "{rec:?}"
    );
    assert_eq!(
        previous_policy, widened,
        "the drifted policy was recorded before the change"
    );

    // A template that loses the tenant's own prefix: the proof fails and the role is put back.
    let before = tenant_steps::resources::role::documents(&t.ops.ctx, &helpers::tid("acme"))
        .await
        .unwrap();
    let out = run(Some(&without_own_objects()), &["--json", "repair", "acme"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let reverted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reverted["outcome"], "reverted", "{reverted:#}");
    assert_eq!(reverted["error"], "IsolationNotProven", "{reverted:#}");
    let after = tenant_steps::resources::role::documents(&t.ops.ctx, &helpers::tid("acme"))
        .await
        .unwrap();
    assert_eq!(after, before, "the previous documents are back");
    let rec = tenant_steps::record::get(&t.ops.ctx, "acme").await.unwrap().unwrap();
    assert_eq!(
        rec.template_version,
        Some(s.template_version()),
        "the record keeps its version"
    );
    let text = String::from_utf8(run(Some(&without_own_objects()), &["repair", "acme"]).stdout).unwrap();
    assert!(
        text.contains("reverted to its previous documents") && text.contains("tenantctl rollout plan"),
        "{text}"
    );
    let audit = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert!(audit.is_empty(), "{audit:#?}");
    let checks = tenantctl::isolation::check_isolation(&t.ops, &[helpers::tid("acme"), helpers::tid("acme-labs")])
        .await
        .unwrap();
    assert!(checks.iter().all(|c| c.holds()), "{checks:#?}");

    // A converge retried after a crash keeps the documents its first run recorded, so its
    // revert puts back what was there before it, not what it had already changed.
    let acme = helpers::tid("acme");
    c.iam
        .put_role_policy()
        .role_name("tenant-acme")
        .policy_name("tenant-access")
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();
    let first = tenant_steps::converge::converge(&t.ops.ctx, &acme, "rollout-test-1")
        .await
        .unwrap();
    let again = tenant_steps::converge::converge(&t.ops.ctx, &acme, "rollout-test-1")
        .await
        .unwrap();
    assert_eq!(again, first);
    let put_back = tenant_steps::converge::revert(&t.ops.ctx, &acme, "rollout-test-1")
        .await
        .unwrap();
    assert_eq!(put_back, Some(first));
    let policy = tenant_steps::resources::role::documents(&t.ops.ctx, &acme)
        .await
        .unwrap()
        .unwrap()
        .policy;
    assert_eq!(serde_json::from_str::<Value>(&policy.unwrap()).unwrap(), widened);
    // A converge that kept nothing changed nothing: its revert puts nothing back.
    let nothing = tenant_steps::converge::revert(&t.ops.ctx, &acme, "rollout-test-2")
        .await
        .unwrap();
    assert_eq!(nothing, None);
    let still = tenant_steps::resources::role::documents(&t.ops.ctx, &acme)
        .await
        .unwrap()
        .unwrap()
        .policy;
    assert_eq!(serde_json::from_str::<Value>(&still.unwrap()).unwrap(), widened);
    // Offboarded between its converge and its proof: the role is gone, and the revert has
    // nothing to put back (it does not fail, which would halt a rollout).
    tenant_steps::converge::converge(&t.ops.ctx, &acme, "rollout-test-3")
        .await
        .unwrap();
    tenant_steps::resources::role::strip_policies(&t.ops.ctx, "tenant-acme", None, false)
        .await
        .unwrap();
    c.iam.delete_role().role_name("tenant-acme").send().await.unwrap();
    let gone = tenant_steps::converge::revert(&t.ops.ctx, &acme, "rollout-test-3")
        .await
        .unwrap();
    assert_eq!(gone, None);

    let out = run(None, &["repair", "nobody"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    t.stack.stop().await;
}
