//! What the controllers and the kubelet model need to know: timings (with a time scale for
//! demos) and the image catalogue, where each image reference decides how its containers
//! behave. An image the catalogue does not know fails to pull, as on a real registry.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use globset::{Glob, GlobMatcher};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::durations;

/// Timings of the simulation. Every field has a default close to a real cluster's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// How often the controllers run a reconciliation pass (`spawn`).
    #[serde(deserialize_with = "durations::deserialize")]
    pub tick: Duration,
    /// The first CrashLoopBackOff and ImagePullBackOff delay; it doubles after every restart.
    #[serde(deserialize_with = "durations::deserialize")]
    pub backoff_base: Duration,
    /// The longest back-off delay.
    #[serde(deserialize_with = "durations::deserialize")]
    pub backoff_max: Duration,
    /// How long pulling an image takes.
    #[serde(deserialize_with = "durations::deserialize")]
    pub pull_duration: Duration,
    /// How long a `crash` or `oom` container runs before it dies, unless its image says.
    #[serde(deserialize_with = "durations::deserialize")]
    pub crash_after: Duration,
    /// How often a failing readiness probe is reported (the probe's `periodSeconds` when
    /// the container has one).
    #[serde(deserialize_with = "durations::deserialize")]
    pub probe_period: Duration,
    /// `tolerationSeconds` of the not-ready/unreachable tolerations new pods get: how long
    /// pods stay bound to a lost node before they are evicted.
    #[serde(deserialize_with = "durations::deserialize")]
    pub eviction_after: Duration,
    /// Seed for generated names, uids and container ids (from the clock when absent).
    pub seed: Option<u64>,
    /// The image catalogue (a scenario's `images:`).
    #[serde(skip)]
    pub images: Images,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tick: Duration::from_millis(200),
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(300),
            pull_duration: Duration::from_millis(1200),
            crash_after: Duration::from_secs(5),
            probe_period: Duration::from_secs(10),
            eviction_after: Duration::from_secs(300),
            seed: None,
            images: Images::default(),
        }
    }
}

/// What a container of an image does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Behaviour {
    /// Starts, becomes Ready (after the readiness probe's `initialDelaySeconds`), keeps running.
    Healthy,
    /// Fails while starting: never Ready, runs `after`, logs the failure, exits with
    /// `exit_code`; the kubelet restarts it with back-off.
    Crash,
    /// Runs `after`, then is killed for exceeding its memory limit (exit 137, `OOMKilled`).
    Oom,
    /// Runs, but its readiness probe fails: never Ready, `Unhealthy` events.
    NotReady,
    /// Cannot be started: `CreateContainerConfigError` with `message`.
    ConfigError,
}

/// The language runtime whose log lines a container writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// Plain lines.
    #[default]
    Generic,
    /// A Spring Boot service on the JVM (exceptions with `Caused by:` stack traces).
    Jvm,
    /// A Go binary (panics with goroutine traces, exit code 2).
    Go,
    /// A Python service (Tracebacks).
    Python,
    /// A Node.js service (unhandled promise rejections).
    Node,
}

/// How the containers of one image behave.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// What the container does.
    pub behaviour: Behaviour,
    /// Whose log lines it writes.
    #[serde(default)]
    pub runtime: Runtime,
    /// The failure: the crash's error text, or the config error's message.
    #[serde(default)]
    pub message: Option<String>,
    /// How long a `crash` or `oom` container runs (default: `settings.crash_after`).
    #[serde(default, deserialize_with = "durations::deserialize_opt")]
    pub after: Option<Duration>,
    /// The exit code of a crash (default: 2 for Go, 1 otherwise).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Extra lines the container logs after starting.
    #[serde(default)]
    pub log: Option<String>,
}

impl ImageSpec {
    /// An image of the given behaviour with every option at its default.
    pub fn new(behaviour: Behaviour) -> Self {
        ImageSpec {
            behaviour,
            runtime: Runtime::Generic,
            message: None,
            after: None,
            exit_code: None,
            log: None,
        }
    }

    /// The crash's exit code.
    pub fn crash_exit_code(&self) -> i32 {
        self.exit_code.unwrap_or(match self.runtime {
            Runtime::Go => 2,
            _ => 1,
        })
    }
}

