//! `bench-chart`: turn `relay-bench --sweep` JSON lines into an SVG chart of
//! p50/p99 latency against offered rate.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "bench-chart",
    about = "Draw p50/p99 latency against offered rate from relay-bench sweep JSON lines"
)]
struct Args {
    /// Files of JSON lines written by `relay-bench --sweep ... --sweep-out FILE`.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The SVG file to write.
    #[arg(long, default_value = "docs/bench-latency.svg")]
    out: PathBuf,
    /// Chart title.
    #[arg(
        long,
        default_value = "Caucus relay: shuttle relay latency against offered load"
    )]
    title: String,
}

fn main() {
    let args = Args::parse();
    let mut text = String::new();
    for path in &args.inputs {
        match std::fs::read_to_string(path) {
            Ok(t) => {
                text.push_str(&t);
                text.push('\n');
            }
            Err(e) => {
                eprintln!("bench-chart: {}: {e}", path.display());
                std::process::exit(2);
            }
        }
    }
    let series = relay_bench::chart::series(&text);
    if series.is_empty() {
        eprintln!("bench-chart: no open-mode load results in the input");
        std::process::exit(2);
    }
    if let Err(e) = std::fs::write(&args.out, relay_bench::chart::svg(&args.title, &series)) {
        eprintln!("bench-chart: {}: {e}", args.out.display());
        std::process::exit(2);
    }
    eprintln!(
        "bench-chart: {} series written to {}",
        series.len(),
        args.out.display()
    );
}
