//! One module per tenant resource. Each owns its name, its create (idempotent: converges
//! an existing one to what onboarding renders), its delete (idempotent: absent at any
//! level is done), its live inspection and what `status` shows of it. The list of
//! resources is written once, in [`resource_table!`]; the step handlers, the residue
//! reports, `inspect` and `status` read it instead of naming each resource.

pub mod access;
pub mod group;
pub mod mapping;
pub mod prefix;
pub mod role;
pub mod secret;
pub mod users;

use std::future::Future;

use serde::Serialize;
use serde_json::Value;
use tenant_domain::{MappingType, TenantId};

use crate::{Context, Settings, Step, StepError, StepInput};
use access::{Attempt, Reach};

/// What a live read of one resource saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "seen", rename_all = "snake_case")]
pub enum Observation<T> {
    Found(T),
    /// Not there, with what the read saw (the object, the bucket, the pool...).
    Absent(String),
    /// The read failed: "unavailable: <service> <operation>: <reason>". The rest of an
    /// inspection goes on without this resource.
    Unavailable(String),
}

impl<T> Observation<T> {
    /// The observation of a read that failed with `e` (whose text names the service and
    /// the operation).
    pub fn unavailable(e: &StepError) -> Self {
        Observation::Unavailable(format!("unavailable: {e}"))
    }

    /// The same observation of what `f` makes of a found resource.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Observation<U> {
        match self {
            Observation::Found(t) => Observation::Found(f(t)),
            Observation::Absent(saw) => Observation::Absent(saw),
            Observation::Unavailable(r) => Observation::Unavailable(r),
        }
    }

    pub fn found(&self) -> Option<&T> {
        match self {
            Observation::Found(t) => Some(t),
            _ => None,
        }
    }

    pub fn unavailable_reason(&self) -> Option<&str> {
        match self {
            Observation::Unavailable(r) => Some(r),
            _ => None,
        }
    }
}

/// One line of `status`: what, in which state, and the detail (a name, an ARN, a count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub label: &'static str,
    pub state: String,
    pub detail: String,
}

impl Row {
    pub fn new(label: &'static str, state: impl Into<String>, detail: impl Into<String>) -> Row {
        Row {
            label,
            state: state.into(),
            detail: detail.into(),
        }
    }
}

/// How a live resource differs from what onboarding renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Not there, or not usable (a secret scheduled for deletion).
    Missing,
    /// There, with a property other than onboarding's.
    Differs,
    /// Could not be read: nothing can be judged.
    Unavailable,
}

/// One finding of a resource's judge: which resource, what of it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub resource: Resource,
    pub kind: DriftKind,
    /// What an operator looks for, e.g. "role tenant-acme" or "secret tenants/acme/app".
    pub what: String,
    /// The property that differs ("permissions boundary"), or what was seen.
    pub detail: String,
    /// For a property that differs: what onboarding renders, and what was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<Value>,
}

impl Drift {
    fn new(resource: Resource, kind: DriftKind, what: impl Into<String>, detail: impl Into<String>) -> Drift {
        Drift {
            resource,
            kind,
            what: what.into(),
            detail: detail.into(),
            expected: None,
            found: None,
        }
    }

    /// A property that differs: its name, what onboarding renders and what was found.
    fn differs(resource: Resource, what: impl Into<String>, property: &str, expected: Value, found: Value) -> Drift {
        Drift {
            expected: Some(expected),
            found: Some(found),
            ..Drift::new(resource, DriftKind::Differs, what, property)
        }
    }
}

/// The findings every judge shares: absent is Missing, unreadable is Unavailable; a
/// found resource is left to `found`.
fn judge_found<T>(
    resource: Resource,
    what: &str,
    observed: &Observation<T>,
    found: impl FnOnce(&T) -> Vec<Drift>,
) -> Vec<Drift> {
    match observed {
        Observation::Found(o) => found(o),
        Observation::Absent(saw) => vec![Drift::new(resource, DriftKind::Missing, what, saw.clone())],
        Observation::Unavailable(r) => vec![Drift::new(resource, DriftKind::Unavailable, what, r.clone())],
    }
}

