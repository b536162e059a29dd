//! The command line. Parsed with `lexopt`, help written by hand: a full
//! argument-parser framework cost the daemon a tenth of its idle memory.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;

use crate::server::Protocol;

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Cli {
    /// Serve (the default).
    Daemon(Daemon),
    Lookup {
        config: PathBuf,
        state: Option<PathBuf>,
        path: String,
    },
    Check {
        config: PathBuf,
    },
    Demo {
        listen: String,
        fixtures: Option<PathBuf>,
    },
    StandIn {
        fixtures: PathBuf,
        listen: String,
        delay_ms: u64,
        /// Serve the scenario's pictures too, on its own origin.
        pictures: bool,
        /// The origin the pictures' URLs name instead of the stand-in's own
        /// (a TLS front before it).
        origin: Option<String>,
    },
    /// Print this on stdout and exit 0 (`--help`, `--version`).
    Print(String),
}

#[derive(Debug, PartialEq)]
pub struct Daemon {
    pub config: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub listen: Option<String>,
    pub protocol: Protocol,
    pub exit_idle_after: Option<Duration>,
}

pub const HELP: &str = "\
Shows the Mastodon replies to a blog post as that post's comments.

Run by systemd socket activation (mastodon-comments.socket) behind nginx's
fastcgi_pass, or with --listen outside systemd.

Usage: mastodon-comments [OPTIONS] CONFIG [STATE]
       mastodon-comments lookup --config CONFIG [--state STATE] ARTICLE
       mastodon-comments check --config CONFIG
       mastodon-comments demo [--listen ADDR] [--fixtures DIR]
       mastodon-comments stand-in --fixtures DIR [--listen ADDR] [--delay-ms N] [--pictures [--origin URL]]

Arguments:
  CONFIG  The JSON config file (the Go original's works unchanged)
  STATE   The state file [default: $STATE_DIRECTORY/state.json]

Options:
  --listen PATH|HOST:PORT    Listen here instead of on the socket systemd passes:
                             a unix socket path, or HOST:PORT
  --protocol fastcgi|http    What the front end speaks [default: fastcgi]
  --exit-idle-after DURATION Exit after this long without requests (e.g. 10min);
                             systemd starts the daemon again on the next connection
  -h, --help                 Print help (also: COMMAND --help)
  -V, --version              Print version

Commands:
  lookup    Print the JSON answer for one article path, once (troubleshooting)
  check     Check the config, the token and the instance; one line per item
  demo      Serve a sample article with comments over HTTP, from a built-in
            stand-in Mastodon; no account needed
  stand-in  Serve a fixture scenario as a stand-in Mastodon instance (tests,
            benchmarks)
";

const LOOKUP_HELP: &str = "\
Print the JSON answer for one article path, once (troubleshooting).

Usage: mastodon-comments lookup --config CONFIG [--state STATE] ARTICLE

Arguments:
  ARTICLE  The article path (/2018/12/01/post/) or its full URL

Options:
  --config CONFIG  The daemon's config file
  --state STATE    Use (and update) this state file; without it nothing is stored
";

const CHECK_HELP: &str = "\
Check the set-up against the instance after editing the config: the config,
HTTPS, the instance and its software, the token, its account and scopes,
\"userid\", the timeline and its announcements, search, whether the server
requires a token. One line per item, each ok or what to fix; exits 0 when
everything needed works, 1 otherwise. The token is never printed.

Usage: mastodon-comments check --config CONFIG

Options:
  --config CONFIG  The daemon's config file (the token is read as the daemon
                   reads it, also from $CREDENTIALS_DIRECTORY/token)
";

const DEMO_HELP: &str = "\
Serve a sample article with comments over HTTP, from a built-in stand-in
Mastodon; no account needed.

Usage: mastodon-comments demo [--listen ADDR] [--fixtures DIR]

Options:
  --listen HOST:PORT  Where to serve [default: 127.0.0.1:8080]
  --fixtures DIR      Serve this fixture scenario folder instead of the built-in one
";

const STAND_IN_HELP: &str = "\
Serve a fixture scenario as a stand-in Mastodon instance (tests, benchmarks).

Usage: mastodon-comments stand-in --fixtures DIR [--listen ADDR] [--delay-ms N] [--pictures [--origin URL]]

Options:
  --fixtures DIR      The scenario folder (e.g. tests/fixtures/mastodon/a-simple-thread)
  --listen HOST:PORT  Where to serve [default: 127.0.0.1:0]
  --delay-ms N        Latency added to every API call, in milliseconds [default: 0]
  --pictures          Serve the scenario's avatars, emoji and media previews too,
                      with their URLs pointed at this stand-in
  --origin URL        With --pictures: point their URLs at this origin instead
                      (a TLS front that passes requests on to this stand-in)
