//! Footprint per build: `bindery-bench footprint LABEL=PATH ...` starts each `bindery` binary
//! with one `bindings.http` output component (every build in the table has it), waits 1 s after
//! ready, and reports the binary's size and where its resident memory is: `/proc/<pid>/status`
//! (VmRSS, RssAnon, RssFile) and `/proc/<pid>/smaps` summed per kind of mapping (the binary's
//! own file pages, its relocated pages, shared libraries, heap, thread stacks, other anonymous).

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::procs::spawn_bindery;

/// One build under test.
#[derive(Debug, Clone)]
pub struct Build {
    pub label: String,
    pub path: PathBuf,
}

impl Build {
    /// `LABEL=PATH`, or a bare path labelled by its file name.
    pub fn parse(arg: &str) -> Self {
        match arg.split_once('=') {
            Some((label, path)) => Self {
                label: label.to_owned(),
                path: PathBuf::from(path),
            },
            None => Self {
                label: Path::new(arg)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| arg.to_owned()),
                path: PathBuf::from(arg),
            },
        }
    }
}

/// Resident KiB of a process, split by where the pages come from.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Resident {
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    /// The binary's read-only and executable file pages (clean, shared with the page cache).
    pub binary_file: u64,
    /// The binary's pages written after mapping (copied on write, so anonymous): relocations
    /// (`.data.rel.ro`, GOT) and `.data`. Not `Private_Dirty`, which also counts page-cache
    /// pages of a freshly written binary that are not yet on disk.
    pub binary_dirty: u64,
    /// Shared libraries (libc, libm, the loader, ...).
    pub libraries: u64,
    pub heap: u64,
    pub main_stack: u64,
    /// Every other anonymous mapping: thread stacks, malloc arenas of other threads, mmapped
    /// allocations (not told apart by name in smaps).
    pub other_anon: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildFootprint {
    pub label: String,
    pub binary_bytes: u64,
    pub ready_ms: f64,
    pub resident: Resident,
    pub threads: u64,
}

/// Status fields in KiB (`VmRSS`, `RssAnon`, `RssFile`) and the thread count.
fn status_fields(status: &str) -> (u64, u64, u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:"),
        field("Threads:"),
    )
}

/// Sums `/proc/<pid>/smaps` per kind of mapping; `binary` is the executable's path.
pub fn classify_smaps(smaps: &str, binary: &Path, resident: &mut Resident) {
    let binary = binary.to_string_lossy();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: address perms offset dev inode [path].
            name = line
                .split_whitespace()
                .nth(5)
                .unwrap_or_default()
                .to_owned();
            continue;
        }
        let kib: u64 = match first {
            "Rss:" | "Anonymous:" => words.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            _ => continue,
        };
        let is_binary = name == binary;
        match (first, name.as_str()) {
            ("Anonymous:", _) if is_binary => {
                resident.binary_dirty += kib;
                resident.binary_file = resident.binary_file.saturating_sub(kib);
            }
            ("Anonymous:", _) => {}
            (_, _) if is_binary => resident.binary_file += kib,
            (_, "[heap]") => resident.heap += kib,
            (_, n) if n.starts_with("[stack") => resident.main_stack += kib,
            (_, n) if n.starts_with('/') => resident.libraries += kib,
            _ => resident.other_anon += kib,
        }
    }
}

fn measure(pid: u32, binary: &Path) -> Option<(Resident, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
    let (vm_rss, rss_anon, rss_file, threads) = status_fields(&status);
    let mut resident = Resident {
        vm_rss,
        rss_anon,
        rss_file,
        ..Resident::default()
    };
    let binary = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_owned());
    classify_smaps(&smaps, &binary, &mut resident);
    Some((resident, threads))
}