/// Every part a tenant resource must have. No method has a default: a resource module
/// that lacks one does not compile.
pub trait TenantResource {
    /// What a successful read of it yields.
    type Observed: std::fmt::Debug + Clone + PartialEq + Serialize + Send + Sync;

    /// Where it lives for this tenant, as an operator would look for it.
    fn name(tenant: &TenantId, settings: &Settings) -> String;

    /// Whether a tenant of a deployment in `mode` has it. One that does not is neither
    /// created nor deleted by the workflow (its step says it skipped), is not missing
    /// for an ACTIVE tenant, and found anyway it is a finding (left by another mode).
    fn applies(mode: MappingType) -> bool;

    /// Creates it, or converges an existing one to what onboarding renders.
    fn create(ctx: &Context, input: &StepInput) -> impl Future<Output = Result<Value, StepError>> + Send;

    /// Removes it; finding nothing to remove (at any level) has succeeded.
    fn delete(ctx: &Context, input: &StepInput) -> impl Future<Output = Result<Value, StepError>> + Send;

    /// Reads it live. A failed read is an [`Observation::Unavailable`], never an error.
    fn inspect(ctx: &Context, tenant: &TenantId) -> impl Future<Output = Observation<Self::Observed>> + Send;

    /// The residue labels of what exists (empty when nothing of it is left).
    fn present(observed: &Self::Observed) -> Vec<&'static str>;

    /// Found, but not usable as onboarding left it (a secret scheduled for deletion, a
    /// prefix without its marker): an ACTIVE tenant is missing it.
    fn unusable(observed: &Self::Observed) -> bool;

    /// What `status` shows of it.
    fn rows(name: &str, observed: &Observation<Self::Observed>) -> Vec<Row>;

    /// What onboarding would make of it today, from the settings and the tenant. Pure.
    type Expected: std::fmt::Debug + Clone + PartialEq;
    fn expected(tenant: &TenantId, settings: &Settings) -> Self::Expected;

    /// What `audit` reads of it for an ACTIVE tenant: every property onboarding sets (a
    /// deeper read than `inspect`, which the steps' own roles make). A failed read is an
    /// [`Observation::Unavailable`].
    type Audited: std::fmt::Debug + Clone + PartialEq + Send + Sync;
    fn audit_read(ctx: &Context, tenant: &TenantId) -> impl Future<Output = Observation<Self::Audited>> + Send;

    /// The drift judge for an ACTIVE tenant: expected vs what `audit_read` found. Pure.
    fn judge(name: &str, expected: &Self::Expected, audited: &Observation<Self::Audited>) -> Vec<Drift>;

