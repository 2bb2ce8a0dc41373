use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::ByteStream;
use tenant_domain::{Status, TenantNames};
use tenant_localstack::lambda_endpoint::FaultMode;
use tenant_steps::{Step, record};
use tenantctl::onboard;

use crate::helpers::{spawn, tid};

/// A role with the tenant's name that grants more than the tenant policy (left by hand or
/// by an older version) is reduced to exactly the tenant policy; one that onboarding did
/// not create is refused and left alone.
#[tokio::test(flavor = "multi_thread")]
async fn an_existing_role_is_converged_to_exactly_the_tenant_policy() {
    let t = spawn().await;
    let iam = &t.ops.ctx.clients.iam;
    let s = &t.ops.ctx.settings;
    let trust = tenant_domain::policy::trust_policy(&s.identity_pool_id).to_string();
    let wide = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::tenant-data/tenants/*"}]}"#;
    let tag = aws_sdk_iam::types::Tag::builder()
        .key("tenant")
        .value("umbrella")
        .build()
        .unwrap();
    iam.create_role()
        .role_name("tenant-umbrella")
        .path("/tenants/")
        .assume_role_policy_document(&trust)
        .tags(tag)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("tenant-umbrella")
        .policy_name("leftover")
        .policy_document(wide)
        .send()
        .await
        .unwrap();
    let managed = iam
        .create_policy()
        .policy_name("too-wide")
        .policy_document(wide)
        .send()
        .await
        .unwrap();
    let managed_arn = managed.policy().unwrap().arn().unwrap().to_string();
    iam.attach_role_policy()
        .role_name("tenant-umbrella")
        .policy_arn(&managed_arn)
        .send()
        .await
        .unwrap();

    let done = t.onboard("umbrella").await;
    assert_eq!(done.status, "SUCCEEDED", "{done:?}");
    let inline = iam
        .list_role_policies()
        .role_name("tenant-umbrella")
        .send()
        .await
        .unwrap();
    assert_eq!(inline.policy_names(), ["tenant-access"]);
    let attached = iam
        .list_attached_role_policies()
        .role_name("tenant-umbrella")
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty());
    let role = iam.get_role().role_name("tenant-umbrella").send().await.unwrap();
    assert_eq!(
        role.role()
            .unwrap()
            .permissions_boundary()
            .unwrap()
            .permissions_boundary_arn(),
        Some(s.boundary_arn.as_str())
    );

    // Not ours (no tenant tag): refused, and the rollback does not delete it.
    iam.create_role()
        .role_name("tenant-wayne")
        .path("/tenants/")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    let done = t.onboard("wayne").await;
    assert_eq!(done.status, "FAILED");
    let rec = record::get(&t.ops.ctx, "wayne").await.unwrap().unwrap();
    assert_eq!(rec.status, Status::RollbackFailed, "{rec:?}");
    assert_eq!(rec.error_name.as_deref(), Some("ResourceConflict"));
    assert_eq!(
        rec.remaining,
        ["role"],
        "only the foreign role remains, and it is named"
    );
    assert!(iam.get_role().role_name("tenant-wayne").send().await.is_ok());
    t.stack.stop().await;
}

/// A record left PROVISIONING by an execution that no longer runs is taken over by
/// offboarding, which removes everything.
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_can_clear_a_tenant_whose_execution_died() {
    let t = spawn().await;
    assert_eq!(t.onboard("stark").await.status, "SUCCEEDED");
    // As if attempt 2 had died mid-way without rolling back: its execution exists and
    // has ended, but the record still says PROVISIONING.
    let ghost = serde_json::json!({"tenant_id": "NOT-VALID", "company_name": null, "admin_email": null, "attempt": 2});
    let ghost = t
        .ops
        .ctx
        .clients
        .sfn
        .start_execution()
        .state_machine_arn(&t.ops.onboarding_arn)
        .name("stark-2")
        .input(ghost.to_string())
        .send()
        .await
        .unwrap();
    onboard::wait(&t.ops, ghost.execution_arn(), Duration::from_secs(30))
        .await
        .unwrap();
    t.ops
        .ctx
        .clients
        .ddb
        .update_item()
        .table_name(&t.ops.ctx.settings.table)
        .key("tenant_id", AttributeValue::S("stark".into()))
        .update_expression("SET #s = :p, execution = :e, attempt = :a")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":p", AttributeValue::S("PROVISIONING".into()))
        .expression_attribute_values(":e", AttributeValue::S("stark-2".into()))
        .expression_attribute_values(":a", AttributeValue::N("2".into()))
        .send()
        .await
        .unwrap();
    let err = onboard::retry(&t.ops, &tid("stark")).await.unwrap_err().to_string();
    assert!(err.contains("tenantctl offboard stark"), "{err}");
    let off = t.offboard("stark", false).await;
    assert_eq!(off.status, "SUCCEEDED", "{off:?}");
    let res = tenantctl::status::inspect(&t.ops, &tid("stark")).await.unwrap();
    assert!(res.present().is_empty(), "{:?}", res.present());
    assert_eq!(
        record::get(&t.ops.ctx, "stark").await.unwrap().unwrap().status,
        Status::Offboarded
    );
    t.stack.stop().await;
}

/// Offboarded with its objects kept, re-onboarded, and that attempt fails: the rollback
/// removes what the attempt made but not the tenant's older data.
#[tokio::test(flavor = "multi_thread")]
async fn rolling_back_a_re_onboarding_keeps_the_tenants_older_data() {
    let t = spawn().await;
    let c = &t.ops.ctx.clients;
    let s = &t.ops.ctx.settings;
    let names = TenantNames::new(&tid("wonka"));
    assert_eq!(t.onboard("wonka").await.status, "SUCCEEDED");
    let original = c
        .secrets
        .get_secret_value()
        .secret_id(&names.secret_name)
        .send()
        .await
        .unwrap();
    let report = format!("{}reports/2026.csv", names.prefix);
    c.s3.put_object()
        .bucket(&s.bucket)
        .key(&report)
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    assert_eq!(t.offboard("wonka", true).await.status, "SUCCEEDED");

    t.stack
        .faults
        .set("wonka", Step::RebuildRoleMappings, FaultMode::FailAlways);
    let again = t.retry("wonka").await;
    assert_eq!(again.status, "FAILED");
    assert!(
        c.s3.head_object().bucket(&s.bucket).key(&report).send().await.is_ok(),
        "kept objects survive the rollback"
    );
    let secret = c
        .secrets
        .describe_secret()
        .secret_id(&names.secret_name)
        .send()
        .await
        .unwrap();
    assert!(
        secret.deleted_date().is_some(),
        "the secret is back in its recovery window, not destroyed"
    );

    t.stack.faults.clear();
    assert_eq!(t.retry("wonka").await.status, "SUCCEEDED");
    let restored = c
        .secrets
        .get_secret_value()
        .secret_id(&names.secret_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        restored.secret_string(),
        original.secret_string(),
        "the tenant's own secret came back"
    );
    t.stack.stop().await;
}

/// Offboarding cuts the tenant's users off: no new credentials (the mapping rule is gone)
/// and the credentials they hold no longer reach the data (the role is gone). With
/// --keep-prefix the objects stay and nothing else does.
#[tokio::test(flavor = "multi_thread")]
async fn offboarding_cuts_users_off_and_keeps_only_what_the_flags_keep() {
    let t = spawn().await;
    assert_eq!(t.onboard("tyrell").await.status, "SUCCEEDED");
    let names = TenantNames::new(&tid("tyrell"));
    let user = tenantctl::isolation::sign_in(&t.ops, &tid("tyrell")).await.unwrap();
    let bucket = &t.ops.ctx.settings.bucket;
    user.session
        .s3
        .get_object()
        .bucket(bucket)
        .key(&names.marker_key)
        .send()
        .await
        .expect("reads its own prefix while active");

    assert_eq!(t.offboard("tyrell", true).await.status, "SUCCEEDED");

    // Refused as credentials, not failing for another reason (a missing key, the network).
    let refused = [
        "AccessDenied",
        "AccessDeniedException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
    ];
    let held = user
        .session
        .s3
        .get_object()
        .bucket(bucket)
        .key(&names.marker_key)
        .send()
        .await;
    let code = held
        .expect_err("credentials of a deleted role must not reach the data")
        .code()
        .map(str::to_string);
    assert!(
        refused.contains(&code.as_deref().unwrap_or("")),
        "object read failed with {code:?}"
    );
    let held = user
        .session
        .secrets
        .get_secret_value()
        .secret_id(&names.secret_name)
        .send()
        .await;
    let code = held.expect_err("nor the secret").code().map(str::to_string);
    assert!(
        refused.contains(&code.as_deref().unwrap_or("")),
        "secret read failed with {code:?}"
    );
    let res = tenantctl::status::inspect(&t.ops, &tid("tyrell")).await.unwrap();
    assert_eq!(res.present(), ["prefix objects"], "only the kept prefix remains");
    let secret = t
        .ops
        .ctx
        .clients
        .secrets
        .describe_secret()
        .secret_id(&names.secret_name)
        .send()
        .await
        .unwrap();
    assert!(
        secret.deleted_date().is_some(),
        "the secret waits out its recovery window"
    );
    // No new sign-in reaches a tenant role: the tenant's group is gone.
    let Err(err) = tenantctl::isolation::sign_in(&t.ops, &tid("tyrell")).await else {
        panic!("no new sign-in reaches a tenant role");
    };
    match err.downcast_ref::<tenant_steps::StepError>() {
        Some(tenant_steps::StepError::AwsRequestFailed { operation, code, .. }) => {
            assert_eq!(
                (*operation, code.as_str()),
                ("AdminAddUserToGroup", "ResourceNotFoundException")
            );
        }
        other => panic!("sign-in failed otherwise: {other:?} ({err:#})"),
    }
    t.stack.stop().await;
}

/// Two concurrent starts of the same tenant give one execution.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_starts_of_one_tenant_give_one_execution() {
    let t = spawn().await;
    let tenant = tid("cyberdyne");
    let (a, b) = tokio::join!(
        onboard::start(&t.ops, &tenant, None, None),
        onboard::start(&t.ops, &tenant, None, None)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.execution_arn, b.execution_arn);
    // (StartExecution with the same name and input is idempotent, as in AWS.)
    assert_eq!(
        onboard::wait(&t.ops, &a.execution_arn, Duration::from_secs(60))
            .await
            .unwrap()
            .status,
        "SUCCEEDED"
    );
    let executions = t
        .ops
        .ctx
        .clients
        .sfn
        .list_executions()
        .state_machine_arn(&t.ops.onboarding_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);
    t.stack.stop().await;
}
