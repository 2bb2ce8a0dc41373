//! `tenantctl migrate --to token|abac`: moves every ACTIVE tenant of a Rules or Token
//! deployment to the target mode, one at a time, each proven by the Verify step's proof
//! (probe user, real credentials, canary denial) in the new mode before its old role and
//! rule go. It can be stopped (`--max`, or killed) and run again: where each tenant
//! stands is read from what exists (its rule or group role, its own role, the mode its
//! record was proven in), and the run's progress is kept on the table's `#migration`
//! item. A failed proof puts that tenant back on its old mode (its role and rule intact)
//! and stops, naming it.
//!
//! To Abac, tenant by tenant: its rule (Rules) or its group's role (Token) is pointed at
//! the shared role, whose sessions carry the `tenant` tag from the pool's principal tag
//! map; proven; then its own role is deleted. When all are moved the deployment's
//! MappingType becomes Abac (the stack update drops the provider's mapping and makes the
//! shared role the pool's default).
//!
//! To Token (from Rules): the provider resolves by one type at a time, so every tenant's
//! group first gets its own role (harmless under Rules), then the provider's mapping is
//! switched to Token in one write and each tenant is proven in Token mode; a failed proof
//! switches the mapping back to Rules (rebuilt from the table) and stops.

use serde::Serialize;
use tenant_domain::mapping::role_name_of_arn;
use tenant_domain::names::{INLINE_POLICY_NAME, ROLE_PATH};
use tenant_domain::policy::trust_policy;
use tenant_domain::policy_compare::{decode_document, same_policy};
use tenant_domain::{MappingType, Status, TenantId};
use tenant_steps::migrate::{self as steps, Progress};
use tenant_steps::{Context, StepError, converge, mapping, record};

use crate::Ops;
use crate::exit::{CliError, Exit};

/// The modes a deployment can be moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Token,
    Abac,
}

impl Target {
    pub fn mode(self) -> MappingType {
        match self {
            Target::Token => MappingType::Token,
            Target::Abac => MappingType::Abac,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub to: Target,
    /// Move at most this many tenants in this run, then stop (resumable).
    pub max: Option<usize>,
    /// The shared tenant role's name, when more than one role could be it.
    pub shared_role: Option<String>,
}

/// Why a migration did not start, or stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the deployment resolves its users by {from:?} mapping: migrate moves Rules or Token deployments to Token or Abac, and {from:?} -> {to:?} is not one of those moves; nothing was changed"
    )]
    Unsupported { from: MappingType, to: MappingType },
    #[error(
        "no shared tenant role was found (a role under {ROLE_PATH} with the shared tenant policy and this identity pool's trust): a tenant moved to Abac would get credentials that reach nothing; nothing was changed"
    )]
    NoSharedRole,
    #[error("several roles could be the shared tenant role ({}); nothing was changed", names.join(", "))]
    SharedRoleAmbiguous { names: Vec<String> },
    #[error("role {name} is not this deployment's shared tenant role: {why}; nothing was changed")]
    NotSharedRole { name: String, why: String },
    #[error(
        "the identity pool does not map the tenant_id claim to the `tenant` session tag for {provider} (found {found}): shared-role sessions would carry no tenant tag and reach nothing; nothing was changed"
    )]
    NoTagMap { provider: String, found: String },
    #[error(
        "another migration run holds the migration lease ({holder}) until {expires_at} (epoch seconds); nothing was changed"
    )]
    Busy { holder: String, expires_at: u64 },
    #[error(
        "a migration to {running:?} is under way (state {state}); this run to {to:?} would mix the two; nothing was changed"
    )]
    OtherTarget {
        running: MappingType,
        to: MappingType,
        state: String,
    },
    #[error(
        "tenant {tenant}: its proof in {to:?} mode failed ({error}: {message}); {left}; the migration stopped after moving {moved} tenant(s) in this run"
    )]
    ProofFailed {
        tenant: String,
        to: MappingType,
        error: String,
        message: String,
        /// Where the failure left the tenant (and, for Token, every tenant).
        left: String,
        moved: usize,
    },
}

