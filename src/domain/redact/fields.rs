//! Which fields of evidence and signals are free text. Every struct is destructured without
//! `..`, so a field added to a fact does not compile until it is classified here: masked, or
//! named as structured (`_`) because its shape cannot hold a secret (Kubernetes names, counts,
//! timestamps, quantities).

use super::{argv, env_value, in_place, map, optional, text};
use crate::domain::controls::DisruptionBudgetFacts;
use crate::domain::evidence::{
    AlertFacts, ClaimFacts, ConditionFacts, ConfigFacts, ContainerFacts, ContainerState,
    CronJobFacts, EventFacts, Facts, JobFacts, LimitRangeFacts, LogFacts, MetricFacts,
    MetricSeries, NodeFacts, PodFacts, QuotaFacts, RevisionFacts, RolloutFacts, TemplateContainer,
};
use crate::domain::signal::Signal;

/// Masks every free-text field of one evidence item.
pub fn facts(facts: &mut Facts) {
    match facts {
        Facts::Pod(pod) => pod_facts(pod),
        Facts::Event(event) => event_facts(event),
        Facts::Log(log) => log_facts(log),
        Facts::Rollout(rollout) => rollout_facts(rollout),
        Facts::Node(node) => node_facts(node),
        Facts::Job(job) => job_facts(job),
        Facts::Metric(metric) => metric_facts(metric),
        Facts::Alert(alert) => alert_facts(alert),
        Facts::CronJob(cron) => structured_cron_job(cron),
        Facts::Quota(quota) => structured_quota(quota),
        Facts::LimitRange(range) => structured_limit_range(range),
        Facts::Claim(claim) => structured_claim(claim),
        Facts::Config(config) => structured_config(config),
        Facts::DisruptionBudget(budget) => structured_disruption_budget(budget),
    }
}

fn structured_disruption_budget(budget: &DisruptionBudgetFacts) {
    let DisruptionBudgetFacts {
        namespace: _,
        name: _,
        selector: _,
        disruptions_allowed: _,
        current_healthy: _,
        desired_healthy: _,
        expected_pods: _,
        always_allow_unhealthy: _,
    } = budget;
}

// Names, schedules, quantities and keys: nothing free-form. Listed field by field so that a
// field added later has to be classified.

fn structured_cron_job(cron: &CronJobFacts) {
    let CronJobFacts {
        namespace: _,
        name: _,
        schedule: _,
        suspended: _,
        last_schedule: _,
        last_success: _,
    } = cron;
}

fn structured_quota(quota: &QuotaFacts) {
    let QuotaFacts {
        namespace: _,
        name: _,
        hard: _,
        used: _,
    } = quota;
}

fn structured_limit_range(range: &LimitRangeFacts) {
    let LimitRangeFacts {
        namespace: _,
        name: _,
        limits: _,
    } = range;
}

fn structured_claim(claim: &ClaimFacts) {
    let ClaimFacts {
        namespace: _,
        name: _,
        phase: _,
        storage_class: _,
        volume: _,
    } = claim;
}

fn structured_config(config: &ConfigFacts) {
    let ConfigFacts {
        kind: _,
        namespace: _,
        name: _,
        keys: _,
    } = config;
}

/// Masks a signal's free text: its message (an event message, a termination message, an
/// alert summary), its labels (an alert's are arbitrary), and for alerts the alert's name.
pub fn signal(signal: &mut Signal) {
    let Signal {
        source: _,
        target: _,
        workload: _,
        reason,
        container,
        container_state: _,
        labels,
        alertname,
        message,
        observed_at: _,
    } = signal;
    in_place(reason);
    optional(container);
    map(labels);
    optional(alertname);
    optional(message);
}

fn conditions(list: &mut [ConditionFacts]) {
    for c in list {
        let ConditionFacts {
            kind: _,
            status: _,
            reason,
            message,
            since: _,
        } = c;
        optional(reason);
        optional(message);
    }
}

fn state(state: &mut Option<ContainerState>) {
    match state {
        Some(ContainerState::Waiting { reason, message }) => {
            optional(reason);
            optional(message);
        }
        Some(ContainerState::Terminated {
            reason,
            exit_code: _,
            signal: _,
            message,
            started_at: _,
            finished_at: _,
        }) => {
            optional(reason);
            optional(message);
        }
        Some(ContainerState::Running { started_at: _ }) | None => {}
    }
}

