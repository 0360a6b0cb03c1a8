//! `psp-integrator operators create|list|remove|reset-password`: console accounts. A password
//! is read from `PSPI_OPERATOR_PASSWORD` when set, else as one line from standard input (never
//! from the command line, where it would show in the process list and shell history).

use std::io::BufRead;

use clap::Subcommand;

use super::auth::{self, OperatorError};
use crate::config::AppConfig;
use crate::startup::StartupError;
use crate::store;

/// The operator subcommands.
#[derive(Subcommand, Debug)]
pub enum OperatorsCommand {
    /// Create a console operator (password from PSPI_OPERATOR_PASSWORD or standard input).
    Create {
        /// Sign-in name: letters, digits, '.', '_', '-', '@'.
        #[arg(long)]
        name: String,
        /// `viewer` (reads) or `operator` (reads and acts).
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Limit the operator to this merchant (id or name); repeat for several. Default: all.
        #[arg(long = "merchant")]
        merchants: Vec<String>,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// List operators with their role and merchants.
    List {
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Remove an operator and end their sessions.
    Remove {
        /// The operator's sign-in name.
        name: String,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Set a new password (PSPI_OPERATOR_PASSWORD or standard input); ends their sessions.
    ResetPassword {
        /// The operator's sign-in name.
        name: String,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
}

impl OperatorsCommand {
    /// The `--database-url` given, if any.
    pub fn database_url(&self) -> Option<String> {
        match self {
            Self::Create { database_url, .. }
            | Self::List { database_url }
            | Self::Remove { database_url, .. }
            | Self::ResetPassword { database_url, .. } => database_url.clone(),
        }
    }
}

fn password() -> Result<String, StartupError> {
    if let Ok(p) = std::env::var("PSPI_OPERATOR_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| StartupError::Other(format!("password: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn failed(e: OperatorError) -> StartupError {
    match e {
        OperatorError::Store(s) => s.into(),
        other => StartupError::Other(other.to_string()),
    }
}

/// Runs one operator command.
pub async fn run(cfg: &AppConfig, cmd: OperatorsCommand) -> Result<(), StartupError> {
    let store = store::open(
        &cfg.database,
        store::SchemaAction::configured(&cfg.database),
    )
    .await?;
    let s = store.as_ref();
    match cmd {
        OperatorsCommand::Create {
            name,
            role,
            merchants,
            ..
        } => {
            let pw = password()?;
            let op = auth::create_operator(
                s,
                &crate::domain::SystemClock,
                &name,
                &role,
                &merchants,
                &pw,
            )
            .await
            .map_err(failed)?;
            println!("operator {} created ({})", op.name, op.role);
        }
        OperatorsCommand::List { .. } => {
            let ops = s.list_operators().await?;
            if ops.is_empty() {
                println!(
                    "no operators yet: psp-integrator operators create --name NAME --role operator"
                );
            }
            for o in ops {
                let scope = if o.merchants.is_empty() {
                    "all merchants".to_string()
                } else {
                    o.merchants.join(", ")
                };
                println!("{:<24}  {:<8}  {}", o.name, o.role, scope);
            }
        }
        OperatorsCommand::Remove { name, .. } => {
            auth::remove_operator(s, &name).await.map_err(failed)?;
            println!("operator {name} removed");
        }
        OperatorsCommand::ResetPassword { name, .. } => {
            let pw = password()?;
            auth::reset_password(s, &name, &pw).await.map_err(failed)?;
            println!("password of {name} replaced; their sessions ended");
        }
    }
    Ok(())
}
