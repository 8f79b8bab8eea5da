//! `relay`: read the configuration, start logging, serve until Ctrl-C or SIGTERM.

use anyhow::Context;
use clap::Parser;
use relay::config::Config;
use relay::startup::Application;
use tracing_subscriber::EnvFilter;

/// The relay allocates many small, short-lived buffers per frame; glibc's
/// malloc was a quarter of its CPU under load (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("relay: {e:#}");
        // 2: the relay could not start (settings, store, address); 1: it failed while serving.
        std::process::exit(if e.is::<relay::startup::StartError>() {
            2
        } else {
            1
        });
    }
}

async fn run() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
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
