//! Configuration per PSP family: the simulator registry behind `sim <family>` and `serve`, and
//! the old `[oppwa]`/`[simulator]` names still read with a warning naming the new key.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use psp_integrator::startup::{Application, Roles};

use crate::harness::*;

const BIN: &str = env!("CARGO_BIN_EXE_psp-integrator");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config");

/// Ends the child (by its pid) when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `psp-integrator sim <args>` with `envs`; returns it and the first line it prints.
fn start_sim(
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Running, String, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--config-dir", CONFIG, "sim"])
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("PSPI_PROFILE")
        .env("PSPI__LOG__LEVEL", "warn")
        .env("PSPI__LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut out = BufReader::new(stdout);
    let mut line = String::new();
    out.read_line(&mut line).expect("a line");
    (Running(child), line, out)
}

fn url_in(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string()
}

#[tokio::test]
async fn sim_runs_each_registered_family_as_the_readme_writes_it() {
    let (_oppwa, line, _) = start_sim(&["oppwa", "--listen", "127.0.0.1:0"], &[]);
    assert!(
        line.starts_with("oppwa simulator at http://127.0.0.1:"),
        "{line}"
    );
    let res = reqwest::get(format!("{}/v1/checkouts/none/payment", url_in(&line)))
        .await
        .expect("the OPPWA simulator answers");
    assert!(res.status().is_client_error(), "{}", res.status());

    let (_mollie, line, mut out) = start_sim(&["mollie", "--listen", "127.0.0.1:0"], &[]);
    assert!(
        line.starts_with("mollie simulator at http://127.0.0.1:"),
        "{line}"
    );
    let mut key = String::new();
    out.read_line(&mut key).expect("the test key line");
    let key = key
        .trim()
        .strip_prefix("test key ")
        .expect("test key")
        .to_string();
    let res = reqwest::Client::new()
        .get(format!("{}/v2/methods", url_in(&line)))
        .bearer_auth(&key)
        .send()
        .await
        .expect("the Mollie simulator answers");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
}

#[test]
fn sim_refuses_a_family_it_does_not_have_naming_those_it_has() {
    let out = Command::new(BIN)
        .args(["--config-dir", CONFIG, "sim", "adyen"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value 'adyen'") && err.contains("[possible values: oppwa, mollie]"),
        "{err}"
    );
}

#[tokio::test]
async fn an_old_environment_name_still_works_and_start_up_warns_once_naming_the_new_one() {
    // `sim oppwa` listens where the old PSPI__SIMULATOR__LISTEN says.
    let (mut sim, line, _) = start_sim(&["oppwa"], &[("PSPI__SIMULATOR__LISTEN", "127.0.0.1:0")]);
    assert!(
        line.starts_with("oppwa simulator at http://127.0.0.1:"),
        "{line}"
    );
    let _ = sim.0.kill();
    let out = sim.0.wait_with_output_stderr();
    let warnings: Vec<&str> = out.lines().filter(|l| l.contains("deprecated")).collect();
    assert_eq!(warnings.len(), 1, "{out}");
    assert!(
        warnings[0]
            .contains("PSPI__SIMULATOR__LISTEN (the environment) is now PSPI__SIM__OPPWA__LISTEN"),
        "{out}"
    );

    // A command without a log prints it on stderr; the old name takes effect (0: refused).
    let app = TestApp::spawn().await;
    let out = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "--config-dir",
            CONFIG,
            "merchants",
            "list",
            "--database-url",
            &app.cfg.database.url,
        ])
        .env_remove("PSPI_PROFILE")
        .env("PSPI__OPPWA__TIMEOUT_SECS", "0")
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the old name's value is used: {err}");
    assert!(
        err.contains("warning: deprecated configuration names")
            && err.contains(
                "PSPI__OPPWA__TIMEOUT_SECS (the environment) is now PSPI__PSP__OPPWA__TIMEOUT_SECS"
            )
            && err.contains("psp.oppwa.timeout_secs: must be at least 1 second"),
        "{err}"
    );
}

