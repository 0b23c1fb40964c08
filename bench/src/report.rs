//! The report as markdown: a table per scenario with direct vs bindery and ratios, and the
//! targets with what was reached.

use std::fmt::Write;

use crate::{InputConcurrency, Pair, Report};

/// Bytes in a megabyte as the targets count them (decimal).
const MB: f64 = 1e6;

fn mb(kib: Option<u64>) -> f64 {
    kib.map(|k| k as f64 * 1024.0 / MB).unwrap_or(f64::NAN)
}

fn ratio(through: f64, direct: f64) -> String {
    if direct > 0.0 && through.is_finite() {
        format!("{:.2}×", through / direct)
    } else {
        "–".to_owned()
    }
}

/// Cores bindery used per 1000 req/s in a through-bindery run.
pub fn cores_per_1000(pair: &Pair) -> f64 {
    let Some(u) = pair.bindery.usage_of("bindery") else {
        return f64::NAN;
    };
    u.cores() / (pair.bindery.achieved_rps / 1000.0).max(1e-9)
}

fn latency_table(out: &mut String, pair: &Pair) {
    let d = &pair.direct.latency;
    let b = &pair.bindery.latency;
    let _ = writeln!(out, "### Latency: {}\n\n{}\n", pair.name, pair.description);
    let _ = writeln!(
        out,
        "| path | samples | rate (req/s) | errors | p50 ms | p75 ms | p90 ms | p99 ms | p99.9 ms | max ms | mean ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    for (label, run) in [("direct", &pair.direct), ("through bindery", &pair.bindery)] {
        let l = &run.latency;
        let _ = writeln!(
            out,
            "| {label} | {} | {:.0} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            l.samples,
            run.achieved_rps,
            run.errors,
            l.p50,
            l.p75,
            l.p90,
            l.p99,
            l.p999,
            l.max,
            l.mean
        );
    }
    let _ = writeln!(
        out,
        "| **added** (bindery − direct) | | | | **{:.3}** | **{:.3}** | **{:.3}** | **{:.3}** | {:.3} | | {:.3} |",
        b.p50 - d.p50,
        b.p75 - d.p75,
        b.p90 - d.p90,
        b.p99 - d.p99,
        b.p999 - d.p999,
        b.mean - d.mean
    );
    let _ = writeln!(
        out,
        "| ratio (bindery / direct) | | | | {} | {} | {} | {} | {} | | {} |\n",
        ratio(b.p50, d.p50),
        ratio(b.p75, d.p75),
        ratio(b.p90, d.p90),
        ratio(b.p99, d.p99),
        ratio(b.p999, d.p999),
        ratio(b.mean, d.mean)
    );
    usage_lines(out, pair);
}

fn usage_lines(out: &mut String, pair: &Pair) {
    for (label, run) in [("direct", &pair.direct), ("through bindery", &pair.bindery)] {
        let parts: Vec<String> = run
            .usage
            .iter()
            .map(|u| {
                format!(
                    "{} {:.3} cores, RSS {:.1} MB",
                    u.name,
                    u.cores(),
                    mb(u.rss_kib)
                )
            })
            .collect();
        let _ = writeln!(out, "- CPU over the window, {label}: {}", parts.join("; "));
    }
    let _ = writeln!(out);
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// The whole report.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    preamble(&mut out, r);
    for pair in &r.latency {
        latency_table(&mut out, pair);
    }
    saturation_section(&mut out, &r.saturation);
    input_section(&mut out, r);
    footprint_section(&mut out, r);
    targets_section(&mut out, r);
    out
}

/// The title, the machine and the settings.
fn preamble(out: &mut String, r: &Report) {
    let m = &r.machine;
    let s = &r.settings;
    let _ = writeln!(
        out,
        "# bindery benchmark results{}\n",
        if r.smoke {
            " (smoke run: tiny counts, figures not meaningful)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "Machine: {} ({} cores), {:.1} GiB, kernel {}, {}; load average at start {}. Load \
         generator, bindery, the trivial server, Redis and RabbitMQ all share this machine.\n",
        m.cpu, m.cores, m.memory_gib, m.kernel, m.rustc, m.loadavg_at_start
    );
    let _ = writeln!(
        out,
        "Settings: {} QPS over {} connections, {} B payload, {} s warm-up then {} s measured; \
         saturation {} connections for {} s; input {} messages; {} starts for exec-to-ready.\n",
        s.qps,
        s.connections,
        s.payload,
        s.warmup,
        s.seconds,
        s.sat_connections,
        s.sat_seconds,
        s.input_messages,
        s.ready_runs
    );
}

fn saturation_section(out: &mut String, sat: &Pair) {
    let _ = writeln!(out, "### Saturation\n\n{}\n", sat.description);
    let _ = writeln!(
        out,
        "| path | requests/s | errors | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|---|---|"
    );
    for (label, run) in [("direct", &sat.direct), ("through bindery", &sat.bindery)] {
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {} | {:.3} | {:.3} | {:.3} |",
            run.achieved_rps, run.errors, run.latency.p50, run.latency.p90, run.latency.p99
        );
    }
    let _ = writeln!(
        out,
        "| ratio (bindery / direct) | {} | | | | |\n",
        ratio(sat.bindery.achieved_rps, sat.direct.achieved_rps)
    );
    usage_lines(out, sat);
}

