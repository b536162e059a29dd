//! Embeds the demo's sample thread (a fixture scenario) and the page
//! script, stylesheet and demo page, so `mastodon-comments demo` needs no
//! files at run time; links the daemon with packed relative relocations;
//! and writes the Debian package's systemd units and AppArmor profile
//! (see `package_files`).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    pack_relative_relocations();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    place_hot_code(root);
    let scenario = root.join("tests/fixtures/mastodon/a-simple-thread");
    let web = root.join("web");
    println!("cargo:rerun-if-changed={}", scenario.display());
    println!("cargo:rerun-if-changed={}", web.display());

    let mut out = String::from(
        "/// The demo's sample thread: (path in the scenario, contents).\npub static DEMO_SCENARIO: &[(&str, &str)] = &[\n",
    );
    let mut files = Vec::new();
    for sub in ["", "statuses", "context", "context-anonymous", "search", "accounts"] {
        let dir = scenario.join(sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() && p.extension().is_some_and(|x| x == "json") {
                let name = e.file_name().to_string_lossy().into_owned();
                let key = if sub.is_empty() { name } else { format!("{sub}/{name}") };
                files.push((key, p));
            }
        }
    }
    files.sort();
    for (key, p) in files {
        let _ = writeln!(out, "    ({key:?}, include_str!({:?})),", p.display().to_string());
    }
    out.push_str("];\n");

    for (name, file) in [
        ("WEB_JS", "mastodon-comments.js"),
        ("WEB_CSS", "mastodon-comments.css"),
        ("DEMO_HTML", "demo.html"),
    ] {
        let p = web.join(file);
        println!("cargo:rerun-if-changed={}", p.display());
        if p.is_file() {
            let _ = writeln!(
                out,
                "pub static {name}: &str = include_str!({:?});",
                p.display().to_string()
            );
        } else {
            println!("cargo:warning=web/{file} is missing; the demo serves a placeholder");
            let _ = writeln!(out, "pub static {name}: &str = \"\";");
        }
    }
    package_files(root);

    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("embedded.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

/// The daemon is position-independent (ASLR); each pointer in its
/// read-only data is fixed up at start, and the table of those fix-ups
/// (24 bytes each, some 16,000 of them) stays resident: about 0.3 MiB of
/// an idle daemon's 6. Packed (DT_RELR, glibc 2.36 and binutils 2.38 or
/// later: Debian 12) the table is a few KiB; the fix-ups and the address
/// randomisation are the same.
///
/// Only where the C library it is built against can load such a binary
/// (a binary linked this way needs `GLIBC_ABI_DT_RELR`, glibc 2.36 or
/// later, to start at all): an older system (Ubuntu 22.04: 2.35) or a
/// cross build links it as before.
fn pack_relative_relocations() {
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" || var("TARGET") != var("HOST") {
        return;
    }
    if glibc_version().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Has the linker place the functions the daemon runs in its normal work
/// (`link/hot-code.txt`, written by `benches/hot-code.sh`) together at the
/// start of its code. The kernel maps the 64 KiB around every page of code
/// a process touches: spread through the whole program, those functions
/// kept most of it resident (README: Performance). Release builds only,
/// and only with rustc's own lld (the x86_64 Linux default since rustc
/// 1.90), which reads the file; mold would too, GNU ld would refuse it.
/// Names the file no longer matches are skipped silently.
fn place_hot_code(root: &Path) {
    let file = root.join("link/hot-code.txt");
    println!("cargo:rerun-if-changed={}", file.display());
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if var("PROFILE") != "release" || !file.is_file() {
        return;
    }
    if var("TARGET") != "x86_64-unknown-linux-gnu" || var("TARGET") != var("HOST") {
        return;
    }
    let own_lld = rustc_minor_version().is_some_and(|v| v >= 90);
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    let other_linker = !var("RUSTC_LINKER").is_empty()
        || flags.split('\x1f').any(|f| {
            [
                "linker=",
                "linker-flavor",
                "linker-features",
                "link-self-contained",
                "fuse-ld",
            ]
            .iter()
            .any(|k| f.contains(k))
        });
    if !own_lld || other_linker {
        println!(
            "cargo:warning=the linker is not rustc's own lld (rustc 1.90 or later, no linker configured): the \
             daemon's hot code is left where it falls, and it keeps about 1.4 MB more resident (README: Performance)"
        );
        return;
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        file.display()
    );
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

/// The minor version of the rustc building the daemon (`$RUSTC -V`:
/// "rustc 1.95.0 (…)").
fn rustc_minor_version() -> Option<u32> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let text = stdout_of(&rustc, "-V")?;
    let version = text.split_whitespace().nth(1)?;
    version.split('.').nth(1)?.parse().ok()
}

/// The build machine's glibc (`getconf GNU_LIBC_VERSION`: "glibc 2.36").
fn glibc_version() -> Option<(u32, u32)> {
    let text = stdout_of("getconf", "GNU_LIBC_VERSION")?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    let minor = minor.split('.').next()?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// What `program arg` prints, if it runs.
fn stdout_of(program: &str, arg: &str) -> Option<String> {
    let out = std::process::Command::new(program).arg(arg).output().ok()?;
    String::from_utf8(out.stdout).ok()
}

/// A variable cargo sets for build scripts, or "" if it is not set.
fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// The Debian package's units and AppArmor profile (`cargo deb`, see
/// `[package.metadata.deb]` in Cargo.toml): the files of `systemd/` and
/// `apparmor/` with the binary at `/usr/bin` instead of `/usr/local/bin`
/// (the source install's), so both installs come from one source. Written
/// next to the binary, in `target/<profile>/package/`, where cargo-deb
/// takes them.
fn package_files(root: &Path) {
    let Ok(out) = std::env::var("OUT_DIR") else { return };
    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out.
    let Some(profile_dir) = Path::new(&out).ancestors().nth(3) else {
        return;
    };
    let dir = profile_dir.join("package");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    for (source, name) in [
        ("systemd/mastodon-comments.service", "mastodon-comments.service"),
        ("systemd/mastodon-comments.socket", "mastodon-comments.socket"),
        ("apparmor/usr.local.bin.mastodon-comments", "usr.bin.mastodon-comments"),
    ] {
        let p = root.join(source);
        println!("cargo:rerun-if-changed={}", p.display());
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) => panic!("cannot read {}: {e}", p.display()),
        };
        let text = text
            .replace("/usr/local/bin/mastodon-comments", "/usr/bin/mastodon-comments")
            .replace("usr.local.bin.mastodon-comments", "usr.bin.mastodon-comments");
        let dest = dir.join(name);
        if let Err(e) = std::fs::write(&dest, text) {
            panic!("cannot write {}: {e}", dest.display());
        }
    }
}
