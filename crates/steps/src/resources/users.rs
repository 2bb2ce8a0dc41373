//! The tenant's users: the first (admin) user onboarding creates, and every member of the
//! tenant's group, which teardown removes with the group.

use serde::Serialize;
use serde_json::{Value, json};
use tenant_domain::{MappingType, TenantId, TenantNames};

use super::access::{Attempt, Reach};
use super::{Drift, Observation, Row, TenantResource, not_found_row};
use crate::record;
use crate::{Context, Settings, StepError, StepInput};

pub struct Users;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsersObserved {
    pub members: usize,
}

pub(crate) async fn admin_email(
    ctx: &Context,
    input: &StepInput,
    tenant: &TenantId,
) -> Result<Option<String>, StepError> {
    Ok(match &input.admin_email {
        Some(e) => Some(e.clone()),
        None => record::get(ctx, tenant.as_str()).await?.and_then(|r| r.admin_email),
    })
}

/// The admin user, if the signup named one: created and put in the group. `None`: no
/// admin email, so no user.
pub(crate) async fn ensure_first_user(
    ctx: &Context,
    tenant: &TenantId,
    email: Option<&str>,
) -> Result<Option<bool>, StepError> {
    Ok(match email {
        Some(e) => Some(crate::users::ensure_admin(ctx, tenant, e).await?),
        None => None,
    })
}

impl TenantResource for Users {
    fn applies(_mode: MappingType) -> bool {
        true
    }

    type Expected = ();

    fn expected(_tenant: &TenantId, _settings: &Settings) {}

    type Audited = ();

    /// Not read per tenant: `audit` judges who is in which tenant group across the pool.
    async fn audit_read(_ctx: &Context, _tenant: &TenantId) -> Observation<()> {
        Observation::Found(())
    }

    /// A tenant may have no user (no admin email at signup); which users belong where is
    /// judged across the pool.
    fn judge(_name: &str, _expected: &(), _audited: &Observation<()>) -> Vec<Drift> {
        vec![]
    }

    type Observed = UsersObserved;

    fn name(tenant: &TenantId, _settings: &Settings) -> String {
        format!("members of {}", TenantNames::new(tenant).group)
    }

    /// The admin user, created and put in the group (runs inside RecordActive).
    async fn create(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        let tenant = input.tenant()?;
        let email = admin_email(ctx, input, &tenant).await?;
        let created = ensure_first_user(ctx, &tenant, email.as_deref()).await?;
        Ok(json!({ "admin_user_created": created }))
    }

    /// Every member of the group; a groupless admin user is this attempt's only during
    /// compensation (RecordActive failed between creating and adding it).
    async fn delete(ctx: &Context, input: &StepInput) -> Result<Value, StepError> {
        let tenant = input.tenant()?;
        let admin = if input.offboard.is_none() {
            admin_email(ctx, input, &tenant).await?
        } else {
            None
        };
        let deleted = crate::users::remove_tenant_users(ctx, &tenant, admin.as_deref()).await?;
        Ok(json!({ "users_deleted": deleted }))
    }

    async fn inspect(ctx: &Context, tenant: &TenantId) -> Observation<UsersObserved> {
        let names = TenantNames::new(tenant);
        match crate::users::group_members(ctx, &names.group).await {
            Ok(Some(members)) => Observation::Found(UsersObserved { members: members.len() }),
            Ok(None) => Observation::Absent(format!("no group {}", names.group)),
            Err(e) => Observation::unavailable(&e),
        }
    }

    fn present(observed: &UsersObserved) -> Vec<&'static str> {
        if observed.members > 0 { vec!["users"] } else { vec![] }
    }

    fn unusable(_observed: &UsersObserved) -> bool {
        false
    }

    fn rows(name: &str, observed: &Observation<UsersObserved>) -> Vec<Row> {
        vec![not_found_row("users", name, observed).unwrap_or_else(|| {
            let n = observed.found().map_or(0, |o| o.members);
            Row::new("users", format!("{n} user(s)"), name)
        })]
    }

    /// Not used with a tenant's credentials: nothing to try.
    async fn reach(_ctx: &Context, _reach: &Reach<'_>) -> Vec<Attempt> {
        vec![]
    }

    const CENSUS_KIND: &'static str = "users";

    /// Users are found through their groups: `audit` checks who is in which group.
    async fn census(_ctx: &Context) -> Result<Vec<(String, String)>, StepError> {
        Ok(vec![])
    }

    fn census_name(_tenant: &TenantId, _settings: &Settings) -> Option<String> {
        None
    }
}