impl MigrateError {
    pub fn exit(&self) -> Exit {
        match self {
            MigrateError::ProofFailed { .. } => Exit::Failed,
            _ => Exit::Refused,
        }
    }

    fn tenant(&self) -> Option<&str> {
        match self {
            MigrateError::ProofFailed { tenant, .. } => Some(tenant),
            _ => None,
        }
    }

    /// What to do next.
    pub fn next(&self) -> String {
        match self {
            MigrateError::Unsupported { .. } => {
                "`tenantctl audit` shows how the deployment resolves its users".into()
            }
            MigrateError::NoSharedRole | MigrateError::NotSharedRole { .. } => {
                "deploy this version of template.yaml first (it has TenantAbacRole and TenantPrincipalTags in every mode; locally `tenantctl local deploy --shared-role`), or name the role with --shared-role; then run `tenantctl migrate --to abac` again".into()
            }
            MigrateError::SharedRoleAmbiguous { .. } => {
                "name the deployment's TenantAbacRole with --shared-role NAME".into()
            }
            MigrateError::NoTagMap { .. } => {
                "deploy this version of template.yaml (TenantPrincipalTags: tenant <- tenant_id, in every mode; locally `tenantctl local deploy --shared-role`), then run `tenantctl migrate --to abac` again".into()
            }
            MigrateError::Busy { .. } => {
                "wait for that run to end (or its lease to run out if it was killed), then run the command again; `tenantctl migrate --status` shows its progress".into()
            }
            MigrateError::OtherTarget { running, .. } => format!(
                "finish it first: `tenantctl migrate --to {}`",
                format!("{running:?}").to_lowercase()
            ),
            MigrateError::ProofFailed { tenant, to, .. } => format!(
                "`tenantctl status {tenant}` and `tenantctl audit` show what is wrong{}; fix it, then `tenantctl migrate --to {}` resumes where it stopped",
                if *to == MappingType::Abac {
                    " (the shared role's policy, the principal tag map, the tenant's group)"
                } else {
                    " (the tenant's role and group)"
                },
                format!("{to:?}").to_lowercase()
            ),
        }
    }
}

impl From<MigrateError> for CliError {
    fn from(e: MigrateError) -> Self {
        CliError::new(e.exit(), e.tenant(), e.to_string()).next(e.next())
    }
}

fn fail(e: MigrateError) -> anyhow::Error {
    CliError::from(e).into()
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Migrated {
    pub to: Target,
    /// How the pool resolved the tenants when the run started.
    pub from: MappingType,
    /// Moved by this run, in order: to Abac, pointed at the shared role, proven, own role
    /// deleted; to Token, its group given its own role.
    pub moved: Vec<String>,
    /// Proven in the target mode by this run (to Abac, the same as `moved`).
    pub proven: Vec<String>,
    /// Already on the target mode: skipped.
    pub already: Vec<String>,
    /// ACTIVE tenants this run did not reach (`--max`).
    pub remaining: Vec<String>,
    /// Every ACTIVE tenant is on the target mode.
    pub complete: bool,
    /// Stopped by an interrupt (Ctrl-C, SIGINT) after the tenant in hand.
    pub interrupted: bool,
    /// The deployment's own MappingType (what new onboardings use).
    pub deployment: MappingType,
    pub next: String,
    /// The `#migration` item after the run.
    pub progress: Option<Progress>,
}

/// The shared tenant role: the one role under the tenants' path that is no tenant's and
/// has the shared policy and this pool's trust (compared by meaning, as `audit` does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SharedRole {
    pub name: String,
    pub arn: String,
}

fn is_tenant_role_name(name: &str) -> bool {
    name.strip_prefix("tenant-")
        .is_some_and(|id| TenantId::parse(id).is_ok())
}