fn input_section(out: &mut String, r: &Report) {
    let i = &r.input;
    let direct_rate = i.rate(i.direct_seconds);
    let post_rate = i.rate(i.direct_with_post_seconds);
    let bindery_rate = i.rate(i.bindery_seconds);
    let _ = writeln!(
        out,
        "### Input delivery\n\nRabbitMQ queue pre-loaded with {} messages of {} B; time from the \
         first delivery to the last.\n",
        i.messages, r.settings.payload
    );
    let _ = writeln!(
        out,
        "| path | seconds | messages/s | ratio to direct |\n|---|---|---|---|"
    );
    let _ = writeln!(
        out,
        "| direct lapin consumer, ack each | {:.3} | {:.0} | 1.00× |",
        i.direct_seconds, direct_rate
    );
    let _ = writeln!(
        out,
        "| direct lapin consumer, POST each to the app, then ack | {:.3} | {:.0} | {} |",
        i.direct_with_post_seconds,
        post_rate,
        ratio(post_rate, direct_rate)
    );
    let _ = writeln!(
        out,
        "| RabbitMQ → bindery → app (200) → ack | {:.3} | {:.0} | {} |\n",
        i.bindery_seconds,
        bindery_rate,
        ratio(bindery_rate, direct_rate)
    );
    let _ = writeln!(
        out,
        "bindery delivered {} of {} messages; its CPU from exec to the last delivery {:.2} s \
         ({:.1} µs per message), RSS at the end {:.1} MB.\n",
        i.bindery_delivered,
        i.messages,
        i.bindery_cpu_seconds,
        i.bindery_cpu_seconds / i.messages as f64 * 1e6,
        mb(i.bindery_rss_kib)
    );
    input_concurrency_section(out, r);
}

/// The input runs with `maxConcurrentDeliveries`.
fn input_concurrency_section(out: &mut String, r: &Report) {
    let i = &r.input;
    let c = &i.concurrency;
    let direct_rate = i.rate(i.direct_seconds);
    let fast_8 = i.rate(c.fast_8_seconds);
    let slow_1 = InputConcurrency::rate(c.slow_messages, c.slow_1_seconds);
    let slow_8 = InputConcurrency::rate(c.slow_messages, c.slow_8_seconds);
    let _ = writeln!(
        out,
        "#### With `maxConcurrentDeliveries`\n\n| run | messages | seconds | messages/s | ratio |\n|---|---|---|---|---|"
    );
    let _ = writeln!(
        out,
        "| app answers at once, N = 8 (ratio to the direct consumer that only acks) | {} | {:.3} | {:.0} | {} |",
        i.messages,
        c.fast_8_seconds,
        fast_8,
        ratio(fast_8, direct_rate)
    );
    let _ = writeln!(
        out,
        "| app takes 5 ms per event, N = 1 | {} | {:.3} | {:.0} | 1.00× |",
        c.slow_messages, c.slow_1_seconds, slow_1
    );
    let _ = writeln!(
        out,
        "| app takes 5 ms per event, N = 8 (ratio to N = 1) | {} | {:.3} | {:.0} | {} |\n",
        c.slow_messages,
        c.slow_8_seconds,
        slow_8,
        ratio(slow_8, slow_1)
    );
    let _ = writeln!(
        out,
        "Delivered: {} of {} with N = 8; {} and {} of {} with the slow app.\n",
        c.fast_8_delivered, i.messages, c.slow_1_delivered, c.slow_8_delivered, c.slow_messages
    );
}

/// bindery's largest RSS over the fixed-rate runs.
fn rss_under_load(r: &Report) -> Option<u64> {
    r.latency
        .iter()
        .filter_map(|p| p.bindery.usage_of("bindery").and_then(|u| u.rss_kib))
        .max()
}

