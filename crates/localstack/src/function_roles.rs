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
//!
//! The operators' managed policies are rendered the same way: one role each, assumed once,
//! so `tenantctl` can run as an operator rather than as the emulator's admin.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context as _, bail};
use aws_config::SdkConfig;
use serde::Deserialize;
use serde_json::{Value, json};
use tenant_domain::template::{TemplateError, TenantTemplate};
use tenant_steps::{Clients, Context};

use crate::bootstrap::{
    Bootstrap, EVENT_BUS, OFFBOARDING_STATE_MACHINE, ONBOARDING_STATE_MACHINE, ROLLOUT_STATE_MACHINE,
};
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
struct RenderedFunction {
    logical_id: String,
    handler: String,
    policy: Value,
}

#[derive(Debug, Deserialize)]
struct Rendered {
    functions: Vec<RenderedFunction>,
    managed_policies: HashMap<String, Value>,
}

/// The template's managed policies for operators (its `OperatorPolicyArn` and
/// `OperatorReadOnlyPolicyArn` outputs): every `tenantctl` command, and the reads only.
pub const OPERATOR_POLICY: &str = "OperatorPolicy";
pub const OPERATOR_READ_ONLY_POLICY: &str = "OperatorReadOnlyPolicy";
/// IAM path of the local operator roles.
pub const OPERATOR_ROLE_PATH: &str = "/operators/";

/// Temporary credentials of an assumed role.
#[derive(Clone, Debug)]
pub struct RoleCredentials {
    pub role_arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

/// Credentials of the two operator roles.
#[derive(Clone, Debug)]
pub struct Operators {
    pub full: RoleCredentials,
    pub read_only: RoleCredentials,
}

/// A function's context (its role's clients) per handler name.
#[derive(Clone, Default)]
///
/// Behind a lock so that `tenantctl local deploy` can change the deployment's tenant
/// template in place, as a stack update changes the functions' environment: each
/// invocation takes the context as it is when it starts.
pub struct FunctionContexts(pub Arc<RwLock<HashMap<String, Arc<Context>>>>);

impl FunctionContexts {
    pub fn new(contexts: HashMap<String, Arc<Context>>) -> Self {
        FunctionContexts(Arc::new(RwLock::new(contexts)))
    }

    pub fn get(&self, handler: &str) -> Option<Arc<Context>> {
        self.0.read().ok()?.get(handler).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.0.read().map_or(true, |m| m.is_empty())
    }

    /// Gives every function the tenant template `template`, once it is checked against
    /// each function's deployment (all or none); the new template version.
    pub fn set_template(&self, template: &TenantTemplate) -> Result<String, TemplateError> {
        let mut map = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for ctx in map.values() {
            template.check_boundary(&ctx.settings.deployment())?;
        }
        let mut version = String::new();
        for ctx in map.values_mut() {
            let mut next = Context::clone(ctx);
            next.settings.tenant_template = template.clone();
            version = next.settings.template_version();
            *ctx = Arc::new(next);
        }
        Ok(version)
    }
}

impl FunctionContexts {
    /// Gives every function the mapping type `mode` (a stack update of `MappingType`):
    /// their next invocation onboards, offboards and rebuilds the mapping in that mode.
    pub fn set_mapping_type(&self, mode: tenant_domain::MappingType) {
        let mut map = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for ctx in map.values_mut() {
            let mut next = Context::clone(ctx);
            next.settings.mapping_type = mode;
            *ctx = Arc::new(next);
        }
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
        // Both state machines are AWS::Serverless::StateMachine: each by its logical id
        // (the operators' policies name both), the onboarding one for the type.
        "AWS::Serverless::StateMachine": {
            "Ref": b.onboarding_state_machine_arn,
            "Arn": b.onboarding_state_machine_arn,
            "Name": ONBOARDING_STATE_MACHINE,
        },
        "OnboardingStateMachine": {
            "Ref": b.onboarding_state_machine_arn,
            "Arn": b.onboarding_state_machine_arn,
            "Name": ONBOARDING_STATE_MACHINE,
        },
        "OffboardingStateMachine": {
            "Ref": b.offboarding_state_machine_arn,
            "Arn": b.offboarding_state_machine_arn,
            "Name": OFFBOARDING_STATE_MACHINE,
        },
        "RolloutStateMachine": {
            "Ref": b.rollout_state_machine_arn,
            "Arn": b.rollout_state_machine_arn,
            "Name": ROLLOUT_STATE_MACHINE,
        },
    })
}