/// The role's ARN when `name` is the shared role; why not otherwise.
async fn check_shared(ctx: &Context, name: &str) -> anyhow::Result<Result<String, String>> {
    let iam = &ctx.clients.iam;
    let role = match iam.get_role().role_name(name).send().await {
        Ok(out) => out.role().cloned(),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => None,
        Err(e) => return Err(anyhow::Error::from(e).context("iam GetRole")),
    };
    let Some(role) = role else {
        return Ok(Err("it does not exist".into()));
    };
    let trust = role.assume_role_policy_document().and_then(decode_document);
    if !trust
        .as_ref()
        .is_some_and(|t| same_policy(&trust_policy(&ctx.settings.identity_pool_id), t))
    {
        return Ok(Err(
            "its trust is not this identity pool's authenticated identities with sts:TagSession".into(),
        ));
    }
    let boundary = role.permissions_boundary().and_then(|b| b.permissions_boundary_arn());
    if boundary != Some(ctx.settings.boundary_arn.as_str()) {
        return Ok(Err("it does not carry the tenants' permissions boundary".into()));
    }
    let doc = match iam
        .get_role_policy()
        .role_name(name)
        .policy_name(INLINE_POLICY_NAME)
        .send()
        .await
    {
        Ok(d) => decode_document(d.policy_document()),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => None,
        Err(e) => return Err(anyhow::Error::from(e).context("iam GetRolePolicy")),
    };
    let expected = ctx.settings.shared_policy().to_value();
    if !doc.as_ref().is_some_and(|d| same_policy(&expected, d)) {
        return Ok(Err(format!(
            "its inline policy {INLINE_POLICY_NAME} is not the shared tenant policy"
        )));
    }
    Ok(Ok(role.arn().to_string()))
}

pub async fn find_shared_role(ctx: &Context, named: Option<&str>) -> anyhow::Result<SharedRole> {
    if let Some(name) = named {
        return match check_shared(ctx, name).await? {
            Ok(arn) => Ok(SharedRole {
                name: name.to_string(),
                arn,
            }),
            Err(why) => Err(fail(MigrateError::NotSharedRole {
                name: name.to_string(),
                why,
            })),
        };
    }
    let mut found = vec![];
    let mut pages = ctx
        .clients
        .iam
        .list_roles()
        .path_prefix(ROLE_PATH)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| anyhow::Error::from(e).context("iam ListRoles"))?;
        for role in page.roles() {
            let name = role.role_name();
            if is_tenant_role_name(name) {
                continue;
            }
            if let Ok(arn) = check_shared(ctx, name).await? {
                found.push(SharedRole {
                    name: name.to_string(),
                    arn,
                });
            }
        }
    }
    match found.len() {
        0 => Err(fail(MigrateError::NoSharedRole)),
        1 => Ok(found.remove(0)),
        _ => Err(fail(MigrateError::SharedRoleAmbiguous {
            names: found.into_iter().map(|r| r.name).collect(),
        })),
    }
}

/// The pool must tag sessions with the tenant before any tenant is moved to Abac.
async fn check_tag_map(ops: &Ops) -> anyhow::Result<()> {
    let got = crate::abac::tag_map(ops).await?;
    if !got.as_expected() {
        return Err(fail(MigrateError::NoTagMap {
            found: format!("{}, use defaults {}", got.tags, got.use_defaults),
            provider: got.provider,
        }));
    }
    Ok(())
}

/// The ACTIVE tenants, by id.
async fn active_tenants(ctx: &Context) -> Result<Vec<TenantId>, StepError> {
    Ok(record::list(ctx)
        .await?
        .into_iter()
        .filter(|r| r.status == Status::Active)
        .filter_map(|r| TenantId::parse(&r.tenant_id).ok())
        .collect())
}

/// The context proofs run with: the target mode (so a refusal in Abac mode is final at
/// once, nothing propagating) and verification on whatever the deployment says (a
/// skipped proof proves nothing).
fn proof_context(ctx: &Context, mode: MappingType) -> Context {
    let mut c = steps::with_mode(ctx, mode);
    c.settings.verify = true;
    c
}

