//! Opens a rendered report.html in headless Chromium (Debian's `chromium`; CI gets it
//! from `scripts/setup.sh --with-browser`): the page's script must run without an
//! uncaught error (it marks `<body data-ready="1">`), and the timeline, both plots and
//! the counterexample must be in the rendered DOM. A screenshot is saved next to the
//! report (and copied to `$FAULTLINE_SCREENSHOT_DIR` when set) for a human to look
//! at. Without Chromium the test says why it is skipped.

mod report_common;

use std::path::Path;
use std::process::Command;

use report_common::*;

/// Chromium's flags: headless, no sandbox (CI runs as root), and no network or
/// background activity of its own.
fn chromium(profile: &Path, extra: &[String], page: &Path) -> std::process::Output {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()));
    cmd.output().expect("chromium runs")
}

#[test]
fn report_renders_in_headless_chromium_without_errors() {
    if Command::new("chromium").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED report_renders_in_headless_chromium_without_errors: no `chromium` on PATH \
             (install it with scripts/setup.sh --with-browser or apt-get install -y chromium)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A larger synthetic invalid run (with faults), so every part of the page is drawn.
    let dir = tmp.path().join("synthetic/run");
    std::fs::create_dir_all(&dir).unwrap();
    let out = faultline(&[
        "bench-report",
        "--ops",
        "30000",
        "--invalid",
        "--keep",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join("report.html").canonicalize().unwrap();

    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(profile.path(), &["--dump-dom".to_string()], &page);
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    for bad in ["Uncaught", ":CONSOLE"] {
        let errors: Vec<&str> = log.lines().filter(|l| l.contains(bad)).collect();
        assert!(errors.is_empty(), "console errors: {errors:?}");
    }
    assert!(
        html.contains("data-ready=\"1\""),
        "the page's script ran to its end"
    );
    assert!(html.contains("id=\"timeline\""));
    assert!(
        html.contains("<g id=\"tl-ticks\"><line"),
        "the script drew the time axis"
    );
    assert!(html.contains("<section id=\"latency\">"));
    assert!(html.contains("<section id=\"throughput\">"));
    assert!(html.matches("<svg").count() >= 3, "timeline and both plots");
    assert!(html.contains("<section id=\"counterexample\">"));
    assert!(html.contains("class=\"banner invalid\""));

    let profile = tempfile::tempdir().unwrap();
    let shot = dir.join("report.png");
    let out = chromium(
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,2400".to_string(),
        ],
        &page,
    );
    assert!(
        shot.is_file() && std::fs::metadata(&shot).unwrap().len() > 10_000,
        "screenshot written: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Ok(keep) = std::env::var("FAULTLINE_SCREENSHOT_DIR") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&shot, Path::new(&keep).join("report.png")).unwrap();
        std::fs::copy(&page, Path::new(&keep).join("report.html")).unwrap();
    }
}
