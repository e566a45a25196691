//! Settings: an optional YAML file, then environment and flags. Validated up front; an unknown
//! key or a bad value stops start-up with the file, line and column.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::policy::Policy;
use crate::domain::scope::NamespaceScope;
use crate::engine::EngineSettings;
use crate::http::HttpSettings;
use crate::k8s::collect::prometheus::PrometheusSettings;

/// nightshift's settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Store URL: `sqlite://nightshift.db` (default, created on first run) or
    /// `postgres://user:pass@host/db`.
    pub store: String,
    /// Directory of rule files; without it, the rules built into the binary (the shipped
    /// `rules/`, which `nightshift rules init DIR` writes out).
    pub rules: Option<PathBuf>,
    /// Directory of playbook files; without it, the built-in playbooks.
    pub playbooks: Option<PathBuf>,
    /// The policy ceiling for every action.
    pub policy: Policy,
    /// Which namespaces the daemon watches.
    pub watch: NamespaceScope,
    /// How the daemon moves incidents: polling, escalation hold, drain, rate limits.
    pub engine: EngineSettings,
    /// The HTTP front door: listener, authentication, body limit.
    pub http: HttpSettings,
    /// Metrics as evidence: the Prometheus the playbooks' queries run against, or pod scrapes.
    pub prometheus: PrometheusSettings,
    /// Where links in pages point (`https://nightshift.example.org`); without it pages carry
    /// no approve / deny links.
    pub public_url: Option<String>,
    /// Approve / deny links: key file and how long a link stays usable.
    pub links: crate::links::LinkSettings,
    /// Who may approve what, and from which risk two distinct approvers are needed.
    pub approvers: crate::domain::approvers::ApproverPolicy,
    /// The pagers (PagerDuty, Slack, a signed webhook); none: a page is a log line.
    pub pagers: Vec<crate::pagers::PagerSettings>,
    /// Where pages go, grouping during a wide outage, rate limit and retries.
    pub paging: crate::pagers::PagingSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            store: "sqlite://nightshift.db".into(),
            rules: None,
            playbooks: None,
            policy: Policy::default(),
            watch: NamespaceScope::default(),
            engine: EngineSettings::default(),
            http: HttpSettings::default(),
            prometheus: PrometheusSettings::default(),
            public_url: None,
            links: crate::links::LinkSettings::default(),
            approvers: crate::domain::approvers::ApproverPolicy::default(),
            pagers: Vec::new(),
            paging: crate::pagers::PagingSettings::default(),
        }
    }
}

