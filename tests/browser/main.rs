//! End-to-end shopper journeys in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) drives the hosted payment page, the simulator's widget and 3-D Secure
//! pages, and lands on Billwerk's success/error/abort URL (served by the Billwerk stand-in).
//!
//! Every test is `#[ignore]`d, so a plain `cargo test` on a machine without a browser reports
//! them as ignored; run them with `cargo test --test browser -- --ignored` (CI does).
//! Screenshots go to `<target dir>/browser-screenshots/`.

#[path = "../api/family.rs"]
mod family;
#[path = "../api/harness.rs"]
#[allow(dead_code)]
mod harness;

mod console;
mod driver;
mod journeys;
mod mollie;
