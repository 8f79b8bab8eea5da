//! `relay`: read the configuration, start logging, serve until Ctrl-C or
//! SIGTERM; or, with `relay admin …`, manage ombud accounts and exit.

use anyhow::Context;
use clap::{Parser, Subcommand};
use relay::admin::Admin;
use relay::config::Config;
use relay::startup::Application;
use tracing_subscriber::EnvFilter;

/// The relay allocates many small, short-lived buffers per frame; glibc's
/// malloc was a quarter of its CPU under load (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = cli.config.worker_threads {
        runtime.worker_threads(threads.get());
    }
    let ran = runtime
        .build()
        .context("starting the runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    if let Err(e) = ran {
        eprintln!("relay: {e:#}");
        // 2: the relay could not start (settings, store, address); 1: it failed while serving.
        std::process::exit(if e.is::<relay::startup::StartError>() {
            2
        } else {
            1
        });
    }
}

/// The server's settings, and optionally a command to run instead of the server.
#[derive(Parser)]
#[command(
    name = "relay",
    about = "Caucus: a real-time relay for ombuds offices and mediators"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Manage ombud accounts in the configured store, without starting the server.
    #[command(subcommand)]
    Admin(Admin),
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { config, command } = cli;
    // An admin command's output is its answer; only trouble is logged.
    let level = if command.is_some() { "warn" } else { "info" };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    // Colour codes only on a terminal: log files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if config.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    if let Some(Command::Admin(admin)) = command {
        return relay::admin::run(config, admin).await;
    }
    let app = Application::build(config).await?;
    println!("Caucus relay on http://{}", app.addr());
    app.run_until(shutdown_signal())
        .await
        .context("serving failed")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
