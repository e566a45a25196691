//! The links a page carries. The incident link is `{public_url}/incidents/{id}`; approve and
//! deny links are signed elsewhere (`src/links/`) and plugged in through [`PageLinks`]. A
//! link that cannot be made is left out of the page, never faked.

/// Makes the links a page carries.
pub trait PageLinks: Send + Sync {
    /// The incident page.
    fn incident(&self, incident_id: &str) -> Option<String>;
    /// A link approving the plan with `plan_hash`.
    fn approve(&self, incident_id: &str, plan_hash: &str) -> Option<String>;
    /// A link denying the plan with `plan_hash`.
    fn deny(&self, incident_id: &str, plan_hash: &str) -> Option<String>;
}

/// Links to the incident page only (no approve / deny links); none at all without a
/// `public_url`.
#[derive(Debug, Clone, Default)]
pub struct IncidentLinksOnly {
    /// Where nightshift's pages are reachable (`https://nightshift.example.org`).
    pub public_url: Option<String>,
}

impl IncidentLinksOnly {
    /// Links under `public_url`.
    pub fn new(public_url: Option<&str>) -> IncidentLinksOnly {
        IncidentLinksOnly {
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
        }
    }

    /// `{public_url}{path}`.
    pub fn at(&self, path: &str) -> Option<String> {
        let base = self.public_url.as_deref()?.trim_end_matches('/');
        Some(format!("{base}{path}"))
    }
}

impl PageLinks for IncidentLinksOnly {
    fn incident(&self, incident_id: &str) -> Option<String> {
        self.at(&format!("/incidents/{}", path_segment(incident_id)))
    }

    fn approve(&self, _: &str, _: &str) -> Option<String> {
        None
    }

    fn deny(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

/// `text` safe as one URL path segment (incident ids are `inc-<hex>`; anything else is
/// percent-encoded).
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{IncidentLinksOnly, PageLinks};

    #[test]
    fn the_incident_link_is_under_the_public_url_and_there_is_none_without_one() {
        let links = IncidentLinksOnly::new(Some("https://ns.example.org/"));
        assert_eq!(
            links.incident("inc-0a1b").as_deref(),
            Some("https://ns.example.org/incidents/inc-0a1b")
        );
        assert_eq!(
            links.incident("a/b c").as_deref(),
            Some("https://ns.example.org/incidents/a%2Fb%20c")
        );
        assert_eq!(links.approve("inc-0a1b", "hash"), None);
        assert_eq!(links.deny("inc-0a1b", "hash"), None);
        assert_eq!(IncidentLinksOnly::new(None).incident("inc-0a1b"), None);
    }
}
