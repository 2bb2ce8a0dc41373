//! `tenantctl list`: filter by status and age, sort, page, count. Pure: it works on the
//! records the table scan returned (a scan cannot sort, so sorting is ours anyway).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tenant_domain::Status;
use tenant_steps::record::TenantRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortBy {
    /// Most recently updated first.
    Updated,
    /// Most recently created first.
    Created,
    /// Tenant id, A to Z.
    Id,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Any of these statuses; empty: all.
    pub statuses: Vec<Status>,
    /// Last updated at least this long ago.
    pub older_than: Option<Duration>,
    /// Last updated at most this long ago.
    pub newer_than: Option<Duration>,
    pub sort: SortBy,
    pub limit: usize,
    /// From the previous page's `next_page_token`.
    pub page_token: Option<String>,
    /// Only tenants whose record names this template version.
    pub template_version: Option<String>,
    /// Only ACTIVE tenants behind the deployment's current template version.
    pub behind: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub tenants: Vec<TenantRecord>,
    /// Tenants matching the filters, over all pages.
    pub matching: usize,
    /// Every tenant in the table, by status (ignores the filters).
    pub counts: BTreeMap<String, usize>,
    /// Pass to `--page-token` for the next page; None on the last page.
    pub next_page_token: Option<String>,
    /// The deployment's template version now.
    pub current_template_version: String,
    /// ACTIVE tenants (in the whole table) whose documents are of another version: what
    /// `tenantctl rollout` or `repair` would converge.
    pub behind: usize,
}

/// An ACTIVE tenant whose record names another template version than `current` (or none:
/// onboarded before versions were recorded) has documents a rollout would change. A
/// tenant in any other status is not converged by a rollout, so it is never behind.
pub fn is_behind(r: &TenantRecord, current: &str) -> bool {
    r.status == Status::Active && r.template_version.as_deref() != Some(current)
}

/// The position of a record in the sort order, as a token: the sort value and the id
/// (ids are unique, so the order is total and a token names one place in it).
fn key(r: &TenantRecord, sort: SortBy) -> (u64, String) {
    match sort {
        SortBy::Updated => (u64::MAX - r.updated_at, r.tenant_id.clone()),
        SortBy::Created => (u64::MAX - r.created_at, r.tenant_id.clone()),
        SortBy::Id => (0, r.tenant_id.clone()),
    }
}

fn token_of(k: &(u64, String)) -> String {
    format!("{}.{}", k.0, k.1)
}

fn parse_token(t: &str) -> Option<(u64, String)> {
    let (n, id) = t.split_once('.')?;
    Some((n.parse().ok()?, id.to_string()))
}

