//! Generated scenarios for benchmarks: N Deployments × M replicas of a healthy image.

use std::path::PathBuf;

use serde_json::json;

use super::Scenario;
use super::file::NodeSpec;
use crate::sim::controllers::settings::{Behaviour, ImageSpec, Settings};

/// Pods per generated node (the kubelet's default maximum is 110).
const PODS_PER_NODE: usize = 100;

/// See [`Scenario::generate`].
pub fn generate(deployments: usize, replicas: usize) -> Scenario {
    let total = deployments * replicas;
    let nodes = total.div_ceil(PODS_PER_NODE).max(1);
    let nodes = (1..=nodes)
        .map(|i| NodeSpec {
            name: format!("bench-node-{i:04}"),
            cpu: "64".into(),
            memory: "256Gi".into(),
            labels: Default::default(),
            taints: Vec::new(),
            unschedulable: false,
            ready: true,
        })
        .collect();
    let inline = (1..=deployments)
        .map(|i| {
            let name = format!("app-{i:04}");
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": name, "namespace": "bench", "labels": {"app": name}},
                   "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                            "template": {"metadata": {"labels": {"app": name}},
                                         "spec": {"containers": [{"name": "app", "image": "bench/app:1.0",
                                             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}})
        })
        .collect();
    let mut settings = Settings {
        seed: Some(42),
        ..Settings::default()
    };
    if let Err(e) = settings
        .images
        .insert("bench/app:1.0", ImageSpec::new(Behaviour::Healthy))
    {
        tracing::error!(error = %e, "the generated image entry was refused");
    }
    Scenario {
        path: PathBuf::from(format!("<generated {deployments}x{replicas}>")),
        description: Some(format!(
            "{deployments} deployments x {replicas} replicas, healthy"
        )),
        settings,
        nodes,
        objects: Vec::new(),
        inline,
        timeline: Vec::new(),
    }
}