    /// The calls a tenant's own credentials make on it (see [`access`]): Verify's proof
    /// and `check-isolation` are these calls on the tenant's own, its canary and other
    /// tenants' resources. A resource tenants do not use with their credentials (the
    /// group, the role, the mapping) makes none.
    fn reach(ctx: &Context, reach: &Reach<'_>) -> impl Future<Output = Vec<Attempt>> + Send;

    /// `audit`'s inventory: every one of its kind in the account's tenant namespace,
    /// whoever owns it, as (the tenant id its name gives, its name). Audit judges each
    /// against that tenant's record (none, FAILED, OFFBOARDED: an orphan).
    fn census(ctx: &Context) -> impl Future<Output = Result<Vec<(String, String)>, StepError>> + Send;

    /// The name `census` lists the tenant's own under (None: it lists none).
    fn census_name(tenant: &TenantId, settings: &Settings) -> Option<String>;

    /// What a census entry is called in a finding, e.g. "mapping rule".
    const CENSUS_KIND: &'static str;
}

/// Whether the tenant's record says its data predates the current attempt (re-onboarded
/// after an offboarding): a rollback then keeps the secret's recovery window and the
/// prefix's objects.
async fn retains_data(ctx: &Context, tenant: &TenantId) -> Result<bool, StepError> {
    Ok(crate::record::get(ctx, tenant.as_str())
        .await?
        .is_some_and(|r| r.retain_data))
}

/// What a resource step answers in a mode its resource does not apply to.
fn not_applicable(mode: MappingType) -> Value {
    serde_json::json!({ "skipped": format!("not used in {mode:?} mode") })
}

/// The create step of a resource: its module's create where the deployment's mode has
/// the resource, and nothing (said so) where it does not.
pub async fn create<R: TenantResource>(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let mode = ctx.settings.mapping_type;
    if !R::applies(mode) {
        tracing::info!(?mode, "not used in this mode: skipped");
        return Ok(not_applicable(mode));
    }
    R::create(ctx, input).await
}

/// The delete step of a resource, skipped like [`create`] where the mode lacks it.
pub async fn delete<R: TenantResource>(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
    let mode = ctx.settings.mapping_type;
    if !R::applies(mode) {
        tracing::info!(?mode, "not used in this mode: skipped");
        return Ok(not_applicable(mode));
    }
    R::delete(ctx, input).await
}

/// The state column of a row for an observation that found nothing usable.
fn not_found_row<T>(label: &'static str, name: &str, observed: &Observation<T>) -> Option<Row> {
    match observed {
        Observation::Found(_) => None,
        Observation::Absent(saw) => Some(Row::new(label, "absent", format!("{name} ({saw})"))),
        Observation::Unavailable(reason) => Some(Row::new(label, "unknown", format!("{name} ({reason})"))),
    }
}

/// The findings for a resource the deployment's mode does not use: found, it is left
/// from another mode (a per-tenant role after a move to Abac); absent is as it should be.
fn judge_not_applicable<T>(resource: Resource, name: &str, mode: MappingType, observed: &Observation<T>) -> Vec<Drift> {
    let what = format!("{} {name}", resource.census_kind());
    match observed {
        Observation::Found(_) => vec![Drift::new(
            resource,
            DriftKind::Differs,
            what,
            format!("expected none in {mode:?} mode, found one: it uses the shared tenant role"),
        )],
        Observation::Absent(_) => vec![],
        Observation::Unavailable(r) => vec![Drift::new(resource, DriftKind::Unavailable, what, r.clone())],
    }
}

/// What tests of the list see of every resource: absent, or unreadable for `unavailable`.
#[cfg(test)]
fn seen_all<T>(unavailable: Option<&str>) -> Observation<T> {
    match unavailable {
        Some(r) => Observation::Unavailable(r.to_string()),
        None => Observation::Absent("nothing there".into()),
    }
}

/// Per tenant id (as the resource names say), each resource found with its name.
pub type Inventory = std::collections::BTreeMap<String, Vec<(Resource, String)>>;

/// The resource list, written once: each resource's variant, its field in [`Resources`],
/// its module type, and the Steps that create and delete it (the state-machine names).
/// [`Resource`], [`Resources`] and [`inspect`] are generated from it.
macro_rules! resource_table {
    ($($variant:ident => $field:ident, $ty:ty, create $create:ident, delete $delete:ident;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum Resource {
            $($variant,)*
        }

        impl Resource {
            pub const ALL: [Resource; [$(stringify!($field)),*].len()] = [$(Resource::$variant),*];

            pub fn label(self) -> &'static str {
                match self {
                    $(Resource::$variant => stringify!($field),)*
                }
            }

            /// The Step whose handler creates (or converges) it.
            pub fn create_step(self) -> Step {
                match self {
                    $(Resource::$variant => Step::$create,)*
                }
            }

            /// The Step whose handler deletes it.
            pub fn delete_step(self) -> Step {
                match self {
                    $(Resource::$variant => Step::$delete,)*
                }
            }

            pub fn name(self, tenant: &TenantId, settings: &Settings) -> String {
                match self {
                    $(Resource::$variant => <$ty as TenantResource>::name(tenant, settings),)*
                }
            }

            /// What `audit` calls one found in its inventory.
            pub fn census_kind(self) -> &'static str {
                match self {
                    $(Resource::$variant => <$ty as TenantResource>::CENSUS_KIND,)*
                }
            }

            /// The name the inventory lists the tenant's own under.
            pub fn census_name(self, tenant: &TenantId, settings: &Settings) -> Option<String> {
                match self {
                    $(Resource::$variant => <$ty as TenantResource>::census_name(tenant, settings),)*
                }
            }

            /// Whether a tenant of a deployment in `mode` has it.
            pub fn applies(self, mode: MappingType) -> bool {
                match self {
                    $(Resource::$variant => <$ty as TenantResource>::applies(mode),)*
                }
            }
        }

        /// What exists for a tenant, one observation per resource, read live.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct Resources {
            /// The deployment's mode when read: which resources the tenant should have.
            #[serde(skip)]
            pub mode: MappingType,
            $(pub $field: Observation<<$ty as TenantResource>::Observed>,)*
        }

