//! One container's life on a node, as the kubelet runs it: pull (or find the image
//! present), check its config, create and start it, let its image's behaviour play out
//! (serve, crash, be OOM-killed, fail readiness), and restart it with the kubelet's
//! doubling back-off (`CrashLoopBackOff`, `ImagePullBackOff`).

use jiff::Timestamp;
use serde_json::Value;

use super::Env;
use super::state::{Backoff, State, Terminated};
use crate::sim::controllers::durations::{go_format, signed};
use crate::sim::controllers::events::Kind;
use crate::sim::controllers::settings::{Behaviour, ImageSpec, normalize};

/// What a pass over a container decided: go on to the next state now, or wait.
pub(super) enum Step {
    Continue,
    Wait(Option<Timestamp>),
}

/// The kubelet's view of one container.
#[derive(Debug, Clone)]
pub struct ContainerRt {
    /// The container's name.
    pub name: String,
    /// The image as the pod spec names it.
    pub image: String,
    /// Where it is.
    pub state: State,
    /// `restartCount`.
    pub restarts: i64,
    /// `lastState.terminated`.
    pub last: Option<Terminated>,
    /// Whether the image was pulled (an imageID is known).
    pub pulled: bool,
    backoff: Backoff,
    pull_backoff: Backoff,
    pub(super) reported: Option<Timestamp>,
}

impl ContainerRt {
    /// A container the kubelet has not started yet.
    pub fn new(name: &str, image: &str) -> Self {
        ContainerRt {
            name: name.to_string(),
            image: image.to_string(),
            state: State::Creating,
            restarts: 0,
            last: None,
            pulled: false,
            backoff: Backoff::default(),
            pull_backoff: Backoff::default(),
            reported: None,
        }
    }

    /// Takes over a container from its recorded status (a pod loaded from a fixture).
    pub fn adopt(name: &str, image: &str, status: &Value, now: Timestamp) -> Self {
        let mut c = ContainerRt::new(name, image);
        c.restarts = status["restartCount"].as_i64().unwrap_or(0);
        c.last = Terminated::from_json(&status["lastState"]["terminated"], now);
        let state = &status["state"];
        if let Some(running) = state.get("running") {
            let since = running["startedAt"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(now);
            let id = status["containerID"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            c.state = State::Running {
                since,
                id,
                exit_at: None,
            };
            c.pulled = true;
        } else if let Some(t) = Terminated::from_json(&state["terminated"], now) {
            c.state = State::Exited(t);
            c.pulled = true;
        } else if state["waiting"]["reason"] == "CrashLoopBackOff" {
            c.state = State::Exited(c.last.clone().unwrap_or(Terminated {
                exit_code: 1,
                reason: "Error".into(),
                started: now,
                finished: now,
                id: String::new(),
            }));
            c.pulled = true;
        }
        c
    }

    pub(super) fn spec<'e>(&self, env: &'e Env) -> Option<&'e ImageSpec> {
        env.ctx.settings.images.lookup(&self.image)
    }

    /// Advances the container as far as `now` allows; returns when it next needs a look.
    pub fn advance(&mut self, env: &mut Env, spec: &Value) -> Option<Timestamp> {
        for _ in 0..6 {
            let step = match self.state.clone() {
                State::Creating => self.find_image(env, spec),
                State::Pulling { since, .. } => self.pulling(env, spec, since),
                State::PullFailed { message, at } => self.pull_failed(env, &message, at),
                State::PullBackOff { until, message } => self.pull_back_off(env, until, message),
                State::ConfigError { .. } => self.start(env, spec),
                State::Running { since, exit_at, .. } => self.running(env, spec, since, exit_at),
                State::Exited(t) => self.exited(env, t),
                State::CrashBackOff { until, .. } => self.crash_back_off(env, until),
            };
            if let Step::Wait(at) = step {
                return at;
            }
        }
        Some(env.ctx.now)
    }

    fn find_image(&mut self, env: &mut Env, spec: &Value) -> Step {
        let always = spec["imagePullPolicy"] == "Always";
        if !always && env.images.contains(&normalize(&self.image)) {
            self.pulled = true;
            let message = format!(
                "Container image \"{}\" already present on machine",
                self.image
            );
            env.event(&self.name, Kind::Normal, "Pulled", message);
            return self.start(env, spec);
        }
        env.event(
            &self.name,
            Kind::Normal,
            "Pulling",
            format!("Pulling image \"{}\"", self.image),
        );
        self.state = State::Pulling {
            since: env.ctx.now,
            retry: None,
        };
        Step::Continue
    }