/// Starts the build with one http component, measures it 1 s after ready, stops it.
pub fn measure_build(
    build: &Build,
    work_dir: &Path,
    idle: Duration,
) -> Result<BuildFootprint, String> {
    let resources = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::write(
        resources.path().join("http.yaml"),
        crate::component(
            "footprint-http",
            "bindings.http",
            &[("url", "http://127.0.0.1:9/unused")],
        ),
    )
    .map_err(|e| e.to_string())?;
    let log = work_dir.join(format!("bindery-footprint-{}.log", build.label));
    let sidecar = spawn_bindery(&build.path, resources.path(), None, &log)?;
    std::thread::sleep(idle);
    let (resident, threads) = measure(sidecar.guard.pid(), &build.path)
        .ok_or_else(|| format!("{}: cannot read /proc of the sidecar", build.label))?;
    Ok(BuildFootprint {
        label: build.label.clone(),
        binary_bytes: std::fs::metadata(&build.path).map(|m| m.len()).unwrap_or(0),
        ready_ms: sidecar.ready_after.as_secs_f64() * 1e3,
        resident,
        threads,
    })
}

fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

/// The table BENCHMARKS.md quotes: decimal MB, as the targets count them.
pub fn markdown(rows: &[BuildFootprint]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| build | binary MB | VmRSS MB | RssFile MB | RssAnon MB | binary's clean pages | binary's dirty pages | libraries | heap | other anon | threads | ready ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let r = &row.resident;
        let _ = writeln!(
            out,
            "| {} | {:.1} | **{:.1}** | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.1} |",
            row.label,
            row.binary_bytes as f64 / 1e6,
            mb(r.vm_rss),
            mb(r.rss_file),
            mb(r.rss_anon),
            mb(r.binary_file),
            mb(r.binary_dirty),
            mb(r.libraries),
            mb(r.heap),
            mb(r.other_anon),
            row.threads,
            row.ready_ms,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d000000000-55d000100000 r--p 00000000 fd:01 42   /opt/bindery
Size:               1024 kB
Rss:                 400 kB
Anonymous:         0 kB
55d000100000-55d000900000 r-xp 00100000 fd:01 42   /opt/bindery
Rss:                2000 kB
Anonymous:         0 kB
55d000900000-55d000a00000 rw-p 00900000 fd:01 42   /opt/bindery
Rss:                 300 kB
Anonymous:       280 kB
55d000a00000-55d000b00000 rw-p 00000000 00:00 0    [heap]
Rss:                 500 kB
Anonymous:       500 kB
7f0000000000-7f0000200000 rw-p 00000000 00:00 0
Rss:                  64 kB
Anonymous:        64 kB
7f0000200000-7f0000300000 r-xp 00000000 fd:01 7    /usr/lib/libc.so.6
Rss:                 900 kB
Anonymous:         8 kB
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0    [stack]
Rss:                  24 kB
Anonymous:        24 kB
";

    #[test]
    fn smaps_is_summed_per_kind_of_mapping() {
        let mut r = Resident::default();
        classify_smaps(SMAPS, Path::new("/opt/bindery"), &mut r);
        assert_eq!(r.binary_file, 400 + 2000 + 20);
        assert_eq!(r.binary_dirty, 280);
        assert_eq!(r.heap, 500);
        assert_eq!(r.other_anon, 64);
        assert_eq!(r.libraries, 900);
        assert_eq!(r.main_stack, 24);
    }

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tbindery\nVmRSS:\t  15700 kB\nRssAnon:\t 2900 kB\nRssFile:\t12800 kB\nThreads:\t5\n";
        assert_eq!(status_fields(status), (15700, 2900, 12800, 5));
    }

    #[test]
    fn builds_are_labelled() {
        let b = Build::parse("http=/tmp/bins/bindery-http");
        assert_eq!(
            (b.label.as_str(), b.path.as_path()),
            ("http", Path::new("/tmp/bins/bindery-http"))
        );
        assert_eq!(Build::parse("/tmp/bins/all").label, "all");
    }
}
