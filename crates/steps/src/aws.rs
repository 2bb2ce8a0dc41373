//! The one way every binary builds AWS clients: `aws-config`'s default chain, with an
//! optional endpoint override for the local stack. Nothing else differs between local
//! and AWS.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the shared SDK configuration. `endpoint` overrides every service's endpoint
/// (the local stack); `None` keeps the standard chain, which also honours
/// `AWS_ENDPOINT_URL` like the aws CLI does.
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    if let Some(env) = env_credentials().await {
        loader = loader.credentials_provider(env);
    }
    loader.load().await
}

/// The default chain's first link on its own, when it would answer: in Lambda the
/// credentials are always in the environment. Building the whole chain instead constructs
/// its web-identity provider's STS client at init, which builds a TLS connector (parsing
/// every system root certificate) for a provider that is never asked (docs/performance.md,
/// "Cold init"). When the variables are unset or blank the chain is built as before, so
/// profiles, SSO, web identity, ECS and IMDS still work for `tenantctl` and elsewhere.
async fn env_credentials() -> Option<aws_config::environment::EnvironmentVariableCredentialsProvider> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let env = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    env.provide_credentials().await.ok().map(|_| env)
}

/// The one HTTPS client: rustls with ring. The SDK crates are built without their default
/// client (rustls with aws-lc), which keeps that crypto library out of every Lambda binary.
/// Configs derived from these (`to_builder`, `Config::builder().from(..)`) inherit it; a
/// config built from scratch has no HTTP client and its requests fail, so build them here.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

#[derive(Clone, Debug)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub idp: aws_sdk_cognitoidentityprovider::Client,
    pub identity: aws_sdk_cognitoidentity::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub events: aws_sdk_eventbridge::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Clients {
            iam: aws_sdk_iam::Client::new(config),
            idp: aws_sdk_cognitoidentityprovider::Client::new(config),
            identity: aws_sdk_cognitoidentity::Client::new(config),
            ddb: aws_sdk_dynamodb::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            s3: s3_client(config),
            sfn: aws_sdk_sfn::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
        }
    }
}

/// Emulators answer on one host name, so S3 needs path-style addressing whenever the
/// endpoint is overridden; against AWS the default (virtual-hosted) stays.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let overridden = config.endpoint_url().is_some();
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(overridden)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// The local stack's configuration: the same loader, pointed at the emulator with its
/// region and throwaway credentials so nothing depends on the caller's AWS profile.
pub async fn local_sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test",
            "test",
            None,
            None,
            "local-stack",
        ))
        .load()
        .await
}
