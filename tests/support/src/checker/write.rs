//! One write of the bucket's rebuilt log: a hold, a release marker or an expiry
//! marker, and when it was certainly done.

use super::{Call, Nanos};
use holds::{EventKind, Hold};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Put(Hold),
    /// A release marker; `forced_by` names the operator of a force-release.
    Released {
        forced_by: Option<String>,
    },
    Expired,
}

impl Kind {
    pub(super) fn of_event(kind: &EventKind) -> Kind {
        match kind {
            EventKind::Announced(h) => Kind::Put(h.clone()),
            EventKind::Released { forced_by } => Kind::Released {
                forced_by: forced_by.clone(),
            },
            EventKind::Expired => Kind::Expired,
        }
    }

    pub(super) fn name(&self) -> String {
        match self {
            Kind::Put(h) => format!("hold of {}", h.agent_id),
            Kind::Released { forced_by: None } => "release marker".into(),
            Kind::Released {
                forced_by: Some(by),
            } => format!("force-release marker by {by}"),
            Kind::Expired => "expiry marker".into(),
        }
    }
}

/// One write of the rebuilt log.
#[derive(Clone, Debug)]
pub(super) struct Write {
    pub(super) file: String,
    pub(super) kind: Kind,
    /// The call that acknowledged it.
    pub(super) call: Option<usize>,
    /// The earliest instant a subscriber received it.
    pub(super) seen_at: Option<Nanos>,
}

impl Write {
    /// When it was certainly done (acknowledged or delivered).
    pub(super) fn done_at(&self, calls: &[Call]) -> Nanos {
        let acked = self.call.map(|i| calls[i].end).unwrap_or(Nanos::MAX);
        acked.min(self.seen_at.unwrap_or(Nanos::MAX))
    }
}

pub(super) fn ms(ns: i64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}
