//! `alphalab new-strategy NAME`: renders a strategy template (an [`crate::alpha::Alpha`] whose
//! hooks are all `todo!()`) into `src/strategies/<name>.rs` and registers it in
//! `src/strategies/mod.rs` (a `pub mod` line and a `reg.register(..)` line, inserted above marker
//! comments; both insertions are idempotent).
//!
//! The rendered template for the name `template_check` is checked in as
//! `src/strategies/template_check.rs` (compiled in tests only), and a unit test asserts it is
//! byte-identical to [`render`]'s output: the template provably compiles and cannot drift.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The error of a scaffolding step, under the command's name.
fn refuse(msg: String) -> Error {
    Error::spec("new-strategy", msg)
}

/// Marker line in `strategies/mod.rs` above which `pub mod` lines are inserted.
pub const MODS_MARKER: &str = "// alphalab:new-strategy mods";
/// Marker line in `strategies/mod.rs` above which `reg.register(..)` lines are inserted.
pub const REGISTER_MARKER: &str = "// alphalab:new-strategy registrations";

/// Names a new strategy may not take (baselines, the template check, Rust keywords).
const RESERVED: &[&str] = &[
    "buy_and_hold",
    "targets_from_file",
    "template_check",
    "mod",
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "tests",
    "test",
];

/// The template: `__module__` is the snake_case name, `__Struct__` the CamelCase type name.
pub const TEMPLATE: &str = include_str!("scaffold_template.rs.txt");

/// The module (file, registry) name and the type name of a strategy called `name`.
///
/// `MyAlpha`, `my-alpha` and `my_alpha` all give (`my_alpha`, `MyAlpha`).
///
/// # Errors
/// Not an ASCII identifier (letters, digits, `_`, `-`, starting with a letter), or a reserved
/// name (a Rust keyword, a baseline, `template_check`).
pub fn names(name: &str) -> Result<(String, String)> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(refuse(format!(
            "invalid strategy name {name:?}: use ASCII letters, digits, `_` or `-`, starting with a letter \
             (e.g. `mean_reversion` or `MeanReversion`)"
        )));
    }
    let mut snake = String::new();
    let mut prev: Option<char> = None;
    for c in name.chars() {
        if c == '-' || c == '_' {
            if !snake.ends_with('_') {
                snake.push('_');
            }
        } else if c.is_ascii_uppercase() {
            if prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) && !snake.ends_with('_') {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
        prev = Some(c);
    }
    let snake = snake.trim_end_matches('_').to_string();
    if RESERVED.contains(&snake.as_str()) {
        return Err(refuse(format!(
            "invalid strategy name {name:?}: `{snake}` is reserved (a Rust keyword, a baseline or the template check)"
        )));
    }
    let camel: String = snake
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            cs.next().map(|f| f.to_ascii_uppercase().to_string() + cs.as_str()).unwrap_or_default()
        })
        .collect();
    Ok((snake, camel))
}

/// The template rendered for `name`.
///
/// # Errors
/// As for [`names`].
pub fn render(name: &str) -> Result<String> {
    let (module, ty) = names(name)?;
    Ok(render_unchecked(&module, &ty))
}

fn render_unchecked(module: &str, ty: &str) -> String {
    TEMPLATE.replace("__module__", module).replace("__Struct__", ty)
}

/// `mod_rs` with the `pub mod` and `reg.register` lines of `module` inserted above the markers
/// (each only if not yet present).
///
/// # Errors
/// A marker line is missing.
pub fn insert_registration(mod_rs: &str, module: &str, ty: &str) -> Result<String> {
    let mod_line = format!("pub mod {module};");
    let reg_line = format!("    reg.register(\"{module}\", {module}::{ty}::from_params);");
    let has = |line: &str| mod_rs.lines().any(|l| l.trim() == line.trim());
    let mut out = String::with_capacity(mod_rs.len() + 128);
    let (mut mods_seen, mut reg_seen) = (false, false);
    for l in mod_rs.split_inclusive('\n') {
        if l.trim_start().starts_with(MODS_MARKER) {
            mods_seen = true;
            if !has(&mod_line) {
                out.push_str(&mod_line);
                out.push('\n');
            }
        } else if l.trim_start().starts_with(REGISTER_MARKER) {
            reg_seen = true;
            if !has(&reg_line) {
                out.push_str(&reg_line);
                out.push('\n');
            }
        }
        out.push_str(l);
    }
    if !mods_seen || !reg_seen {
        return Err(refuse(format!(
            "strategies/mod.rs: marker lines `{MODS_MARKER}` and `{REGISTER_MARKER}` are required"
        )));
    }
    Ok(out)
}

