//! The first thing a page says: what nightshift asks of the person reading it, from the
//! incident's state, its newest plan and the kill switch.

use crate::domain::incident::IncidentState;
use crate::store::IncidentRecord;

/// What the reader should do now: one sentence, and the commands that do it.
pub fn ask(record: &IncidentRecord) -> (String, Vec<String>) {
    let incident = &record.incident;
    let plan = record.plans.last();
    let short: String = plan
        .map(|p| p.hash.chars().take(12).collect())
        .unwrap_or_default();
    let paused = if record.paused.is_some() {
        " nightshift is paused: nothing is sent to the cluster until someone resumes it."
    } else {
        ""
    };
    let ask = match incident.state {
        IncidentState::AwaitingApproval => {
            let id = &incident.id;
            let commands = vec![
                format!("nightshift incidents approve {id} --plan {short}"),
                format!("nightshift incidents deny {id}"),
            ];
            let sentence = format!("Decide on plan {short}: read it below, then approve or deny it.");
            return (format!("{sentence}{paused}"), commands);
        }
        IncidentState::Escalated | IncidentState::Failed => {
            "Look at it yourself: nightshift will not act on it further.".to_owned()
        }
        IncidentState::Denied | IncidentState::Expired => {
            "Nothing is pending: the plan was not approved, so nothing ran. Fix it by hand if it still matters.".to_owned()
        }
        IncidentState::Resolved => "Nothing: it is resolved and verified.".to_owned(),
        IncidentState::Replayed => "Nothing: this is a replay; nothing was sent to a cluster.".to_owned(),
        IncidentState::Open | IncidentState::Diagnosed => {
            "Nothing yet: nightshift is still looking.".to_owned()
        }
        IncidentState::Approved | IncidentState::Executing | IncidentState::Verifying => {
            "Nothing yet: the approved plan is running; watch the verification below.".to_owned()
        }
    };
    let commands = if record.paused.is_some() {
        vec!["nightshift resume --reason \"why it is safe again\"".to_owned()]
    } else {
        Vec::new()
    };
    (format!("{ask}{paused}"), commands)
}
