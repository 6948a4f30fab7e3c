//! Opens a generated run report in headless Chromium (Debian's `chromium`): the screenshot must
//! decode and not be blank, and the page must log no console message.
//!
//! Chromium 148 logs every console message to stderr at INFO (`INFO:CONSOLE:1] "text", source:
//! ...`) whatever its level, so `console.error` cannot be told from `console.log` there. The
//! reports contain no script, so any console message at all (a script error, a blocked or
//! failed resource, a CSP violation) counts as an error. A probe page with `console.error`
//! proves the check sees messages.
//!
//! Skipped (with a message) when no Chromium is installed, unless `ALPHALAB_REQUIRE_CHROMIUM=1`.

#[path = "fixtures/run/builder.rs"]
#[allow(dead_code)]
mod builder;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use builder::{FILLS, temp_dir, write_run};

const TIMEOUT: Duration = Duration::from_secs(120);

/// `ALPHALAB_CHROMIUM`, else the first of `chromium`, `chromium-browser`, `google-chrome` on
/// `PATH`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ALPHALAB_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The Chromium to use, or `None` after printing why the test is skipped.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        assert!(
            std::env::var("ALPHALAB_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "ALPHALAB_REQUIRE_CHROMIUM=1 but no chromium found (apt-get install chromium, or set ALPHALAB_CHROMIUM)"
        );
        eprintln!("skipped: chromium not installed (apt-get install chromium)");
    }
    found
}

/// Console messages in Chromium's stderr log (`CONSOLE:<line>]` in recent versions,
/// `CONSOLE(<line>)]` in older ones), whatever their level.
fn console_errors(stderr: &str) -> Vec<String> {
    stderr.lines().filter(|l| l.contains(":CONSOLE:") || l.contains(":CONSOLE(")).map(str::to_string).collect()
}

/// Screenshots `page` at 1280×2000 into `out`, in a fresh profile under `work`; returns stderr.
fn screenshot(chromium: &Path, page: &Path, out: &Path, work: &Path) -> String {
    let profile = work.join(format!("profile-{}", out.file_stem().unwrap().to_string_lossy()));
    let stderr_path = work.join(format!("{}.stderr", out.file_stem().unwrap().to_string_lossy()));
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-background-networking",
            "--disable-gpu",
            // small /dev/shm in containers would otherwise crash the renderer
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1280,2000",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", chromium.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    stderr
}

/// `(distinct colours, share of non-white pixels)` of a PNG.
fn pixel_stats(png: &Path) -> (usize, f64) {
    let img = image::open(png).unwrap_or_else(|e| panic!("decoding {}: {e}", png.display())).to_rgb8();
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0usize;
    for p in img.pixels() {
        colours.insert(p.0);
        ink += usize::from(p.0.iter().any(|c| *c < 240));
    }
    (colours.len(), ink as f64 / f64::from(img.width() * img.height()))
}

#[test]
fn run_report_renders_in_chromium() {
    let Some(chromium) = chromium_or_skip() else { return };
    let work = temp_dir("browser");
    let run = work.join("run");
    write_run(&run, &FILLS, true, true, "browser");
    let page = report::write_run_report(&run).unwrap();
    let png = work.join("report.png");
    let stderr = screenshot(&chromium, &page, &png, &work);
    let (colours, ink) = pixel_stats(&png);
    eprintln!("screenshot {}: {colours} colours, {:.1}% non-white", png.display(), ink * 100.0);
    assert!(colours > 50, "blank screenshot? {colours} colours");
    assert!(ink > 0.05, "blank screenshot? {:.2}% non-white pixels", ink * 100.0);
    let errors = console_errors(&stderr);
    assert!(errors.is_empty(), "console messages:\n{}", errors.join("\n"));
    if std::env::var_os("ALPHALAB_KEEP_SCREENSHOT").is_none() {
        std::fs::remove_dir_all(&work).unwrap();
    }
}

#[test]
fn console_check_detects_an_error() {
    let Some(chromium) = chromium_or_skip() else { return };
    let work = temp_dir("probe");
    let page = work.join("probe.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"></head>\
         <body><p>probe</p><script>console.error(\"alphalab-probe\")</script></body></html>",
    )
    .unwrap();
    let stderr = screenshot(&chromium, &page, &work.join("probe.png"), &work);
    let errors = console_errors(&stderr);
    assert!(errors.iter().any(|l| l.contains("alphalab-probe")), "probe not detected; stderr:\n{stderr}");
    std::fs::remove_dir_all(&work).unwrap();
}
