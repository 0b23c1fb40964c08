//! `bindery-bench run [--smoke] [--bindery PATH] [--out DIR]`: runs every scenario and writes
//! `results.json` and `results.md` into DIR (default `target/bench`).
//! `bindery-bench server --port P`: the trivial HTTP server the scenarios start as a child.
//! `bindery-bench footprint [--out DIR] LABEL=PATH ...`: binary size and idle RSS per build
//! (`scripts/footprint.sh` builds the feature sets and calls it), written to
//! `DIR/footprint.{md,json}`.
//!
//! Durations and counts come from the environment: `BENCH_SECONDS`, `BENCH_WARMUP`,
//! `BENCH_QPS`, `BENCH_CONNECTIONS`, `BENCH_PAYLOAD`, `BENCH_SAT_SECONDS`,
//! `BENCH_SAT_CONNECTIONS`, `BENCH_INPUT_MESSAGES`, `BENCH_READY_RUNS`, `BENCH_PERF_DIR`
//! (attach `perf record` to bindery), `BENCH_BINDERY_ENV` (`K=V,K=V` set for bindery only),
//! `REDIS_ADDR`, `RABBITMQ_URL`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use bindery_bench::{Options, footprint, report};

fn usage() -> ExitCode {
    eprintln!(
        "usage: bindery-bench run [--smoke] [--bindery PATH] [--out DIR]\n       bindery-bench server --port PORT\n       bindery-bench footprint [--out DIR] LABEL=PATH ..."
    );
    ExitCode::from(2)
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => server(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("footprint") => footprint(&args[1..]),
        _ => usage(),
    }
}

fn server(args: &[String]) -> ExitCode {
    let port = match args {
        [flag, port] if flag == "--port" => port.parse().unwrap_or(0),
        [] => 0,
        _ => return usage(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match bindery_bench::server::bind(port).await {
            Ok((listener, addr)) => {
                println!("listening on {addr}");
                bindery_bench::server::serve(listener).await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot listen on port {port}: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn footprint(args: &[String]) -> ExitCode {
    let mut out = PathBuf::from("target/bench");
    let mut builds = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => match it.next() {
                Some(dir) => out = PathBuf::from(dir),
                None => return usage(),
            },
            _ => builds.push(footprint::Build::parse(arg)),
        }
    }
    if builds.is_empty() {
        return usage();
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let mut rows = Vec::new();
    for build in &builds {
        eprintln!("[bench] footprint: {}", build.label);
        match footprint::measure_build(build, &out, std::time::Duration::from_secs(1)) {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("footprint of {} failed: {e}", build.label);
                return ExitCode::FAILURE;
            }
        }
    }
    let markdown = footprint::markdown(&rows);
    let json = serde_json::to_string_pretty(&rows).unwrap_or_default();
    for (file, text) in [("footprint.json", &json), ("footprint.md", &markdown)] {
        if let Err(e) = std::fs::write(out.join(file), text) {
            eprintln!("cannot write {}: {e}", out.join(file).display());
            return ExitCode::FAILURE;
        }
    }
    println!("{markdown}");
    ExitCode::SUCCESS
}

fn run(args: &[String]) -> ExitCode {
    let mut smoke = false;
    let mut bindery = None;
    let mut out = PathBuf::from("target/bench");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--bindery" => bindery = it.next().map(PathBuf::from),
            "--out" => match it.next() {
                Some(dir) => out = PathBuf::from(dir),
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot find my own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Default: the bindery built beside this binary (same profile).
    let bindery = bindery.unwrap_or_else(|| exe.with_file_name("bindery"));
    let preset = if smoke { Options::smoke } else { Options::full };
    let base = preset(bindery, exe, out.clone()).with_env_servers();
    let opts = Options {
        seconds: env_or("BENCH_SECONDS", base.seconds),
        warmup: env_or("BENCH_WARMUP", base.warmup),
        qps: env_or("BENCH_QPS", base.qps),
        connections: env_or("BENCH_CONNECTIONS", base.connections),
        payload: env_or("BENCH_PAYLOAD", base.payload),
        sat_seconds: env_or("BENCH_SAT_SECONDS", base.sat_seconds),
        sat_connections: env_or("BENCH_SAT_CONNECTIONS", base.sat_connections),
        input_messages: env_or("BENCH_INPUT_MESSAGES", base.input_messages),
        ready_runs: env_or("BENCH_READY_RUNS", base.ready_runs),
        perf_dir: std::env::var("BENCH_PERF_DIR")
            .ok()
            .filter(|d| !d.is_empty())
            .map(PathBuf::from),
        ..base
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(bindery_bench::run(&opts)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let markdown = report::markdown(&report);
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    let name = if smoke { "smoke" } else { "results" };
    for (file, text) in [
        (format!("{name}.json"), &json),
        (format!("{name}.md"), &markdown),
    ] {
        if let Err(e) = std::fs::write(out.join(&file), text) {
            eprintln!("cannot write {}: {e}", out.join(file).display());
            return ExitCode::FAILURE;
        }
    }
    println!("{markdown}");
    eprintln!(
        "[bench] wrote {0}/{name}.json and {0}/{name}.md",
        out.display()
    );
    let problems = report.problems();
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        for p in problems {
            eprintln!("problem: {p}");
        }
        ExitCode::FAILURE
    }
}