fn footprint_section(out: &mut String, r: &Report) {
    let f = &r.footprint;
    let _ = writeln!(out, "### Footprint\n");
    let per_1000: Vec<String> = r
        .latency
        .iter()
        .map(|p| format!("{} {:.3}", p.name, cores_per_1000(p)))
        .collect();
    let rss_load = rss_under_load(r);
    let rss_sat = r
        .saturation
        .bindery
        .usage_of("bindery")
        .and_then(|u| u.rss_kib);
    let _ = writeln!(
        out,
        "- bindery CPU per 1000 req/s (cores): {}",
        per_1000.join("; ")
    );
    let _ = writeln!(
        out,
        "- RSS idle: {:.1} MB with redis + http components, {:.1} MB with one localstorage component",
        mb(f.rss_idle_kib),
        mb(f.rss_idle_file_only_kib)
    );
    let _ = writeln!(
        out,
        "- RSS at {} QPS: {:.1} MB; after saturation: {:.1} MB",
        r.settings.qps,
        mb(rss_load),
        mb(rss_sat)
    );
    let _ = writeln!(
        out,
        "- exec-to-ready (spawn → `/v1.0/healthz` 204, localstorage only): median {:.1} ms of {} (min {:.1}, max {:.1})",
        f.ready_median_ms,
        f.ready_ms.len(),
        f.ready_ms.iter().copied().fold(f64::INFINITY, f64::min),
        f.ready_ms.iter().copied().fold(0.0, f64::max)
    );
    let _ = writeln!(
        out,
        "- binary: {:.1} MB ({} bytes)\n",
        f.binary_bytes as f64 / MB,
        f.binary_bytes
    );
}

/// Each target with what was reached and whether it was met.
fn targets_section(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "### Targets\n\n| target | reached | verdict |\n|---|---|---|"
    );
    latency_target_rows(out, r);
    throughput_target_rows(out, r);
    footprint_target_rows(out, r);
}

fn latency_target_rows(out: &mut String, r: &Report) {
    for p in &r.latency {
        let d = &p.direct.latency;
        let b = &p.bindery.latency;
        let added = [b.p50 - d.p50, b.p90 - d.p90, b.p99 - d.p99];
        let ok = added[0] <= 0.2 && added[1] <= 0.3 && added[2] <= 0.6;
        let _ = writeln!(
            out,
            "| added p50/p90/p99 ≤ 0.2/0.3/0.6 ms ({}) | {:.3}/{:.3}/{:.3} ms | {} |",
            p.name,
            added[0],
            added[1],
            added[2],
            verdict(ok)
        );
    }
}

/// Saturation and input delivery.
fn throughput_target_rows(out: &mut String, r: &Report) {
    let sat = &r.saturation;
    let _ = writeln!(
        out,
        "| saturation ≥ 35,000 req/s | {:.0} req/s | {} |",
        sat.bindery.achieved_rps,
        verdict(sat.bindery.achieved_rps >= 35_000.0)
    );
    let i = &r.input;
    let input_ratio = i.rate(i.bindery_seconds) / i.rate(i.direct_seconds);
    let _ = writeln!(
        out,
        "| input delivery ≥ 0.8 × direct consumer | {:.2}× | {} |",
        input_ratio,
        verdict(input_ratio >= 0.8)
    );
    let c = &i.concurrency;
    let fast_8_ratio = i.rate(c.fast_8_seconds) / i.rate(i.direct_seconds);
    let _ = writeln!(
        out,
        "| input delivery with maxConcurrentDeliveries 8 ≥ 0.8 × direct consumer | {:.2}× | {} |",
        fast_8_ratio,
        verdict(fast_8_ratio >= 0.8)
    );
    // "Close to 8x": within 20 % of it.
    let slow_ratio = c.slow_1_seconds / c.slow_8_seconds.max(1e-9);
    let _ = writeln!(
        out,
        "| 5 ms app: N = 8 close to 8 × N = 1 | {:.2}× | {} |",
        slow_ratio,
        verdict(slow_ratio >= 6.4)
    );
}

