//! Commands degrade per resource, through the real `tenantctl` binary: with the tenants'
//! bucket deleted out of band, an onboarding fails at CreatePrefix and rolls back cleanly
//! (FAILED, not ROLLBACK_FAILED, nothing left), and `status`, `audit` and `offboard` of
//! that tenant still work; a role deleted out of band on an ACTIVE tenant makes `status`
//! warn and exit 1, and `audit` report it Missing.
//!
//! Part of the `tenantctl` package's tests (see its Cargo.toml) to run the real binary.

#[path = "helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::process::Output;

use tenant_domain::Status;
use tenant_steps::record;
use tenant_steps::resources::Resource;
use tenantctl::audit::{self, Kind};

fn tenantctl(env_file: &std::path::Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenantctl"))
        .arg("--env-file")
        .arg(env_file)
        .args(args)
        .output()
        .expect("tenantctl runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_fails_cleanly_and_status_audit_offboard_still_work() {
    let t = helpers::spawn().await;
    let c = &t.ops.ctx.clients;
    let bucket = t.ops.ctx.settings.bucket.clone();
    let listed = c.s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    for o in listed.contents() {
        c.s3.delete_object()
            .bucket(&bucket)
            .key(o.key().unwrap())
            .send()
            .await
            .unwrap();
    }
    c.s3.delete_bucket().bucket(&bucket).send().await.unwrap();

    let done = t.onboard("umbrella").await;
    assert_eq!(done.status, "FAILED", "{done:?}");
    let rec = record::get(&t.ops.ctx, "umbrella").await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Failed, "{rec:?}");
    assert_eq!(rec.failed_step.as_deref(), Some("CreatePrefix"), "{rec:?}");
    let res = tenantctl::status::inspect(&t.ops, &helpers::tid("umbrella"))
        .await
        .unwrap();
    assert!(res.present().is_empty(), "left {:?}", res.present());
    assert!(res.unavailable().is_empty(), "{:?}", res.unavailable());

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let env_file = t.write_env_file(&dir, "degrade-bucket");
    // FAILED: exit 1, with the prefix shown absent for what it is.
    let out = tenantctl(&env_file, &["status", "umbrella"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("no bucket {bucket}")), "{}", text(&out));
    // The missing bucket is a finding (exit 1), not a failed audit (exit 4).
    let out = tenantctl(&env_file, &["audit", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let findings = audit::audit(&t.ops).await.unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.kind == Kind::Missing && f.resource == format!("bucket {bucket}")),
        "{findings:#?}"
    );
    // Offboarding finds nothing to delete at any level: it succeeds.
    let out = tenantctl(&env_file, &["offboard", "umbrella", "--delete-data"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let rec = record::get(&t.ops.ctx, "umbrella").await.unwrap().unwrap();
    assert_eq!(rec.status, Status::Offboarded, "{rec:?}");
    let _ = std::fs::remove_file(&env_file);
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_deleted_out_of_band_makes_status_warn_and_audit_report_it_missing() {
    let t = helpers::spawn().await;
    let done = t.onboard("wayne").await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let iam = &t.ops.ctx.clients.iam;
    iam.delete_role_policy()
        .role_name("tenant-wayne")
        .policy_name(tenant_domain::names::INLINE_POLICY_NAME)
        .send()
        .await
        .unwrap();
    iam.delete_role().role_name("tenant-wayne").send().await.unwrap();

    let res = tenantctl::status::inspect(&t.ops, &helpers::tid("wayne"))
        .await
        .unwrap();
    assert_eq!(res.missing(), [Resource::Role]);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let env_file = t.write_env_file(&dir, "degrade-role");
    let out = tenantctl(&env_file, &["status", "wayne"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("warning: the tenant is ACTIVE but its role is missing"),
        "{}",
        text(&out)
    );
    let findings = audit::audit(&t.ops).await.unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.tenant == "wayne" && f.kind == Kind::Missing && f.resource == "role tenant-wayne"),
        "{findings:#?}"
    );
    let _ = std::fs::remove_file(&env_file);
    t.stack.stop().await;
}

/// What of tenant `id` exists, read with the emulator's admin key: a container that is
/// gone holds nothing.
async fn residue(t: &helpers::TestStack, id: &str) -> Vec<String> {
    let c = &t.ops.ctx.clients;
    let s = &t.ops.ctx.settings;
    let names = tenant_domain::TenantNames::new(&helpers::tid(id));
    let mut left = vec![];
    if c.iam.get_role().role_name(&names.role_name).send().await.is_ok() {
        left.push("role".to_string());
    }
    if let Ok(secret) = c.secrets.describe_secret().secret_id(&names.secret_name).send().await
        && secret.deleted_date().is_none()
    {
        left.push("secret".to_string());
    }
    if let Ok(listed) =
        c.s3.list_objects_v2()
            .bucket(&s.bucket)
            .prefix(&names.prefix)
            .send()
            .await
        && listed.key_count().unwrap_or(0) > 0
    {
        left.push("objects".to_string());
    }
    if c.idp
        .get_group()
        .user_pool_id(&s.user_pool_id)
        .group_name(&names.group)
        .send()
        .await
        .is_ok()
    {
        left.push("group".to_string());
    }
    left
}

/// The deployment's own pieces each missing (the table, the onboarding state machine, the
/// user pool, the identity pool): `tenantctl onboard` ends with the README's exit code for
/// what happened, says which resource is missing, and leaves nothing of the tenant behind;
/// `status` then shows a state with its way out (exit 4 naming the table; STUCK with
/// `retry`; FAILED with `retry` and the gone container absent, not unreadable).
#[tokio::test(flavor = "multi_thread")]
async fn each_missing_deployment_piece_fails_onboarding_cleanly_with_its_exit_code() {
    // (fault, exit code, words the output must hold)
    let cases: [(&str, i32, &str); 4] = [
        ("table", 4, "tenants"),
        ("state machine", 4, "tenant-onboarding"),
        ("user pool", 1, "CreateGroup"),
        ("identity pool", 1, "FAILED"),
    ];
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let mut seen = vec![];
    for (fault, want_exit, words) in cases {
        let t = helpers::spawn().await;
        let c = &t.ops.ctx.clients;
        let s = &t.ops.ctx.settings;
        match fault {
            "table" => {
                c.ddb.delete_table().table_name(&s.table).send().await.unwrap();
            }
            "state machine" => {
                c.sfn
                    .delete_state_machine()
                    .state_machine_arn(&t.ops.onboarding_arn)
                    .send()
                    .await
                    .unwrap();
            }
            "user pool" => {
                c.idp
                    .delete_user_pool()
                    .user_pool_id(&s.user_pool_id)
                    .send()
                    .await
                    .unwrap();
            }
            _ => {
                c.identity
                    .delete_identity_pool()
                    .identity_pool_id(&s.identity_pool_id)
                    .send()
                    .await
                    .unwrap();
            }
        }
        let env_file = t.write_env_file(&dir, &format!("deployment-{}", fault.replace(' ', "-")));
        let out = tenantctl(&env_file, &["onboard", "acme", "--timeout", "120"]);
        let said = text(&out);
        seen.push((fault, out.status.code(), said.clone()));
        assert!(!said.contains("panicked"), "{fault}: {said}");
        assert_eq!(out.status.code(), Some(want_exit), "{fault}: {said}");
        assert!(said.contains(words), "{fault}: {said}");
        if want_exit == 4 {
            // Named as missing, not sent to check the credentials.
            assert!(
                said.contains("does not exist") && !said.contains("credentials"),
                "{fault}: {said}"
            );
        }
        assert_eq!(residue(&t, "acme").await, Vec::<String>::new(), "{fault}: {said}");
        // What the operator meets next: `status` says what state the tenant is in.
        let status = tenantctl(&env_file, &["status", "acme"]);
        let shown = text(&status);
        match fault {
            // Nothing was claimed: the table names itself again.
            "table" => {
                assert_eq!(status.status.code(), Some(4), "{shown}");
                assert!(shown.contains("table tenants"), "{shown}");
                // A script reading --json gets the same advice as a person.
                let out = tenantctl(&env_file, &["--json", "status", "acme"]);
                assert_eq!(out.status.code(), Some(4));
                let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let next = err["error"]["next"].as_str().unwrap_or_default();
                assert!(next.contains("does not exist"), "{err}");
            }
            // Claimed, never started: STUCK, with the command that moves it on.
            "state machine" => {
                assert_eq!(status.status.code(), Some(1), "{shown}");
                assert!(
                    shown.contains("STUCK") && shown.contains("tenantctl retry acme"),
                    "{shown}"
                );
            }
            // FAILED with nothing left; a container that is gone is absent, not unreadable.
            _ => {
                assert_eq!(status.status.code(), Some(1), "{shown}");
                assert!(
                    shown.contains("FAILED") && shown.contains("tenantctl retry acme"),
                    "{shown}"
                );
                assert!(!shown.contains("unavailable") && !shown.contains("warning"), "{shown}");
            }
        }
        seen.push((fault, status.status.code(), shown));
        let _ = std::fs::remove_file(&env_file);
        t.stack.stop().await;
    }
    println!("{seen:#?}");
}

/// An ACTIVE tenant with data whose role, group and secret were all deleted out of band:
/// `status` warns (exit 1) naming each; the path the product names — `offboard
/// --keep-prefix`, then `retry` — succeeds at each step (exit 0) and the tenant's objects
/// survive it: no command loses a tenant object.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_stripped_out_of_band_is_rebuilt_keeping_its_objects() {
    let t = helpers::spawn().await;
    let done = t.onboard("wayne").await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let c = &t.ops.ctx.clients;
    let s = &t.ops.ctx.settings;
    let data_key = "tenants/wayne/customers.csv";
    c.s3.put_object()
        .bucket(&s.bucket)
        .key(data_key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"id,name\n1,Bruce\n"))
        .send()
        .await
        .unwrap();
    c.iam
        .delete_role_policy()
        .role_name("tenant-wayne")
        .policy_name(tenant_domain::names::INLINE_POLICY_NAME)
        .send()
        .await
        .unwrap();
    c.iam.delete_role().role_name("tenant-wayne").send().await.unwrap();
    for user in tenant_steps::users::group_members(&t.ops.ctx, "tenant:wayne:members")
        .await
        .unwrap()
        .unwrap()
    {
        c.idp
            .admin_remove_user_from_group()
            .user_pool_id(&s.user_pool_id)
            .username(&user)
            .group_name("tenant:wayne:members")
            .send()
            .await
            .unwrap();
    }
    c.idp
        .delete_group()
        .user_pool_id(&s.user_pool_id)
        .group_name("tenant:wayne:members")
        .send()
        .await
        .unwrap();
    c.secrets
        .delete_secret()
        .secret_id("tenants/wayne/app")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let env_file = t.write_env_file(&dir, "degrade-stripped");
    let out = tenantctl(&env_file, &["status", "wayne"]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    for what in ["role", "group", "secret"] {
        assert!(
            shown.contains(&format!("warning: the tenant is ACTIVE but its {what} is missing")),
            "{what}: {shown}"
        );
    }
    let object = || async {
        c.s3.get_object()
            .bucket(&s.bucket)
            .key(data_key)
            .send()
            .await
            .map(|_| ())
    };
    let out = tenantctl(&env_file, &["offboard", "wayne", "--keep-prefix"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        record::get(&t.ops.ctx, "wayne").await.unwrap().unwrap().status,
        Status::Offboarded
    );
    assert!(object().await.is_ok(), "offboard --keep-prefix kept the objects");
    let out = tenantctl(&env_file, &["retry", "wayne"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        record::get(&t.ops.ctx, "wayne").await.unwrap().unwrap().status,
        Status::Active
    );
    assert!(object().await.is_ok(), "the retry kept the objects");
    let out = tenantctl(&env_file, &["status", "wayne"]);
    assert_eq!(out.status.code(), Some(0), "rebuilt whole: {}", text(&out));
    let _ = std::fs::remove_file(&env_file);
    t.stack.stop().await;
}
