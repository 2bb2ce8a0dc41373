use std::time::Duration;

use tenant_domain::Status;
use tenant_localstack::lambda_endpoint::FaultMode;
use tenant_steps::{Step, record};
use tenantctl::onboard;

use crate::helpers::{TestStack, spawn, tid};

/// The state-machine name of a forward step (as recorded in `failed_step`).
fn state_name(step: Step) -> &'static str {
    step.substitution().trim_end_matches("FunctionArn")
}

async fn assert_no_residue(t: &TestStack, tenant: &str) {
    let res = tenantctl::status::inspect(&t.ops, &tid(tenant)).await.unwrap();
    assert!(res.present().is_empty(), "{tenant} left {:?}", res.present());
}

/// Every forward step × {fail once → ACTIVE; fail always → FAILED, nothing left;
/// crash → FAILED, nothing left}. All 21 onboardings run at once on one stack, each
/// tenant with its own fault.
#[tokio::test(flavor = "multi_thread")]
async fn fault_matrix_every_step_fails_once_always_and_crashes() {
    let t = spawn().await;
    let modes = [
        ("once", FaultMode::FailOnce),
        ("always", FaultMode::FailAlways),
        ("crash", FaultMode::Crash),
    ];
    let mut cases = vec![];
    for (i, step) in Step::forward().into_iter().enumerate() {
        for (label, mode) in modes {
            let tenant = format!("m{i}-{label}");
            t.stack.faults.set(&tenant, step, mode);
            cases.push((tenant, step, mode));
        }
    }
    let mut runs = tokio::task::JoinSet::new();
    for (tenant, _, _) in &cases {
        let ops = t.ops.clone();
        let tenant = tenant.clone();
        runs.spawn(async move {
            let started = onboard::start(&ops, &tid(&tenant), None, None).await.unwrap();
            onboard::wait(&ops, &started.execution_arn, Duration::from_secs(240))
                .await
                .unwrap()
        });
    }
    while let Some(done) = runs.join_next().await {
        done.unwrap();
    }
    for (tenant, step, mode) in &cases {
        let rec = record::get(&t.ops.ctx, tenant).await.unwrap().expect("record");
        if *mode == FaultMode::FailOnce {
            assert_eq!(rec.status, Status::Active, "{tenant}: {rec:?}");
            continue;
        }
        assert_eq!(rec.status, Status::Failed, "{tenant}: {rec:?}");
        assert_eq!(rec.failed_step.as_deref(), Some(state_name(*step)), "{tenant}: {rec:?}");
        let expected_error = if *mode == FaultMode::Crash {
            "Runtime.ExitError"
        } else {
            "FaultInjected"
        };
        assert_eq!(rec.error_name.as_deref(), Some(expected_error), "{tenant}");
        assert!(
            rec.error_message.as_deref().unwrap_or("").contains(step.name()),
            "{tenant}: {rec:?}"
        );
        assert!(!rec.mapped, "{tenant}");
        assert_no_residue(&t, tenant).await;
    }
    // Account-wide: nothing exists that belongs to no tenant or to a FAILED one.
    let findings = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert!(findings.is_empty(), "{findings:#?}");
    // And exactly the ACTIVE tenants have roles, groups, secrets and mapping rules.
    let c = &t.ops.ctx.clients;
    let s = &t.ops.ctx.settings;
    let active: std::collections::BTreeSet<String> = cases
        .iter()
        .filter(|c| c.2 == FaultMode::FailOnce)
        .map(|c| c.0.clone())
        .collect();
    let roles = c.iam.list_roles().path_prefix("/tenants/").send().await.unwrap();
    let roles: std::collections::BTreeSet<String> = roles
        .roles()
        .iter()
        .map(|r| r.role_name().trim_start_matches("tenant-").to_string())
        .collect();
    assert_eq!(roles, active);
    let groups = c
        .idp
        .list_groups()
        .user_pool_id(&s.user_pool_id)
        .limit(60)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.groups().len(), active.len());
    let secrets = c.secrets.list_secrets().send().await.unwrap();
    assert_eq!(secrets.secret_list().len(), active.len());
    let rules = tenant_steps::mapping::mapped_rules(&t.ops.ctx).await.unwrap().len();
    assert_eq!(rules, active.len());
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_rollback_is_recorded_with_what_remains_then_offboard_and_retry_recover() {
    let t = spawn().await;
    t.stack.faults.set("initech", Step::RecordActive, FaultMode::FailAlways);
    t.stack.faults.set("initech", Step::DeleteRole, FaultMode::FailAlways);
    let done = t.onboard("initech").await;
    assert_eq!(done.status, "FAILED");
    assert_eq!(done.error.as_deref(), Some("RollbackFailed"));
    let rec = record::get(&t.ops.ctx, "initech").await.unwrap().unwrap();
    assert_eq!(rec.status, Status::RollbackFailed);
    assert_eq!(rec.failed_step.as_deref(), Some("RecordActive"));
    // The teardown carried on past the failed step: only the role is left, and named.
    assert_eq!(rec.remaining, ["role", "role policy"]);
    let res = tenantctl::status::inspect(&t.ops, &tid("initech")).await.unwrap();
    assert_eq!(res.present(), ["role", "role policy"]);
    assert!(
        onboard::retry(&t.ops, &tid("initech"))
            .await
            .unwrap_err()
            .to_string()
            .contains("offboard")
    );
    let findings = tenantctl::audit::audit(&t.ops).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        findings[0].resource.starts_with("role ") && findings[0].detail.contains("failed rollback"),
        "{findings:#?}"
    );

    // Once the cause is gone, offboarding removes the rest and a retry succeeds.
    t.stack.faults.clear();
    let off = t.offboard("initech", false).await;
    assert_eq!(off.status, "SUCCEEDED", "{off:?}");
    assert_no_residue(&t, "initech").await;
    let again = onboard::retry(&t.ops, &tid("initech")).await.unwrap();
    assert_eq!(again.attempt, 2);
    assert_eq!(again.execution_name, "initech-2");
    let again = onboard::wait(&t.ops, &again.execution_arn, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(again.status, "SUCCEEDED", "{again:?}");
    t.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_a_cleared_fault_is_active_and_the_stale_attempt_cannot_write() {
    let t = spawn().await;
    t.stack.faults.set("hooli", Step::CreateSecret, FaultMode::Timeout);
    let done = t.onboard("hooli").await;
    assert_eq!(done.status, "FAILED");
    assert_eq!(done.error.as_deref(), Some("Sandbox.Timedout"));
    assert_no_residue(&t, "hooli").await;
    t.stack.faults.clear();
    let finished = t.retry("hooli").await;
    assert_eq!(finished.status, "SUCCEEDED", "{finished:?}");
    let rec = record::get(&t.ops.ctx, "hooli").await.unwrap().unwrap();
    assert_eq!(
        (rec.status, rec.attempt, rec.execution.as_str()),
        (Status::Active, 2, "hooli-2")
    );

    // A late step of the first attempt is refused and changes nothing.
    let stale = serde_json::json!({"tenant_id": "hooli", "attempt": 1, "execution": "hooli-1",
        "failed_step": "CreateSecret", "failure": {"Error": "X", "Cause": "late"}});
    for step in [
        Step::RecordRollingBack,
        Step::RecordFailed,
        Step::RecordProvisioning,
        Step::RemoveRoleMapping,
    ] {
        let err = tenant_steps::dispatch::run(&t.ops.ctx, step, stale.clone())
            .await
            .unwrap_err();
        assert_eq!(err.name(), "StaleExecution", "{}", step.name());
    }
    let rec = record::get(&t.ops.ctx, "hooli").await.unwrap().unwrap();
    assert_eq!((rec.status, rec.execution.as_str()), (Status::Active, "hooli-2"));
    assert!(rec.mapped);
    t.stack.stop().await;
}
