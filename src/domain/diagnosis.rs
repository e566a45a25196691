//! Diagnoses: a taxonomy category, contributing categories, a summary a human can act on, a
//! confidence, and the ids of the evidence it rests on.

use serde::{Deserialize, Serialize};

use crate::domain::taxonomy::Category;

/// What nightshift believes went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The primary category.
    pub category: Category,
    /// Categories that contributed (a bad deploy that introduced a missing env var is
    /// `bad-deploy` with `config-missing` contributing).
    pub contributing: Vec<Category>,
    /// One or two sentences naming the specifics (the env var, the image tag, the node).
    pub summary: String,
    /// 0.0 – 1.0.
    pub confidence: f64,
    /// Ids of the evidence items it cites.
    pub evidence: Vec<String>,
    /// Which diagnoser produced it (`rules`, `llm:<provider>`).
    pub diagnoser: String,
}
