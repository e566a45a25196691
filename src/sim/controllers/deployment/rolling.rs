//! The strategies: RollingUpdate (scale the new ReplicaSet up within maxSurge, the old ones
//! down within maxUnavailable, unhealthy old replicas first), Recreate (old to zero, wait
//! for their pods to go, then the new one up), and `sync` for paused Deployments and
//! scaling events (proportional scaling), plus history cleanup.

use serde_json::Value;

use super::{DeploySync, MAX_REPLICAS};
use crate::sim::controllers::api;
use crate::sim::meta;

/// `ResolveFenceposts` for a RollingUpdate Deployment: (maxSurge, maxUnavailable), surge
/// rounded up and unavailable down, never both zero. Recreate has neither.
pub(super) fn fenceposts(d: &Value, replicas: i64) -> (i64, i64) {
    if d["spec"]["strategy"]["type"] == "Recreate" {
        return (0, 0);
    }
    let rolling = &d["spec"]["strategy"]["rollingUpdate"];
    let surge = scaled(rolling.get("maxSurge"), replicas, true);
    let mut unavailable = scaled(rolling.get("maxUnavailable"), replicas, false);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable.min(replicas))
}

/// `GetScaledValueFromIntOrPercent` (a missing value is the 25% default).
fn scaled(value: Option<&Value>, total: i64, round_up: bool) -> i64 {
    let text = match value {
        Some(Value::Number(n)) => return n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.clone(),
        _ => "25%".into(),
    };
    match text.strip_suffix('%').map(str::parse::<i64>) {
        Some(Ok(percent)) if round_up => (percent * total + 99) / 100,
        Some(Ok(percent)) => percent * total / 100,
        _ => text.parse().unwrap_or(0),
    }
}

impl DeploySync<'_, '_> {
    fn sum(&self, idx: &[usize], field: impl Fn(&super::Rs) -> i64) -> i64 {
        idx.iter().map(|i| field(&self.rss[*i])).sum()
    }

    fn all(&self) -> Vec<usize> {
        (0..self.rss.len()).collect()
    }

    /// `NewRSNewReplicas`: how far the new ReplicaSet may grow now.
    pub(super) fn new_rs_new_replicas(&self, new: usize) -> i64 {
        if self.d["spec"]["strategy"]["type"] == "Recreate" {
            return self.replicas;
        }
        let current = self.sum(&self.all(), |rs| rs.replicas);
        let max_total = self.replicas + self.max_surge;
        let new_replicas = self.rss[new].replicas;
        if current >= max_total {
            return new_replicas;
        }
        let up = (max_total - current).min(self.replicas - new_replicas);
        new_replicas + up
    }

