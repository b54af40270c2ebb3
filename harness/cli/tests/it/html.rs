//! The HTML report in a real browser: headless Chromium (Debian's package, which `.ci/run`
//! installs) takes a screenshot of `run.html`, and the picture must show the bars the report's
//! figures call for, and an unexpected failure highlighted where a person looks first.
//!
//! Without Chromium the test says so and passes, unless `FAULTLINE_REQUIRE_CHROMIUM=1`
//! (set by `.ci/run`), where a missing browser fails it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{CLEAN, LOST, faultline, queue_power_loss, stderr, stdout};

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

/// The screenshot's pixels, row by row (1200 to a row).
fn pixels_of(png_path: &Path) -> Vec<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("the screenshot exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.width, 1200);
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect()
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

    let pixels = pixels_of(&png_path);

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

/// A gate whose report holds one reference failure (planted in the run it judges with
/// `--from`, as a crafted report would be): every rendering puts it first and highlights it,
/// and the screenshot shows the red box at the top of the page.
#[test]
fn a_planted_reference_failure_comes_first_and_highlighted_in_every_rendering() {
    let dir = tempfile::tempdir().expect("temp");
    let scenario = dir.path().join("planted.toml");
    std::fs::write(
        &scenario,
        queue_power_loss(7, &[("torn_tail_swallow", LOST), ("segmented", CLEAN)]),
    )
    .expect("write");
    let first = dir.path().join("first");
    let (scenario_s, first_s) = (scenario.to_str().expect("utf-8"), first.to_str().expect("utf-8"));
    let o = faultline(&["gate", scenario_s, "--no-baseline", "--out", first_s]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Plant: the reference fails one state, with the broken variant's first failure.
    let mut run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(first.join("run.json")).expect("run.json"))
            .expect("json");
    let broken = run["results"][0].clone();
    let reference = &mut run["results"][1];
    assert_eq!(reference["variant"], "segmented");
    reference["trials_with_failures"] = 1.into();
    reference["failed_trials"]["failures"] = 1.into();
    reference["failures_by_kind"] = serde_json::json!({ "LostItem": 1 });
    reference["first_by_kind"] =
        serde_json::json!({ "LostItem": broken["first_by_kind"]["LostItem"].clone() });
    let planted = dir.path().join("planted.json");
    std::fs::write(&planted, serde_json::to_string(&run).expect("json")).expect("write");
    let out = dir.path().join("out");
    let out_s = out.to_str().expect("utf-8");
    let o = faultline(&[
        "gate",
        "--from",
        planted.to_str().expect("utf-8"),
        "--no-baseline",
        "--out",
        out_s,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    // The terminal: the unexpected first, with its case in full; the expected catch a line.
    let text = stdout(&o);
    assert!(text.starts_with("UNEXPECTED (1)"), "{text}");
    assert!(
        text.contains("!! exit 1  a reference failed: planted / segmented"),
        "{text}"
    );
    assert!(text.contains("case 2: planted / segmented: LostItem"), "{text}");
    assert!(
        text.contains(&format!("replay:    faultline replay {out_s} --case 2")),
        "{text}"
    );
    assert!(text.contains("!! UNEXPECTED"), "the table row is flagged: {text}");
    assert!(text.contains("  planted: Q4 LostItem (case 1)"), "{text}");
    assert!(text.ends_with("gate: FAILED (exit 1)\n"), "{text}");

    // The Markdown: the unexpected section before any scenario's table.
    let md = std::fs::read_to_string(out.join("run.md")).expect("run.md");
    let unexpected = md.find("## Unexpected (1)").expect("an unexpected section");
    assert!(unexpected < md.find("## planted").expect("the scenario"), "{md}");
    assert!(md.contains("**a reference failed** (exit 1)"), "{md}");
    assert!(md.contains("<details><summary>Expected catches (1)"), "{md}");
    let gate_md = std::fs::read_to_string(out.join("gate.md")).expect("gate.md");
    assert!(
        gate_md.starts_with("# faultline gate: FAILED (exit 1)"),
        "{gate_md}"
    );

    // JUnit: the failing case first, saying why it was unexpected.
    let xml = std::fs::read_to_string(out.join("run.junit.xml")).expect("junit");
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let first_case = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase"))
        .expect("a test case");
    assert_eq!(first_case.attribute("name"), Some("segmented (reference)"));
    let failure = first_case
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("it fails");
    assert!(
        failure
            .attribute("message")
            .is_some_and(|m| m.starts_with("UNEXPECTED: a reference failed (exit 1)")),
        "{xml}"
    );

    // The HTML: the red box first, linking to the case and its page, which exists.
    let page = out.join("run.html");
    let html = std::fs::read_to_string(&page).expect("run.html");
    let boxed = html.find("<section id=\"unexpected\">").expect("the box");
    assert!(boxed < html.find("<section class=\"scenario\">").expect("a scenario"));
    assert!(html.contains("<a href=\"#case-2\">case 2</a> (<a href=\"cases/2.html\">page</a>)"));
    assert!(
        html.contains("<tr class=\"unexpected\"><td>segmented</td>"),
        "the row is highlighted"
    );
    let case_page = std::fs::read_to_string(out.join("cases/2.html")).expect("the case page");
    assert!(case_page.contains("a reference failed"), "{case_page}");

    let Some(browser) = chromium() else {
        assert!(
            std::env::var("FAULTLINE_REQUIRE_CHROMIUM").is_err(),
            "FAULTLINE_REQUIRE_CHROMIUM is set and no chromium was found (install Debian's chromium)"
        );
        eprintln!("no chromium here: the screenshot was not taken");
        return;
    };
    let png_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("planted-report.png");
    screenshot(&browser, &page, &png_path, &dir.path().join("profile"));
    eprintln!("screenshot: {}", png_path.display());
    let pixels = pixels_of(&png_path);
    // The box: #ffe3e3 inside a 3-pixel #d93025 border, across the page's width, in the
    // first 300 rows of the picture (it comes right after the title and the gate's line).
    let top = &pixels[..(1200 * 300).min(pixels.len())];
    let tint = count_near(top, [0xff, 0xe3, 0xe3]);
    let border = count_near(top, [0xd9, 0x30, 0x25]);
    assert!(
        tint > 30_000,
        "{tint} pixels of the box's tint in the top 300 rows ({})",
        png_path.display()
    );
    assert!(
        border > 3_000,
        "{border} pixels of the box's border ({})",
        png_path.display()
    );
}
