//! The tenant status model. A record only moves along these edges: status writes in
//! DynamoDB are conditional on the current status being one of the allowed predecessors
//! (except offboarding's takeover of a record whose execution is known to have stopped).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Accepted by signup (form or event); its execution has not written the record yet.
    Pending,
    /// A signup held for an operator (`SignupMode=approve`): nothing is started until
    /// `tenantctl approve` moves it to PENDING; `tenantctl reject` (or its expiry) frees the id.
    PendingApproval,
    Provisioning,
    Active,
    RollingBack,
    Failed,
    RollbackFailed,
    Offboarding,
    Offboarded,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Pending,
        Status::PendingApproval,
        Status::Provisioning,
        Status::Active,
        Status::RollingBack,
        Status::Failed,
        Status::RollbackFailed,
        Status::Offboarding,
        Status::Offboarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::PendingApproval => "PENDING_APPROVAL",
            Status::Provisioning => "PROVISIONING",
            Status::Active => "ACTIVE",
            Status::RollingBack => "ROLLING_BACK",
            Status::Failed => "FAILED",
            Status::RollbackFailed => "ROLLBACK_FAILED",
            Status::Offboarding => "OFFBOARDING",
            Status::Offboarded => "OFFBOARDED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// States a record may be in for `self` to be written next. `None` stands for "no
    /// record yet". Re-writing the same status is allowed (steps are idempotent).
    pub fn predecessors(self) -> &'static [Status] {
        use Status::*;
        match self {
            // Signup writes PENDING only where no record exists; an operator's approval
            // moves a held signup on.
            Pending => &[PendingApproval],
            // Held only where no record exists (an expired hold counts as none).
            PendingApproval => &[],
            // A new attempt may start over a failed or offboarded tenant.
            Provisioning => &[Pending, Provisioning, Failed, Offboarded],
            Active => &[Provisioning, Active],
            // Pending: the first step failed (after its retries) before claiming the record.
            RollingBack => &[Pending, Provisioning, RollingBack, RollbackFailed],
            // Pending: the first step refused a signup before it claimed the record.
            Failed => &[Pending, RollingBack, Failed],
            // Provisioning: the rollback could not even record that it started.
            RollbackFailed => &[Pending, Provisioning, RollingBack, RollbackFailed, Offboarding],
            Offboarding => &[Active, Failed, RollbackFailed, Offboarding],
            Offboarded => &[Offboarding, Offboarded],
        }
    }

    pub fn may_follow(self, current: Option<Status>) -> bool {
        match current {
            None => matches!(self, Status::Provisioning | Status::Pending | Status::PendingApproval),
            Some(cur) => self.predecessors().contains(&cur),
        }
    }

    /// No execution is working on a tenant in these states (a held signup has none yet,
    /// and is not stuck: it waits for an operator).
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Status::PendingApproval | Status::Active | Status::Failed | Status::RollbackFailed | Status::Offboarded
        )
    }

    /// A new onboarding attempt may start (the first or a retry).
    pub fn allows_new_attempt(current: Option<Status>) -> bool {
        Status::Provisioning.may_follow(current) && !matches!(current, Some(Status::Provisioning | Status::Pending))
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_names() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
            assert_eq!(s.to_string(), s.as_str());
        }
    }

    #[test]
    fn the_happy_path_and_the_failure_path_are_allowed() {
        use Status::*;
        let happy = [
            None,
            Some(Provisioning),
            Some(Active),
            Some(Offboarding),
            Some(Offboarded),
        ];
        for w in happy.windows(2) {
            assert!(w[1].unwrap().may_follow(w[0]), "{:?} -> {:?}", w[0], w[1]);
        }
        assert!(RollingBack.may_follow(Some(Provisioning)));
        assert!(Failed.may_follow(Some(RollingBack)));
        assert!(Provisioning.may_follow(Some(Failed)));
        assert!(Provisioning.may_follow(Some(Pending)));
        assert!(!Status::allows_new_attempt(Some(Pending)));
        // Approval: held, then PENDING, then the usual path.
        assert!(PendingApproval.may_follow(None));
        assert!(Pending.may_follow(Some(PendingApproval)));
        assert!(!Status::allows_new_attempt(Some(PendingApproval)));
    }

    #[test]
    fn nothing_goes_backwards() {
        use Status::*;
        assert!(!Provisioning.may_follow(Some(Active)));
        assert!(!Active.may_follow(Some(Failed)));
        assert!(!Active.may_follow(None));
        assert!(!Failed.may_follow(Some(Active)));
        assert!(!Status::allows_new_attempt(Some(Provisioning)));
        assert!(!Status::allows_new_attempt(Some(Active)));
        assert!(Status::allows_new_attempt(None));
    }

    #[test]
    fn settled_states_are_exactly_those_no_execution_works_on() {
        use Status::*;
        let settled: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_settled()).collect();
        assert_eq!(
            settled,
            vec![PendingApproval, Active, Failed, RollbackFailed, Offboarded]
        );
    }

    proptest! {
        #[test]
        fn only_provisioning_or_pending_starts_a_record(i in 0usize..9, j in 0usize..9) {
            let s = Status::ALL[i];
            prop_assert_eq!(
                s.may_follow(None),
                matches!(s, Status::Provisioning | Status::Pending | Status::PendingApproval)
            );
            // Nothing leads back to PENDING once a record exists, except an approval;
            // nothing at all leads back to PENDING_APPROVAL.
            let cur = Status::ALL[j];
            prop_assert_eq!(Status::Pending.may_follow(Some(cur)), cur == Status::PendingApproval);
            prop_assert!(!Status::PendingApproval.may_follow(Some(cur)));
        }
    }
}