fn container(c: &mut ContainerFacts) {
    let ContainerFacts {
        name: _,
        image: _,
        ready: _,
        restart_count: _,
        state: now,
        last_state,
        memory_limit: _,
        memory_request: _,
        cpu_limit: _,
        env: _,
        config_refs: _,
        probes,
    } = c;
    state(now);
    state(last_state);
    probes.values_mut().for_each(in_place);
}

fn pod_facts(pod: &mut PodFacts) {
    let PodFacts {
        namespace: _,
        name: _,
        phase: _,
        reason,
        message,
        node: _,
        owner: _,
        workload: _,
        template_hash: _,
        created_at: _,
        terminating: _,
        conditions: pod_conditions,
        containers,
        init_containers,
        service_account: _,
        claims: _,
        image_pull_secrets: _,
        node_selector: _,
        labels,
        // Quantities, and keys and values an admin's taints and labels define.
        requests: _,
        tolerations: _,
        node_affinity: _,
    } = pod;
    optional(reason);
    optional(message);
    conditions(pod_conditions);
    containers.iter_mut().for_each(container);
    init_containers.iter_mut().for_each(container);
    map(labels);
}

fn event_facts(event: &mut EventFacts) {
    let EventFacts {
        kind: _,
        reason,
        message,
        object: _,
        count: _,
        first_seen: _,
        last_seen: _,
        source,
    } = event;
    in_place(reason);
    in_place(message);
    optional(source);
}

/// The lines are masked as one block, so a private key spread over lines goes whole.
fn log_facts(log: &mut LogFacts) {
    let LogFacts {
        namespace: _,
        pod: _,
        container: _,
        previous: _,
        lines,
        truncated: _,
    } = log;
    let joined = lines.join("\n");
    let masked = text(&joined);
    if masked != joined {
        *lines = masked.split('\n').map(str::to_owned).collect();
    }
}

fn template(c: &mut TemplateContainer) {
    let TemplateContainer {
        name: _,
        image: _,
        command,
        args,
        env,
        env_from: _,
        memory_limit: _,
        cpu_limit: _,
        probes,
        ports: _,
    } = c;
    *command = argv(command);
    *args = argv(args);
    for (name, value) in env.iter_mut() {
        *value = env_value(name, value);
    }
    probes.values_mut().for_each(in_place);
}

fn revision(rev: &mut RevisionFacts) {
    let RevisionFacts {
        revision: _,
        replica_set: _,
        template_hash: _,
        created_at: _,
        change_cause,
        replicas: _,
        ready_replicas: _,
        containers,
        pod_fields,
    } = rev;
    optional(change_cause);
    containers.iter_mut().for_each(template);
    pod_fields.values_mut().for_each(in_place);
}

fn rollout_facts(rollout: &mut RolloutFacts) {
    let RolloutFacts {
        deployment: _,
        replicas: _,
        updated_replicas: _,
        ready_replicas: _,
        available_replicas: _,
        generation: _,
        observed_generation: _,
        conditions: rollout_conditions,
        revisions,
        template: containers,
        // Which GitOps controller and HPA manage it: Kubernetes names and counts that the
        // guards read; masking would change their answer.
        gitops: _,
        autoscaler: _,
        in_progress: _,
    } = rollout;
    conditions(rollout_conditions);
    revisions.iter_mut().for_each(revision);
    containers.iter_mut().for_each(template);
}

fn node_facts(node: &mut NodeFacts) {
    let NodeFacts {
        name: _,
        conditions: node_conditions,
        unschedulable: _,
        taints,
        // Label keys and values are what node policy judges (control-plane roles, the node
        // selector): masking would change its answer, and admins, not workloads, write them.
        labels: _,
        allocatable: _,
        requested: _,
        pods_counted: _,
        candidate: _,
    } = node;
    conditions(node_conditions);
    taints.iter_mut().for_each(in_place);
}

fn job_facts(job: &mut JobFacts) {
    let JobFacts {
        namespace: _,
        name: _,
        owner: _,
        conditions: job_conditions,
        active: _,
        succeeded: _,
        failed: _,
        backoff_limit: _,
        active_deadline_seconds: _,
        started_at: _,
    } = job;
    conditions(job_conditions);
}

fn metric_facts(metric: &mut MetricFacts) {
    let MetricFacts { query: _, series } = metric;
    for s in series {
        let MetricSeries {
            labels,
            latest: _,
            max: _,
            points: _,
        } = s;
        map(labels);
    }
}

fn alert_facts(alert: &mut AlertFacts) {
    let AlertFacts {
        alertname,
        status: _,
        labels,
        annotations,
        starts_at: _,
    } = alert;
    in_place(alertname);
    map(labels);
    map(annotations);
}