/// One run of a migration: holds the lease, ends it whatever happens.
struct Run<'a> {
    ctx: &'a Context,
    owner: String,
    by: String,
    to: MappingType,
    max: Option<usize>,
    /// Set by an interrupt: the run stops before the next tenant.
    interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
    moved: Vec<String>,
    proven: Vec<String>,
    already: Vec<String>,
    remaining: Vec<String>,
}

impl Run<'_> {
    fn interrupted(&self) -> bool {
        self.interrupt.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether this run moves another tenant: not past `--max`, not interrupted.
    fn room(&self) -> bool {
        self.max.is_none_or(|m| self.moved.len() < m) && !self.interrupted()
    }

    /// Records one moved tenant and renews the lease; a lease taken over stops the run.
    async fn moved(&mut self, tenant: &TenantId) -> anyhow::Result<()> {
        self.moved.push(tenant.to_string());
        // Progress as it happens, on stderr (stdout stays one report, or one JSON document).
        eprintln!("{tenant}: moved to {:?} ({} in this run)", self.to, self.moved.len());
        let held = steps::moved(self.ctx, &self.owner, tenant).await?;
        self.held(held).await
    }

    /// Renews the lease (a long run of proofs); a lease taken over stops the run.
    async fn renew(&self) -> anyhow::Result<()> {
        let held = steps::renew(self.ctx, &self.owner).await?;
        self.held(held).await
    }

    async fn held(&self, held: bool) -> anyhow::Result<()> {
        if !held {
            let p = steps::progress(self.ctx).await?;
            return Err(fail(MigrateError::Busy {
                holder: p
                    .as_ref()
                    .and_then(|p| p.owner.clone())
                    .unwrap_or_else(|| "another run".into()),
                expires_at: p.map_or(0, |p| p.expires_at),
            }));
        }
        Ok(())
    }

    async fn failed(&self, tenant: &TenantId, e: &StepError, left: String) -> anyhow::Error {
        let err = MigrateError::ProofFailed {
            tenant: tenant.to_string(),
            to: self.to,
            error: e.name().to_string(),
            message: e.to_string(),
            left,
            moved: self.moved.len(),
        };
        let reason = err.to_string();
        if let Err(release) = steps::release(self.ctx, &self.owner, "failed", Some(tenant), Some(&reason)).await {
            tracing::warn!(error = %release, "could not record the failed migration");
        }
        fail(err)
    }
}

/// A flag an interrupt (Ctrl-C, SIGINT) sets: the run then finishes the tenant in hand,
/// so no tenant is left pointed and unproven, and stops, releasing its lease.
fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let set = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: stopping after the tenant in hand");
            set.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    flag
}

/// The `#migration` item as it stands (for `--status`).
pub async fn status(ops: &Ops) -> anyhow::Result<Option<Progress>> {
    Ok(steps::progress(&ops.ctx).await?)
}

