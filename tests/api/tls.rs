//! Postgres over TLS against a throw-away cluster this test starts (initdb + pg_ctl from
//! /usr/lib/postgresql/*/bin) with a CA and server certificate made here: TLS only (`hostssl`
//! in pg_hba.conf), on a free loopback port, stopped and removed at the end. Ignored by a plain
//! `cargo test` (it needs the Postgres server binaries); `.ci/run` runs it:
//! `cargo test --test api tls_ -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::Command;

use psp_integrator::config::DatabaseConfig;
use psp_integrator::startup::{Application, Roles};
use psp_integrator::store::{self, SchemaAction};
use reqwest::StatusCode;
use sqlx::Connection;

use crate::harness::config_for;

/// A Postgres cluster of its own; stopped and deleted on drop.
struct TlsCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl TlsCluster {
    /// `None` (with the reason printed) when the server binaries are not installed.
    fn start() -> Option<TlsCluster> {
        let Some(bin) = server_binaries() else {
            eprintln!("SKIPPED: no /usr/lib/postgresql/*/bin/initdb (Debian's postgresql package)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        set_mode(dir.path(), 0o755);
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        set_mode(&data, 0o700);
        own(&data);
        let port = free_port();
        let cluster = TlsCluster { dir, bin, port };
        cluster.pg(
            "initdb",
            &["-D", &cluster.data(), "-U", "postgres", "-A", "trust"],
        );
        cluster.write_certificates();
        cluster.configure();
        let log = format!("{}/server.log", cluster.data());
        cluster.pg(
            "pg_ctl",
            &["-D", &cluster.data(), "-l", &log, "-w", "-t", "60", "start"],
        );
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn ca(&self) -> String {
        self.dir.path().join("ca.crt").display().to_string()
    }

    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres{query}", self.port)
    }

    /// Runs a server binary as the `postgres` user when we are root (initdb refuses root).
    fn pg(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd.args(args).output().expect("runs");
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA, and a server certificate it signs for `localhost` only (no IP address).
    fn write_certificates(&self) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("ca key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "psp-integrator test CA");
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        std::fs::write(self.ca(), ca.pem()).expect("ca.crt");
        let data = Path::new(&self.dir.path().join("data")).to_path_buf();
        std::fs::write(data.join("server.crt"), cert.pem()).expect("server.crt");
        std::fs::write(data.join("server.key"), key.serialize_pem()).expect("server.key");
        for f in ["server.crt", "server.key"] {
            set_mode(&data.join(f), 0o600);
            own(&data.join(f));
        }
    }

    /// TLS on, loopback only, and no plaintext connections (`hostssl` alone in pg_hba.conf).
    fn configure(&self) {
        let data = self.dir.path().join("data");
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n",
            self.port,
            data.display()
        );
        let mut existing =
            std::fs::read_to_string(data.join("postgresql.conf")).expect("postgresql.conf");
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).expect("write conf");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("pg_hba.conf");
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let path = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .output()
        } else {
            Command::new(&path).args(args).output()
        };
    }
}

fn server_binaries() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

fn own(path: &Path) {
    if is_root() {
        let ok = Command::new("chown")
            .arg("postgres")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown postgres {}", path.display());
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn database(url: String, ssl_mode: &str, ssl_root_cert: &str) -> DatabaseConfig {
    DatabaseConfig {
        url,
        max_connections: 2,
        ssl_mode: ssl_mode.into(),
        ssl_root_cert: ssl_root_cert.into(),
        migrate_on_start: true,
        write_retry_secs: 10,
    }
}

/// Connects as the service does and asks the server whether this connection is encrypted.
async fn encrypted(db: &DatabaseConfig) -> Result<bool, String> {
    let url = db.connect_url().map_err(|e| e.to_string())?;
    store::connect(&url, 1)
        .await
        .map_err(|e| e.to_string())?
        .ping()
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = sqlx::postgres::PgConnection::connect(&url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
#[ignore = "starts its own Postgres cluster: cargo test --test api tls_ -- --ignored"]
async fn tls_every_sslmode_against_a_server_that_enforces_tls() {
    let Some(pg) = TlsCluster::start() else {
        return;
    };
    let ca = pg.ca();
    let by_name = pg.url("localhost", "");
    let by_ip = pg.url("127.0.0.1", "");

    // verify-full from the [database] keys: the certificate chains to the CA and names the host.
    let full = database(by_name.clone(), "verify-full", &ca);
    assert_eq!(encrypted(&full).await, Ok(true));
    // The same from the URL alone (?sslmode=…&sslrootcert=…).
    let in_url = pg.url(
        "localhost",
        &format!("?sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_eq!(encrypted(&database(in_url, "", "")).await, Ok(true));

    // verify-full refuses a host name the certificate does not carry…
    let wrong_name = encrypted(&database(by_ip.clone(), "verify-full", &ca)).await;
    let e = wrong_name.expect_err("wrong host name refused");
    assert!(e.contains("not valid for name \"127.0.0.1\""), "{e}");
    // …and a certificate from a CA it was not given (only the public roots).
    let e = encrypted(&database(by_name.clone(), "verify-full", ""))
        .await
        .expect_err("unknown CA refused");
    assert!(e.contains("UnknownIssuer"), "{e}");

    // verify-ca checks the chain; in this build it also checks the name, like verify-full
    // (sqlx 0.8 does not recognise current rustls' name-mismatch error: sqlx issue 3793).
    // Stricter than Postgres' own clients, never weaker; the README says so.
    assert_eq!(
        encrypted(&database(by_name.clone(), "verify-ca", &ca)).await,
        Ok(true)
    );
    let e = encrypted(&database(by_ip.clone(), "verify-ca", &ca))
        .await
        .expect_err("verify-ca checks the name in this build");
    assert!(e.contains("not valid for name"), "{e}");
    // require and prefer encrypt without checking the certificate.
    assert_eq!(
        encrypted(&database(by_ip.clone(), "require", "")).await,
        Ok(true)
    );
    let require_in_url = pg.url("127.0.0.1", "?sslmode=require");
    assert_eq!(encrypted(&database(require_in_url, "", "")).await, Ok(true));
    assert_eq!(encrypted(&database(by_ip.clone(), "", "")).await, Ok(true));

    // Plaintext is refused by a server that only accepts TLS.
    let e = encrypted(&database(by_ip.clone(), "disable", ""))
        .await
        .expect_err("plaintext refused");
    assert!(e.contains("no encryption"), "{e}");

    // The service itself: migrates, serves and is ready over verify-full.
    let mut cfg = config_for("http://127.0.0.1:1", &by_name);
    cfg.database.ssl_mode = "verify-full".into();
    cfg.database.ssl_root_cert = ca.clone();
    let app = Application::build(cfg, Roles::API)
        .await
        .expect("starts over TLS");
    let res = reqwest::get(format!("{}/health/ready", app.base_url()))
        .await
        .expect("probe");
    assert_eq!(res.status(), StatusCode::OK);
    app.stop().await;
    let e = store::open(&database(by_ip, "verify-full", &ca), SchemaAction::Check)
        .await
        .expect_err("the service refuses the wrong name too")
        .to_string();
    assert!(e.contains("not valid for name \"127.0.0.1\""), "{e}");
}
