//! Starting and running a container: the config check (`CreateContainerConfigError`),
//! `Created`/`Started`, start-up logs in the image's runtime style, and what its behaviour
//! does while it runs (crash or OOM at its time, failing readiness probes).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::Env;
use super::applogs;
use super::config;
use super::container::{ContainerRt, Step};
use super::state::{State, Terminated};
use crate::sim::controllers::durations::signed;
use crate::sim::controllers::events::Kind;
use crate::sim::controllers::settings::{Behaviour, ImageSpec, Runtime};

impl ContainerRt {
    /// Why this container cannot be created: an unresolved reference in its spec, or an
    /// image whose behaviour is `config-error`.
    fn config_problem(&self, env: &Env, spec: &Value, image: Option<&ImageSpec>) -> Option<String> {
        let namespace = env.pod["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default();
        let from_spec = config::container_config_error(env.ctx.cluster, namespace, spec);
        from_spec.or_else(|| {
            let image = image.filter(|i| i.behaviour == Behaviour::ConfigError)?;
            Some(
                image
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("configmap \"{}-config\" not found", self.name)),
            )
        })
    }

    /// Creates and starts the container, unless its configuration cannot be resolved.
    pub(super) fn start(&mut self, env: &mut Env, spec: &Value) -> Step {
        let now = env.ctx.now;
        let image = self.spec(env).cloned();
        if let Some(message) = self.config_problem(env, spec, image.as_ref()) {
            let recheck = signed(env.ctx.settings.backoff_base);
            let due = !matches!(self.state, State::ConfigError { .. })
                || self.reported.is_none_or(|at| at + recheck <= now);
            if due {
                env.event(
                    &self.name,
                    Kind::Warning,
                    "Failed",
                    format!("Error: {message}"),
                );
                self.reported = Some(now);
            }
            self.state = State::ConfigError { message };
            return Step::Wait(Some(now + recheck));
        }
        let id = format!("containerd://{}", env.ctx.ids.hex(64));
        let created = format!("Created container: {}", self.name);
        env.event(&self.name, Kind::Normal, "Created", created);
        let started = format!("Started container {}", self.name);
        env.event(&self.name, Kind::Normal, "Started", started);
        self.write_startup_log(env, image.as_ref());
        let behaviour = image.as_ref().map_or(Behaviour::Healthy, |i| i.behaviour);
        let after = image
            .as_ref()
            .and_then(|i| i.after)
            .unwrap_or(env.ctx.settings.crash_after);
        let dies = matches!(behaviour, Behaviour::Crash | Behaviour::Oom);
        let exit_at = dies.then(|| now + signed(after));
        self.state = State::Running {
            since: now,
            id,
            exit_at,
        };
        self.reported = None;
        Step::Continue
    }

    fn write_startup_log(&self, env: &mut Env, image: Option<&ImageSpec>) {
        let now = env.ctx.now;
        let runtime = image.map_or(Runtime::Generic, |i| i.runtime);
        let mut log = applogs::startup(runtime, &self.name, &self.image, now);
        if image.is_none_or(|i| i.behaviour == Behaviour::Healthy) {
            log = format!("{log}\n{}", applogs::serving(runtime, &self.name, now));
        }
        if let Some(extra) = image.and_then(|i| i.log.as_deref()) {
            log = format!("{log}\n{extra}");
        }
        env.log(&self.name, &log);
    }

    /// A running container: dies when its behaviour says, reports failing probes.
    pub(super) fn running(
        &mut self,
        env: &mut Env,
        spec: &Value,
        since: Timestamp,
        exit_at: Option<Timestamp>,
    ) -> Step {
        let now = env.ctx.now;
        let image = self
            .spec(env)
            .cloned()
            .unwrap_or_else(|| ImageSpec::new(Behaviour::Healthy));
        if let Some(at) = exit_at.filter(|at| *at <= now) {
            self.die(env, &image, since, at);
            return Step::Wait(Some(now));
        }
        let delay = spec["readinessProbe"]["initialDelaySeconds"]
            .as_u64()
            .unwrap_or(0);
        let ready_at = since + signed(Duration::from_secs(delay));
        if image.behaviour == Behaviour::NotReady && ready_at <= now {
            let next_probe = self.probe_fails(env, spec);
            return Step::Wait(earliest(exit_at, Some(next_probe)));
        }
        Step::Wait(earliest(exit_at, (ready_at > now).then_some(ready_at)))
    }

    /// The process ends at `at`: its last log lines, then `terminated`.
    fn die(&mut self, env: &mut Env, image: &ImageSpec, since: Timestamp, at: Timestamp) {
        let oom = image.behaviour == Behaviour::Oom;
        let text = if oom {
            applogs::oom(image.runtime, &self.name, at)
        } else {
            let message = image
                .message
                .as_deref()
                .unwrap_or("missing required environment variable DATABASE_URL");
            applogs::crash(image.runtime, &self.name, message, at)
        };
        env.log(&self.name, &text);
        let id = match &self.state {
            State::Running { id, .. } => id.clone(),
            _ => String::new(),
        };
        self.state = State::Exited(Terminated {
            exit_code: if oom {
                137
            } else {
                i64::from(image.crash_exit_code())
            },
            reason: if oom { "OOMKilled" } else { "Error" }.into(),
            started: since,
            finished: at,
            id,
        });
    }

    /// Reports a failed readiness probe once per period; returns the next probe time.
    fn probe_fails(&mut self, env: &mut Env, spec: &Value) -> Timestamp {
        let now = env.ctx.now;
        let period = spec["readinessProbe"]["periodSeconds"]
            .as_u64()
            .map_or(env.ctx.settings.probe_period, Duration::from_secs);
        let period = signed(period);
        if self.reported.is_none_or(|at| at + period <= now) {
            let message = format!("Readiness probe failed: {}", probe_failure(spec, env.pod));
            env.event(&self.name, Kind::Warning, "Unhealthy", message);
            self.reported = Some(now);
        }
        self.reported.unwrap_or(now) + period
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How the kubelet words a failed readiness probe of this kind.
fn probe_failure(spec: &Value, pod: &Value) -> String {
    let probe = &spec["readinessProbe"];
    if let Some(tcp) = probe.get("tcpSocket") {
        let ip = pod["status"]["podIP"].as_str().unwrap_or("10.244.1.2");
        let port = tcp["port"].as_i64().map_or_else(
            || tcp["port"].as_str().unwrap_or("8080").to_string(),
            |p| p.to_string(),
        );
        return format!("dial tcp {ip}:{port}: connect: connection refused");
    }
    if probe.get("exec").is_some() {
        return "command timed out: \"/bin/check\" timed out after 1s".into();
    }
    "HTTP probe failed with statuscode: 503".into()
}
