//! `tenantctl local deploy --tenant-template PATH` on a running local stack, through the
//! real binary: an invalid template is refused (exit 2) naming the statement and changes
//! nothing; a valid one reaches the running functions in place (a new onboarding renders
//! it) while the tenant onboarded before stays, is behind, and `repair` converges it.

use serde_json::Value;

// Each test binary uses a part of the shared helpers.
#[allow(dead_code)]
mod local;
use local::{Down, json, ok, tenantctl};
use tenant_domain::template::TenantTemplate;

const CONNECTOR: &str = include_str!("../../domain/templates/examples/connector.json");

fn ids(page: &Value) -> Vec<&str> {
    page["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant_id"].as_str().unwrap())
        .collect()
}

#[test]
fn deploy_changes_the_running_stacks_template_in_place() {
    let root = std::env::temp_dir().join(format!("tenantctl-deploy-{}", std::process::id()));
    let dir = root.as_path();
    ok(dir, &["local", "up", "--iam-wait-seconds", "0"]);
    let _down = Down(root.clone());
    ok(dir, &["--local", "onboard", "acme"]);
    let old = json(dir, &["--local", "--json", "rollout", "plan"])["current_version"]
        .as_str()
        .unwrap()
        .to_string();

    // Refused before the stack is asked: exit 2, the statement named, nothing changed.
    let mut broken: Value = serde_json::from_str(CONNECTOR).unwrap();
    broken["Statement"][3]["Resource"] =
        "arn:{partition}:secretsmanager:{region}:{account}:secret:tenants/{tenant}*".into();
    let broken_path = root.join("broken.json");
    std::fs::write(&broken_path, broken.to_string()).unwrap();
    let out = tenantctl(
        dir,
        &["local", "deploy", "--tenant-template", broken_path.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("statement ConnectorSecrets") && stderr.contains("the running stack was not changed"),
        "{stderr}"
    );
    assert_eq!(
        json(dir, &["--local", "--json", "rollout", "plan"])["current_version"],
        old.as_str()
    );

    let path = root.join("connector.json");
    std::fs::write(&path, CONNECTOR).unwrap();
    let new = TenantTemplate::parse(CONNECTOR)
        .unwrap()
        .version(tenant_domain::MappingType::Rules);
    let said = ok(dir, &["local", "deploy", "--tenant-template", path.to_str().unwrap()]);
    assert!(said.contains(&new), "{said}");

    // The tenant from before stays, behind; a new onboarding renders the new template.
    let plan = json(dir, &["--local", "--json", "rollout", "plan"]);
    assert_eq!(plan["current_version"], new.as_str());
    assert_eq!(ids(&plan), ["acme"]);
    ok(dir, &["--local", "onboard", "globex"]);
    assert_eq!(
        ids(&json(dir, &["--local", "--json", "list", "--template-version", &new])),
        ["globex"]
    );
    assert_eq!(ids(&json(dir, &["--local", "--json", "list", "--behind"])), ["acme"]);
    let status = json(dir, &["--local", "--json", "status", "acme"]);
    assert_eq!(status["record"]["template_version"], old.as_str());
    assert_eq!(status["record"]["status"], "ACTIVE");

    // repair converges the one behind; then nobody is.
    let repaired = json(dir, &["--local", "--json", "repair", "acme"]);
    assert_eq!(repaired["outcome"], "converged", "{repaired:#}");
    let plan = json(dir, &["--local", "--json", "rollout", "plan"]);
    assert_eq!(ids(&plan), Vec::<&str>::new());
    assert_eq!(plan["up_to_date"], 2);
    // Both roles match the deployed template (audit reads it from the env file).
    let audit = ok(dir, &["--local", "audit"]);
    assert!(audit.starts_with("clean"), "{audit}");
}