        impl Resources {
            /// Residue labels of what exists, in the list's order; a resource that could
            /// not be read is named as unknown (nothing can be claimed gone).
            pub fn present(&self) -> Vec<String> {
                let mut out = vec![];
                $(
                    match &self.$field {
                        Observation::Found(o) => {
                            out.extend(<$ty as TenantResource>::present(o).into_iter().map(str::to_string))
                        }
                        Observation::Absent(_) => {}
                        Observation::Unavailable(r) => out.push(format!("{} unknown ({r})", stringify!($field))),
                    }
                )*
                out
            }

            /// Resources that could not be read, with the reason.
            pub fn unavailable(&self) -> Vec<(Resource, String)> {
                let mut out = vec![];
                $(
                    if let Some(r) = self.$field.unavailable_reason() {
                        out.push((Resource::$variant, r.to_string()));
                    }
                )*
                out
            }

            /// Resources that exist in no usable form (absent or scheduled for deletion):
            /// what an ACTIVE tenant should never have.
            pub fn missing(&self) -> Vec<Resource> {
                let mut out = vec![];
                $(
                    let gone = <$ty as TenantResource>::applies(self.mode) && match &self.$field {
                        Observation::Found(o) => <$ty as TenantResource>::unusable(o),
                        Observation::Absent(_) => true,
                        Observation::Unavailable(_) => false,
                    };
                    if gone {
                        out.push(Resource::$variant);
                    }
                )*
                out
            }

            /// What `status` shows, in the list's order.
            pub fn rows(&self, tenant: &TenantId, settings: &Settings) -> Vec<Row> {
                let mut out = vec![];
                $(
                    let name = <$ty as TenantResource>::name(tenant, settings);
                    match (&self.$field, <$ty as TenantResource>::applies(settings.mapping_type)) {
                        (Observation::Absent(_), false) => out.push(Row::new(
                            stringify!($field),
                            "not used",
                            format!("{:?} mode has no {} per tenant", settings.mapping_type, stringify!($field)),
                        )),
                        (observed, _) => out.extend(<$ty as TenantResource>::rows(&name, observed)),
                    }
                )*
                out
            }
        }

        #[cfg(test)]
        impl Resources {
            /// Every resource seen absent, or unreadable for `unavailable` (for tests of
            /// what the list implies).
            fn all(unavailable: Option<&str>) -> Resources {
                Resources { mode: MappingType::default(), $($field: seen_all(unavailable),)* }
            }
        }

        #[cfg(test)]
        impl Audit {
            /// Every resource seen absent, or unreadable for `unavailable`, by `audit`'s reads.
            fn all(unavailable: Option<&str>) -> Audit {
                Audit { mode: MappingType::default(), $($field: seen_all(unavailable),)* }
            }
        }

