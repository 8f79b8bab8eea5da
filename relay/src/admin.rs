//! `relay admin …`: ombud accounts managed from the command line, through
//! the same settings, store and keys as the server, without starting it.
//! Thin on purpose: parse, call [`Accounts`], print.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Subcommand;
use uuid::Uuid;

use crate::auth::Accounts;
use crate::config::Config;
use crate::startup::{open_store, sealer, StartError};

#[derive(Debug, Clone, Subcommand)]
pub enum Admin {
    /// Create an ombud account. The password is the first line of stdin
    /// when stdin is not a terminal; otherwise one is generated and printed once.
    CreateOmbud { username: String },
    /// Give an ombud account a new password (read or generated as for create-ombud).
    ResetPassword { username: String },
    /// Stop an account logging in; its tokens stop working on their next use.
    DisableOmbud { username: String },
    /// Let a disabled account log in again.
    EnableOmbud { username: String },
    /// Every ombud account, one per line: username, display name, enabled or disabled (tab-separated).
    ListOmbuds,
}

/// Shortest password accepted, as for `RELAY_BOOTSTRAP_OMBUD`.
const MIN_PASSWORD: usize = 8;

pub async fn run(mut config: Config, command: Admin) -> anyhow::Result<()> {
    config.validate().map_err(StartError::Config)?;
    if config.ephemeral && config.redis_url.is_none() {
        return Err(StartError::Config(
            "RELAY_EPHEMERAL: an in-memory store forgets accounts when this command exits; use RELAY_DATA_DIR or REDIS_URL".into(),
        )
        .into());
    }
    let store = open_store(&mut config, Uuid::new_v4()).await?;
    let accounts = Accounts::new(store, Arc::new(sealer(&config)?), 1);
    match command {
        Admin::CreateOmbud { username } => {
            let password = password()?;
            accounts.create(&username, password.text()).await?;
            println!("created ombud account {username}");
            password.print_if_generated();
        }
        Admin::ResetPassword { username } => {
            let password = password()?;
            accounts.reset_password(&username, password.text()).await?;
            println!("new password set for {username}");
            password.print_if_generated();
        }
        Admin::DisableOmbud { username } => {
            accounts.set_disabled(&username, true).await?;
            println!("disabled {username}: it can no longer log in, and its tokens stop working");
        }
        Admin::EnableOmbud { username } => {
            accounts.set_disabled(&username, false).await?;
            println!("enabled {username}");
        }
        Admin::ListOmbuds => {
            for a in accounts.list().await? {
                let state = if a.disabled { "disabled" } else { "enabled" };
                println!("{}\t{}\t{state}", a.username, a.display_name);
            }
        }
    }
    Ok(())
}

enum Password {
    Given(String),
    Generated(String),
}

impl Password {
    fn text(&self) -> &str {
        match self {
            Password::Given(p) | Password::Generated(p) => p,
        }
    }

    fn print_if_generated(&self) {
        if let Password::Generated(p) = self {
            // Printed once, here; it is stored only as a hash.
            println!("password: {p}");
        }
    }
}

/// The first line of stdin, unless stdin is a terminal (where typing it
/// would echo it) or empty: then a generated one.
fn password() -> anyhow::Result<Password> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let given = line.trim_end_matches(['\r', '\n']);
        if !given.is_empty() {
            if given.chars().count() < MIN_PASSWORD {
                bail!("the password must have at least {MIN_PASSWORD} characters");
            }
            return Ok(Password::Given(given.to_string()));
        }
    }
    use rand::distributions::{Alphanumeric, DistString};
    Ok(Password::Generated(
        Alphanumeric.sample_string(&mut rand::thread_rng(), 20),
    ))
}
