//! Link flags of the `bindery` executable.

fn main() {
    // Packed relative relocations (DT_RELR) instead of one 24-byte RELA entry per pointer: the
    // loader reads every entry at start, so the entries' pages were resident for the whole run
    // (BENCHMARKS.md, "Footprint": -0.36 MB of binary and -0.8 MB idle RSS with the http
    // binding alone). Needs glibc 2.36 or newer at run time; the binary stays position-independent.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