/// Writes `<dir>/<module>.rs` and registers it in `<dir>/mod.rs`; returns the new file's path.
///
/// # Errors
/// Invalid name, an existing strategy file, a `mod.rs` without markers, I/O.
pub fn generate(dir: &Path, name: &str) -> Result<PathBuf> {
    let (module, ty) = names(name)?;
    let mod_rs = dir.join("mod.rs");
    let text = std::fs::read_to_string(&mod_rs).map_err(|e| {
        refuse(format!("reading {}: {e} (run from the repository root or pass --dir)", mod_rs.display()))
    })?;
    let file = dir.join(format!("{module}.rs"));
    if file.exists() {
        return Err(refuse(format!("strategy `{module}` already exists: {}", file.display())));
    }
    let updated = insert_registration(&text, &module, &ty)?;
    std::fs::write(&file, render(name)?).map_err(Error::io(&file))?;
    std::fs::write(&mod_rs, updated).map_err(Error::io(&mod_rs))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_validated() {
        assert_eq!(names("MeanReversion").unwrap(), ("mean_reversion".into(), "MeanReversion".into()));
        assert_eq!(names("mean-reversion").unwrap(), ("mean_reversion".into(), "MeanReversion".into()));
        assert_eq!(names("ema_cross2").unwrap(), ("ema_cross2".into(), "EmaCross2".into()));
        assert_eq!(names("EMACross").unwrap(), ("emacross".into(), "Emacross".into()));
        for bad in ["", "1abc", "a b", "a.b", "ä", "self", "buy-and-hold", "template_check", "fn"] {
            let e = names(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("new-strategy: invalid strategy name {bad:?}")), "{e}");
        }
    }

    #[test]
    fn template_check_is_the_rendered_template() {
        let checked_in = include_str!("strategies/template_check.rs");
        assert_eq!(
            render("template_check").unwrap_err().to_string(),
            "new-strategy: invalid strategy name \"template_check\": `template_check` is reserved (a Rust keyword, a \
             baseline or the template check)"
        );
        let rendered = render_unchecked("template_check", "TemplateCheck");
        assert!(rendered == checked_in, "src/strategies/template_check.rs drifted from the template: regenerate it");
        assert!(!rendered.contains("__"), "unreplaced placeholder");
    }

    #[test]
    fn generate_writes_and_registers_idempotently() {
        let dir = std::env::temp_dir().join(format!("alphalab-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("mod.rs"), include_str!("strategies/mod.rs")).unwrap();
        let f = generate(&dir, "MeanReversion").unwrap();
        assert_eq!(f, dir.join("mean_reversion.rs"));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), render("mean_reversion").unwrap());
        let m = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
        assert_eq!(m.matches("pub mod mean_reversion;\n").count(), 1);
        assert_eq!(
            m.matches("    reg.register(\"mean_reversion\", mean_reversion::MeanReversion::from_params);\n").count(),
            1
        );
        assert!(m.find("pub mod mean_reversion;").unwrap() < m.find(MODS_MARKER).unwrap());
        // an existing name is refused, mod.rs untouched
        let e = generate(&dir, "mean-reversion").unwrap_err().to_string();
        assert!(e.starts_with("new-strategy: strategy `mean_reversion` already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(dir.join("mod.rs")).unwrap(), m);
        // lines already present (file deleted by hand) are not duplicated
        std::fs::remove_file(&f).unwrap();
        generate(&dir, "mean_reversion").unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("mod.rs")).unwrap(), m);
        // a second strategy goes below the first
        generate(&dir, "b2").unwrap();
        let m2 = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
        assert!(m2.find("pub mod mean_reversion;").unwrap() < m2.find("pub mod b2;").unwrap());
        assert_eq!(
            generate(&dir, "no good").unwrap_err().to_string(),
            "new-strategy: invalid strategy name \"no good\": use ASCII letters, digits, `_` or `-`, starting with a \
             letter (e.g. `mean_reversion` or `MeanReversion`)"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
