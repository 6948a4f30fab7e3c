//! Deterministic, seeded market model (to be written).

/// Model settings.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {}

/// The market model.
#[derive(Debug)]
pub struct Model {}

impl Model {
    #[must_use]
    pub fn new(_cfg: ModelConfig) -> Self {
        Self {}
    }
}
