//! The simulated cluster at benchmark scale: 100 Deployments × 100 replicas (10,000 pods)
//! reach steady state with the controllers stepping. Step times are printed (run with
//! `--nocapture`), not asserted.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use nightshift::sim::controllers::Controllers;
use nightshift::sim::scenario::Scenario;
use nightshift::sim::{SimCluster, SimOptions};

#[test]
fn ten_thousand_pods_reach_steady_state_with_the_controllers_stepping() {
    let start: Timestamp = "2026-11-20T02:00:00Z".parse().expect("time");
    let clock = Arc::new(Mutex::new(start));
    let read = clock.clone();
    let cluster = SimCluster::with_options(SimOptions {
        clock: Arc::new(move || *read.lock().expect("clock")),
        ..SimOptions::default()
    });
    let scenario = Scenario::generate(100, 100);
    scenario.install(&cluster).expect("install");
    let mut controllers = Controllers::new(cluster.clone(), scenario.settings());
    let mut steady = false;
    for pass in 1..=20 {
        let now = {
            let mut c = clock.lock().expect("clock");
            *c += SignedDuration::from_millis(500);
            *c
        };
        let began = Instant::now();
        controllers.step(now);
        let took = began.elapsed();
        let deployments = cluster.list("deploy", Some("bench"));
        let available: i64 = deployments
            .iter()
            .map(|d| d["status"]["availableReplicas"].as_i64().unwrap_or(0))
            .sum();
        println!("pass {pass:2}: {took:>10.1?}  available replicas {available}");
        if available == 10_000
            && deployments.iter().all(|d| {
                d["status"]["conditions"][1]["reason"] == "NewReplicaSetAvailable"
                    || d["status"]["conditions"][0]["reason"] == "NewReplicaSetAvailable"
            })
        {
            steady = true;
            break;
        }
    }
    assert!(steady, "every deployment completes");
    assert_eq!(cluster.list("pods", Some("bench")).len(), 10_000);
    let mut times = Vec::new();
    for _ in 0..5 {
        let now = {
            let mut c = clock.lock().expect("clock");
            *c += SignedDuration::from_millis(500);
            *c
        };
        let began = Instant::now();
        controllers.step(now);
        times.push(began.elapsed());
    }
    println!("steady-state passes at 10k pods: {times:?}");
    println!(
        "events stored: {}",
        cluster.list("events", Some("bench")).len()
    );
}