    /// `rolloutRolling`.
    pub(super) fn rolling(&mut self) {
        self.find_or_create_new(true);
        if !self.reconcile_new() && !self.reconcile_old() && self.complete_before() {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    fn complete_before(&self) -> bool {
        super::status::complete(&self.d, self.d.get("status").unwrap_or(&Value::Null))
    }

    fn reconcile_new(&mut self) -> bool {
        let Some(new) = self.new else { return false };
        let current = self.rss[new].replicas;
        if current == self.replicas {
            return false;
        }
        if current > self.replicas {
            return self.scale_rs(new, self.replicas);
        }
        let target = self.new_rs_new_replicas(new);
        self.scale_rs(new, target)
    }

    fn reconcile_old(&mut self) -> bool {
        let old = self.old_by_age();
        if self.sum(&old, |rs| rs.replicas) == 0 {
            return false;
        }
        let all_pods = self.sum(&self.all(), |rs| rs.replicas);
        let min_available = self.replicas - self.max_unavailable;
        let new_unavailable = self
            .new
            .map_or(0, |n| self.rss[n].replicas - self.rss[n].available);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let cleaned = self.cleanup_unhealthy(&old, max_scaled_down);
        let scaled = self.scale_down_old(&old);
        cleaned + scaled > 0
    }

    /// `cleanupUnhealthyReplicas`: old replicas that are not available go first.
    fn cleanup_unhealthy(&mut self, old: &[usize], max: i64) -> i64 {
        let mut total = 0;
        for &i in old {
            if total >= max {
                break;
            }
            let rs = &self.rss[i];
            if rs.replicas == 0 || rs.available >= rs.replicas {
                continue;
            }
            let down = (max - total).min(rs.replicas - rs.available);
            let to = rs.replicas - down;
            self.scale_rs(i, to);
            total += down;
        }
        total
    }

    /// `scaleDownOldReplicaSetsForRollingUpdate`: keep at least minAvailable available.
    fn scale_down_old(&mut self, old: &[usize]) -> i64 {
        let min_available = self.replicas - self.max_unavailable;
        let available = self.sum(&self.all(), |rs| rs.available);
        if available <= min_available {
            return 0;
        }
        let wanted = available - min_available;
        let mut total = 0;
        for &i in old {
            if total >= wanted {
                break;
            }
            let replicas = self.rss[i].replicas;
            if replicas == 0 {
                continue;
            }
            let down = replicas.min(wanted - total);
            self.scale_rs(i, replicas - down);
            total += down;
        }
        total
    }

    /// `rolloutRecreate`.
    pub(super) fn recreate(&mut self) {
        self.find_or_create_new(false);
        let mut scaled = false;
        for i in self.old() {
            if self.rss[i].replicas > 0 {
                scaled |= self.scale_rs(i, 0);
            }
        }
        let old_running = self.old().iter().any(|i| self.rss[*i].status_replicas > 0);
        if scaled || old_running {
            return self.sync_rollout_status();
        }
        if self.new.is_none() {
            self.find_or_create_new(true);
        }
        if let Some(new) = self.new {
            self.scale_rs(new, self.replicas);
        }
        if self.complete_before() {
            self.cleanup();
        }
        self.sync_rollout_status();
    }

    /// `sync`: scaling only (paused Deployments and scaling events), then the plain status.
    pub(super) fn sync(&mut self, paused: bool) {
        self.find_or_create_new(false);
        self.scale();
        if paused {
            self.cleanup();
        }
        self.status = self.calculate_status();
    }

    /// `scale`: the one active ReplicaSet takes every replica; otherwise proportionally.
    fn scale(&mut self) {
        let active: Vec<usize> = self
            .all()
            .into_iter()
            .filter(|i| self.rss[*i].replicas > 0)
            .collect();
        let only = match active.as_slice() {
            [one] => Some(*one),
            [] => self.new.or_else(|| self.newest_old()),
            _ => None,
        };
        if let Some(i) = only {
            self.scale_rs(i, self.replicas);
            return;
        }
        if let Some(new) = self.new.filter(|n| self.saturated(*n)) {
            for i in self.old() {
                if i != new && self.rss[i].replicas > 0 {
                    self.scale_rs(i, 0);
                }
            }
            return;
        }
        if self.d["spec"]["strategy"]["type"] != "Recreate" {
            self.scale_proportionally(active);
        }
    }

    fn newest_old(&self) -> Option<usize> {
        self.old_by_age().last().copied()
    }

    fn saturated(&self, new: usize) -> bool {
        let rs = &self.rss[new];
        rs.replicas == self.replicas
            && rs.annotation(super::DESIRED_REPLICAS) == Some(self.replicas)
            && rs.available == self.replicas
    }

    fn scale_proportionally(&mut self, mut active: Vec<usize>) {
        let total = self.sum(&active, |rs| rs.replicas);
        let allowed = if self.replicas > 0 {
            self.replicas + self.max_surge
        } else {
            0
        };
        let to_add = allowed - total;
        active.sort_by(|a, b| {
            let (a, b) = (&self.rss[*a], &self.rss[*b]);
            let by_age = if to_add > 0 {
                b.created.cmp(&a.created)
            } else {
                a.created.cmp(&b.created)
            };
            b.replicas.cmp(&a.replicas).then(by_age)
        });
        let mut added = 0;
        let mut sizes = Vec::with_capacity(active.len());
        for &i in &active {
            let share = self.proportion(i, to_add, added);
            added += share;
            sizes.push(self.rss[i].replicas + share);
        }
        if let Some(first) = sizes.first_mut() {
            *first = (*first + to_add - added).max(0);
        }
        for (i, size) in active.into_iter().zip(sizes) {
            self.scale_rs(i, size);
        }
    }

    /// `GetProportion`: a ReplicaSet's share of the replicas to add or remove.
    fn proportion(&self, i: usize, to_add: i64, added: i64) -> i64 {
        let rs = &self.rss[i];
        if rs.replicas == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = if self.replicas == 0 {
            -rs.replicas
        } else {
            let wanted = self.replicas + self.max_surge;
            let annotated = rs
                .annotation(MAX_REPLICAS)
                .unwrap_or_else(|| api::int(&self.d, &["status", "replicas"]));
            if annotated == 0 {
                0
            } else {
                ((rs.replicas * wanted) as f64 / annotated as f64).round() as i64 - rs.replicas
            }
        };
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// `cleanupDeployment`: deletes the oldest idle ReplicaSets beyond revisionHistoryLimit.
    fn cleanup(&mut self) {
        let Some(limit) = self.d["spec"]["revisionHistoryLimit"].as_i64() else {
            return;
        };
        let mut cleanable: Vec<usize> = self
            .old()
            .into_iter()
            .filter(|i| !api::deleting(&self.rss[*i].obj))
            .collect();
        let excess = cleanable.len() as i64 - limit;
        if excess <= 0 {
            return;
        }
        cleanable.sort_by_key(|i| (self.rss[*i].revision(), self.rss[*i].created.clone()));
        let mut removed = Vec::new();
        for &i in cleanable.iter().take(excess as usize) {
            let rs = &self.rss[i];
            let generation = api::int(&rs.obj, &["metadata", "generation"]);
            let observed = api::int(&rs.obj, &["status", "observedGeneration"]);
            if rs.status_replicas != 0 || rs.replicas != 0 || generation > observed {
                continue;
            }
            if api::delete(
                self.ctx.cluster,
                "replicasets",
                meta::namespace(&rs.obj),
                &rs.name,
            ) {
                removed.push(i);
            }
        }
        self.remove(&removed);
    }

    fn remove(&mut self, removed: &[usize]) {
        let new_name = self.new.map(|n| self.rss[n].name.clone());
        let mut i = 0;
        self.rss.retain(|_| {
            i += 1;
            !removed.contains(&(i - 1))
        });
        self.new = new_name.and_then(|n| self.rss.iter().position(|rs| rs.name == n));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deploy(surge: Value, unavailable: Value) -> Value {
        json!({"spec": {"strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}})
    }

    #[test]
    fn surge_rounds_up_and_unavailable_rounds_down() {
        assert_eq!(fenceposts(&deploy(json!("25%"), json!("25%")), 3), (1, 0));
        assert_eq!(fenceposts(&deploy(json!("25%"), json!("25%")), 10), (3, 2));
        assert_eq!(fenceposts(&deploy(json!(0), json!(0)), 4), (0, 1));
        assert_eq!(fenceposts(&deploy(json!(2), json!("50%")), 5), (2, 2));
        let recreate = json!({"spec": {"strategy": {"type": "Recreate"}}});
        assert_eq!(fenceposts(&recreate, 5), (0, 0));
    }
}
