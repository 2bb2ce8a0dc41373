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
    t.stack.stop().await;
}
