//! The runtime action behind each node fault: the fault vocabulary and the
//! runtime's share their names, and this is the one place that maps them.

use crate::record::faults::FaultKind;
use crate::runtime::NodeAction;

impl FaultKind {
    /// The runtime action behind a node fault.
    pub fn node_action(self) -> Option<NodeAction> {
        Some(match self {
            FaultKind::Kill => NodeAction::Kill,
            FaultKind::Restart => NodeAction::Restart,
            FaultKind::Stop => NodeAction::Stop,
            FaultKind::Start => NodeAction::Start,
            FaultKind::Pause => NodeAction::Pause,
            FaultKind::Resume => NodeAction::Resume,
            _ => return None,
        })
    }
}
