//! Opens a rendered report.html in headless Chromium (Debian's `chromium`; CI gets it
//! from `scripts/setup.sh --with-browser`): the page's script must run without an
//! uncaught error (it marks `<body data-ready="1">`), the timeline, both plots and
//! the counterexample must be in the rendered DOM, and hovering a timeline bar must
//! show its tooltip and the wheel must zoom (the page's `#selftest` mode). A
//! screenshot is saved next to the report (and copied with the page to
//! `$FAULTLINE_SCREENSHOT_DIR` when set) for a human to look at. Without Chromium the
//! test says why it is skipped; a Chromium run that hangs is killed after a deadline.

mod report_common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use report_common::*;

/// How long one Chromium run may take before it is killed (it renders in seconds).
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(60);

/// Runs Chromium once: headless, no sandbox (CI runs as root), no network or
/// background activity of its own, in its own process group so that a hung browser
/// and all its helpers can be killed. `None` if it missed the deadline.
fn chromium_once(profile: &Path, extra: &[String], page: &Path) -> Option<Output> {
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
        "--disable-breakpad",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let child = cmd.spawn().expect("chromium starts");
    let group = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CHROMIUM_DEADLINE) {
        Ok(out) => Some(out.expect("chromium runs")),
        Err(_) => {
            // SAFETY: kill(2) on the process group this test created for Chromium.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = rx.recv_timeout(Duration::from_secs(5));
            None
        }
    }
}

/// Runs Chromium, once more if the first run hung.
fn chromium(profile: &Path, extra: &[String], page: &Path) -> Output {
    for attempt in 1..=2 {
        if let Some(out) = chromium_once(profile, extra, page) {
            return out;
        }
        eprintln!(
            "chromium did not finish within {CHROMIUM_DEADLINE:?} (attempt {attempt}); killed"
        );
    }
    panic!("chromium hung twice on {}", page.display());
}

#[test]
fn report_renders_in_headless_chromium_without_errors() {
    if !nemesis::test_can_run(&[nemesis::Need::Program("chromium")]) {
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

    // Hover and zoom: the page's self-test (report.html#selftest) hovers a bar and
    // turns the wheel once, then records whether the tooltip showed and the axis zoomed.
    let profile = tempfile::tempdir().unwrap();
    let selftest = std::path::PathBuf::from(format!("{}#selftest", page.display()));
    let dom = chromium(profile.path(), &["--dump-dom".to_string()], &selftest);
    let html = String::from_utf8_lossy(&dom.stdout);
    assert!(
        html.contains("data-selftest=\"pass\""),
        "hover and zoom work: {}",
        html.lines()
            .find(|l| l.contains("<body"))
            .unwrap_or("no body")
    );

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