";

/// An option: its long name and its short letter, if any.
type Opt = (&'static str, Option<char>);

// The options of each command. The parsers see an option only as what
// `option` finds in these lists, and a test checks that each one is in its
// command's help: an option cannot be added without being documented.
const OPTIONS: &[Opt] = &[
    ("help", Some('h')),
    ("version", Some('V')),
    ("listen", None),
    ("protocol", None),
    ("exit-idle-after", None),
];
const LOOKUP_OPTIONS: &[Opt] = &[("help", Some('h')), ("config", None), ("state", None)];
const CHECK_OPTIONS: &[Opt] = &[("help", Some('h')), ("config", None)];
const DEMO_OPTIONS: &[Opt] = &[("help", Some('h')), ("listen", None), ("fixtures", None)];
const STAND_IN_OPTIONS: &[Opt] = &[
    ("help", Some('h')),
    ("fixtures", None),
    ("listen", None),
    ("delay-ms", None),
    ("pictures", None),
    ("origin", None),
];

/// The long name of the option `arg` is, if `options` has it (`None` for
/// a value, and for an option the command does not take).
fn option(arg: &lexopt::Arg<'_>, options: &[Opt]) -> Option<&'static str> {
    let (long, _) = options.iter().find(|(long, short)| match arg {
        Long(l) => l == long,
        Short(c) => Some(*c) == *short,
        Value(_) => false,
    })?;
    Some(long)
}

/// Parses the process's arguments.
pub fn from_env() -> Result<Cli, lexopt::Error> {
    parse(lexopt::Parser::from_env())
}

/// Parses arguments (without the program name).
pub fn from_args<I: IntoIterator<Item = S>, S: Into<OsString>>(args: I) -> Result<Cli, lexopt::Error> {
    parse(lexopt::Parser::from_args(args))
}

fn parse(mut p: lexopt::Parser) -> Result<Cli, lexopt::Error> {
    let mut d = Daemon {
        config: None,
        state: None,
        listen: None,
        protocol: Protocol::Fastcgi,
        exit_idle_after: None,
    };
    let mut first = true;
    while let Some(arg) = p.next()? {
        match (option(&arg, OPTIONS), arg) {
            (Some("help"), _) => return Ok(Cli::Print(HELP.into())),
            (Some("version"), _) => {
                return Ok(Cli::Print(format!("mastodon-comments {}\n", env!("CARGO_PKG_VERSION"))));
            }
            (Some("listen"), _) => d.listen = Some(p.value()?.string()?),
            (Some("protocol"), _) => {
                d.protocol = match p.value()?.string()?.as_str() {
                    "fastcgi" => Protocol::Fastcgi,
                    "http" => Protocol::Http,
                    other => return Err(format!("--protocol must be fastcgi or http, got {other:?}").into()),
                }
            }
            (Some("exit-idle-after"), _) => {
                let v = p.value()?.string()?;
                let idle = humantime::parse_duration(&v)
                    .map_err(|e| format!("--exit-idle-after takes a duration like 10min or 90s, got {v:?} ({e})"))?;
                if idle < Duration::from_secs(1) {
                    return Err(format!("--exit-idle-after must be at least 1s, got {v:?}").into());
                }
                d.exit_idle_after = Some(idle);
            }
            (_, Value(v)) if first && v == "lookup" => return lookup(p),
            (_, Value(v)) if first && v == "check" => return check(p),
            (_, Value(v)) if first && v == "demo" => return demo(p),
            (_, Value(v)) if first && v == "stand-in" => return stand_in(p),
            (_, Value(v)) if d.config.is_none() => d.config = Some(v.into()),
            (_, Value(v)) if d.state.is_none() => d.state = Some(v.into()),
            (_, other) => return Err(other.unexpected()),
        }
        first = false;
    }
    Ok(Cli::Daemon(d))
}

fn lookup(mut p: lexopt::Parser) -> Result<Cli, lexopt::Error> {
    let (mut config, mut state, mut path) = (None, None, None);
    while let Some(arg) = p.next()? {
        match (option(&arg, LOOKUP_OPTIONS), arg) {
            (Some("help"), _) => return Ok(Cli::Print(LOOKUP_HELP.into())),
            (Some("config"), _) => config = Some(PathBuf::from(p.value()?)),
            (Some("state"), _) => state = Some(PathBuf::from(p.value()?)),
            (_, Value(v)) if path.is_none() => path = Some(v.string()?),
            (_, other) => return Err(other.unexpected()),
        }
    }
    Ok(Cli::Lookup {
        config: config.ok_or("lookup needs --config CONFIG (the daemon's config file)")?,
        state,
        path: path.ok_or("lookup needs the article path or URL, e.g. /2018/12/01/post/")?,
    })
}

fn check(mut p: lexopt::Parser) -> Result<Cli, lexopt::Error> {
    let mut config = None;
    while let Some(arg) = p.next()? {
        match (option(&arg, CHECK_OPTIONS), arg) {
            (Some("help"), _) => return Ok(Cli::Print(CHECK_HELP.into())),
            (Some("config"), _) => config = Some(PathBuf::from(p.value()?)),
            (_, other) => return Err(other.unexpected()),
        }
    }
    Ok(Cli::Check {
        config: config.ok_or("check needs --config CONFIG (the daemon's config file)")?,
    })
}

fn demo(mut p: lexopt::Parser) -> Result<Cli, lexopt::Error> {
    let (mut listen, mut fixtures) = ("127.0.0.1:8080".to_string(), None);
    while let Some(arg) = p.next()? {
        match (option(&arg, DEMO_OPTIONS), arg) {
            (Some("help"), _) => return Ok(Cli::Print(DEMO_HELP.into())),
            (Some("listen"), _) => listen = p.value()?.string()?,
            (Some("fixtures"), _) => fixtures = Some(PathBuf::from(p.value()?)),
            (_, other) => return Err(other.unexpected()),
        }
    }
    Ok(Cli::Demo { listen, fixtures })
}

fn stand_in(mut p: lexopt::Parser) -> Result<Cli, lexopt::Error> {
    let (mut fixtures, mut listen, mut delay_ms, mut pictures) = (None, "127.0.0.1:0".to_string(), 0, false);
    let mut origin = None;
    while let Some(arg) = p.next()? {
        match (option(&arg, STAND_IN_OPTIONS), arg) {
            (Some("help"), _) => return Ok(Cli::Print(STAND_IN_HELP.into())),
            (Some("fixtures"), _) => fixtures = Some(PathBuf::from(p.value()?)),
            (Some("listen"), _) => listen = p.value()?.string()?,
            (Some("delay-ms"), _) => delay_ms = p.value()?.parse()?,
            (Some("pictures"), _) => pictures = true,
            (Some("origin"), _) => origin = Some(p.value()?.string()?),
            (_, other) => return Err(other.unexpected()),
        }
    }
    if origin.is_some() && !pictures {
        return Err("--origin names where the pictures are served: it needs --pictures".into());
    }
    Ok(Cli::StandIn {
        fixtures: fixtures.ok_or("stand-in needs --fixtures DIR (a scenario folder)")?,
        listen,
        delay_ms,
        pictures,
        origin,
    })
}

/// Writes a command's output (`check`, `lookup`, `--help`) to stdout. A
/// reader that stops early (`| head`, quitting `less`) closes the pipe:
/// that ends the output quietly, as it does for other command-line tools,
/// instead of the panic `print!` gives.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(args: &[&str]) -> Daemon {
        match from_args(args) {
            Ok(Cli::Daemon(d)) => d,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn the_go_command_line_and_the_options() {
        let d = daemon(&["/etc/mc/config.json", "/var/lib/mc/state.json"]);
        assert_eq!(d.config, Some("/etc/mc/config.json".into()));
        assert_eq!(d.state, Some("/var/lib/mc/state.json".into()));
        assert_eq!(d.protocol, Protocol::Fastcgi);
        let d = daemon(&[
            "--listen",
            "127.0.0.1:9000",
            "--protocol=http",
            "--exit-idle-after",
            "10min",
            "c.json",
        ]);
        assert_eq!(d.listen.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(d.protocol, Protocol::Http);
        assert_eq!(d.exit_idle_after, Some(Duration::from_secs(600)));
        assert_eq!(d.state, None);
    }

    #[test]
    fn subcommands() {
        assert_eq!(
            from_args(["lookup", "--config", "c.json", "/a/"]).ok(),
            Some(Cli::Lookup {
                config: "c.json".into(),
                state: None,
                path: "/a/".into()
            })
        );
        assert_eq!(
            from_args(["check", "--config", "/etc/mc/config.json"]).ok(),
            Some(Cli::Check {
                config: "/etc/mc/config.json".into()
            })
        );
        assert_eq!(
            from_args(["demo"]).ok(),
            Some(Cli::Demo {
                listen: "127.0.0.1:8080".into(),
                fixtures: None
            })
        );
        assert_eq!(
            from_args(["stand-in", "--fixtures", "f", "--delay-ms", "50"]).ok(),
            Some(Cli::StandIn {
                fixtures: "f".into(),
                listen: "127.0.0.1:0".into(),
                delay_ms: 50,
                pictures: false,
                origin: None
            })
        );
        assert!(matches!(
            from_args(["stand-in", "--fixtures", "f", "--pictures"]),
            Ok(Cli::StandIn {
                pictures: true,
                origin: None,
                ..
            })
        ));
        assert_eq!(
            from_args([
                "stand-in",
                "--fixtures",
                "f",
                "--pictures",
                "--origin",
                "https://127.0.0.1:8443"
            ])
            .ok(),
            Some(Cli::StandIn {
                fixtures: "f".into(),
                listen: "127.0.0.1:0".into(),
                delay_ms: 0,
                pictures: true,
                origin: Some("https://127.0.0.1:8443".into())
            })
        );
        assert!(from_args(["stand-in", "--fixtures", "f", "--origin", "https://127.0.0.1:8443"]).is_err());
        // A config file that happens to be called "demo" is still reachable.
        assert_eq!(daemon(&["./demo"]).config, Some("./demo".into()));
    }

    #[test]
    fn help_version_and_errors() {
        assert!(matches!(from_args(["--help"]), Ok(Cli::Print(h)) if h.contains("Usage: mastodon-comments")));
        assert!(matches!(from_args(["demo", "-h"]), Ok(Cli::Print(h)) if h.contains("--fixtures DIR")));
        assert!(matches!(from_args(["-V"]), Ok(Cli::Print(v)) if v.starts_with("mastodon-comments ")));
        let err = |args: &[&str]| from_args(args).expect_err("an error").to_string();
        assert!(err(&["--protocol", "gopher"]).contains("fastcgi or http"));
        assert!(err(&["--exit-idle-after", "soon"]).contains("like 10min"));
        assert!(err(&["--exit-idle-after", "0s"]).contains("at least 1s"));
        assert!(err(&["--bogus"]).contains("--bogus"));
        assert!(err(&["a", "b", "c"]).contains("c"));
        assert!(err(&["lookup", "/a/"]).contains("needs --config"));
        assert!(err(&["stand-in"]).contains("needs --fixtures"));
        assert!(err(&["check"]).contains("check needs --config"));
        assert!(err(&["check", "--config", "c.json", "extra"]).contains("extra"));
    }

    /// Each command: the arguments that reach its parser, its options, its help.
    const COMMANDS: [(&[&str], &[Opt], &str); 5] = [
        (&[], OPTIONS, HELP),
        (&["lookup"], LOOKUP_OPTIONS, LOOKUP_HELP),
        (&["check"], CHECK_OPTIONS, CHECK_HELP),
        (&["demo"], DEMO_OPTIONS, DEMO_HELP),
        (&["stand-in"], STAND_IN_OPTIONS, STAND_IN_HELP),
    ];

    /// Whether `help` has `flag` as a word of its own (`--listen`, not a
    /// prefix of `--listen-x`).
    fn mentions(help: &str, flag: &str) -> bool {
        let part = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-');
        help.match_indices(flag)
            .any(|(at, _)| !part(help[..at].chars().next_back()) && !part(help[at + flag.len()..].chars().next()))
    }

    #[test]
    fn every_option_is_in_the_help() {
        for (command, options, help) in COMMANDS {
            for (long, short) in options {
                // A command's own --help is documented once, in the main
                // help ("-h, --help ... also: COMMAND --help").
                let help = if *long == "help" { HELP } else { help };
                assert!(
                    mentions(help, &format!("--{long}")),
                    "{command:?}: --{long} is not in its help"
                );
                if let Some(c) = short {
                    assert!(mentions(help, &format!("-{c}")), "{command:?}: -{c} is not in its help");
                }
            }
        }
        assert!(HELP.contains("also: COMMAND --help"));
    }

    /// Every option in the lists reaches an arm of its parser (an entry
    /// without one would be refused like an unknown option).
    #[test]
    fn every_listed_option_is_parsed() {
        for (command, options, _) in COMMANDS {
            for (long, short) in options {
                let flags = std::iter::once(format!("--{long}")).chain(short.map(|c| format!("-{c}")));
                for flag in flags {
                    let args = command.iter().copied().chain([flag.as_str(), "x"]);
                    let result = from_args(args);
                    assert!(
                        !matches!(result, Err(lexopt::Error::UnexpectedOption(_))),
                        "{command:?} {flag}: {result:?}"
                    );
                }
            }
        }
        // The check above can fail: an option a command does not take.
        assert!(matches!(
            from_args(["demo", "--state", "x"]),
            Err(lexopt::Error::UnexpectedOption(_))
        ));
    }
}