/// An entry of `images:` is either a behaviour name or an [`ImageSpec`] mapping.
pub fn deserialize_image<'de, D: Deserializer<'de>>(d: D) -> Result<ImageSpec, D::Error> {
    struct SpecVisitor;
    impl<'de> Visitor<'de> for SpecVisitor {
        type Value = ImageSpec;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a behaviour (healthy, crash, oom, not-ready, config-error) or a mapping")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<ImageSpec, E> {
            let behaviour = Behaviour::deserialize(de::value::StrDeserializer::<E>::new(v))?;
            Ok(ImageSpec::new(behaviour))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ImageSpec, A::Error> {
            ImageSpec::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(SpecVisitor)
}

/// The image catalogue: exact references and glob patterns (`shop/*`), exact first.
#[derive(Debug, Clone, Default)]
pub struct Images {
    exact: BTreeMap<String, ImageSpec>,
    patterns: Vec<(String, GlobMatcher, ImageSpec)>,
}

impl Images {
    /// Adds an image reference or glob pattern; a bad pattern is refused.
    pub fn insert(&mut self, reference: &str, spec: ImageSpec) -> Result<(), String> {
        if reference.contains(['*', '?', '[']) {
            let glob = Glob::new(reference).map_err(|e| format!("bad image pattern: {e}"))?;
            self.patterns
                .push((reference.to_string(), glob.compile_matcher(), spec));
        } else {
            self.exact.insert(normalize(reference), spec);
        }
        Ok(())
    }

    /// The behaviour of an image as a pod spec names it, if the catalogue knows it.
    pub fn lookup(&self, image: &str) -> Option<&ImageSpec> {
        let full = normalize(image);
        self.exact.get(&full).or_else(|| {
            self.patterns
                .iter()
                .find(|(_, m, _)| m.is_match(image) || m.is_match(&full))
                .map(|(_, _, spec)| spec)
        })
    }

    /// Whether no image is known.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.patterns.is_empty()
    }
}

/// The fully qualified reference containerd resolves: `nginx` → `docker.io/library/nginx:latest`.
pub fn normalize(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_registry = name.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    let mut full = match (has_registry, name.contains('/')) {
        (true, _) => name.to_string(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && digest.is_none() {
        full.push_str(":latest");
    }
    match digest {
        Some(d) => format!("{full}@{d}"),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_normalize_like_containerd() {
        assert_eq!(normalize("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize("shop/api:v9"), "docker.io/shop/api:v9");
        assert_eq!(normalize("ghcr.io/a/b:1"), "ghcr.io/a/b:1");
        assert_eq!(normalize("localhost:5000/x"), "localhost:5000/x:latest");
    }

    #[test]
    fn the_catalogue_finds_exact_references_then_patterns() {
        let mut images = Images::default();
        images
            .insert("shop/api:v1", ImageSpec::new(Behaviour::Healthy))
            .expect("exact");
        images
            .insert("shop/*", ImageSpec::new(Behaviour::Crash))
            .expect("pattern");
        let kind = |i: &str| images.lookup(i).map(|s| s.behaviour);
        assert_eq!(kind("docker.io/shop/api:v1"), Some(Behaviour::Healthy));
        assert_eq!(kind("shop/web:v2"), Some(Behaviour::Crash));
        assert_eq!(kind("nginx:1.27"), None);
    }

    #[test]
    fn an_image_entry_is_a_behaviour_name_or_a_mapping() {
        #[derive(Deserialize)]
        struct Doc {
            #[serde(deserialize_with = "deserialize_image")]
            image: ImageSpec,
        }
        let short: Doc = serde_yaml_ng::from_str("image: not-ready").expect("short");
        assert_eq!(short.image.behaviour, Behaviour::NotReady);
        let long: Doc = serde_yaml_ng::from_str(
            "image: {behaviour: crash, runtime: go, after: 2s, message: boom}",
        )
        .expect("long");
        assert_eq!(long.image.after, Some(Duration::from_secs(2)));
        assert_eq!(long.image.crash_exit_code(), 2);
        let wrong = serde_yaml_ng::from_str::<Doc>("image: {behaviour: crash, colour: red}");
        let message = wrong.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("unknown field `colour`"), "{message}");
    }
}
