//! Strategies by name: the run file's `[strategy] name` picks one, its `params` build it.

use std::collections::BTreeMap;

use crate::{
    alpha::{Alpha, AlphaResult},
    baselines::{BuyAndHold, EqualWeight, TargetsFromFile},
    error::{Error, Result},
    spec::StrategySpec,
};

/// Constructor of a named Alpha from its params.
pub type AlphaFactory = fn(&toml::Value) -> AlphaResult<Box<dyn Alpha>>;

/// Alphas by name.
#[derive(Debug, Clone, Default)]
pub struct Registry(BTreeMap<String, AlphaFactory>);

impl Registry {
    /// With `buy-and-hold`, `equal-weight` and `targets-from-file`.
    #[must_use]
    pub fn with_baselines() -> Self {
        let mut r = Self::default();
        r.register("buy-and-hold", BuyAndHold::from_params);
        r.register("equal-weight", EqualWeight::from_params);
        r.register("targets-from-file", TargetsFromFile::from_params);
        r
    }

    pub fn register(&mut self, name: &str, f: AlphaFactory) {
        self.0.insert(name.to_string(), f);
    }

    /// Builds the named Alpha.
    ///
    /// # Errors
    /// [`Error::Spec`] for an unknown name (listing the known ones), [`Error::Strategy`] for the
    /// constructor's error.
    pub fn build(&self, spec: &StrategySpec) -> Result<Box<dyn Alpha>> {
        let Some(f) = self.0.get(&spec.name) else {
            let known: Vec<&String> = self.0.keys().collect();
            return Err(Error::spec("strategy.name", format!("unknown strategy {:?} (known: {known:?})", spec.name)));
        };
        f(&spec.params).map_err(|e| Error::Strategy { name: spec.name.clone(), msg: e.to_string() })
    }
}
