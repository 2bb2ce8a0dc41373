//! What an onboarding and an offboarding cost in AWS list prices, from what one execution
//! did (states entered, Lambda tasks and their measured durations, AWS calls from the
//! emulator's log). No free tier is subtracted: this is the marginal price of one more.
//!
//! cost = transitions × P(transition)
//!      + invocations × P(Lambda request)
//!      + Σ over tasks ⌈init + duration⌉ms / 1000 × memory MB / 1024 × P(GB-s, arch)
//!      + Σ over billed calls × P(call class)

use std::collections::BTreeMap;

use serde::Serialize;

use crate::recorder::Call;

/// AWS list prices, US East (N. Virginia), as published on each service's pricing page
/// (checked 2026-12-01). USD.
#[derive(Debug, Clone, Serialize)]
pub struct Prices {
    /// Step Functions Standard: $0.025 per 1,000 state transitions.
    pub state_transition: f64,
    /// Lambda: $0.20 per 1M requests.
    pub lambda_request: f64,
    /// Lambda duration per GB-second, first pricing tier: arm64 $0.0000133334, x86_64 $0.0000166667.
    pub gb_second_arm64: f64,
    pub gb_second_x86_64: f64,
    /// Secrets Manager: $0.05 per 10,000 API calls.
    pub secrets_manager_call: f64,
    /// S3 Standard: PUT, COPY, POST, LIST $0.005 per 1,000; GET and all other $0.0004 per
    /// 1,000; DELETE free.
    pub s3_put_list: f64,
    pub s3_get_other: f64,
    /// DynamoDB on-demand: $0.625 per 1M write request units, $0.125 per 1M read request
    /// units (an item under 1 KB: one unit a call).
    pub dynamodb_write: f64,
    pub dynamodb_read: f64,
    /// EventBridge: $1.00 per 1M custom events published.
    pub eventbridge_event: f64,
    /// Cognito user pools, Essentials tier (a new pool's default): $0.015 per monthly
    /// active user beyond the first 10,000. A user signing in is active that month.
    pub cognito_mau: f64,
}

pub const LIST_PRICES: Prices = Prices {
    state_transition: 0.025 / 1_000.0,
    lambda_request: 0.20 / 1_000_000.0,
    gb_second_arm64: 0.000_013_333_4,
    gb_second_x86_64: 0.000_016_666_7,
    secrets_manager_call: 0.05 / 10_000.0,
    s3_put_list: 0.005 / 1_000.0,
    s3_get_other: 0.0004 / 1_000.0,
    dynamodb_write: 0.625 / 1_000_000.0,
    dynamodb_read: 0.125 / 1_000_000.0,
    eventbridge_event: 1.0 / 1_000_000.0,
    cognito_mau: 0.015,
};

/// One Lambda invocation: its billed time is its init (a cold start; custom runtimes are
/// billed for init) plus its duration, rounded up to the millisecond.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    pub function: String,
    pub init_ms: f64,
    pub duration_ms: f64,
    pub memory_mb: u32,
}

impl Invocation {
    pub fn gb_seconds(&self) -> f64 {
        (self.init_ms + self.duration_ms).ceil() / 1000.0 * f64::from(self.memory_mb) / 1024.0
    }
}

/// A term of the formula, per execution and per 1,000.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Term {
    pub name: String,
    /// How many of the priced unit one execution uses (GB-s for duration).
    pub quantity: f64,
    pub unit_price: f64,
    pub per_1000: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub terms: Vec<Term>,
    pub per_1000: f64,
    /// Calls counted but not billed per request (IAM, STS, Cognito APIs, StartExecution).
    pub unbilled_calls: usize,
}

impl Estimate {
    pub fn biggest(&self) -> Option<&Term> {
        self.terms.iter().max_by(|a, b| a.per_1000.total_cmp(&b.per_1000))
    }
}