pub async fn migrate(ops: &Ops, req: &Request) -> anyhow::Result<Migrated> {
    let ctx = &ops.ctx;
    let to = req.to.mode();
    let deployment = ctx.settings.mapping_type;
    let from = steps::effective_mode(ctx).await?;
    match (from, to) {
        (MappingType::Rules | MappingType::Token, MappingType::Abac) | (MappingType::Abac, MappingType::Abac) => {}
        // Token to Token: the pool already resolves by Token (switched by an earlier run,
        // or a Token deployment); the tenants not yet proven in it are.
        (MappingType::Rules | MappingType::Token, MappingType::Token) => {}
        (from, to) => return Err(fail(MigrateError::Unsupported { from, to })),
    }
    let shared = match to {
        MappingType::Abac => {
            let shared = find_shared_role(ctx, req.shared_role.as_deref()).await?;
            check_tag_map(ops).await?;
            Some(shared)
        }
        _ => None,
    };
    let owner = format!("migrate-{}-{}", std::process::id(), record::now());
    if let Some(p) = steps::progress(ctx).await?
        && let Some(running) = p.target
        && running != to
        && p.state.as_deref() != Some("complete")
    {
        return Err(fail(MigrateError::OtherTarget {
            running,
            to,
            state: p.state.unwrap_or_default(),
        }));
    }
    if !steps::claim(ctx, &owner, to, from).await? {
        let p = steps::progress(ctx).await?;
        return Err(fail(MigrateError::Busy {
            holder: p
                .as_ref()
                .and_then(|p| p.owner.clone())
                .unwrap_or_else(|| "another run".into()),
            expires_at: p.map_or(0, |p| p.expires_at),
        }));
    }
    let mut run = Run {
        ctx,
        by: owner.clone(),
        owner,
        to,
        max: req.max,
        interrupt: interrupt_flag(),
        moved: vec![],
        proven: vec![],
        already: vec![],
        remaining: vec![],
    };
    let result = match (&shared, to) {
        (Some(shared), MappingType::Abac) => to_abac(&mut run, from, shared).await,
        _ => to_token(&mut run, from).await,
    };
    let complete = match result {
        Ok(complete) => complete,
        Err(e) => {
            // A proof failure released the lease itself, saying why; anything else (AWS,
            // the environment) leaves the run stopped where it was.
            if !e.chain().any(|c| {
                c.downcast_ref::<CliError>()
                    .is_some_and(|c| c.exit == Exit::Failed || c.exit == Exit::Refused)
            }) {
                let reason = format!("{e:#}");
                let _ = steps::release(ctx, &run.owner, "stopped", None, Some(&reason)).await;
            }
            return Err(e);
        }
    };
    let interrupted = run.interrupted();
    let state = if complete { "complete" } else { "stopped" };
    steps::release(ctx, &run.owner, state, None, None).await?;
    let lower = format!("{to:?}").to_lowercase();
    let next = if !complete && interrupted {
        format!(
            "interrupted after the tenant in hand; {} ACTIVE tenant(s) not moved yet: `tenantctl migrate --to {lower}` carries on",
            run.remaining.len()
        )
    } else if !complete {
        format!(
            "{} ACTIVE tenant(s) not moved yet: `tenantctl migrate --to {lower}` carries on",
            run.remaining.len()
        )
    } else if deployment != to {
        format!(
            "every ACTIVE tenant is on {to:?}: switch the deployment's MappingType to {to:?} now (`sam deploy --parameter-overrides MappingType={to:?}`; locally `tenantctl local deploy --mapping-type {lower}`) so new onboardings use it{}",
            if to == MappingType::Abac {
                ", then `tenantctl migrate --to abac` once more to clear the records' old mapping entries"
            } else {
                ""
            }
        )
    } else {
        format!("the deployment is in {to:?} mode and every ACTIVE tenant is on it: nothing left to do")
    };
    Ok(Migrated {
        to: req.to,
        from,
        moved: run.moved,
        proven: run.proven,
        already: run.already,
        remaining: run.remaining,
        complete,
        interrupted,
        deployment,
        next,
        progress: steps::progress(ctx).await?,
    })
}