#[test]
fn serve_reads_an_old_name_and_logs_one_warning_naming_the_new_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("pspi.db").display());
    let mut child = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--config-dir", CONFIG, "serve", "--no-workers"])
        .env_remove("PSPI_PROFILE")
        .env("PSPI__DATABASE__URL", &db)
        .env("PSPI__SERVER__LISTEN", "127.0.0.1:0")
        .env("PSPI__SERVER__PUBLIC_BASE_URL", "http://127.0.0.1:0")
        .env("PSPI__OPS__ENABLED", "false")
        .env("PSPI__LOG__LEVEL", "info")
        .env("PSPI__LOG__FORMAT", "json")
        .env("PSPI__SIMULATOR__ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut child = Running(child);
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.expect("a line");
        let listening = line.contains("psp-integrator listening");
        seen.push(line);
        if listening {
            break;
        }
    }
    let _ = child.0.kill();
    let log = seen.join("\n");
    assert!(log.contains("psp-integrator listening"), "{log}");
    let warnings: Vec<&String> = seen.iter().filter(|l| l.contains("deprecated")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("\"level\":\"WARN\"")
            && warnings[0].contains(
                "PSPI__SIMULATOR__ENABLED (the environment) is now PSPI__SIM__OPPWA__ENABLED"
            ),
        "{log}"
    );
    assert!(
        !log.contains("built-in simulator stands in"),
        "the old name turned the simulator off: {log}"
    );
}

trait StderrOf {
    fn wait_with_output_stderr(&mut self) -> String;
}

impl StderrOf for Child {
    fn wait_with_output_stderr(&mut self) -> String {
        let _ = self.wait();
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    }
}

#[tokio::test]
async fn serve_starts_every_enabled_simulator_and_points_its_adapter_key_at_it() {
    init_test_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("pspi.db").display());
    let mut cfg = config_for("http://127.0.0.1:1", &db);
    for (family, _) in cfg.sim.families() {
        assert!(!cfg.sim.enabled(family), "the harness turns {family} off");
    }
    cfg.sim
        .of_mut::<psp_integrator::sim::oppwa::OppwaSimSection>()
        .expect("[sim.oppwa]")
        .enabled = true;
    cfg.sim
        .of_mut::<psp_integrator::sim::oppwa::OppwaSimSection>()
        .expect("[sim.oppwa]")
        .listen = "127.0.0.1:0".into();
    cfg.sim
        .of_mut::<psp_integrator::sim::oppwa::OppwaSimSection>()
        .expect("[sim.oppwa]")
        .auto_deliver = false;
    cfg.sim
        .of_mut::<psp_integrator::sim::mollie::MollieSimSection>()
        .expect("[sim.mollie]")
        .enabled = true;
    cfg.sim
        .of_mut::<psp_integrator::sim::mollie::MollieSimSection>()
        .expect("[sim.mollie]")
        .listen = "127.0.0.1:0".into();
    cfg.sim
        .of_mut::<psp_integrator::sim::mollie::MollieSimSection>()
        .expect("[sim.mollie]")
        .auto_deliver = false;
    let application = Application::build(cfg, Roles::API).await.expect("starts");
    let families: Vec<&str> = application.simulators().iter().map(|s| s.family).collect();
    assert_eq!(families, ["oppwa", "mollie"]);
    let oppwa = application.simulator("oppwa").expect("oppwa runs");
    assert!(oppwa.get::<psp_integrator::sim::oppwa::Sim>().is_some());
    let effective = application.config();
    assert_eq!(
        effective
            .psp
            .of::<psp_integrator::psp::oppwa::OppwaPspSection>()
            .expect("[psp.oppwa]")
            .test_base_url,
        oppwa.base_url,
        "test merchants go there"
    );
    assert_eq!(
        effective
            .psp
            .of::<psp_integrator::psp::oppwa::OppwaPspSection>()
            .expect("[psp.oppwa]")
            .live_base_url,
        "http://127.0.0.1:1",
        "live ones do not"
    );
    // No Mollie adapter yet: its simulator runs, with nothing pointed at it.
    let mollie = application.simulator("mollie").expect("mollie runs");
    assert!(mollie.get::<psp_integrator::sim::mollie::Sim>().is_some());
    let res = reqwest::Client::new()
        .get(format!("{}/v2/methods", mollie.base_url))
        .bearer_auth(psp_integrator::sim::mollie::SANDBOX_TEST_KEY)
        .send()
        .await
        .expect("the Mollie simulator answers");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    application.stop().await;
}

#[tokio::test]
async fn a_simulator_that_cannot_listen_stops_start_up_naming_its_key() {
    init_test_logs();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("pspi.db").display());
    let mut cfg = config_for("http://127.0.0.1:1", &db);
    cfg.sim
        .of_mut::<psp_integrator::sim::mollie::MollieSimSection>()
        .expect("[sim.mollie]")
        .enabled = true;
    cfg.sim
        .of_mut::<psp_integrator::sim::mollie::MollieSimSection>()
        .expect("[sim.mollie]")
        .listen = taken.local_addr().expect("addr").to_string();
    let e = Application::build(cfg, Roles::API)
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().starts_with("sim.mollie.listen "), "{e}");
}
