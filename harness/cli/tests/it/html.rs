//! The HTML report in a real browser: headless Chromium (Debian's package, which `.ci/run`
//! installs) takes a screenshot of `run.html`, and the picture must show the bars the report's
//! figures call for.
//!
//! Without Chromium the test says so and passes, unless `FAULTLINE_REQUIRE_CHROMIUM=1`
//! (set by `.ci/run`), where a missing browser fails it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{CLEAN, LOST, faultline, queue_power_loss, stderr};

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FAULTLINE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Takes a screenshot of `page` into `png`, 1200 pixels wide.
fn screenshot(browser: &Path, page: &Path, png: &Path, profile: &Path) {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1200,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took over 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pixels of the picture within a small distance of `rgb`.
fn count_near(pixels: &[[u8; 3]], rgb: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| p.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 6))
        .count()
}

#[test]
fn the_html_report_renders_its_bars_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("FAULTLINE_REQUIRE_CHROMIUM").is_err(),
            "FAULTLINE_REQUIRE_CHROMIUM is set and no chromium was found (install Debian's chromium)"
        );
        eprintln!("no chromium here: the HTML rendering check did not run");
        return;
    };
    let dir = tempfile::tempdir().expect("temp");
    let scenario = dir.path().join("bars.toml");
    std::fs::write(
        &scenario,
        queue_power_loss(
            7,
            &[
                ("torn_tail_swallow", LOST),
                ("truncate_rewrite_dequeue", LOST),
                ("segmented", CLEAN),
            ],
        ),
    )
    .expect("write");
    let out = dir.path().join("out");
    let (scenario_s, out_s) = (scenario.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
    let o = faultline(&["gate", scenario_s, "--no-baseline", "--out", out_s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let page = out.join("run.html");
    let html = std::fs::read_to_string(&page).expect("run.html");
    let without_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(
        !without_namespace.contains("http://") && !without_namespace.contains("https://"),
        "the page names no network address"
    );
    assert!(!html.contains("<script"), "the page has no script");

    let png_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-report.png");
    screenshot(&browser, &page, &png_path, &dir.path().join("profile"));
    eprintln!("screenshot: {}", png_path.display());

    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).expect("the screenshot exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.width, 1200);
    let channels = info.color_type.samples();
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();

    // The broken variants' bars: a bar is rate x 520 pixels long and 16 high, in #c0392b,
    // plus the legend's 12 x 12 square. Whiskers cross the bars, so allow a margin.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).expect("run.json"))
            .expect("json");
    let expected_red: f64 = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["catalogue_id"].is_string())
        .map(|r| {
            let c = &r["failed_trials"];
            c["failures"].as_f64().expect("n") / c["trials"].as_f64().expect("n") * 520.0 * 16.0
        })
        .sum::<f64>()
        + 144.0;
    let red = count_near(&pixels, [0xc0, 0x39, 0x2b]) as f64;
    assert!(
        red > expected_red * 0.7 && red < expected_red * 1.3,
        "{red} red pixels on the screenshot; the report's rates call for about {expected_red:.0} ({})",
        png_path.display()
    );
    // The legend's green square of the fixed variant and the black whiskers are drawn.
    assert!(
        count_near(&pixels, [0x1e, 0x84, 0x49]) >= 100,
        "no fixed-variant colour drawn"
    );
    assert!(count_near(&pixels, [0x11, 0x11, 0x11]) >= 50, "no whiskers drawn");
}