/// Which price a call pays, if any.
pub fn call_class(call: &Call) -> Option<&'static str> {
    let op = call.operation.as_str();
    match call.service.as_str() {
        "secretsmanager" => Some("Secrets Manager API calls"),
        "s3" if op.starts_with("Delete") => None,
        "s3" if op.starts_with("Put") || op.starts_with("List") || op == "CopyObject" || op == "CreateBucket" => {
            Some("S3 PUT/COPY/POST/LIST requests")
        }
        "s3" => Some("S3 GET and other requests"),
        "dynamodb"
            if [
                "PutItem",
                "UpdateItem",
                "DeleteItem",
                "BatchWriteItem",
                "TransactWriteItems",
            ]
            .contains(&op) =>
        {
            Some("DynamoDB write request units")
        }
        "dynamodb" => Some("DynamoDB read request units"),
        "eventbridge" if op == "PutEvents" => Some("EventBridge events"),
        "cognitoidentityprovider" if op == "InitiateAuth" || op == "AdminInitiateAuth" => {
            Some("Cognito MAUs (users signed in)")
        }
        _ => None,
    }
}

fn class_price(class: &str, p: &Prices) -> f64 {
    match class {
        "Secrets Manager API calls" => p.secrets_manager_call,
        "S3 PUT/COPY/POST/LIST requests" => p.s3_put_list,
        "S3 GET and other requests" => p.s3_get_other,
        "DynamoDB write request units" => p.dynamodb_write,
        "DynamoDB read request units" => p.dynamodb_read,
        "EventBridge events" => p.eventbridge_event,
        "Cognito MAUs (users signed in)" => p.cognito_mau,
        _ => 0.0,
    }
}

/// The formula above for one execution. `arm64` picks the duration price.
pub fn estimate(transitions: usize, invocations: &[Invocation], calls: &[Call], arm64: bool, p: &Prices) -> Estimate {
    let mut terms = vec![];
    let mut term = |name: &str, quantity: f64, unit_price: f64| {
        terms.push(Term {
            name: name.to_string(),
            quantity,
            unit_price,
            per_1000: quantity * unit_price * 1000.0,
        })
    };
    term(
        "Step Functions state transitions",
        transitions as f64,
        p.state_transition,
    );
    term("Lambda requests", invocations.len() as f64, p.lambda_request);
    term(
        "Lambda GB-seconds",
        invocations.iter().map(Invocation::gb_seconds).sum(),
        if arm64 { p.gb_second_arm64 } else { p.gb_second_x86_64 },
    );
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unbilled = 0;
    for c in calls {
        match call_class(c) {
            Some(class) => *classes.entry(class).or_default() += 1,
            None => unbilled += 1,
        }
    }
    for (class, n) in classes {
        term(class, n as f64, class_price(class, p));
    }
    let per_1000 = terms.iter().map(|t| t.per_1000).sum();
    Estimate {
        terms,
        per_1000,
        unbilled_calls: unbilled,
    }
}

/// `MemorySize` per resource in a SAM template: `Globals.Function`'s as the default, and
/// any resource's own. A line scan (the template's layout is two-space YAML), not a
/// YAML parser: the bench needs one number per function.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MemorySizes {
    pub default_mb: Option<u32>,
    pub by_resource: BTreeMap<String, u32>,
}

