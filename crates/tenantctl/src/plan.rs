//! `tenantctl rollout plan`: which ACTIVE tenants are behind the deployment's template
//! version, and what a converge would change in each of their documents. Read-only: the
//! live documents are read as `audit` reads them and compared by meaning (order, encoding
//! and string-or-list do not count), so a tenant whose record is behind but whose
//! documents already grant the same shows no change but the version tag.

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::TenantId;
use tenant_domain::rollout::{StatementChange, statement_changes};
use tenant_steps::Settings;
use tenant_steps::resources::TenantResource;
use tenant_steps::resources::role::Role;

use crate::Ops;
use crate::listing::is_behind;

/// The tenant's documents as found, each None when it is not there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub policy: Option<Value>,
    pub trust: Option<Value>,
    pub boundary: Option<String>,
    pub version_tag: Option<String>,
}

/// The documents the deployment renders for the tenant now.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub policy: Value,
    pub trust: Value,
    pub boundary: String,
    pub version: String,
}

impl Wanted {
    /// The role module's expected documents (what audit's drift judge holds the role
    /// to), with the template version they come from.
    pub fn of(tenant: &TenantId, s: &Settings) -> Wanted {
        let role = <Role as TenantResource>::expected(tenant, s);
        Wanted {
            policy: role.policy,
            trust: role.trust,
            boundary: role.boundary,
            version: s.template_version(),
        }
    }
}

/// What changes in one document of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentChange {
    /// `tenant policy`, `trust policy`, `permissions boundary`, `template-version tag`.
    pub document: &'static str,
    /// For the policy documents, statement by statement (a missing document: all added).
    pub statements: Vec<StatementChange>,
    /// For the single values: what is there now (null when absent) and what will be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<(Value, Value)>,
}

/// One tenant a rollout would converge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantPlan {
    pub tenant_id: String,
    /// The version on its record (None: onboarded before versions were recorded).
    pub recorded_version: Option<String>,
    pub changes: Vec<DocumentChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub current_version: String,
    /// ACTIVE tenants behind the current version, by id.
    pub tenants: Vec<TenantPlan>,
    /// ACTIVE tenants already at the current version.
    pub up_to_date: usize,
}

/// Per document, what converging `live` to `wanted` changes; empty when nothing would.
pub fn judge(live: &Live, wanted: &Wanted) -> Vec<DocumentChange> {
    let mut out = vec![];
    let absent = json!({ "Version": "2012-10-17", "Statement": [] });
    for (document, found, want) in [
        ("tenant policy", &live.policy, &wanted.policy),
        ("trust policy", &live.trust, &wanted.trust),
    ] {
        let statements = statement_changes(found.as_ref().unwrap_or(&absent), want);
        if !statements.is_empty() {
            out.push(DocumentChange {
                document,
                statements,
                value: None,
            });
        }
    }
    for (document, found, want) in [
        ("permissions boundary", &live.boundary, &wanted.boundary),
        ("template-version tag", &live.version_tag, &wanted.version),
    ] {
        if found.as_deref() != Some(want.as_str()) {
            out.push(DocumentChange {
                document,
                statements: vec![],
                value: Some((json!(found), json!(want))),
            });
        }
    }
    out
}

/// Reads the tenant role's documents (the read-only operator may: GetRole, GetRolePolicy),
/// as the converge reads them.
pub async fn live(ops: &Ops, tenant: &TenantId) -> anyhow::Result<Live> {
    let docs = tenant_steps::resources::role::documents(&ops.ctx, tenant)
        .await?
        .unwrap_or_default();
    let parsed = |d: Option<String>| d.and_then(|d| serde_json::from_str(&d).ok());
    Ok(Live {
        policy: parsed(docs.policy),
        trust: parsed(docs.trust),
        boundary: docs.boundary,
        version_tag: docs.template_version,
    })
}

