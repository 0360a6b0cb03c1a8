//! A headless Chromium for one test, driven over WebDriver (chromedriver + fantoccini), with a
//! fresh profile; plus the shopper's moves and the page checks the scenarios share.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a page may take to reach the state a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// The browser's screen: a desktop window or a phone-sized one (375×812 CSS pixels, touch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Desktop,
    Phone,
}

/// A chromedriver process and a browser session; both end when this is dropped.
pub struct Browser {
    pub c: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    scenario: String,
    shots: u32,
}

fn tool(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_string())
}

/// Where screenshots go: `<target dir>/browser-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("browser-screenshots")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (`PSPI_CHROMIUM`, default
    /// `/usr/bin/chromium`; `PSPI_CHROMEDRIVER`, default `/usr/bin/chromedriver`).
    pub async fn start(scenario: &str, screen: Screen) -> Browser {
        let chromium = tool("PSPI_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = tool("PSPI_CHROMEDRIVER", "/usr/bin/chromedriver");
        for t in [&chromium, &chromedriver] {
            assert!(
                std::path::Path::new(t).exists(),
                "{t} is missing: install Debian's chromium and chromium-driver (see the README)"
            );
        }
        let port = free_port();
        // Its own process group, so that a failed test can stop the browser it started too.
        let driver = Command::new(&chromedriver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--lang=en-US".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut options = json!({ "binary": chromium });
        match screen {
            Screen::Desktop => args.push("--window-size=1280,900".into()),
            Screen::Phone => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": 375, "height": 812, "pixelRatio": 2.0, "touch": true }
                });
            }
        }
        options["args"] = json!(args);
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver needs a moment to listen; connect until it answers (bounded).
        let mut last = None;
        for _ in 0..100 {
            let conn = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(conn)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => {
                    return Browser {
                        c,
                        driver,
                        _profile: profile,
                        scenario: scenario.to_string(),
                        shots: 0,
                    };
                }
                Err(e) => {
                    last = Some(e.to_string());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("no WebDriver session from {chromedriver}: {last:?}");
    }

    pub async fn goto(&self, url: &str) {
        self.c.goto(url).await.expect("navigate");
    }

    pub async fn url(&self) -> String {
        self.c.current_url().await.expect("current url").to_string()
    }

    /// Waits until the browser is at exactly `url` (after redirects).
    pub async fn wait_for_url(&self, url: &str) {
        let want = url::Url::parse(url).expect("url");
        let reached = self.c.wait().at_most(STEP_TIMEOUT).for_url(&want).await;
        if reached.is_err() {
            panic!("browser did not reach {url}; it is at {}", self.url().await);
        }
    }

    /// Waits for an element (e.g. the widget's card form) and returns it.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .c
            .wait()
            .at_most(STEP_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("no {css} at {}: {e}", self.url().await),
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("text")
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let e = self.wait_for(css).await;
        e.clear().await.expect("clear");
        e.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    /// Clicks something that leaves the page (a submit button, a link) and waits until the
    /// old document is gone, so the next lookup cannot find an element of the page before.
    pub async fn click_away(&self, css: &str) {
        let old = self
            .c
            .find(Locator::Css("html"))
            .await
            .expect("the current document");
        self.click(css).await;
        let deadline = std::time::Instant::now() + STEP_TIMEOUT;
        while old.tag_name().await.is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "{css} did not leave {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The `value` of an input.
    pub async fn value(&self, css: &str) -> String {
        self.wait_for(css)
            .await
            .prop("value")
            .await
            .expect("value")
            .unwrap_or_default()
    }

    pub async fn js(&self, script: &str) -> Value {
        self.c.execute(script, vec![]).await.expect("script runs")
    }

    /// Saves a PNG of the page as `<scenario>-<n>-<step>.png` under [`screenshot_dir`].
    pub async fn screenshot(&mut self, step: &str) -> PathBuf {
        self.shots += 1;
        let png = self.c.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{}-{}-{step}.png", self.scenario, self.shots));
        std::fs::write(&path, &png).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG"), "a PNG image");
        path
    }

    /// Runs axe-core (vendored in tests/fixtures/axe) on the current page with the WCAG 2.x
    /// A/AA rules (labels, language, contrast, names, …); returns the violations, one line each.
    pub async fn axe_violations(&self, what: &str) -> Vec<String> {
        let axe = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/axe/axe.min.js"),
        )
        .expect("axe-core fixture");
        self.c
            .execute(&format!("{axe}\n;return typeof axe;"), vec![])
            .await
            .expect("axe-core loads");
        let result = self
            .c
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                  .then(r => done({ passes: r.passes.length, violations: r.violations.map(v =>
                      v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', ')) }))
                  .catch(e => done({ error: String(e) }));"#,
                vec![],
            )
            .await
            .expect("axe runs");
        assert!(
            result.get("error").is_none(),
            "axe failed on {what}: {result}"
        );
        assert!(
            result["passes"].as_u64().unwrap_or(0) > 3,
            "axe checked rules on {what}: {result}"
        );
        result["violations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// Fails on any accessibility violation axe-core finds on the current page.
    pub async fn assert_accessible(&self, what: &str) {
        let violations = self.axe_violations(what).await;
        assert!(
            violations.is_empty(),
            "accessibility violations on {what}: {violations:#?}"
        );
    }

    /// The page fits the screen: nothing wider than the viewport (no sideways scrolling).
    pub async fn assert_fits_width(&self, what: &str) {
        let v = self
            .js("return [document.documentElement.scrollWidth, window.innerWidth];")
            .await;
        let (scroll, inner) = (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0));
        assert!(
            inner > 0 && scroll <= inner,
            "{what} is {scroll}px wide in a {inner}px window"
        );
    }

    /// Ends the session (the browser quits); dropping stops chromedriver.
    pub async fn close(self) {
        let _ = self.c.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test never reaches close(): stop chromedriver and the browser it started
        // (its process group) here.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