/// CPU, RSS, exec-to-ready and binary size.
fn footprint_target_rows(out: &mut String, r: &Report) {
    let f = &r.footprint;
    let worst_cpu = r.latency.iter().map(cores_per_1000).fold(0.0_f64, f64::max);
    let _ = writeln!(
        out,
        "| ≤ 0.05 cores per 1000 req/s | {:.3} (worst scenario) | {} |",
        worst_cpu,
        verdict(worst_cpu <= 0.05)
    );
    let idle = mb(f.rss_idle_kib);
    let _ = writeln!(
        out,
        "| RSS ≤ 6 MB idle | {:.1} MB | {} |",
        idle,
        verdict(idle <= 6.0)
    );
    let load = mb(rss_under_load(r));
    let _ = writeln!(
        out,
        "| RSS ≤ 12 MB at 1000 QPS | {:.1} MB | {} |",
        load,
        verdict(load <= 12.0)
    );
    let _ = writeln!(
        out,
        "| ready ≤ 20 ms | {:.1} ms | {} |",
        f.ready_median_ms,
        verdict(f.ready_median_ms <= 20.0)
    );
    let size = f.binary_bytes as f64 / MB;
    let _ = writeln!(
        out,
        "| binary ≤ 30 MB | {:.1} MB | {} |",
        size,
        verdict(size <= 30.0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::ProcUsage;
    use crate::stats::Summary;
    use crate::{Footprint, InputResult, Machine, RunStats, Settings};

    fn sum(k: f64, samples: u64) -> Summary {
        Summary {
            samples,
            p50: 0.1 * k,
            p75: 0.15 * k,
            p90: 0.2 * k,
            p99: 0.5 * k,
            p999: 0.9 * k,
            max: 1.7 * k,
            mean: 0.13 * k,
        }
    }
    fn run(k: f64, rps: f64, errors: u64, usage: Vec<ProcUsage>) -> RunStats {
        RunStats {
            latency: sum(k, (k * 1000.0) as u64),
            achieved_rps: rps,
            errors,
            first_error: None,
            usage,
        }
    }
    fn u(name: &str, cpu: f64, rss: Option<u64>) -> ProcUsage {
        ProcUsage {
            name: name.into(),
            cpu_seconds: cpu,
            window_seconds: 20.0,
            rss_kib: rss,
        }
    }
    fn pair(name: &str, k: f64, rss: Option<u64>) -> Pair {
        Pair {
            name: name.into(),
            description: format!("desc of {name}"),
            direct: run(1.0, 999.7, 0, vec![u("server", 0.4, Some(3000))]),
            bindery: run(
                k,
                998.2,
                1,
                vec![u("bindery", 0.9 * k, rss), u("server", 0.5, Some(3100))],
            ),
        }
    }
    fn report(smoke: bool, empty_usage: bool) -> Report {
        let mut sat = pair("saturation", 3.0, Some(9000));
        if empty_usage {
            sat.bindery.usage.clear();
            sat.direct.usage.clear();
        }
        Report {
            smoke,
            machine: Machine {
                cpu: "Cpu X".into(),
                cores: 8,
                memory_gib: 15.6,
                kernel: "6.1".into(),
                rustc: "rustc 1.9".into(),
                loadavg_at_start: "0.1 0.2 0.3".into(),
            },
            settings: Settings {
                seconds: 20.0,
                warmup: 5.0,
                qps: 1000.0,
                connections: 16,
                payload: 1024,
                sat_connections: 64,
                sat_seconds: 10.0,
                input_messages: 20000,
                ready_runs: 20,
            },
            latency: vec![
                pair("redis create", 1.5, Some(5000)),
                pair("http post", 2.0, None),
                pair("redis grpc", 1.1, Some(7000)),
            ],
            saturation: sat,
            input: InputResult {
                messages: 20000,
                direct_seconds: 0.8,
                direct_with_post_seconds: 1.9,
                bindery_seconds: 1.2,
                bindery_delivered: 19999,
                bindery_cpu_seconds: 0.7,
                bindery_rss_kib: Some(6000),
                concurrency: InputConcurrency {
                    fast_8_seconds: 0.9,
                    fast_8_delivered: 20000,
                    slow_messages: 2000,
                    slow_1_seconds: 10.5,
                    slow_1_delivered: 2000,
                    slow_8_seconds: 1.4,
                    slow_8_delivered: 2000,
                },
            },
            footprint: Footprint {
                rss_idle_kib: Some(4100),
                rss_idle_file_only_kib: None,
                ready_ms: if empty_usage {
                    vec![]
                } else {
                    vec![5.0, 3.2, 8.9]
                },
                ready_median_ms: 5.0,
                binary_bytes: 12_345_678,
            },
        }
    }
    /// The fixtures were written by `markdown` before it was split into one function per section.
    #[test]
    fn markdown_matches_the_fixtures() {
        assert_eq!(
            markdown(&report(false, false)),
            include_str!("../testdata/report-full.md")
        );
        assert_eq!(
            markdown(&report(true, true)),
            include_str!("../testdata/report-smoke.md")
        );
    }
}