/// A settings file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Reads a settings file; `None` gives the embedded defaults.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let Some(path) = path else {
            return Ok(Settings::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        let settings: Settings =
            crate::rules::parse(path, &text).map_err(|e| ConfigError(e.to_string()))?;
        settings
            .validate()
            .map_err(|m| ConfigError(format!("{}: {m}", path.display())))?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), String> {
        self.http.validate()?;
        self.prometheus.validate()?;
        self.links.validate()?;
        crate::pagers::settings::validate(self.public_url.as_deref(), &self.pagers, &self.paging)?;
        if self.engine.poll_millis < 10 {
            return Err(format!(
                "engine.poll_millis: {} is too small (at least 10)",
                self.engine.poll_millis
            ));
        }
        let tasks = self.engine.max_concurrent_incidents;
        if !(1..=1024).contains(&tasks) {
            return Err(format!(
                "engine.max_concurrent_incidents: {tasks} must be between 1 and 1024"
            ));
        }
        let scale = self.engine.verification_time_scale;
        if !(0.001..=1.0).contains(&scale) {
            return Err(format!(
                "engine.verification_time_scale: {scale} must be between 0.001 and 1"
            ));
        }
        let p = &self.policy;
        if p.min_replicas < 0 || p.max_replicas < p.min_replicas {
            return Err(format!(
                "policy: replica bounds [{}, {}] are not a range",
                p.min_replicas, p.max_replicas
            ));
        }
        if !(1.0..=10.0).contains(&p.max_memory_growth) || !(1.0..=10.0).contains(&p.max_cpu_growth)
        {
            return Err(
                "policy: max_memory_growth and max_cpu_growth must be between 1 and 10".into(),
            );
        }
        let fraction = p.nodes.max_cordoned_fraction;
        if !(0.0..=1.0).contains(&fraction) {
            return Err(format!(
                "policy.nodes.max_cordoned_fraction: {fraction} must be between 0 and 1"
            ));
        }
        if !p.budget.window.is_positive() || !p.action_window.is_positive() {
            return Err("policy: budget.window and action_window must be longer than zero".into());
        }
        if crate::domain::quantity::parse_memory(&p.max_memory_limit).is_none() {
            return Err(format!(
                "policy: max_memory_limit {:?} is not a quantity",
                p.max_memory_limit
            ));
        }
        if !(self.store.starts_with("sqlite:")
            || self.store.starts_with("postgres:")
            || self.store.starts_with("postgresql:"))
        {
            return Err(format!(
                "store {:?} must start with sqlite: or postgres:",
                crate::store::printable_url(&self.store)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Settings;

    fn check(yaml: &str) -> Result<(), String> {
        let settings: Settings = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        settings.validate()
    }

    #[test]
    fn node_policy_and_budget_settings_out_of_range_stop_start_up_by_name() {
        assert_eq!(
            check("policy: {nodes: {max_cordoned: 1, max_cordoned_fraction: 0.5}}"),
            Ok(())
        );
        let fraction = check("policy: {nodes: {max_cordoned_fraction: 1.5}}").expect_err("1.5");
        assert!(fraction.contains("max_cordoned_fraction"), "{fraction}");
        let window = check("policy: {budget: {max_actions: 5, window: 0s}}").expect_err("0s");
        assert!(window.contains("budget.window"), "{window}");
        let unknown = check("policy: {nodes: {max_cordon: 1}}").expect_err("typo");
        assert!(unknown.contains("max_cordon"), "{unknown}");
        assert_eq!(check("engine: {paused: true}"), Ok(()));
    }

    #[test]
    fn http_settings_name_the_key_that_is_wrong() {
        assert_eq!(
            check("http: {auth: none, listen: '127.0.0.1:8080'}"),
            Ok(())
        );
        let header = check("http: {user_header: X-Forwarded-User}").expect_err("no proxies");
        assert!(header.contains("trusted_proxies"), "{header}");
        let size = check("http: {max_body_bytes: 10}").expect_err("tiny");
        assert!(size.contains("http.max_body_bytes"), "{size}");
        let unknown = check("http: {auth: maybe}").expect_err("unknown mode");
        assert!(unknown.contains("maybe"), "{unknown}");
    }

    #[test]
    fn prometheus_settings_name_the_key_that_is_wrong() {
        assert_eq!(
            check("prometheus: {url: 'http://prometheus.monitoring:9090', range_minutes: 30}"),
            Ok(())
        );
        let url = check("prometheus: {url: 'prometheus:9090/x y'}").expect_err("not a URL");
        assert!(url.contains("prometheus.url"), "{url}");
        let scheme = check("prometheus: {url: 'ftp://prometheus'}").expect_err("ftp");
        assert!(scheme.contains("http or https"), "{scheme}");
        let timeout = check("prometheus: {timeout_seconds: 0}").expect_err("0");
        assert!(timeout.contains("prometheus.timeout_seconds"), "{timeout}");
        let step = check("prometheus: {range_minutes: 1440, step_seconds: 1}").expect_err("points");
        assert!(step.contains("prometheus.step_seconds"), "{step}");
        let bytes = check("prometheus: {max_bytes: 0}").expect_err("0");
        assert!(bytes.contains("prometheus.max_bytes"), "{bytes}");
        let unknown = check("prometheus: {urls: x}").expect_err("typo");
        assert!(unknown.contains("urls"), "{unknown}");
    }

    #[test]
    fn pager_settings_take_secrets_from_the_environment_and_name_the_key_that_is_wrong() {
        let documented = "public_url: https://nightshift.example.org\n\
                          pagers:\n\
                          - kind: pagerduty\n  routing_key_env: PD_ROUTING_KEY\n  \
                          url: https://events.pagerduty.com/v2/enqueue\n";
        assert_eq!(check(documented), Ok(()));
        let no_key = check("pagers: [{kind: pagerduty}]").expect_err("no key");
        assert!(
            no_key.contains("pagers[0]") && no_key.contains("routing_key_env"),
            "{no_key}"
        );
        let inline = check("pagers: [{kind: pagerduty, routing_key: abc}]").expect_err("inline");
        assert!(inline.contains("routing_key"), "{inline}");
        let slack_url = check("pagers: [{kind: slack, url: 'https://hooks.slack.com/x'}]")
            .expect_err("a slack URL in the file");
        assert!(slack_url.contains("webhook_url_env"), "{slack_url}");
        let unsigned =
            check("pagers: [{kind: webhook, url: 'http://r.example/'}]").expect_err("unsigned");
        assert!(unsigned.contains("secret_env"), "{unsigned}");
        let twice =
            check("pagers: [{kind: slack, webhook_url_env: A}, {kind: slack, webhook_url_env: B}]")
                .expect_err("same name");
        assert!(twice.contains("pagers[1].name"), "{twice}");
        let route = check(
            "pagers: [{kind: slack, webhook_url_env: A}]\npaging: {routes: [{pagers: [pd]}]}",
        )
        .expect_err("unknown pager");
        assert!(route.contains("paging.routes[0].pagers"), "{route}");
        let url = check("public_url: nightshift.example.org").expect_err("no scheme");
        assert!(url.contains("public_url"), "{url}");
        let attempts = check("paging: {attempts: 0}").expect_err("zero attempts");
        assert!(attempts.contains("paging.attempts"), "{attempts}");
    }
}