        /// What `audit` read of a tenant's resources, one observation per resource.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Audit {
            /// The deployment's mode when read: which resources the tenant should have.
            pub mode: MappingType,
            $(pub $field: Observation<<$ty as TenantResource>::Audited>,)*
        }

        impl Audit {
            /// The judges' findings for an ACTIVE tenant, in the list's order. Pure.
            pub fn drift(&self, tenant: &TenantId, settings: &Settings) -> Vec<Drift> {
                let mut out = vec![];
                $(
                    let name = <$ty as TenantResource>::name(tenant, settings);
                    if <$ty as TenantResource>::applies(settings.mapping_type) {
                        out.extend(<$ty as TenantResource>::judge(
                            &name,
                            &<$ty as TenantResource>::expected(tenant, settings),
                            &self.$field,
                        ));
                    } else {
                        out.extend(judge_not_applicable(Resource::$variant, &name, settings.mapping_type, &self.$field));
                    }
                )*
                out
            }
        }

        /// Reads what `audit` judges of a tenant's resources, all at once. Never fails.
        pub async fn audit_read(ctx: &Context, tenant: &TenantId) -> Audit {
            let ($($field,)*) = tokio::join!($(<$ty as TenantResource>::audit_read(ctx, tenant),)*);
            Audit { mode: ctx.settings.mapping_type, $($field,)* }
        }

        /// Every resource in the account's tenant namespace, per tenant id (as the names
        /// say, valid or not), in the list's order: `audit`'s inventory.
        pub async fn census(ctx: &Context) -> Result<Inventory, StepError> {
            let mut out = Inventory::new();
            $(
                for (tenant, name) in <$ty as TenantResource>::census(ctx).await? {
                    out.entry(tenant).or_default().push((Resource::$variant, name));
                }
            )*
            Ok(out)
        }

        /// Every call a tenant session makes on `reach.target`'s resources, in the list's
        /// order, for the resources the deployment's mode has.
        pub async fn reach(ctx: &Context, reach: &Reach<'_>) -> Vec<Attempt> {
            let mut out = vec![];
            $(
                if <$ty as TenantResource>::applies(ctx.settings.mapping_type) {
                    out.extend(<$ty as TenantResource>::reach(ctx, reach).await);
                }
            )*
            out
        }

        /// Reads every resource of a tenant, all at once. Never fails: a read that fails
        /// is that resource's [`Observation::Unavailable`].
        pub async fn inspect(ctx: &Context, tenant: &TenantId) -> Resources {
            // Every resource is read in every mode: one the mode lacks but that exists
            // anyway (left by another mode) is residue and a finding.
            let ($($field,)*) = tokio::join!($(<$ty as TenantResource>::inspect(ctx, tenant),)*);
            Resources { mode: ctx.settings.mapping_type, $($field,)* }
        }
    };
}

/// The Steps whose handlers are a resource module's create or delete: rows of the step
/// table, handed to `step_table!` in `dispatch.rs` with the other steps' rows. The list's
/// tests hold them against [`resource_table!`] and the state machines.
macro_rules! resource_steps {
    ($table:ident! { $($rows:tt)* }) => {
        $table! {
            $($rows)*
            CreateGroup => "create-group", $crate::resources::create::<$crate::resources::group::Group>;
            CreateRole => "create-role", $crate::resources::create::<$crate::resources::role::Role>;
            CreateSecret => "create-secret", $crate::resources::create::<$crate::resources::secret::Secret>;
            CreatePrefix => "create-prefix", $crate::resources::create::<$crate::resources::prefix::Prefix>;
            RebuildRoleMappings => "rebuild-role-mappings", $crate::resources::create::<$crate::resources::mapping::Mapping>;
            RemoveRoleMapping => "remove-role-mapping", $crate::resources::delete::<$crate::resources::mapping::Mapping>;
            DeleteRole => "delete-role", $crate::resources::delete::<$crate::resources::role::Role>;
            DeleteSecret => "delete-secret", $crate::resources::delete::<$crate::resources::secret::Secret>;
            DeletePrefix => "delete-prefix", $crate::resources::delete::<$crate::resources::prefix::Prefix>;
            DeleteGroup => "delete-group", $crate::resources::delete::<$crate::resources::group::Group>;
        }
    };
}
pub(crate) use resource_steps;