pub fn query(records: Vec<TenantRecord>, q: &Query, now: u64, current: &str) -> Result<Page, String> {
    let behind = records.iter().filter(|r| is_behind(r, current)).count();
    let mut counts = BTreeMap::new();
    for r in &records {
        *counts.entry(r.status.as_str().to_string()).or_insert(0) += 1;
    }
    let after = match &q.page_token {
        Some(t) => Some(
            parse_token(t)
                .ok_or_else(|| format!("invalid page token {t:?}: pass the next_page_token a list printed"))?,
        ),
        None => None,
    };
    if q.limit == 0 {
        return Err("--limit must be at least 1".into());
    }
    let age = |r: &TenantRecord| now.saturating_sub(r.updated_at);
    let mut matching: Vec<_> = records
        .into_iter()
        .filter(|r| q.statuses.is_empty() || q.statuses.contains(&r.status))
        .filter(|r| q.older_than.is_none_or(|d| age(r) >= d.as_secs()))
        .filter(|r| q.newer_than.is_none_or(|d| age(r) <= d.as_secs()))
        .filter(|r| {
            q.template_version
                .as_deref()
                .is_none_or(|v| r.template_version.as_deref() == Some(v))
        })
        .filter(|r| !q.behind || is_behind(r, current))
        .map(|r| (key(&r, q.sort), r))
        .collect();
    matching.sort_by(|a, b| a.0.cmp(&b.0));
    let total = matching.len();
    let mut rest: Vec<_> = matching
        .into_iter()
        .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
        .collect();
    let more = rest.len() > q.limit;
    rest.truncate(q.limit);
    let next_page_token = if more {
        rest.last().map(|(k, _)| token_of(k))
    } else {
        None
    };
    Ok(Page {
        tenants: rest.into_iter().map(|(_, r)| r).collect(),
        matching: total,
        counts,
        next_page_token,
        current_template_version: current.to_string(),
        behind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(id: &str, status: Status, updated_at: u64) -> TenantRecord {
        crate::test_record(id, status, updated_at)
    }

    fn q() -> Query {
        Query {
            statuses: vec![],
            older_than: None,
            newer_than: None,
            sort: SortBy::Updated,
            limit: 50,
            page_token: None,
            template_version: None,
            behind: false,
        }
    }

    const CURRENT: &str = "v-000000000002";

    #[test]
    fn filters_sorts_and_counts() {
        let now = 10_000;
        let records = vec![
            rec("acme", Status::Active, now - 7200),
            rec("globex", Status::Failed, now - 60),
            rec("hooli", Status::Failed, now - 5),
            rec("initech", Status::RollbackFailed, now - 4000),
        ];
        let page = query(records.clone(), &q(), now, CURRENT).unwrap();
        let ids: Vec<_> = page.tenants.iter().map(|r| r.tenant_id.as_str()).collect();
        assert_eq!(ids, ["hooli", "globex", "initech", "acme"]);
        assert_eq!(page.counts["FAILED"], 2);
        assert_eq!(page.counts["ACTIVE"], 1);
        let failed_old = Query {
            statuses: vec![Status::Failed, Status::RollbackFailed],
            older_than: Some(Duration::from_secs(30)),
            sort: SortBy::Id,
            ..q()
        };
        let page = query(records.clone(), &failed_old, now, CURRENT).unwrap();
        let ids: Vec<_> = page.tenants.iter().map(|r| r.tenant_id.as_str()).collect();
        assert_eq!(ids, ["globex", "initech"]);
        assert_eq!(page.matching, 2);
        assert_eq!(page.counts.values().sum::<usize>(), 4, "counts ignore the filters");
        let recent = Query {
            newer_than: Some(Duration::from_secs(120)),
            ..q()
        };
        assert_eq!(query(records.clone(), &recent, now, CURRENT).unwrap().matching, 2);
        assert!(
            query(
                records,
                &Query {
                    page_token: Some("garbage".into()),
                    ..q()
                },
                now,
                CURRENT
            )
            .is_err()
        );
    }

    /// `--template-version` keeps the tenants recorded at that version; `--behind` the
    /// ACTIVE ones at any other (or none); a FAILED tenant is never behind, and the count
    /// covers the whole table whatever the filters.
    #[test]
    fn template_versions_filter_and_behind_counts() {
        let at = |id: &str, status, v: Option<&str>| TenantRecord {
            template_version: v.map(str::to_string),
            ..rec(id, status, 100)
        };
        let records = vec![
            at("acme", Status::Active, Some("v-000000000001")),
            at("globex", Status::Active, Some(CURRENT)),
            at("hooli", Status::Active, None),
            at("initech", Status::Failed, Some("v-000000000001")),
        ];
        let ids = |p: Page| p.tenants.into_iter().map(|r| r.tenant_id).collect::<Vec<_>>();
        let old = Query {
            template_version: Some("v-000000000001".into()),
            sort: SortBy::Id,
            ..q()
        };
        assert_eq!(
            ids(query(records.clone(), &old, 200, CURRENT).unwrap()),
            ["acme", "initech"]
        );
        let behind = Query {
            behind: true,
            sort: SortBy::Id,
            ..q()
        };
        let page = query(records.clone(), &behind, 200, CURRENT).unwrap();
        assert_eq!(page.behind, 2);
        assert_eq!(page.current_template_version, CURRENT);
        assert_eq!(ids(page), ["acme", "hooli"]);
        let page = query(
            records,
            &Query {
                statuses: vec![Status::Failed],
                ..q()
            },
            200,
            CURRENT,
        )
        .unwrap();
        assert_eq!(page.behind, 2, "counted over the whole table");
    }

    proptest! {
        /// Following the page tokens visits every matching tenant once, in order.
        #[test]
        fn pages_cover_everything_once(
            times in proptest::collection::vec(0u64..50, 0..40),
            limit in 1usize..7,
            sort in prop_oneof![Just(SortBy::Updated), Just(SortBy::Created), Just(SortBy::Id)],
        ) {
            let records: Vec<_> = times.iter().enumerate()
                .map(|(i, t)| rec(&format!("t{i:02}"), Status::Active, *t)).collect();
            let all = query(records.clone(), &Query { sort, limit: 1000, ..q() }, 100, CURRENT).unwrap();
            let mut seen = vec![];
            let mut token = None;
            loop {
                let page = query(records.clone(), &Query { sort, limit, page_token: token.clone(), ..q() }, 100, CURRENT).unwrap();
                prop_assert!(page.tenants.len() <= limit);
                seen.extend(page.tenants.into_iter().map(|r| r.tenant_id));
                token = page.next_page_token;
                if token.is_none() { break; }
            }
            let expected: Vec<_> = all.tenants.into_iter().map(|r| r.tenant_id).collect();
            prop_assert_eq!(seen, expected);
        }
    }
}
