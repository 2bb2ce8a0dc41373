//! The `tenant_id` token claim: which tenant a user's groups bind them to.
//!
//! The pre-token-generation trigger puts this claim in the ID and access tokens so
//! downstream services (and, in Abac mode, the identity pool's principal tag) carry the
//! tenant binding without calling STS. A user must be bound to exactly one tenant: a user
//! in none gets no claim, and so does a user in two, because picking one of them would
//! be a guess about which tenant's data they may reach.

use crate::TenantId;

/// Name of the claim the trigger sets.
pub const CLAIM: &str = "tenant_id";

const GROUP_PREFIX: &str = "tenant:";
const GROUP_SUFFIX: &str = ":members";

/// What a user's groups say about their tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantClaim {
    /// Exactly one tenant group: the claim's value.
    Tenant(TenantId),
    /// No tenant group (an operator, or a user not yet placed): no claim.
    NoTenantGroup,
    /// Groups of more than one tenant: no claim, and worth a log line, since the
    /// workflow never does this itself. Sorted, without duplicates.
    Ambiguous(Vec<TenantId>),
}

impl TenantClaim {
    /// The claim's value, when there is one.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            TenantClaim::Tenant(t) => Some(t),
            TenantClaim::NoTenantGroup | TenantClaim::Ambiguous(_) => None,
        }
    }
}

/// The tenant of a workflow group name (`tenant:{id}:members`); `None` for any other
/// group, including one whose middle is not a valid tenant id.
pub fn tenant_of_group(group: &str) -> Option<TenantId> {
    let id = group.strip_prefix(GROUP_PREFIX)?.strip_suffix(GROUP_SUFFIX)?;
    TenantId::parse(id).ok()
}

/// The claim for a user in `groups` (Cognito's `cognito:groups`, in any order).
pub fn tenant_claim<S: AsRef<str>>(groups: &[S]) -> TenantClaim {
    let mut tenants: Vec<TenantId> = groups.iter().filter_map(|g| tenant_of_group(g.as_ref())).collect();
    tenants.sort();
    tenants.dedup();
    match tenants.len() {
        0 => TenantClaim::NoTenantGroup,
        1 => TenantClaim::Tenant(tenants.remove(0)),
        _ => TenantClaim::Ambiguous(tenants),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantNames;
    use crate::tenant_id::strategy::valid_id;
    use proptest::prelude::*;

    fn id(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn one_tenant_group_is_the_claim() {
        let groups = ["admins", "tenant:acme:members", "beta-testers"];
        assert_eq!(tenant_claim(&groups), TenantClaim::Tenant(id("acme")));
        assert_eq!(tenant_claim(&groups).tenant(), Some(&id("acme")));
    }

    #[test]
    fn no_or_two_tenant_groups_give_no_claim() {
        let none: [&str; 0] = [];
        assert_eq!(tenant_claim(&none), TenantClaim::NoTenantGroup);
        assert_eq!(tenant_claim(&["operators"]), TenantClaim::NoTenantGroup);
        let two = tenant_claim(&["tenant:globex:members", "tenant:acme:members"]);
        assert_eq!(two, TenantClaim::Ambiguous(vec![id("acme"), id("globex")]));
        assert_eq!(two.tenant(), None);
    }

    #[test]
    fn look_alike_groups_are_not_tenant_groups() {
        for g in [
            "tenant:acme:member",
            "tenant:acme:members:extra",
            "tenant::members",
            "tenant:Acme:members",
            "tenant:acme/x:members",
            "tenants:acme:members",
            "xtenant:acme:members",
            "tenant:acme:admins",
        ] {
            assert_eq!(tenant_of_group(g), None, "{g}");
        }
        assert_eq!(
            tenant_claim(&["tenant:acme:members", "tenant:acme:admins"]),
            TenantClaim::Tenant(id("acme"))
        );
    }

    proptest! {
        /// The group onboarding creates always gives back its tenant.
        #[test]
        fn the_workflow_group_round_trips(raw in valid_id()) {
            let t = id(&raw);
            prop_assert_eq!(tenant_of_group(&TenantNames::new(&t).group), Some(t.clone()));
        }

        /// Whatever other groups a user is in, and in whatever order: one tenant group is
        /// the claim, two different ones are no claim.
        #[test]
        fn claim_is_exactly_one_tenant(
            a in valid_id(),
            b in valid_id(),
            noise in proptest::collection::vec("[a-zA-Z0-9:_-]{0,20}", 0..5),
            seed in any::<u64>(),
        ) {
            let noise: Vec<String> = noise.into_iter().filter(|g| tenant_of_group(g).is_none()).collect();
            let group = |t: &str| TenantNames::new(&id(t)).group;
            let mut one = noise.clone();
            one.push(group(&a));
            one.push(group(&a));
            let n = (seed as usize) % one.len();
            one.rotate_left(n);
            prop_assert_eq!(tenant_claim(&one), TenantClaim::Tenant(id(&a)));

            prop_assert_eq!(tenant_claim(&noise), TenantClaim::NoTenantGroup);

            let mut two = one.clone();
            two.push(group(&b));
            let n = (seed as usize) % two.len();
            two.rotate_right(n);
            let claim = tenant_claim(&two);
            if a == b {
                prop_assert_eq!(claim, TenantClaim::Tenant(id(&a)));
            } else {
                prop_assert_eq!(claim.tenant(), None);
                let mut both = vec![id(&a), id(&b)];
                both.sort();
                prop_assert_eq!(claim, TenantClaim::Ambiguous(both));
            }
        }
    }
}