resource_table! {
    Group => group, group::Group, create CreateGroup, delete DeleteGroup;
    Role => role, role::Role, create CreateRole, delete DeleteRole;
    Secret => secret, secret::Secret, create CreateSecret, delete DeleteSecret;
    Prefix => prefix, prefix::Prefix, create CreatePrefix, delete DeletePrefix;
    Mapping => mapping, mapping::Mapping, create RebuildRoleMappings, delete RemoveRoleMapping;
    Users => users, users::Users, create RecordActive, delete DeleteGroup;
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONBOARDING_ASL: &str = include_str!("../../../../statemachine/onboarding.asl.json");
    const OFFBOARDING_ASL: &str = include_str!("../../../../statemachine/offboarding.asl.json");

    fn task_states(asl: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(asl).expect("ASL is JSON");
        v["States"]
            .as_object()
            .expect("States")
            .values()
            .filter_map(|s| s["Resource"].as_str())
            .map(str::to_string)
            .collect()
    }

    /// Every resource's create step is a task of onboarding, and its delete step a task
    /// of both onboarding's compensation and offboarding.
    #[test]
    fn every_resource_has_its_steps_in_the_state_machines() {
        let onboarding = task_states(ONBOARDING_ASL);
        let offboarding = task_states(OFFBOARDING_ASL);
        for r in Resource::ALL {
            let create = format!("${{{}}}", r.create_step().substitution());
            let delete = format!("${{{}}}", r.delete_step().substitution());
            assert!(onboarding.contains(&create), "{r:?}: {create} not in onboarding");
            assert!(onboarding.contains(&delete), "{r:?}: {delete} not in onboarding");
            assert!(offboarding.contains(&delete), "{r:?}: {delete} not in offboarding");
        }
    }

    /// A tenant with nothing: every resource is missing, none is residue, and `status`
    /// shows a row for each.
    #[test]
    fn nothing_found_is_every_resource_missing() {
        let res = Resources::all(None);
        assert_eq!(res.missing(), Resource::ALL.to_vec());
        assert!(res.present().is_empty());
        assert!(res.unavailable().is_empty());
        let tenant = TenantId::parse("acme").unwrap();
        let settings = Context::offline().settings;
        let rows = res.rows(&tenant, &settings);
        for r in Resource::ALL {
            assert!(
                rows.iter().any(|row| row.label == r.label()),
                "{r:?} has no status row in {rows:?}"
            );
        }
        assert!(
            rows.iter()
                .all(|row| row.state == "absent" || row.state == "not mapped"),
            "{rows:?}"
        );
    }

    /// A resource that cannot be read is neither missing nor claimed gone: it is named
    /// as unknown in a residue report, with the reason.
    #[test]
    fn unreadable_is_unknown_not_absent() {
        let res = Resources::all(Some("unavailable: s3 ListObjectsV2: down"));
        assert!(res.missing().is_empty());
        assert_eq!(res.unavailable().len(), Resource::ALL.len());
        let present = res.present();
        assert_eq!(present.len(), Resource::ALL.len());
        assert!(
            present
                .iter()
                .all(|p| p.contains("unknown (unavailable: s3 ListObjectsV2: down)")),
            "{present:?}"
        );
    }

    /// A secret scheduled for deletion is shown as such (not "absent"), is not residue,
    /// and is missing for an ACTIVE tenant.
    #[test]
    fn scheduled_secret_is_shown_with_its_date() {
        let seen = Observation::Found(secret::SecretObserved {
            arn: "arn:aws:secretsmanager:us-east-1:1:secret:tenants/acme".into(),
            deletion_date: Some("2026-12-08T00:00:00Z".into()),
        });
        let rows = <secret::Secret as TenantResource>::rows("tenants/acme", &seen);
        assert_eq!(rows[0].state, "scheduled for deletion (2026-12-08T00:00:00Z)");
        let found = seen.found().unwrap();
        assert!(<secret::Secret as TenantResource>::present(found).is_empty());
        assert!(<secret::Secret as TenantResource>::unusable(found));
    }

    fn settings() -> Settings {
        Context::offline().settings
    }

    /// What onboarding renders, as `audit` would read it.
    fn as_onboarded(tenant: &TenantId, settings: &Settings) -> Audit {
        let group = <group::Group as TenantResource>::expected(tenant, settings);
        let role = <role::Role as TenantResource>::expected(tenant, settings);
        Audit {
            mode: settings.mapping_type,
            group: Observation::Found(group::GroupObserved {
                description: Some(group.description),
                role_arn: group.role_arn,
                precedence: Some(0),
            }),
            role: Observation::Found(role::RoleAudited {
                path: role.path,
                boundary: Some(role.boundary),
                tag: Some(role.tag),
                trust: Some(role.trust),
                inline: vec![tenant_domain::names::INLINE_POLICY_NAME.to_string()],
                policy: Some(role.policy),
                attached: vec![],
            }),
            secret: Observation::Found(secret::SecretAudited {
                deletion_date: None,
                tag: Some(tenant.to_string()),
            }),
            prefix: Observation::Found(Some(tenant.to_string())),
            mapping: Observation::Found(mapping::MappingObserved {
                role_arn: <mapping::Mapping as TenantResource>::expected(tenant, settings),
            }),
            users: Observation::Found(()),
        }
    }

    #[test]
    fn what_onboarding_renders_has_no_drift() {
        let tenant = TenantId::parse("acme").unwrap();
        for mode in [MappingType::Rules, MappingType::Token] {
            let s = Settings {
                mapping_type: mode,
                ..settings()
            };
            assert_eq!(as_onboarded(&tenant, &s).drift(&tenant, &s), vec![], "{mode:?}");
        }
    }

    /// An ACTIVE tenant with nothing: the judge of every resource judged per tenant
    /// reports it Missing under the name an operator looks for (the mapping and the users
    /// are judged across the pool).
    #[test]
    fn nothing_found_is_missing_for_every_resource() {
        let tenant = TenantId::parse("acme").unwrap();
        let s = settings();
        let drift = Audit::all(None).drift(&tenant, &s);
        let missing: Vec<(Resource, &str)> = drift
            .iter()
            .map(|d| {
                assert_eq!(d.kind, DriftKind::Missing, "{d:?}");
                (d.resource, d.what.as_str())
            })
            .collect();
        assert_eq!(
            missing,
            [
                (Resource::Group, "group tenant:acme:members"),
                (Resource::Role, "role tenant-acme"),
                (Resource::Secret, "secret tenants/acme/app"),
                (
                    Resource::Prefix,
                    format!("prefix marker s3://{}/tenants/acme/.tenant", s.bucket).as_str()
                ),
            ]
        );
    }

    #[test]
    fn unreadable_is_judged_unavailable_for_every_resource() {
        let tenant = TenantId::parse("acme").unwrap();
        let drift = Audit::all(Some("unavailable: iam GetRole: down")).drift(&tenant, &settings());
        assert_eq!(drift.len(), 4, "{drift:?}");
        assert!(
            drift
                .iter()
                .all(|d| d.kind == DriftKind::Unavailable && d.detail == "unavailable: iam GetRole: down"),
            "{drift:?}"
        );
    }

    /// Abac mode: no per-tenant role nor mapping entry. Their absence is neither missing
    /// nor drift, `status` says they are not used; one found anyway (left by a former
    /// mode) is a finding and residue.
    #[test]
    fn abac_mode_has_no_tenant_role_and_no_mapping() {
        let tenant = TenantId::parse("acme").unwrap();
        let s = Settings {
            mapping_type: MappingType::Abac,
            ..settings()
        };
        let unused: Vec<Resource> = Resource::ALL
            .into_iter()
            .filter(|r| !r.applies(MappingType::Abac))
            .collect();
        assert_eq!(unused, [Resource::Role, Resource::Mapping]);
        assert!(
            Resource::ALL
                .into_iter()
                .all(|r| r.applies(MappingType::Rules) && r.applies(MappingType::Token))
        );
        let mut audit = as_onboarded(&tenant, &s);
        audit.role = Observation::Absent("no role".into());
        audit.mapping = Observation::Absent("no rule".into());
        assert_eq!(audit.drift(&tenant, &s), vec![]);
        let mut res = Resources::all(None);
        res.mode = MappingType::Abac;
        assert_eq!(
            res.missing(),
            [Resource::Group, Resource::Secret, Resource::Prefix, Resource::Users]
        );
        let rows = res.rows(&tenant, &s);
        for label in ["role", "mapping"] {
            let row = rows.iter().find(|r| r.label == label).unwrap();
            assert_eq!(row.state, "not used", "{row:?}");
        }
        // The same absence in Rules mode is missing.
        res.mode = MappingType::Rules;
        assert!(res.missing().contains(&Resource::Role) && res.missing().contains(&Resource::Mapping));
        // A role left behind in Abac mode.
        let mut left = as_onboarded(&tenant, &s);
        left.mapping = Observation::Absent("no rule".into());
        let drift = left.drift(&tenant, &s);
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert_eq!(
            (drift[0].resource, drift[0].kind.clone(), drift[0].what.as_str()),
            (Resource::Role, DriftKind::Differs, "role tenant-acme")
        );
        assert!(drift[0].detail.contains("expected none in Abac mode"), "{drift:?}");
    }

    /// Each judged property, changed alone, is reported on that resource alone, under
    /// the name and property an operator reads.
    #[test]
    fn each_property_changed_alone_is_one_finding() {
        let tenant = TenantId::parse("acme").unwrap();
        let s = Settings {
            mapping_type: MappingType::Token,
            ..settings()
        };
        type Change = fn(&mut Audit);
        fn role(a: &mut Audit) -> &mut role::RoleAudited {
            match &mut a.role {
                Observation::Found(o) => o,
                _ => unreachable!("as onboarded"),
            }
        }
        let cases: [(Change, Resource, DriftKind, &str, &str); 13] = [
            (
                |a| {
                    if let Observation::Found(g) = &mut a.group {
                        g.description = None
                    }
                },
                Resource::Group,
                DriftKind::Differs,
                "group tenant:acme:members",
                "description",
            ),
            (
                |a| {
                    if let Observation::Found(g) = &mut a.group {
                        g.role_arn = Some("arn:other".into())
                    }
                },
                Resource::Group,
                DriftKind::Differs,
                "group tenant:acme:members",
                "role",
            ),
            (
                |a| role(a).path = "/".into(),
                Resource::Role,
                DriftKind::Differs,
                "role tenant-acme",
                "path",
            ),
            (
                |a| role(a).boundary = None,
                Resource::Role,
                DriftKind::Differs,
                "role tenant-acme",
                "permissions boundary",
            ),
            (
                |a| role(a).tag = Some("globex".into()),
                Resource::Role,
                DriftKind::Differs,
                "role tenant-acme",
                "tag tenant",
            ),
            (
                |a| role(a).trust = Some(serde_json::json!({"Statement": []})),
                Resource::Role,
                DriftKind::Differs,
                "role tenant-acme",
                "trust policy",
            ),
            (
                |a| role(a).inline.push("extra".into()),
                Resource::Role,
                DriftKind::Differs,
                "role tenant-acme inline policy extra",
                "an inline policy the templates do not create",
            ),
            (
                |a| role(a).policy = None,
                Resource::Role,
                DriftKind::Missing,
                "role tenant-acme inline policy tenant-access",
                "the tenant policy is not on the role",
            ),
            (
                |a| {
                    role(a).policy =
                        Some(serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
                },
                Resource::Role,
                DriftKind::Differs,
                "role tenant-acme inline policy tenant-access",
                "policy document",
            ),
            (
                |a| {
                    role(a)
                        .attached
                        .push("arn:aws:iam::aws:policy/AdministratorAccess".into())
                },
                Resource::Role,
                DriftKind::Differs,
                "role tenant-acme attached policy arn:aws:iam::aws:policy/AdministratorAccess",
                "a managed policy the templates do not attach",
            ),
            (
                |a| {
                    if let Observation::Found(o) = &mut a.secret {
                        o.deletion_date = Some("2026-12-08".into())
                    }
                },
                Resource::Secret,
                DriftKind::Missing,
                "secret tenants/acme/app",
                "the secret is scheduled for deletion (2026-12-08)",
            ),
            (
                |a| {
                    if let Observation::Found(o) = &mut a.secret {
                        o.tag = None
                    }
                },
                Resource::Secret,
                DriftKind::Differs,
                "secret tenants/acme/app",
                "tag tenant",
            ),
            (
                |a| a.prefix = Observation::Found(Some("globex".into())),
                Resource::Prefix,
                DriftKind::Differs,
                "prefix marker s3://",
                "tag tenant",
            ),
        ];
        for (i, (change, resource, kind, what, detail)) in cases.into_iter().enumerate() {
            let mut audit = as_onboarded(&tenant, &s);
            change(&mut audit);
            let drift = audit.drift(&tenant, &s);
            assert_eq!(drift.len(), 1, "case {i}: {drift:?}");
            let d = &drift[0];
            assert_eq!((d.resource, d.kind.clone()), (resource, kind), "case {i}");
            assert!(d.what.starts_with(what), "case {i}: {d:?}");
            assert_eq!(d.detail, detail, "case {i}");
            // A property that differs shows both values; a policy the templates do not
            // make has none to show.
            let extra = what.contains(" inline policy extra") || what.contains(" attached policy ");
            assert_eq!(
                d.expected.is_some() && d.found.is_some(),
                d.kind == DriftKind::Differs && !extra,
                "case {i}: {d:?}"
            );
        }
    }
}