    fn pulling(&mut self, env: &mut Env, spec: &Value, since: Timestamp) -> Step {
        let took = env.ctx.settings.pull_duration;
        let done = since + signed(took);
        if env.ctx.now < done {
            return Step::Wait(Some(done));
        }
        let full = normalize(&self.image);
        if self.spec(env).is_none() {
            let message = format!(
                "rpc error: code = NotFound desc = failed to pull and unpack image \"{full}\": \
                 failed to resolve reference \"{full}\": {full}: not found"
            );
            let event = format!("Failed to pull image \"{}\": {message}", self.image);
            env.event(&self.name, Kind::Warning, "Failed", event);
            env.event(
                &self.name,
                Kind::Warning,
                "Failed",
                "Error: ErrImagePull".into(),
            );
            self.state = State::PullFailed {
                message,
                at: env.ctx.now,
            };
            return Step::Wait(Some(env.ctx.now));
        }
        env.images.insert(full.clone());
        self.pulled = true;
        let size = super::image_size(&full);
        let d = go_format(took);
        let message = format!(
            "Successfully pulled image \"{}\" in {d} ({d} including waiting). Image size: {size} bytes.",
            self.image
        );
        env.event(&self.name, Kind::Normal, "Pulled", message);
        self.start(env, spec)
    }

    fn pull_failed(&mut self, env: &mut Env, message: &str, at: Timestamp) -> Step {
        let s = env.ctx.settings;
        let delay = self
            .pull_backoff
            .next(at, env.ctx.now, s.backoff_base, s.backoff_max);
        let event = format!("Back-off pulling image \"{}\"", self.image);
        env.event(&self.name, Kind::Normal, "BackOff", event);
        env.event(
            &self.name,
            Kind::Warning,
            "Failed",
            "Error: ImagePullBackOff".into(),
        );
        let waiting = format!(
            "Back-off pulling image \"{}\": ErrImagePull: {message}",
            self.image
        );
        let until = at + signed(delay);
        self.state = State::PullBackOff {
            until,
            message: waiting,
        };
        Step::Wait(Some(until))
    }

    fn pull_back_off(&mut self, env: &mut Env, until: Timestamp, message: String) -> Step {
        if env.ctx.now < until {
            return Step::Wait(Some(until));
        }
        env.event(
            &self.name,
            Kind::Normal,
            "Pulling",
            format!("Pulling image \"{}\"", self.image),
        );
        self.state = State::Pulling {
            since: env.ctx.now,
            retry: Some(message),
        };
        Step::Continue
    }

    fn exited(&mut self, env: &mut Env, t: Terminated) -> Step {
        let policy = env.pod["spec"]["restartPolicy"]
            .as_str()
            .unwrap_or("Always");
        if policy == "Never" || (policy == "OnFailure" && t.exit_code == 0) {
            return Step::Wait(None);
        }
        let (now, s) = (env.ctx.now, env.ctx.settings);
        env.restart_log(&self.name);
        self.last = Some(t.clone());
        if let Some(backoff) = self.backoff.active_since(t.finished, now, s.backoff_max) {
            let until = t.finished + signed(backoff);
            self.state = State::CrashBackOff { until, backoff };
            let message = format!(
                "Back-off restarting failed container {} in pod {}",
                self.name,
                env.pod_ref()
            );
            env.event(&self.name, Kind::Warning, "BackOff", message);
            return Step::Wait(Some(until));
        }
        self.backoff
            .next(t.finished, now, s.backoff_base, s.backoff_max);
        self.restarts += 1;
        self.state = State::Creating;
        Step::Continue
    }

    fn crash_back_off(&mut self, env: &mut Env, until: Timestamp) -> Step {
        if env.ctx.now < until {
            return Step::Wait(Some(until));
        }
        let s = env.ctx.settings;
        let finished = self.last.as_ref().map_or(env.ctx.now, |t| t.finished);
        self.backoff
            .next(finished, env.ctx.now, s.backoff_base, s.backoff_max);
        self.restarts += 1;
        self.state = State::Creating;
        Step::Continue
    }

    /// Whether the container is Ready at `now` (a `crash` container fails while starting,
    /// so it never is).
    pub fn ready(
        &self,
        env_images: &crate::sim::controllers::settings::Images,
        spec: &Value,
        now: Timestamp,
    ) -> bool {
        let State::Running { since, .. } = &self.state else {
            return false;
        };
        let behaviour = env_images
            .lookup(&self.image)
            .map_or(Behaviour::Healthy, |i| i.behaviour);
        let delay = spec["readinessProbe"]["initialDelaySeconds"]
            .as_i64()
            .unwrap_or(0);
        !matches!(behaviour, Behaviour::NotReady | Behaviour::Crash)
            && *since + jiff::SignedDuration::from_secs(delay) <= now
    }
}
