//! Rolling a tenant template change out: which tenants go in which wave, and when a
//! rollout must stop. Pure; the rollout state machine and `tenantctl rollout` act on it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::TenantId;
use crate::policy_compare::canonical;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaveError {
    #[error("the canary must be at least one tenant: a change is proven on one before it reaches more")]
    NoCanary,
    #[error("wave sizes must be at least 1 (got {0:?})")]
    EmptyWave(Vec<usize>),
}

/// The canary tenants first, then waves of the given sizes; the last size repeats until
/// every tenant has a wave. Tenants keep the order given (the caller sorts them).
pub fn plan_waves(tenants: &[TenantId], canary: usize, sizes: &[usize]) -> Result<Vec<Vec<TenantId>>, WaveError> {
    if canary == 0 {
        return Err(WaveError::NoCanary);
    }
    if sizes.contains(&0) {
        return Err(WaveError::EmptyWave(sizes.to_vec()));
    }
    let mut waves = vec![];
    let (first, mut rest) = tenants.split_at(canary.min(tenants.len()));
    if !first.is_empty() {
        waves.push(first.to_vec());
    }
    // With no sizes given, everything after the canary goes in one wave.
    let mut size = rest.len();
    let mut given = sizes.iter().copied();
    while !rest.is_empty() {
        size = given.next().unwrap_or(size);
        let (wave, after) = rest.split_at(size.min(rest.len()));
        waves.push(wave.to_vec());
        rest = after;
    }
    Ok(waves)
}

/// `--waves 1,5,25`: the sizes, each at least 1.
pub fn parse_sizes(raw: &str) -> Result<Vec<usize>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(0) | Err(_) => Err(format!(
                "{s:?} is not a wave size (a whole number of tenants, at least 1)"
            )),
            Ok(n) => Ok(n),
        })
        .collect()
}

/// A rollout stops at the end of the wave in which more than `max_failures` tenants
/// failed their proof (each of them reverted); `max_failures` 0 stops at the first.
pub fn halts(failures: usize, max_failures: usize) -> bool {
    failures > max_failures
}

/// What a rollout did to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantResult {
    /// Converged and proven; the record names the new version.
    Converged,
    /// The proof (or the converge) failed and the previous documents are back.
    Reverted,
    /// Not touched: the tenant is no longer ACTIVE (being offboarded) or has no role.
    Skipped,
    /// The previous documents could not be put back: a person must look.
    RevertFailed,
}

impl TenantResult {
    /// Counted against `--max-failures`.
    pub fn is_failure(self) -> bool {
        matches!(self, TenantResult::Reverted | TenantResult::RevertFailed)
    }
}

/// One tenant's line in a wave's results, as the rollout state machine's tenant branch
/// ends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRollout {
    pub tenant_id: String,
    pub result: TenantResult,
    /// The error name that failed the tenant (`IsolationNotProven`, ...), or why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// After a wave: whether the rollout goes on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveVerdict {
    /// Failures so far, this wave's included.
    pub failures: usize,
    /// The wave to run next (`waves` when none is left).
    pub next_wave: usize,
    pub halted: bool,
    /// Every wave ran and the rollout did not halt.
    pub done: bool,
    /// Why it halted, for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Judges wave `wave` (0-based, of `waves`) from its results and the failures before it:
/// more failures than tolerated halt at the end of the wave; a tenant whose revert failed
/// halts whatever the tolerance, since it is left half applied.
pub fn judge_wave(
    wave: usize,
    waves: usize,
    prior_failures: usize,
    results: &[TenantRollout],
    max_failures: usize,
) -> WaveVerdict {
    let failures = prior_failures + results.iter().filter(|r| r.result.is_failure()).count();
    let stuck: Vec<&str> = results
        .iter()
        .filter(|r| r.result == TenantResult::RevertFailed)
        .map(|r| r.tenant_id.as_str())
        .collect();
    let reason = if !stuck.is_empty() {
        Some(format!(
            "the previous documents of {} could not be put back",
            stuck.join(", ")
        ))
    } else if halts(failures, max_failures) {
        let failed: Vec<&str> = results
            .iter()
            .filter(|r| r.result.is_failure())
            .map(|r| r.tenant_id.as_str())
            .collect();
        Some(format!(
            "{failures} tenant(s) failed their proof (at most {max_failures} tolerated); reverted in wave {}: {}",
            wave + 1,
            failed.join(", ")
        ))
    } else {
        None
    };
    let halted = reason.is_some();
    let next_wave = wave + 1;
    WaveVerdict {
        failures,
        next_wave,
        halted,
        done: !halted && next_wave >= waves,
        reason,
    }
}