/// Every ACTIVE tenant onto the shared role; true when none is left.
async fn to_abac(run: &mut Run<'_>, via: MappingType, shared: &SharedRole) -> anyhow::Result<bool> {
    let ctx = run.ctx;
    let proof = proof_context(ctx, MappingType::Abac);
    for tenant in active_tenants(ctx).await? {
        let own = steps::own_role_exists(ctx, &tenant).await?;
        let pointer = steps::pointed_at(ctx, &tenant, via).await?;
        let on_shared = via == MappingType::Abac || pointer.as_deref() == Some(shared.arn.as_str());
        if !own && on_shared {
            if via == MappingType::Abac {
                clear_entry(ctx, &tenant).await?;
            }
            steps::mark(ctx, &tenant, MappingType::Abac).await?;
            run.already.push(tenant.to_string());
            continue;
        }
        if !run.room() {
            run.remaining.push(tenant.to_string());
            continue;
        }
        // Where to put the tenant back if the proof fails: its entry as it was (its own
        // role when the entry was missing or already pointed by an interrupted run).
        let back = match pointer {
            Some(p) if p != shared.arn => p,
            _ => steps::own_role_arn(ctx, &tenant),
        };
        steps::point(ctx, &tenant, via, &shared.arn, &run.by).await?;
        if let Err(e) = converge::prove(&proof, &tenant, &run.by).await {
            let left = if via == MappingType::Abac {
                "it already gets the shared role (the deployment is in Abac mode); its own role was kept".to_string()
            } else {
                steps::point(ctx, &tenant, via, &back, &run.by).await?;
                let role = role_name_of_arn(&back).unwrap_or(&back).to_string();
                format!("it is back on its {via:?} mapping to {role}, its own role and rule intact")
            };
            return Err(run.failed(&tenant, &e, left).await);
        }
        steps::delete_own_role(ctx, &tenant, &run.by).await?;
        if via == MappingType::Abac {
            clear_entry(ctx, &tenant).await?;
        }
        steps::mark(ctx, &tenant, MappingType::Abac).await?;
        run.proven.push(tenant.to_string());
        run.moved(&tenant).await?;
    }
    if run.remaining.is_empty() && via == MappingType::Abac && mapping::provider_mapping(ctx).await?.is_some() {
        // An Abac deployment whose pool still has the provider's mapping (left by the
        // old mode): the rebuild in Abac mode drops it.
        mapping::reconcile(ctx, &run.by).await?;
    }
    Ok(run.remaining.is_empty())
}

/// In an Abac deployment, the record no longer derives a rule and the group carries no
/// Token-mode role.
async fn clear_entry(ctx: &Context, tenant: &TenantId) -> anyhow::Result<()> {
    let rec = record::get(ctx, tenant.as_str()).await?;
    if rec.is_some_and(|r| r.mapped || r.role_arn.is_some()) {
        steps::unmap(ctx, tenant).await?;
    }
    steps::clear_group_role(ctx, tenant).await?;
    Ok(())
}