/// Every ACTIVE tenant behind the deployment's version, in id order, with its changes.
pub async fn plan(ops: &Ops) -> anyhow::Result<Plan> {
    let s = &ops.ctx.settings;
    let current_version = s.template_version();
    let mut records = tenant_steps::record::list(&ops.ctx).await?;
    records.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
    let up_to_date = records
        .iter()
        .filter(|r| r.status == tenant_domain::Status::Active && !is_behind(r, &current_version))
        .count();
    let mut tenants = vec![];
    for r in records.iter().filter(|r| is_behind(r, &current_version)) {
        let tenant = TenantId::parse(&r.tenant_id).with_context(|| format!("record {:?}", r.tenant_id))?;
        let live = live(ops, &tenant).await?;
        tenants.push(TenantPlan {
            tenant_id: r.tenant_id.clone(),
            recorded_version: r.template_version.clone(),
            changes: judge(&live, &Wanted::of(&tenant, s)),
        });
    }
    Ok(Plan {
        current_version,
        tenants,
        up_to_date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_domain::template::TenantTemplate;

    const CONNECTOR: &str = include_str!("../../domain/templates/examples/connector.json");

    fn settings(template: TenantTemplate) -> Settings {
        let mut s = tenant_steps::Context::offline().settings;
        s.tenant_template = template;
        s
    }

    /// The live documents exactly as onboarding under `s` leaves them.
    fn onboarded(tenant: &TenantId, s: &Settings) -> Live {
        let w = Wanted::of(tenant, s);
        Live {
            policy: Some(w.policy),
            trust: Some(w.trust),
            boundary: Some(w.boundary),
            version_tag: Some(w.version),
        }
    }

    #[test]
    fn an_onboarded_tenant_has_nothing_to_change() {
        let tenant = TenantId::parse("acme").unwrap();
        let s = settings(TenantTemplate::default());
        assert_eq!(judge(&onboarded(&tenant, &s), &Wanted::of(&tenant, &s)), []);
    }

    /// Moving from the default template to the connector example changes the tenant
    /// policy statement by statement (by Sid) and the version tag; trust and boundary
    /// stay.
    #[test]
    fn a_new_template_changes_the_policy_by_statement_and_the_version() {
        let tenant = TenantId::parse("acme").unwrap();
        let old = settings(TenantTemplate::default());
        let new = settings(TenantTemplate::parse(CONNECTOR).unwrap());
        let changes = judge(&onboarded(&tenant, &old), &Wanted::of(&tenant, &new));
        let docs: Vec<_> = changes.iter().map(|c| c.document).collect();
        assert_eq!(docs, ["tenant policy", "template-version tag"]);
        let mut sids: Vec<_> = changes[0]
            .statements
            .iter()
            .map(|c| match c {
                StatementChange::Added { sid, .. } => format!("+{sid}"),
                StatementChange::Removed { sid, .. } => format!("-{sid}"),
                StatementChange::Changed { sid, .. } => format!("~{sid}"),
            })
            .collect();
        sids.sort();
        assert_eq!(
            sids,
            ["+AppSecret", "+ConnectorSecrets", "+NoMarkerDeletion", "-OwnSecrets"]
        );
        assert_eq!(
            changes[1].value,
            Some((json!(old.template_version()), json!(new.template_version())))
        );
    }

    /// A role with no policy, another boundary and no tag: each is named, the missing
    /// policy as every statement added.
    #[test]
    fn missing_and_drifted_documents_are_named() {
        let tenant = TenantId::parse("acme").unwrap();
        let s = settings(TenantTemplate::default());
        let live = Live {
            policy: None,
            boundary: Some("arn:aws:iam::1:policy/other".into()),
            version_tag: None,
            ..onboarded(&tenant, &s)
        };
        let changes = judge(&live, &Wanted::of(&tenant, &s));
        let docs: Vec<_> = changes.iter().map(|c| c.document).collect();
        assert_eq!(docs, ["tenant policy", "permissions boundary", "template-version tag"]);
        assert_eq!(changes[0].statements.len(), 3);
        assert!(
            changes[0]
                .statements
                .iter()
                .all(|c| matches!(c, StatementChange::Added { .. }))
        );
        assert_eq!(changes[2].value, Some((Value::Null, json!(s.template_version()))));
    }
}
