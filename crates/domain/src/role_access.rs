//! Who gets which role: the judge of everything outside a tenant's own resources that
//! changes the role a signed-in user ends up with. Pure: it reads an inventory the
//! caller gathered (tenant groups with their precedence and members, the identity pool's
//! default roles, each tenant's record status) and says what is wrong with it.
//!
//! What it knows:
//! - A user in two tenants' groups has no single tenant: the pre-token trigger gives them
//!   no `tenant_id` claim (so no Rules rule and no Abac tag), the Token mapping with `Deny`
//!   refuses them while their groups' precedences tie, and a precedence that differs
//!   makes Token mode pick one. Either way one user spans tenants, which onboarding never
//!   does (it refuses such an admin email).
//! - Onboarding gives every tenant group the same precedence (none, or 0 in Token mode,
//!   where the group carries the role). A different precedence decides
//!   `cognito:preferred_role` for a user in several groups, so one set out of band changes
//!   which role wins.
//! - The identity pool's default roles (`authenticated`, `unauthenticated`) are given to
//!   identities no rule matches (and, with `AuthenticatedRole` resolution, to ambiguous
//!   ones). A tenant's role there hands that tenant's data to every such identity.
//! - A member of a tenant group whose tenant should have no users (no record, FAILED,
//!   OFFBOARDED, ROLLBACK_FAILED) still holds that group's role in Token mode and any
//!   rule still naming it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::Status;

/// One tenant group as found in the user pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupSeen {
    pub precedence: Option<i32>,
    pub members: Vec<String>,
}

/// What decides the role of a user, account-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleInventory {
    /// Tenant groups by the tenant id their name carries.
    pub groups: BTreeMap<String, GroupSeen>,
    /// The identity pool's default roles: `authenticated` / `unauthenticated` → role ARN.
    pub pool_roles: BTreeMap<String, String>,
    /// The status of every tenant with a record.
    pub records: BTreeMap<String, Status>,
    /// The precedence onboarding gives a tenant group in this deployment's mapping type
    /// (`crate::mapping::group_precedence`).
    pub expected_precedence: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleFindingKind {
    /// A user in more than one tenant's group.
    SharedUser,
    /// A tenant group whose precedence is not the one onboarding sets.
    Precedence,
    /// The identity pool gives a tenant's role by default.
    DefaultRole,
    /// A member of a group whose tenant should have no users.
    StrayMember,
}

/// One thing that changes which role a user gets, with the tenant it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleFinding {
    pub tenant: String,
    pub kind: RoleFindingKind,
    /// What it is about: "user alice", "group tenant:acme:members", "identity pool default authenticated role".
    pub subject: String,
    pub detail: String,
}

/// The tenant whose role `arn` is: `arn:{partition}:iam::{account}:role/tenants/tenant-{id}`.
pub fn tenant_of_role_arn(arn: &str) -> Option<&str> {
    let (_, path_and_name) = arn.split_once(":role/")?;
    path_and_name.strip_prefix("tenants/")?.strip_prefix("tenant-")
}

fn group_name(tenant: &str) -> String {
    format!("tenant:{tenant}:members")
}

