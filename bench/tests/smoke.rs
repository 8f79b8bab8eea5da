//! The benchmark's smoke run, through the library, against the debug relay
//! binary: it checks that nothing is lost, never how fast anything is.

use clap::Parser;
use relay_bench::args::Args;

fn args(extra: &[&str]) -> Args {
    let bin = caucus_testkit::relay_binary();
    let mut argv = vec!["relay-bench", "--quiet", "--relay-bin"];
    argv.push(bin.to_str().expect("a UTF-8 path"));
    argv.extend_from_slice(extra);
    Args::parse_from(argv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_run_delivers_every_relay_it_sends() {
    let report = relay_bench::run(args(&["--smoke"]))
        .await
        .expect("the smoke run completes");
    let load = report.load.expect("a load result");
    assert!(load.sent > 0, "the smoke run sent nothing");
    assert_eq!(load.sent, load.delivered, "errors: {:?}", load.errors);
    assert!(load.errors.is_empty(), "{:?}", load.errors);
    assert!(report.ok);
    assert!(load.latency_us.count > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_resume_runs_report_what_they_measured() {
    let report = relay_bench::run(args(&[
        "--idle-conns",
        "30",
        "--resume-events",
        "120",
        "--resume-runs",
        "2",
        "--idle-settle",
        "0",
    ]))
    .await
    .expect("the run completes");
    let idle = report.idle.expect("an idle result");
    assert!(idle.connections >= 30);
    assert!(idle.rss_after_kib.is_some());
    let resume = report.resume.expect("a resume result");
    assert_eq!(resume.events, 120);
    assert_eq!(resume.runs_ms.len(), 2);
}
