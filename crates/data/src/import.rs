//! `alphalab import`: local data.binance.vision bulk files into the raw archive.
//!
//! [`import_file`] / [`import_dir`] read a local `.zip` (or unzipped `.csv`), verify its
//! `.CHECKSUM` sidecar when there is one, and store the bytes unchanged under
//! `raw/archive/<data.binance.vision path>` with a provenance sidecar ([`RawStore`]).
//!
//! File naming, zip reading, checksums and CSV framing are [`binance::archive`]'s (shared with
//! the simulator's replay). Downloading from a base URL is [`crate::download`]'s; both store into
//! the same raw archive, and [`crate::ingest`] turns the stored files into catalog rows.

use std::path::{Path, PathBuf};

use binance::{
    Market,
    archive::{self, ArchiveError, ArchiveName},
};

use crate::{
    error::{Error, Result},
    raw::{RawStore, now_rfc3339, sha256_hex},
};

/// One file imported into the raw archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    pub name: ArchiveName,
    /// The file imported from.
    pub source: PathBuf,
    /// Relative path inside `raw/archive/`: [`ArchiveName::rel_path`] (with `.csv` instead of
    /// `.zip` for an unzipped source).
    pub rel_path: PathBuf,
    /// Where it was stored (its provenance sidecar is [`crate::raw::sidecar`] of it).
    pub stored: PathBuf,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    pub bytes: u64,
    /// Whether a `<source>.CHECKSUM` sidecar was present (and matched; a mismatch is an error).
    pub checksum_verified: bool,
}

fn is_zip(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

fn is_csv(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// `<src>.CHECKSUM`.
fn checksum_path(src: &Path) -> PathBuf {
    let mut s = src.as_os_str().to_owned();
    s.push(".CHECKSUM");
    PathBuf::from(s)
}

/// Imports one local bulk file: names it ([`ArchiveName::parse`], `market_override` replacing
/// the folder's market), checks a zip is readable, verifies `<src>.CHECKSUM` when present
/// (missing: a `log::warn!` and `checksum_verified = false`) and stores the bytes unchanged
/// under `raw/archive/<rel_path>` with a provenance sidecar (source = the canonical source path,
/// retrieved_at = now, UTC).
///
/// # Errors
/// [`Error::Archive`] for a name not in the archive's form, a corrupt zip or a checksum
/// mismatch (naming the file and its `.CHECKSUM`); [`Error::Io`] reading or writing.
pub fn import_file(store: &RawStore, src: &Path, market_override: Option<Market>) -> Result<ImportedFile> {
    let name = ArchiveName::parse(src, market_override)?;
    let bytes = std::fs::read(src).map_err(Error::io(src))?;
    if is_zip(src) {
        archive::check_zip(src, &bytes)?;
    } else if std::str::from_utf8(&bytes).is_err() {
        return Err(ArchiveError::file(src, "cannot read: the CSV is not UTF-8").into());
    }
    let sum_path = checksum_path(src);
    let checksum_verified = match std::fs::read_to_string(&sum_path) {
        Ok(text) => {
            archive::verify_checksum(&bytes, &text, &src.to_string_lossy())?;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::warn!("{}: no {} sidecar, imported unverified", src.display(), sum_path.display());
            false
        }
        Err(e) => return Err(Error::io(&sum_path)(e)),
    };
    let mut rel_path = name.rel_path();
    if !is_zip(src) {
        rel_path.set_extension("csv");
    }
    let source = std::fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf());
    let stored = store.store_archive_file(&rel_path, &bytes, &source.to_string_lossy(), &now_rfc3339())?;
    Ok(ImportedFile {
        name,
        source: src.to_path_buf(),
        rel_path,
        stored,
        sha256: sha256_hex(&bytes),
        bytes: bytes.len() as u64,
        checksum_verified,
    })
}

/// The bulk files under `dir` (recursively, in sorted path order): every `.zip`/`.csv` whose
/// path parses as an [`ArchiveName`]; `.CHECKSUM` files are sidecars, other files and names
/// that do not parse are skipped (logged at debug level).
///
/// # Errors
/// [`Error::Io`] listing a folder.
pub fn bulk_files(dir: &Path, market_override: Option<Market>) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    files.retain(|f| {
        if !(is_zip(f) || is_csv(f)) {
            return false;
        }
        match ArchiveName::parse(f, market_override) {
            Ok(_) => true,
            Err(e) => {
                log::debug!("skipped: {e}");
                false
            }
        }
    });
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let e = e.map_err(Error::io(dir))?;
        let p = e.path();
        if e.file_type().map_err(Error::io(&p))?.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}