/// How one statement of a document changes, named by its Sid (or its position).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum StatementChange {
    Added { sid: String, statement: Value },
    Removed { sid: String, statement: Value },
    Changed { sid: String, from: Value, to: Value },
}

const UNNAMED: &str = "(no Sid)";

/// What changes from `live` to `wanted`, statement by statement and by meaning (order,
/// encoding and string-or-list do not count); empty when they grant the same.
pub fn statement_changes(live: &Value, wanted: &Value) -> Vec<StatementChange> {
    // Statements without a Sid are known by their content: changed, one is removed and
    // another added.
    let by_sid = |doc: &Value| -> BTreeMap<(String, String), Value> {
        let doc = canonical(doc);
        let list = match doc.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(other) => vec![other.clone()],
            None => vec![],
        };
        list.into_iter()
            .map(|st| {
                let key = match st.get("Sid").and_then(Value::as_str) {
                    Some(sid) => (sid.to_string(), String::new()),
                    None => (UNNAMED.to_string(), st.to_string()),
                };
                (key, st)
            })
            .collect()
    };
    let (live, wanted) = (by_sid(live), by_sid(wanted));
    let mut out = vec![];
    for (key, st) in &live {
        let sid = &key.0;
        match wanted.get(key) {
            None => out.push(StatementChange::Removed {
                sid: sid.clone(),
                statement: st.clone(),
            }),
            Some(w) if w != st => out.push(StatementChange::Changed {
                sid: sid.clone(),
                from: st.clone(),
                to: w.clone(),
            }),
            Some(_) => {}
        }
    }
    for (key, st) in &wanted {
        if !live.contains_key(key) {
            out.push(StatementChange::Added {
                sid: key.0.clone(),
                statement: st.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(n: usize) -> Vec<TenantId> {
        (0..n)
            .map(|i| TenantId::parse(&format!("tenant-{i}")).unwrap())
            .collect()
    }

    fn sizes(waves: &[Vec<TenantId>]) -> Vec<usize> {
        waves.iter().map(Vec::len).collect()
    }

    #[test]
    fn thirty_tenants_with_a_canary_of_one_and_waves_of_four_and_twenty_five() {
        let waves = plan_waves(&ids(30), 1, &[4, 25]).unwrap();
        assert_eq!(sizes(&waves), [1, 4, 25]);
        assert_eq!(waves[0], ids(1));
        assert_eq!(waves[1], ids(5)[1..]);
    }

    #[test]
    fn the_last_size_repeats_and_a_short_list_ends_early() {
        assert_eq!(sizes(&plan_waves(&ids(12), 2, &[3]).unwrap()), [2, 3, 3, 3, 1]);
        assert_eq!(sizes(&plan_waves(&ids(12), 1, &[]).unwrap()), [1, 11]);
        assert_eq!(sizes(&plan_waves(&ids(3), 5, &[10]).unwrap()), [3]);
        assert_eq!(sizes(&plan_waves(&ids(6), 1, &[1, 5, 25]).unwrap()), [1, 1, 4]);
        assert!(plan_waves(&[], 1, &[4]).unwrap().is_empty());
    }

    #[test]
    fn a_rollout_needs_a_canary_and_real_waves() {
        assert_eq!(plan_waves(&ids(3), 0, &[1]), Err(WaveError::NoCanary));
        assert_eq!(plan_waves(&ids(3), 1, &[2, 0]), Err(WaveError::EmptyWave(vec![2, 0])));
        assert_eq!(parse_sizes("1, 5,25"), Ok(vec![1, 5, 25]));
        assert_eq!(parse_sizes(""), Ok(vec![]));
        assert_eq!(
            parse_sizes("4,0"),
            Err("\"0\" is not a wave size (a whole number of tenants, at least 1)".into())
        );
        assert!(parse_sizes("4,x").is_err());
    }

    #[test]
    fn more_failures_than_tolerated_halt() {
        assert!(!halts(0, 0));
        assert!(halts(1, 0));
        assert!(!halts(2, 2));
        assert!(halts(3, 2));
    }

    #[test]
    fn changes_are_named_by_statement_and_judged_by_meaning() {
        use serde_json::json;
        let live = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "x"},
            {"Sid": "B", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["y"]},
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["z"]},
        ]});
        // Reordered and re-encoded: no change.
        let same = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": ["s3:getobject"], "Resource": ["x"]},
            {"Sid": "B", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "y"},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "z"},
        ]});
        assert_eq!(statement_changes(&live, &same), []);
        let wanted = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["x", "x2"]},
            {"Sid": "C", "Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": ["y"]},
        ]});
        let changes = statement_changes(&live, &wanted);
        let names: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| match c {
                StatementChange::Added { sid, .. } => ("added", sid.as_str()),
                StatementChange::Removed { sid, .. } => ("removed", sid.as_str()),
                StatementChange::Changed { sid, .. } => ("changed", sid.as_str()),
            })
            .collect();
        assert_eq!(
            names,
            [
                ("removed", "(no Sid)"),
                ("changed", "A"),
                ("removed", "B"),
                ("added", "C")
            ]
        );
        match &changes[1] {
            StatementChange::Changed { from, to, .. } => {
                assert_eq!(from["Resource"], json!(["x"]));
                assert_eq!(to["Resource"], json!(["x", "x2"]));
            }
            other => panic!("expected a change of A, got {other:?}"),
        }
    }

    #[test]
    fn an_unnamed_statement_that_changes_is_removed_and_added() {
        use serde_json::json;
        let doc = |r: &str| json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": r}]});
        let changes = statement_changes(&doc("x"), &doc("y"));
        assert_eq!(
            changes,
            [
                StatementChange::Removed {
                    sid: "(no Sid)".into(),
                    statement: canonical(&doc("x"))["Statement"][0].clone()
                },
                StatementChange::Added {
                    sid: "(no Sid)".into(),
                    statement: canonical(&doc("y"))["Statement"][0].clone()
                },
            ]
        );
        assert_eq!(statement_changes(&doc("x"), &doc("x")), []);
    }

    proptest! {
        /// Every tenant is in exactly one wave, in order; the canary comes first.
        #[test]
        fn waves_partition_the_tenants(n in 0usize..60, canary in 1usize..5, s in prop::collection::vec(1usize..30, 0..4)) {
            let tenants = ids(n);
            let waves = plan_waves(&tenants, canary, &s).unwrap();
            prop_assert_eq!(waves.concat(), tenants);
            prop_assert!(waves.iter().all(|w| !w.is_empty()));
            if n > 0 {
                prop_assert_eq!(waves[0].len(), canary.min(n));
            }
            for (i, w) in waves.iter().enumerate().skip(1) {
                let planned = s.get(i - 1).or(s.last()).copied().unwrap_or(n);
                prop_assert!(w.len() <= planned);
                if i + 1 < waves.len() {
                    prop_assert_eq!(w.len(), planned);
                }
            }
        }
    }

    fn line(id: &str, result: TenantResult) -> TenantRollout {
        TenantRollout {
            tenant_id: id.into(),
            result,
            error: None,
            message: None,
        }
    }

    #[test]
    fn a_clean_wave_goes_on_and_the_last_one_is_done() {
        let ok = [line("a", TenantResult::Converged), line("b", TenantResult::Skipped)];
        let v = judge_wave(0, 3, 0, &ok, 0);
        assert_eq!((v.failures, v.next_wave, v.halted, v.done), (0, 1, false, false));
        assert_eq!(v.reason, None);
        let v = judge_wave(2, 3, 0, &ok, 0);
        assert_eq!((v.next_wave, v.halted, v.done), (3, false, true));
    }

    #[test]
    fn failures_add_up_across_waves_against_the_tolerance() {
        let one = [line("a", TenantResult::Converged), line("b", TenantResult::Reverted)];
        let v = judge_wave(1, 4, 0, &one, 1);
        assert_eq!((v.failures, v.halted, v.done), (1, false, false));
        let v = judge_wave(2, 4, 1, &one, 1);
        assert_eq!((v.failures, v.halted, v.done), (2, true, false));
        let reason = v.reason.unwrap();
        assert!(
            reason.contains("2 tenant(s) failed") && reason.contains("wave 3: b"),
            "{reason}"
        );
        // The last wave halting is not done.
        let v = judge_wave(3, 4, 0, &one, 0);
        assert_eq!((v.halted, v.done), (true, false));
    }

    #[test]
    fn a_failed_revert_halts_whatever_the_tolerance() {
        let stuck = [
            line("a", TenantResult::RevertFailed),
            line("b", TenantResult::Converged),
        ];
        let v = judge_wave(0, 2, 0, &stuck, 10);
        assert_eq!((v.failures, v.halted, v.done), (1, true, false));
        assert!(v.reason.unwrap().contains("of a could not be put back"));
        assert!(!TenantResult::Skipped.is_failure() && !TenantResult::Converged.is_failure());
    }
}
