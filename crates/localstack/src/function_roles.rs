//! Every function runs under its own role, rendered from `template.yaml`.
//!
//! At start the local stack asks the extension to render each function's role policy
//! with the stack's names (`python -m tenant_moto.template`: same statements as SAM
//! deploys, intrinsic functions resolved), creates one IAM role per function with that
//! inline policy, assumes it once (as Lambda keeps credentials per execution environment)
//! and builds the function's SDK clients with those credentials. The emulator extension
//! then authorizes every call as IAM would. Which handler a function runs (TENANT_STEP, or
//! TENANT_SIGNUP_HANDLER for the signup binary) is read from the template too, so renamed
//! or added steps need no change here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use aws_config::SdkConfig;
use serde::Deserialize;
use serde_json::{Value, json};
use tenant_steps::{Clients, Context};

use crate::bootstrap::{Bootstrap, EVENT_BUS, ONBOARDING_STATE_MACHINE};
use crate::{ACCOUNT_ID, REGION};

/// IAM path of the local function roles.
pub const ROLE_PATH: &str = "/functions/";
/// Credentials last as long as the stack normally does; one AssumeRole per function.
const SESSION_SECONDS: i32 = 12 * 3600;

/// The repository's template.
pub fn default_template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

#[derive(Debug, Deserialize)]
struct Rendered {
    logical_id: String,
    handler: String,
    policy: Value,
}

/// A function's context (its role's clients) per handler name.
#[derive(Clone, Default)]
pub struct FunctionContexts(pub Arc<HashMap<String, Arc<Context>>>);

impl FunctionContexts {
    pub fn get(&self, handler: &str) -> Option<Arc<Context>> {
        self.0.get(handler).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the stack created, by CloudFormation resource type (one of each).
fn local_values(b: &Bootstrap) -> Value {
    let s = &b.settings;
    let arn = |service: &str, rest: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{rest}");
    json!({
        "AWS::DynamoDB::Table": { "Ref": s.table, "Arn": arn("dynamodb", &format!("table/{}", s.table)) },
        "AWS::S3::Bucket": { "Ref": s.bucket, "Arn": format!("arn:aws:s3:::{}", s.bucket) },
        "AWS::Cognito::UserPool": {
            "Ref": s.user_pool_id,
            "Arn": arn("cognito-idp", &format!("userpool/{}", s.user_pool_id)),
            "ProviderName": format!("cognito-idp.{REGION}.amazonaws.com/{}", s.user_pool_id),
        },
        "AWS::Cognito::UserPoolClient": { "Ref": s.user_pool_client_id },
        "AWS::Cognito::IdentityPool": { "Ref": s.identity_pool_id },
        "AWS::IAM::ManagedPolicy": { "Ref": s.boundary_arn },
        "AWS::Events::EventBus": {
            "Ref": EVENT_BUS, "Name": EVENT_BUS, "Arn": arn("events", &format!("event-bus/{EVENT_BUS}")),
        },
        // Both state machines are AWS::Serverless::StateMachine; the functions name only
        // the onboarding one (signup starts it), so that is the one given here.
        "AWS::Serverless::StateMachine": {
            "Ref": b.onboarding_state_machine_arn,
            "Arn": b.onboarding_state_machine_arn,
            "Name": ONBOARDING_STATE_MACHINE,
        },
    })
}

/// Renders the template's function roles with the extension (same Python as moto).
fn render(template: &Path, b: &Bootstrap) -> anyhow::Result<Vec<Rendered>> {
    let out = std::process::Command::new(crate::moto::python_path()?)
        .args(["-m", "tenant_moto.template", "--template"])
        .arg(template)
        .args([
            "--local",
            &local_values(b).to_string(),
            "--account",
            ACCOUNT_ID,
            "--region",
            REGION,
        ])
        .env("PYTHONPATH", crate::moto::extension_path())
        .output()
        .context("rendering the template's function roles")?;
    if !out.status.success() {
        bail!(
            "rendering {} failed: {}",
            template.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("reading the rendered function roles")
}

/// Creates each function's role and returns each function's context, by handler.
pub async fn create(
    admin: &Clients,
    config: &SdkConfig,
    bootstrap: &Bootstrap,
    template: &Path,
) -> anyhow::Result<FunctionContexts> {
    let rendered = render(template, bootstrap)?;
    if rendered.is_empty() {
        bail!("{} defines no functions", template.display());
    }
    let sts = aws_sdk_sts::Client::new(config);
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }]
    })
    .to_string();
    let mut out = HashMap::new();
    for f in rendered {
        if f.handler.is_empty() {
            continue;
        }
        // IAM role names are at most 64 characters.
        let role_name: String = format!("{}Role", f.logical_id).chars().take(64).collect();
        let role = admin
            .iam
            .create_role()
            .role_name(&role_name)
            .path(ROLE_PATH)
            .assume_role_policy_document(&trust)
            .max_session_duration(SESSION_SECONDS)
            .send()
            .await
            .with_context(|| format!("creating the role of {}", f.logical_id))?;
        let role_arn = role.role().map(|r| r.arn().to_string()).context("role has no ARN")?;
        admin
            .iam
            .put_role_policy()
            .role_name(&role_name)
            .policy_name("function")
            .policy_document(f.policy.to_string())
            .send()
            .await
            .with_context(|| format!("putting the policy of {}", f.logical_id))?;
        let assumed = sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(&f.logical_id)
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .with_context(|| format!("assuming the role of {}", f.logical_id))?;
        let c = assumed.credentials().context("AssumeRole returned no credentials")?;
        let credentials = aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "local-function-role",
        );
        let function_config = config
            .to_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                credentials,
            ))
            .build();
        let ctx = Context {
            settings: bootstrap.settings.clone(),
            clients: Clients::new(&function_config),
        };
        out.insert(f.handler, Arc::new(ctx));
    }
    Ok(FunctionContexts(Arc::new(out)))
}
