//! Research strategies, registered by name for run files (`[strategy] name = "..."`).
//!
//! `alphalab new-strategy NAME` writes `<name>.rs` here from the template (every hook
//! `todo!()`) and inserts its `pub mod` and `reg.register` lines above the marker comments below.
//! Keep the marker comments.

use crate::registry::Registry;

// alphalab:new-strategy mods (`pub mod` lines are inserted above this line)

#[cfg(test)]
pub mod template_check;

/// Registers every strategy of this module.
pub fn register(reg: &mut Registry) {
    let _ = &reg;
    // alphalab:new-strategy registrations (inserted above this line)
}

/// The baselines plus every registered strategy: the registry of the CLI.
#[must_use]
pub fn registry() -> Registry {
    let mut reg = Registry::with_baselines();
    register(&mut reg);
    reg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::StrategySpec;

    #[test]
    fn template_check_builds_through_a_registry() {
        let mut reg = registry();
        reg.register("template_check", template_check::TemplateCheck::from_params);
        let params = toml::Value::Table(toml::from_str(r#"train_start = "2025-01-01T00:00:00Z""#).unwrap());
        // builds (from_params only: the todo!() hooks are never called)
        reg.build(&StrategySpec { name: "template_check".into(), params }).unwrap();
        let bad = toml::Value::Table(toml::from_str("nope = 1").unwrap());
        let e = reg.build(&StrategySpec { name: "template_check".into(), params: bad }).err().unwrap().to_string();
        assert!(
            e.starts_with("strategy template_check: strategy.params (template_check): unknown field `nope`"),
            "{e}"
        );
    }
}