impl MemorySizes {
    pub fn parse(template: &str) -> MemorySizes {
        let mut out = MemorySizes::default();
        let mut section = "";
        let mut resource = String::new();
        for line in template.lines() {
            let indent = line.len() - line.trim_start().len();
            let text = line.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            if indent == 0 {
                section = if text.starts_with("Globals:") {
                    "globals"
                } else if text.starts_with("Resources:") {
                    "resources"
                } else {
                    ""
                };
                continue;
            }
            if section == "resources" && indent == 2 && text.ends_with(':') {
                resource = text.trim_end_matches(':').to_string();
                continue;
            }
            if let Some(v) = text.strip_prefix("MemorySize:").and_then(|v| v.trim().parse().ok()) {
                match section {
                    "globals" => out.default_mb = Some(v),
                    "resources" if !resource.is_empty() => {
                        out.by_resource.insert(resource.clone(), v);
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// The memory of the function behind a state (`CreateRole` → `CreateRoleFunction`);
    /// Lambda's default (128 MB) when the template sets none.
    pub fn for_state(&self, state: &str) -> u32 {
        self.by_resource
            .get(&format!("{state}Function"))
            .copied()
            .or(self.default_mb)
            .unwrap_or(128)
    }
}

/// The memory size to configure: the smallest Lambda allows (128 MB) unless the peak RSS
/// with 4× headroom needs more, then rounded up to a multiple of 64 MB. The steps wait on
/// AWS APIs, not on CPU, so the CPU share that comes with more memory buys them little.
pub fn recommend_memory_mb(peak_rss_mb: f64) -> u32 {
    let need = (peak_rss_mb * 4.0 / 64.0).ceil() as u32 * 64;
    need.max(128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(duration_ms: f64, memory_mb: u32) -> Invocation {
        Invocation {
            function: "step".into(),
            init_ms: 9.4,
            duration_ms,
            memory_mb,
        }
    }

    #[test]
    fn the_formula_term_by_term() {
        let calls = [
            Call::new("secretsmanager", "CreateSecret"),
            Call::new("secretsmanager", "DescribeSecret"),
            Call::new("s3", "PutObject"),
            Call::new("s3", "DeleteObject"),
            Call::new("s3", "HeadObject"),
            Call::new("dynamodb", "UpdateItem"),
            Call::new("dynamodb", "GetItem"),
            Call::new("iam", "CreateRole"),
            Call::new("sfn", "StartExecution"),
            Call::new("cognitoidentityprovider", "InitiateAuth"),
        ];
        // 9.4 + 40.2 = 49.6 → 50 ms billed; 50 ms at 256 MB = 0.0125 GB-s.
        let e = estimate(10, &[inv(40.2, 256), inv(40.2, 256)], &calls, true, &LIST_PRICES);
        let get = |name: &str| e.terms.iter().find(|t| t.name == name).unwrap().clone();
        assert_eq!(get("Step Functions state transitions").per_1000, 0.25);
        assert!((get("Lambda requests").per_1000 - 0.0004).abs() < 1e-12);
        let gbs = get("Lambda GB-seconds");
        assert!((gbs.quantity - 0.025).abs() < 1e-12, "{gbs:?}");
        assert!((gbs.per_1000 - 0.025 * 0.000_013_333_4 * 1000.0).abs() < 1e-12);
        assert_eq!(get("Secrets Manager API calls").quantity, 2.0);
        assert_eq!(get("S3 PUT/COPY/POST/LIST requests").quantity, 1.0);
        assert_eq!(get("S3 GET and other requests").quantity, 1.0);
        assert_eq!(get("DynamoDB write request units").quantity, 1.0);
        assert_eq!(get("DynamoDB read request units").quantity, 1.0);
        assert_eq!(get("Cognito MAUs (users signed in)").per_1000, 15.0);
        // DeleteObject, CreateRole and StartExecution are not billed per request.
        assert_eq!(e.unbilled_calls, 3);
        let sum: f64 = e.terms.iter().map(|t| t.per_1000).sum();
        assert_eq!(e.per_1000, sum);
        assert_eq!(e.biggest().unwrap().name, "Cognito MAUs (users signed in)");
        // x86_64 duration costs more than arm64.
        let x86 = estimate(10, &[inv(40.2, 256)], &[], false, &LIST_PRICES);
        let arm = estimate(10, &[inv(40.2, 256)], &[], true, &LIST_PRICES);
        assert!(x86.per_1000 > arm.per_1000);
        assert_eq!(arm.biggest().unwrap().name, "Step Functions state transitions");
    }

    #[test]
    fn memory_sizes_from_the_template() {
        let t = "Parameters:\n  MemorySize:\n    Type: Number\nGlobals:\n  Function:\n    Runtime: provided.al2023\n    MemorySize: 256\n\
                 Resources:\n  CreateRoleFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: 512\n\
                 \n  VerifyFunction:\n    Type: AWS::Serverless::Function\n    # MemorySize: 1024\n";
        let m = MemorySizes::parse(t);
        assert_eq!(m.default_mb, Some(256));
        assert_eq!(m.for_state("CreateRole"), 512);
        assert_eq!(m.for_state("Verify"), 256);
        assert_eq!(MemorySizes::parse("Resources:\n").for_state("Verify"), 128);
    }

    #[test]
    fn memory_recommendation() {
        assert_eq!(recommend_memory_mb(9.9), 128);
        assert_eq!(recommend_memory_mb(40.0), 192);
        assert_eq!(recommend_memory_mb(64.0), 256);
    }
}