/// Everything in `inventory` that changes which role some user gets, in a stable order.
/// Empty when every user of a tenant group is in exactly one group of a tenant that
/// should have users, no group has a precedence and no default role is a tenant's.
pub fn judge(inventory: &RoleInventory) -> Vec<RoleFinding> {
    let mut out = vec![];

    let mut tenants_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (tenant, group) in &inventory.groups {
        for user in &group.members {
            tenants_of.entry(user).or_default().insert(tenant);
        }
    }
    for (user, tenants) in &tenants_of {
        if tenants.len() < 2 {
            continue;
        }
        let list = tenants.iter().copied().collect::<Vec<_>>().join(", ");
        for tenant in tenants {
            out.push(RoleFinding {
                tenant: tenant.to_string(),
                kind: RoleFindingKind::SharedUser,
                subject: format!("user {user}"),
                detail: format!(
                    "in the groups of {} tenants ({list}): they get no tenant claim, so no tenant's credentials (Token mode picks a role if the precedences differ) — remove them from all but one group",
                    tenants.len()
                ),
            });
        }
    }

    for (tenant, group) in &inventory.groups {
        if group.precedence != inventory.expected_precedence {
            let shown = |p: Option<i32>| p.map_or_else(|| "none".to_string(), |p| p.to_string());
            out.push(RoleFinding {
                tenant: tenant.clone(),
                kind: RoleFindingKind::Precedence,
                subject: format!("group {}", group_name(tenant)),
                detail: format!(
                    "precedence {}, onboarding sets {}: a precedence picks the role (cognito:preferred_role) of a user in several groups",
                    shown(group.precedence),
                    shown(inventory.expected_precedence)
                ),
            });
        }
        let status = inventory.records.get(tenant).copied();
        let why = match status {
            None => "has no record",
            Some(Status::Failed) => "is FAILED",
            Some(Status::Offboarded) => "is OFFBOARDED",
            Some(Status::RollbackFailed) => "is ROLLBACK_FAILED",
            Some(_) => continue,
        };
        for user in &group.members {
            out.push(RoleFinding {
                tenant: tenant.clone(),
                kind: RoleFindingKind::StrayMember,
                subject: format!("user {user}"),
                detail: format!(
                    "member of {} although the tenant {why}: the group's role (Token mode) or a rule still naming it reaches this user",
                    group_name(tenant)
                ),
            });
        }
    }

    for (which, arn) in &inventory.pool_roles {
        if let Some(tenant) = tenant_of_role_arn(arn) {
            out.push(RoleFinding {
                tenant: tenant.to_string(),
                kind: RoleFindingKind::DefaultRole,
                subject: format!("identity pool default {which} role"),
                detail: format!(
                    "{arn} is a tenant's role: every {which} identity that no rule maps gets this tenant's data"
                ),
            });
        }
    }

    out.sort_by(|a, b| (&a.tenant, a.kind, &a.subject).cmp(&(&b.tenant, b.kind, &b.subject)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn group(members: &[&str]) -> GroupSeen {
        GroupSeen {
            precedence: None,
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn active(ids: &[&str]) -> BTreeMap<String, Status> {
        ids.iter().map(|i| (i.to_string(), Status::Active)).collect()
    }

    #[test]
    fn one_user_per_tenant_with_no_precedence_and_no_tenant_default_is_clean() {
        let inv = RoleInventory {
            groups: [("acme", group(&["a1", "a2"])), ("globex", group(&["g1"]))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            pool_roles: [(
                "authenticated".to_string(),
                "arn:aws:iam::123456789012:role/app-authenticated".to_string(),
            )]
            .into(),
            records: active(&["acme", "globex"]),
            expected_precedence: None,
        };
        assert_eq!(judge(&inv), vec![]);
    }

    #[test]
    fn each_way_of_changing_a_users_role_is_named() {
        let mut acme = group(&["shared", "a1"]);
        acme.precedence = Some(0);
        let inv = RoleInventory {
            groups: [
                ("acme", acme),
                ("globex", group(&["shared"])),
                ("ghost", group(&["g"])),
                ("gone", group(&["x"])),
                ("busy", group(&["b"])),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            pool_roles: [
                (
                    "authenticated".to_string(),
                    "arn:aws:iam::123456789012:role/tenants/tenant-acme".to_string(),
                ),
                (
                    "unauthenticated".to_string(),
                    "arn:aws:iam::123456789012:role/tenants-not/tenant-acme".to_string(),
                ),
            ]
            .into(),
            records: [
                ("acme", Status::Active),
                ("globex", Status::Active),
                ("gone", Status::Offboarded),
                ("busy", Status::Provisioning),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            expected_precedence: None,
        };
        let got: Vec<(String, RoleFindingKind, String)> =
            judge(&inv).into_iter().map(|f| (f.tenant, f.kind, f.subject)).collect();
        let want: Vec<(String, RoleFindingKind, String)> = [
            ("acme", RoleFindingKind::SharedUser, "user shared"),
            ("acme", RoleFindingKind::Precedence, "group tenant:acme:members"),
            (
                "acme",
                RoleFindingKind::DefaultRole,
                "identity pool default authenticated role",
            ),
            ("ghost", RoleFindingKind::StrayMember, "user g"),
            ("globex", RoleFindingKind::SharedUser, "user shared"),
            ("gone", RoleFindingKind::StrayMember, "user x"),
        ]
        .into_iter()
        .map(|(t, k, s)| (t.to_string(), k, s.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_role_arn_names_its_tenant_only_under_the_tenants_path() {
        assert_eq!(
            tenant_of_role_arn("arn:aws:iam::1:role/tenants/tenant-acme-labs"),
            Some("acme-labs")
        );
        assert_eq!(tenant_of_role_arn("arn:aws:iam::1:role/tenant-acme"), None);
        assert_eq!(tenant_of_role_arn("arn:aws:iam::1:role/tenants/other"), None);
        assert_eq!(tenant_of_role_arn("not an arn"), None);
    }

    fn status() -> impl Strategy<Value = Option<Status>> {
        prop_oneof![
            Just(None),
            proptest::sample::select(Status::ALL.to_vec()).prop_map(Some)
        ]
    }

    proptest! {
        /// Over a small pool of tenants and users so that they meet: a user is reported as
        /// shared exactly when in two or more groups, once per group; a stray member
        /// exactly when its tenant should have no users; a precedence exactly when set.
        #[test]
        fn findings_are_exactly_the_role_changes(
            tenants in proptest::collection::btree_map(
                proptest::sample::select(vec!["acme", "acme-labs", "globex", "initech"]),
                (
                    status(),
                    proptest::option::of(0i32..3),
                    proptest::collection::btree_set(proptest::sample::select(vec!["u1", "u2", "u3", "u4"]), 0..4),
                ),
                0..4,
            ),
            default_tenant in proptest::option::of(proptest::sample::select(vec!["acme", "nobody"])),
        ) {
            let mut inv = RoleInventory::default();
            for (id, (status, precedence, members)) in &tenants {
                inv.groups.insert(id.to_string(), GroupSeen {
                    precedence: *precedence,
                    members: members.iter().map(|m| m.to_string()).collect(),
                });
                if let Some(s) = status {
                    inv.records.insert(id.to_string(), *s);
                }
            }
            if let Some(t) = default_tenant {
                inv.pool_roles.insert("authenticated".into(), format!("arn:aws:iam::1:role/tenants/tenant-{t}"));
            }
            let findings = judge(&inv);
            for user in ["u1", "u2", "u3", "u4"] {
                let groups = tenants.values().filter(|(_, _, m)| m.contains(user)).count();
                let shared = findings.iter().filter(|f| f.kind == RoleFindingKind::SharedUser && f.subject == format!("user {user}")).count();
                prop_assert_eq!(shared, if groups >= 2 { groups } else { 0 });
            }
            for (id, (status, precedence, members)) in &tenants {
                let of = |k| findings.iter().filter(|f| f.tenant == *id && f.kind == k).count();
                prop_assert_eq!(of(RoleFindingKind::Precedence), usize::from(precedence.is_some()));
                let no_users = matches!(status, None | Some(Status::Failed | Status::Offboarded | Status::RollbackFailed));
                prop_assert_eq!(of(RoleFindingKind::StrayMember), if no_users { members.len() } else { 0 });
            }
            let defaults = findings.iter().filter(|f| f.kind == RoleFindingKind::DefaultRole).count();
            prop_assert_eq!(defaults, usize::from(default_tenant.is_some()));
        }
    }

    #[test]
    fn a_token_group_is_expected_at_precedence_zero() {
        let mut inv = RoleInventory {
            groups: [("acme".to_string(), group(&["a1"]))].into(),
            records: active(&["acme"]),
            expected_precedence: Some(0),
            ..Default::default()
        };
        let found = judge(&inv);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, RoleFindingKind::Precedence);
        assert!(
            found[0].detail.starts_with("precedence none, onboarding sets 0"),
            "{found:?}"
        );
        inv.groups.get_mut("acme").unwrap().precedence = Some(0);
        assert_eq!(judge(&inv), vec![]);
    }
}