/// Renders the template's function roles and managed policies with the extension (same
/// Python as moto).
fn render(template: &Path, b: &Bootstrap) -> anyhow::Result<Rendered> {
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

/// Creates a role with `policy` as its only (inline) policy and assumes it once.
async fn create_role(
    admin: &Clients,
    sts: &aws_sdk_sts::Client,
    logical_id: &str,
    path: &str,
    trust: &Value,
    policy: &Value,
) -> anyhow::Result<RoleCredentials> {
    // IAM role names are at most 64 characters.
    let role_name: String = format!("{logical_id}Role").chars().take(64).collect();
    let role = admin
        .iam
        .create_role()
        .role_name(&role_name)
        .path(path)
        .assume_role_policy_document(trust.to_string())
        .max_session_duration(SESSION_SECONDS)
        .send()
        .await
        .with_context(|| format!("creating the role of {logical_id}"))?;
    let role_arn = role.role().map(|r| r.arn().to_string()).context("role has no ARN")?;
    admin
        .iam
        .put_role_policy()
        .role_name(&role_name)
        .policy_name(logical_id)
        .policy_document(policy.to_string())
        .send()
        .await
        .with_context(|| format!("putting the policy of {logical_id}"))?;
    let assumed = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name(logical_id)
        .duration_seconds(SESSION_SECONDS)
        .send()
        .await
        .with_context(|| format!("assuming the role of {logical_id}"))?;
    let c = assumed.credentials().context("AssumeRole returned no credentials")?;
    Ok(RoleCredentials {
        role_arn,
        access_key_id: c.access_key_id().to_string(),
        secret_access_key: c.secret_access_key().to_string(),
        session_token: c.session_token().to_string(),
    })
}

/// Creates each function's role and one role per operator policy; returns each
/// function's context, by handler, and the operators' credentials (None for a template
/// that defines no operator policies, e.g. one written before they existed).
pub async fn create(
    admin: &Clients,
    config: &SdkConfig,
    bootstrap: &Bootstrap,
    template: &Path,
) -> anyhow::Result<(FunctionContexts, Option<Operators>)> {
    let rendered = render(template, bootstrap)?;
    if rendered.functions.is_empty() {
        bail!("{} defines no functions", template.display());
    }
    let sts = aws_sdk_sts::Client::new(config);
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }]
    });
    let mut out = HashMap::new();
    for f in rendered.functions {
        if f.handler.is_empty() {
            continue;
        }
        let c = create_role(admin, &sts, &f.logical_id, ROLE_PATH, &trust, &f.policy).await?;
        let credentials = aws_credential_types::Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
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
    // Operators are people of the account: its root trusts them to assume the role.
    let operator_trust = json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{ACCOUNT_ID}:root") }, "Action": "sts:AssumeRole" }]
    });
    let operator = async |logical_id: &str| {
        let policy = rendered
            .managed_policies
            .get(logical_id)
            .with_context(|| format!("{} defines no {logical_id}", template.display()))?;
        create_role(admin, &sts, logical_id, OPERATOR_ROLE_PATH, &operator_trust, policy).await
    };
    let defined = [OPERATOR_POLICY, OPERATOR_READ_ONLY_POLICY].map(|p| rendered.managed_policies.contains_key(p));
    let operators = if defined == [false, false] {
        None
    } else {
        Some(Operators {
            full: operator(OPERATOR_POLICY).await?,
            read_only: operator(OPERATOR_READ_ONLY_POLICY).await?,
        })
    };
    Ok((FunctionContexts::new(out), operators))
}