/// Rules to Token: every group gets its role, the provider's mapping switches to Token in
/// one write, then each tenant is proven; true when all are proven.
async fn to_token(run: &mut Run<'_>, via: MappingType) -> anyhow::Result<bool> {
    let ctx = run.ctx;
    let tenants = active_tenants(ctx).await?;
    if via == MappingType::Rules {
        for tenant in &tenants {
            let own = steps::own_role_arn(ctx, tenant);
            if steps::pointed_at(ctx, tenant, MappingType::Token).await?.as_deref() == Some(own.as_str()) {
                continue;
            }
            if !run.room() {
                run.remaining.push(tenant.to_string());
                continue;
            }
            steps::point(ctx, tenant, MappingType::Token, &own, &run.by).await?;
            run.moved(tenant).await?;
        }
        if !run.remaining.is_empty() {
            return Ok(false);
        }
        // One write for every tenant: a provider resolves by one type at a time.
        mapping::reconcile(&steps::with_mode(ctx, MappingType::Token), &run.by).await?;
    }
    let proof = proof_context(ctx, MappingType::Token);
    for tenant in &tenants {
        if run.interrupted() {
            run.remaining.push(tenant.to_string());
            continue;
        }
        if steps::marked(ctx, tenant).await? == Some(MappingType::Token) {
            if !run.moved.contains(&tenant.to_string()) {
                run.already.push(tenant.to_string());
            }
            continue;
        }
        // Token mode renders the same documents; only the role's version tag differs.
        let tagged = steps::tag_role_version(&proof, tenant).await;
        let proven = match tagged {
            Ok(()) => converge::prove(&proof, tenant, &run.by).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = proven {
            mapping::reconcile(&steps::with_mode(ctx, MappingType::Rules), &run.by).await?;
            let left = "the provider's mapping is back on Rules (rebuilt from the table), so it and every other tenant keep their own role and rule; the groups keep their roles, which Rules mode ignores".to_string();
            return Err(run.failed(tenant, &e, left).await);
        }
        steps::mark(ctx, tenant, MappingType::Token).await?;
        run.proven.push(tenant.to_string());
        eprintln!("{tenant}: proven in Token mode");
        run.renew().await?;
    }
    Ok(run.remaining.is_empty())
}

/// The run's report; its exit code.
pub fn report(m: &Migrated, json: bool) -> anyhow::Result<Exit> {
    let exit = Exit::Ok;
    if json {
        let mut v = serde_json::to_value(m)?;
        v["exit"] = serde_json::json!(exit.code());
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(exit);
    }
    for t in &m.moved {
        match m.to {
            Target::Abac => crate::outln!("{t}: moved to Abac and proven; its own role is gone"),
            Target::Token => crate::outln!("{t}: its group carries its own role (Token mode's entry)"),
        }
    }
    if m.to == Target::Token && !m.proven.is_empty() {
        crate::outln!(
            "the provider's mapping is Token; proven in Token mode: {}",
            m.proven.join(", ")
        );
    }
    if !m.already.is_empty() {
        crate::outln!("already on {:?}: {}", m.to.mode(), m.already.join(", "));
    }
    if !m.remaining.is_empty() {
        crate::outln!("not moved yet: {}", m.remaining.join(", "));
    }
    crate::outln!(
        "{} moved in this run, {} already there, {} left; deployment MappingType {:?}",
        m.moved.len(),
        m.already.len(),
        m.remaining.len(),
        m.deployment
    );
    crate::outln!("next: {}", m.next);
    Ok(exit)
}

/// The `--status` report.
pub fn report_status(p: Option<&Progress>, json: bool) -> anyhow::Result<Exit> {
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(Exit::Ok);
    }
    match p {
        None => crate::outln!("no migration has run on this deployment"),
        Some(p) => {
            crate::outln!(
                "migration to {:?} (from {:?}): {}, {} tenant(s) moved{}",
                p.target.unwrap_or_default(),
                p.from.unwrap_or_default(),
                p.state.as_deref().unwrap_or("unknown"),
                p.moved,
                p.last_tenant
                    .as_ref()
                    .map(|t| format!(", last {t}"))
                    .unwrap_or_default()
            );
            if let Some(t) = &p.stopped_tenant {
                crate::outln!("stopped at tenant {t}");
            }
            if let Some(r) = &p.reason {
                crate::outln!("why: {r}");
            }
            if let Some(o) = &p.owner {
                crate::outln!("held by run {o} until {}", p.expires_at);
            }
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tenant_role_names_are_skipped_when_looking_for_the_shared_role() {
        assert!(is_tenant_role_name("tenant-acme"));
        assert!(!is_tenant_role_name("TenantAbacRole"));
        assert!(!is_tenant_role_name("stack-TenantAbacRole-1X2Y3Z"));
        assert!(!is_tenant_role_name("tenant-"));
    }

    #[test]
    fn a_failed_proof_exits_1_naming_the_tenant_and_how_to_resume() {
        let e = MigrateError::ProofFailed {
            tenant: "acme".into(),
            to: MappingType::Abac,
            error: "IsolationNotProven".into(),
            message: "refused".into(),
            left: "it is back on its Rules mapping to tenant-acme, its own role and rule intact".into(),
            moved: 3,
        };
        assert_eq!(e.exit(), Exit::Failed);
        let cli = CliError::from(e);
        assert_eq!(cli.tenant.as_deref(), Some("acme"));
        assert!(
            cli.message
                .starts_with("tenant acme: its proof in Abac mode failed (IsolationNotProven"),
            "{}",
            cli.message
        );
        assert!(cli.message.contains("own role and rule intact"), "{}", cli.message);
        assert!(
            cli.next
                .as_deref()
                .unwrap()
                .contains("`tenantctl migrate --to abac` resumes")
        );
    }

    #[test]
    fn refusals_before_anything_changes_exit_5() {
        for e in [
            MigrateError::NoSharedRole,
            MigrateError::Unsupported {
                from: MappingType::Abac,
                to: MappingType::Token,
            },
            MigrateError::NoTagMap {
                provider: "p".into(),
                found: "{}".into(),
            },
        ] {
            assert_eq!(e.exit(), Exit::Refused);
            assert!(e.to_string().contains("nothing was changed"), "{e}");
        }
    }
}
