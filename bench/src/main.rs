//! `relay-bench`: parse the options, run (or sweep), print one JSON line per
//! run on stdout; exit 1 when a relay was lost, 2 when the run could not complete.

use std::io::Write;

use clap::Parser;
use relay_bench::args::{Args, Mode};
use relay_bench::Report;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = args.validate() {
        eprintln!("relay-bench: {e}");
        std::process::exit(2);
    }
    let work = async {
        if args.sweep.is_empty() || args.smoke {
            match relay_bench::run(args).await {
                Ok(report) => print(&report),
                Err(e) => fail(&e),
            }
        } else {
            sweep(args).await
        }
    };
    // On Ctrl-C or SIGTERM the run is dropped, which stops the relays and
    // the redis-server it started.
    let outcome = tokio::select! {
        ok = work => Some(ok),
        _ = interrupted() => None,
    };
    match outcome {
        Some(ok) => std::process::exit(if ok { 0 } else { 1 }),
        None => {
            eprintln!("relay-bench: interrupted");
            std::process::exit(130);
        }
    }
}

async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Open mode at each rate, a fresh relay each time; every result is printed
/// and appended to `--sweep-out`.
async fn sweep(args: Args) -> bool {
    let mut all_ok = true;
    for rate in args.sweep.clone() {
        let mut a = args.clone();
        a.mode = Mode::Open;
        a.rate = rate;
        a.sweep.clear();
        if !a.quiet {
            eprintln!("relay-bench: sweep at {rate} relays/s");
        }
        match relay_bench::run(a).await {
            Ok(report) => {
                all_ok &= print(&report);
                let line = serde_json::to_string(&report).unwrap_or_default();
                let written = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&args.sweep_out)
                    .and_then(|mut f| writeln!(f, "{line}"));
                if let Err(e) = written {
                    eprintln!("relay-bench: writing {}: {e}", args.sweep_out.display());
                    return false;
                }
            }
            Err(e) => all_ok &= fail(&e),
        }
    }
    all_ok
}

fn print(report: &Report) -> bool {
    match serde_json::to_string(report) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("relay-bench: {e}"),
    }
    if !report.ok {
        if let Some(l) = &report.load {
            eprintln!(
                "relay-bench: FAILED: sent {} delivered {} errors {:?}",
                l.sent, l.delivered, l.errors
            );
        }
    }
    report.ok
}

fn fail(e: &relay_bench::Error) -> bool {
    eprintln!("relay-bench: {e}");
    std::process::exit(2);
}
