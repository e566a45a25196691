//! The pages the links answer with: the confirmation page (the incident, the plan, its risk,
//! the evidence summary, what will run, and the form that decides) and the outcome page, in the
//! incident pages' style. Everything shown is escaped by the templates (`.html`: auto-escape).

use jiff::Timestamp;
use minijinja::context;

use crate::report::{View, When, when};

const CONFIRM: &str = include_str!("templates/confirm.html");
const OUTCOME: &str = include_str!("templates/outcome.html");

/// What the confirmation page shows.
pub struct Confirm<'a> {
    /// The incident, as the report sees it.
    pub view: &'a View,
    /// `approve` or `deny`.
    pub decision: &'a str,
    /// The token (the form posts back to it).
    pub token: &'a str,
    /// The hidden form field bound to token and caller.
    pub field: &'a str,
    /// Who is looking.
    pub caller: &'a str,
    /// When the link expires.
    pub expires: Timestamp,
    /// Distinct approvers so far and needed.
    pub have: usize,
    /// How many approvers the plan needs.
    pub need: usize,
    /// Now.
    pub now: Timestamp,
}

/// Renders the confirmation page.
pub fn confirm(c: &Confirm<'_>) -> Result<String, minijinja::Error> {
    let env = crate::report::environment("confirm.html", CONFIRM)?;
    let plan = c.view.plans.last();
    let verb = if c.decision == "approve" {
        "Approve"
    } else {
        "Deny"
    };
    let expires: When = when(c.expires, c.now);
    env.get_template("confirm.html")?.render(context! {
        v => c.view,
        plan => plan,
        verb => verb,
        decision => c.decision,
        token => c.token,
        field => c.field,
        caller => c.caller,
        expires => expires,
        have => c.have,
        need => c.need,
    })
}

/// Renders an outcome page.
pub fn outcome(
    status: u16,
    outcome: &str,
    title: &str,
    message: &str,
    incident: Option<&str>,
) -> Result<String, minijinja::Error> {
    let env = crate::report::environment("outcome.html", OUTCOME)?;
    env.get_template("outcome.html")?.render(context! {
        status => status,
        outcome => outcome,
        title => title,
        message => message,
        incident => incident,
    })
}
