//! Where the servers are: an address as a person types it (`host`, `host:port`, `[v6]:port`;
//! a missing port is the server's default), the profile's settings file that remembers CUHK's
//! and Blackboard's, and which address is in force for a command: a flag, else the environment
//! (`HANDIN_CUHK`, `HANDIN_BLACKBOARD`), else the profile, else the default on this machine.
//!
//! The host given is the name the server's certificate is checked against; it is resolved
//! (DNS) when the connection is made.

use crate::error::ErrorKind;
use crate::net::Transport;
use crate::session::{fail, Profile, Remote, StudentError};
use handin_files::{self as fsio, PUBLIC};
use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// CUHK's enrollment port.
pub const CUHK_PORT: u16 = 9335;
/// Blackboard's port.
pub const BLACKBOARD_PORT: u16 = 3141;

/// One of the servers a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// CUHK's enrollment server.
    Cuhk,
    /// Blackboard.
    Blackboard,
}

impl Server {
    /// Both, in the order they are shown.
    pub const ALL: [Server; 2] = [Server::Cuhk, Server::Blackboard];

    /// The port used when an address names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Cuhk => CUHK_PORT,
            Self::Blackboard => BLACKBOARD_PORT,
        }
    }

    /// The address used when nothing names one: this machine, on the default port.
    pub fn default_addr(self) -> ServerAddr {
        ServerAddr {
            host: "127.0.0.1".into(),
            port: self.default_port(),
            also: Vec::new(),
        }
    }

    /// Its name in the settings file and in `--unset`, and its flag without the dashes.
    pub fn key(self) -> &'static str {
        match self {
            Self::Cuhk => "cuhk",
            Self::Blackboard => "blackboard",
        }
    }

    /// The environment variable that overrides the profile.
    pub fn env(self) -> &'static str {
        match self {
            Self::Cuhk => "HANDIN_CUHK",
            Self::Blackboard => "HANDIN_BLACKBOARD",
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cuhk => "CUHK",
            Self::Blackboard => "Blackboard",
        }
    }
}

/// A server's address: a host (DNS name or IP address) and a port; or several, tried in turn
/// (nodes of one service, written `host:port, host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    host: String,
    port: u16,
    /// The other addresses of the list, in order.
    also: Vec<ServerAddr>,
}

impl ServerAddr {
    /// Reads `host`, `host:port`, an IPv6 address, or `[IPv6]:port`; a missing port is
    /// `default_port`. The host must be a DNS name or an IP address. A list of them separated
    /// by commas is several addresses of one service, tried in that order.
    pub fn parse(text: &str, default_port: u16) -> Result<Self, String> {
        let mut addrs = text
            .split(',')
            .map(|one| Self::parse_one(one, default_port));
        let mut first = match addrs.next() {
            Some(first) => first?,
            None => Self::parse_one(text, default_port)?,
        };
        for more in addrs {
            let more = more.map_err(|e| {
                if text.split(',').any(|a| a.trim().is_empty()) {
                    format!("{text:?} has an empty address in its list")
                } else {
                    e
                }
            })?;
            first.also.push(more);
        }
        Ok(first)
    }

    /// Each address of the list, the first first.
    pub fn each(&self) -> impl Iterator<Item = &ServerAddr> {
        std::iter::once(self).chain(&self.also)
    }

    fn parse_one(text: &str, default_port: u16) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the address is empty: give HOST or HOST:PORT".into());
        }
        if text.contains("://") || text.contains('/') {
            return Err(format!(
                "{text:?} is not an address: give HOST or HOST:PORT, not a URL"
            ));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| {
                format!("{text:?}: an IPv6 address is written [ADDRESS] or [ADDRESS]:PORT")
            })?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(format!("{host:?} in {text:?} is not an IPv6 address"));
            }
            let port =
                match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or_else(|| {
                        format!("{text:?}: after [ADDRESS] comes nothing or :PORT")
                    })?),
                };
            (host, port)
        } else if text.matches(':').count() > 1 {
            if text.parse::<Ipv6Addr>().is_err() {
                return Err(format!(
                    "{text:?} is not an address: an IPv6 address with a port is written \
                     [ADDRESS]:PORT"
                ));
            }
            (text, None)
        } else {
            match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "{p:?} in {text:?} is not a port: a number from 1 to 65535"
                    ))
                }
            },
        };
        if host.is_empty() {
            return Err(format!("{text:?} names no host"));
        }
        handin_core::config::server_name(host).map_err(|_| {
            format!("{host:?} is neither a host name (such as cuhk.example.edu) nor an IP address")
        })?;
        Ok(Self {
            host: host.to_owned(),
            port,
            also: Vec::new(),
        })
    }

    /// The host: the name the server's certificate must carry.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for ServerAddr {
    /// `host:port`, with an IPv6 address in brackets; a list joined by `, `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        for more in &self.also {
            write!(f, ", {more}")?;
        }
        Ok(())
    }
}

/// What the profile remembers: the settings file `config` in the profile directory, lines of
/// `name = value` (`cuhk`, `blackboard`), `#` comments. `student config` and `staff config`
/// show and change it; `enroll` writes the addresses it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    cuhk: Option<ServerAddr>,
    blackboard: Option<ServerAddr>,
}

impl Settings {
    /// Reads the profile's settings; none if the file does not exist.
    pub fn load(profile: &Profile) -> Result<Self, StudentError> {
        let path = profile.settings();
        match std::fs::read(&path) {
            Ok(bytes) => Self::parse(&String::from_utf8_lossy(&bytes), &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => fail(
                ErrorKind::File,
                format!("cannot read {}: {e}", path.display()),
            ),
        }
    }

    /// Parses the text of a settings file read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, StudentError> {
        let mut settings = Self::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = || format!("{} line {}", path.display(), n + 1);
            let Some((name, value)) = line.split_once('=') else {
                return fail(
                    ErrorKind::File,
                    format!(
                        "{}: expected `name = value`; fix it with `student config`, or delete the \
                     file",
                        at()
                    ),
                );
            };
            let name = name.trim();
            let Some(server) = Server::ALL.into_iter().find(|s| s.key() == name) else {
                return fail(
                    ErrorKind::File,
                    format!(
                        "{}: unknown setting {:?} (known: cuhk, blackboard)",
                        at(),
                        crate::printable::text(name)
                    ),
                );
            };
            let addr = ServerAddr::parse(value, server.default_port())
                .map_err(|e| StudentError::file(format!("{}: {e}", at())))?;
            settings.set(server, Some(addr));
        }
        Ok(settings)
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut text = String::from(
            "# The servers this profile talks to; `student config` (or `staff config`) changes \
             them.\n",
        );
        for s in Server::ALL {
            if let Some(addr) = self.get(s) {
                text.push_str(&format!("{} = {addr}\n", s.key()));
            }
        }
        text
    }

    /// Writes the settings into the profile (creating the directory, mode 0700, if needed).
    pub fn save(&self, profile: &Profile) -> Result<(), StudentError> {
        fsio::create_dir(profile.dir(), 0o700).map_err(|e| {
            StudentError::file(format!("cannot create {}: {e}", profile.dir().display()))
        })?;
        let path = profile.settings();
        fsio::write_atomic(&path, self.to_text().as_bytes(), PUBLIC)
            .map_err(|e| StudentError::file(format!("cannot write {}: {e}", path.display())))
    }

    /// The address remembered for `server`.
    pub fn get(&self, server: Server) -> Option<&ServerAddr> {
        match server {
            Server::Cuhk => self.cuhk.as_ref(),
            Server::Blackboard => self.blackboard.as_ref(),
        }
    }

    /// Remembers (or, with `None`, forgets) the address of `server`.
    pub fn set(&mut self, server: Server, addr: Option<ServerAddr>) {
        match server {
            Server::Cuhk => self.cuhk = addr,
            Server::Blackboard => self.blackboard = addr,
        }
    }
}

impl Profile {
    /// The settings file (see [`Settings`]).
    pub fn settings(&self) -> PathBuf {
        self.dir().join("config")
    }
}

/// Where the address in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The command's flag.
    Flag,
    /// The environment variable ([`Server::env`]).
    Env,
    /// The profile's settings file.
    Profile(PathBuf),
    /// Nothing named one: [`Server::default_addr`].
    Default,
}

/// The address in force for a server, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The address.
    pub addr: ServerAddr,
    /// Where it came from.
    pub source: Source,
}

impl Chosen {
    /// Where it came from, in words: `--blackboard`, `HANDIN_BLACKBOARD`, the file, `default`.
    pub fn describe(&self, server: Server) -> String {
        match &self.source {
            Source::Flag => format!("--{}", server.key()),
            Source::Env => server.env().to_owned(),
            Source::Profile(path) => path.display().to_string(),
            Source::Default => "default".into(),
        }
    }
}

/// The address in force for `server`: `flag`, else `env` (the environment variable's value;
/// empty counts as unset), else what `settings` (read lazily, from `profile`) remember, else
/// the default. An address that does not parse is an error naming where it came from.
pub fn choose(
    server: Server,
    flag: Option<&str>,
    env: Option<&str>,
    profile: &Profile,
    settings: impl FnOnce() -> Result<Settings, StudentError>,
) -> Result<Chosen, StudentError> {
    let parse = |text: &str, from: &str| {
        ServerAddr::parse(text, server.default_port())
            .map_err(|e| StudentError::usage(format!("{from}: {e}")))
    };
    if let Some(f) = flag {
        return Ok(Chosen {
            addr: parse(f, &format!("--{}", server.key()))?,
            source: Source::Flag,
        });
    }
    if let Some(e) = env.filter(|e| !e.trim().is_empty()) {
        return Ok(Chosen {
            addr: parse(e, server.env())?,
            source: Source::Env,
        });
    }
    Ok(match settings()?.get(server) {
        Some(addr) => Chosen {
            addr: addr.clone(),
            source: Source::Profile(profile.settings()),
        },
        None => Chosen {
            addr: server.default_addr(),
            source: Source::Default,
        },
    })
}

/// The value of `server`'s environment variable, if set and readable.
pub fn env_value(server: Server) -> Option<String> {
    std::env::var(server.env()).ok()
}

/// [`choose`] with this process's environment and the profile's settings file.
pub fn chosen(
    server: Server,
    flag: Option<&str>,
    profile: &Profile,
) -> Result<Chosen, StudentError> {
    choose(server, flag, env_value(server).as_deref(), profile, || {
        Settings::load(profile)
    })
}

/// How to reach `server` for a command: the address in force ([`chosen`]) over `transport`.
pub fn remote(
    server: Server,
    flag: Option<&str>,
    profile: &Profile,
    transport: Transport,
    connect_timeout: Duration,
) -> Result<Remote, StudentError> {
    let chosen = chosen(server, flag, profile)?;
    tracing::debug!(
        server = server.name(),
        addr = %chosen.addr,
        from = %chosen.describe(server),
        "address"
    );
    let mut each = chosen.addr.each().map(|a| {
        let mut one = a.clone();
        one.also.clear();
        one.to_string()
    });
    Ok(Remote {
        addr: each.next().unwrap_or_default(),
        also: each.collect(),
        transport,
        connect_timeout,
    })
}

/// Remembers `addrs` in the profile's settings, keeping what else it remembers.
pub fn remember(profile: &Profile, addrs: &[(Server, ServerAddr)]) -> Result<(), StudentError> {
    if addrs.is_empty() {
        return Ok(());
    }
    let mut settings = Settings::load(profile)?;
    for (server, addr) in addrs {
        settings.set(*server, Some(addr.clone()));
    }
    settings.save(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str, port: u16) -> Result<(String, u16), String> {
        ServerAddr::parse(text, port).map(|a| (a.host().to_owned(), a.port()))
    }

    #[test]
    fn a_missing_port_is_the_servers_default() {
        assert_eq!(addr("localhost", 3141), Ok(("localhost".into(), 3141)));
        assert_eq!(
            addr("cuhk.example.edu", 9335),
            Ok(("cuhk.example.edu".into(), 9335))
        );
        assert_eq!(addr("10.0.0.7", 9335), Ok(("10.0.0.7".into(), 9335)));
        assert_eq!(addr("::1", 3141), Ok(("::1".into(), 3141)));
        assert_eq!(addr("[::1]", 3141), Ok(("::1".into(), 3141)));
        assert_eq!(addr(" localhost\n", 3141), Ok(("localhost".into(), 3141)));
    }

    #[test]
    fn a_port_given_is_kept() {
        assert_eq!(addr("localhost:4000", 3141), Ok(("localhost".into(), 4000)));
        assert_eq!(addr("127.0.0.1:1", 3141), Ok(("127.0.0.1".into(), 1)));
        assert_eq!(addr("[::1]:65535", 3141), Ok(("::1".into(), 65535)));
        assert_eq!(
            addr("Blackboard.Example.EDU:443", 3141),
            Ok(("Blackboard.Example.EDU".into(), 443))
        );
    }

    #[test]
    fn it_prints_as_host_and_port_and_reads_back() {
        for (text, shown) in [
            ("localhost", "localhost:3141"),
            ("10.0.0.7:80", "10.0.0.7:80"),
            ("::1", "[::1]:3141"),
            ("[fe80::1]:9", "[fe80::1]:9"),
        ] {
            let a = ServerAddr::parse(text, 3141).expect(text);
            assert_eq!(a.to_string(), shown);
            assert_eq!(ServerAddr::parse(shown, 1), Ok(a));
        }
    }

    #[test]
    fn a_list_is_several_nodes_tried_in_order_and_prints_back() {
        let a = ServerAddr::parse(" bb1.example.edu, [::1]:9 ,10.0.0.7", 3141).unwrap();
        let each: Vec<String> = a
            .each()
            .map(|x| format!("{}:{}", x.host(), x.port()))
            .collect();
        assert_eq!(each, ["bb1.example.edu:3141", "::1:9", "10.0.0.7:3141"]);
        assert_eq!(
            a.to_string(),
            "bb1.example.edu:3141, [::1]:9, 10.0.0.7:3141"
        );
        assert_eq!(ServerAddr::parse(&a.to_string(), 1), Ok(a));
        for bad in ["a,", ",a", "a,,b", "a, b:0"] {
            assert!(ServerAddr::parse(bad, 3141).is_err(), "{bad:?}");
        }
        assert_eq!(
            ServerAddr::parse("a,,b", 3141).unwrap_err(),
            "\"a,,b\" has an empty address in its list"
        );
    }

    #[test]
    fn what_is_not_an_address_is_refused_with_the_form_to_use() {
        for (bad, says) in [
            ("", "empty"),
            ("   ", "empty"),
            ("localhost:", "not a port"),
            ("localhost:0", "not a port"),
            ("localhost:65536", "not a port"),
            ("localhost:http", "not a port"),
            (":3141", "names no host"),
            ("https://cuhk.example.edu", "not a URL"),
            ("cuhk.example.edu/enroll", "not a URL"),
            ("fe80::1:3141x", "[ADDRESS]:PORT"),
            ("[::1", "[ADDRESS]"),
            ("[::1]3141", ":PORT"),
            ("[localhost]:1", "not an IPv6 address"),
            ("bad host", "neither a host name"),
            ("-x.example", "neither a host name"),
            ("host\u{1b}[2J", "neither a host name"),
        ] {
            let e = ServerAddr::parse(bad, 3141).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    fn profile() -> (tempfile::TempDir, Profile) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Profile::locate(Some(dir.path().join("p")));
        (dir, p)
    }

    fn remembered(cuhk: Option<&str>, bb: Option<&str>) -> Settings {
        let mut s = Settings::default();
        s.set(
            Server::Cuhk,
            cuhk.map(|c| ServerAddr::parse(c, CUHK_PORT).expect("cuhk")),
        );
        s.set(
            Server::Blackboard,
            bb.map(|b| ServerAddr::parse(b, BLACKBOARD_PORT).expect("bb")),
        );
        s
    }

    #[test]
    fn a_flag_beats_the_environment_which_beats_the_profile_which_beats_the_default() {
        let (_d, p) = profile();
        let saved = || {
            Ok(remembered(
                Some("cuhk.example.edu"),
                Some("bb.example.edu:8443"),
            ))
        };
        let pick = |flag, env, settings: &dyn Fn() -> Result<Settings, StudentError>| {
            choose(Server::Blackboard, flag, env, &p, settings).expect("chosen")
        };
        let c = pick(Some("flag.example"), Some("env.example"), &saved);
        assert_eq!(
            (c.addr.to_string(), c.source),
            ("flag.example:3141".into(), Source::Flag)
        );
        let c = pick(None, Some("env.example:1"), &saved);
        assert_eq!(
            (c.addr.to_string(), c.source),
            ("env.example:1".into(), Source::Env)
        );
        let c = pick(None, None, &saved);
        assert_eq!(c.addr.to_string(), "bb.example.edu:8443");
        assert_eq!(c.source, Source::Profile(p.settings()));
        // An empty variable is no variable.
        let c = pick(None, Some(""), &saved);
        assert_eq!(c.source, Source::Profile(p.settings()));
        let c = pick(None, None, &|| Ok(Settings::default()));
        assert_eq!(
            (c.addr.to_string(), c.source),
            ("127.0.0.1:3141".into(), Source::Default)
        );
        let c = choose(Server::Cuhk, None, None, &p, || Ok(Settings::default())).expect("cuhk");
        assert_eq!(c.addr.to_string(), "127.0.0.1:9335");
    }

    #[test]
    fn the_profile_is_not_read_when_a_flag_or_the_environment_decides() {
        let (_d, p) = profile();
        let broken = || fail(ErrorKind::File, "the settings file is broken");
        assert!(choose(Server::Cuhk, Some("a"), None, &p, broken).is_ok());
        assert!(choose(Server::Cuhk, None, Some("a"), &p, broken).is_ok());
        assert!(choose(Server::Cuhk, None, None, &p, broken).is_err());
    }

    #[test]
    fn a_bad_address_names_where_it_came_from() {
        let (_d, p) = profile();
        let none = || Ok(Settings::default());
        let e = choose(Server::Blackboard, Some("x:y"), None, &p, none).unwrap_err();
        assert!(e.message().starts_with("--blackboard: "), "{e}");
        let e = choose(Server::Blackboard, None, Some("x:y"), &p, none).unwrap_err();
        assert!(e.message().starts_with("HANDIN_BLACKBOARD: "), "{e}");
        let e = choose(Server::Cuhk, None, Some("x:0"), &p, none).unwrap_err();
        assert!(e.message().starts_with("HANDIN_CUHK: "), "{e}");
    }

    #[test]
    fn settings_are_saved_read_back_and_kept_apart() {
        let (_d, p) = profile();
        assert_eq!(Settings::load(&p).expect("no file"), Settings::default());
        remember(
            &p,
            &[(
                Server::Cuhk,
                ServerAddr::parse("cuhk.example.edu", CUHK_PORT).expect("a"),
            )],
        )
        .expect("saved");
        remember(
            &p,
            &[(
                Server::Blackboard,
                ServerAddr::parse("[::1]", BLACKBOARD_PORT).expect("a"),
            )],
        )
        .expect("saved");
        let s = Settings::load(&p).expect("read");
        assert_eq!(
            s,
            remembered(Some("cuhk.example.edu:9335"), Some("[::1]:3141"))
        );
        let text = std::fs::read_to_string(p.settings()).expect("file");
        assert!(text.contains("cuhk = cuhk.example.edu:9335\n"), "{text}");
        assert!(text.contains("blackboard = [::1]:3141\n"), "{text}");
        let mut s = s;
        s.set(Server::Cuhk, None);
        s.save(&p).expect("saved");
        assert_eq!(
            Settings::load(&p).expect("read"),
            remembered(None, Some("[::1]:3141"))
        );
    }

    #[test]
    fn a_settings_file_is_read_as_people_write_it_and_its_mistakes_are_located() {
        let path = Path::new("/p/config");
        let s = Settings::parse(
            "# comment\n\n  blackboard=bb.example.edu  \ncuhk = 10.0.0.1:1\n",
            path,
        )
        .expect("parses");
        assert_eq!(s, remembered(Some("10.0.0.1:1"), Some("bb.example.edu")));
        for (text, says) in [
            ("cuhk\n", "/p/config line 1: expected `name = value`"),
            (
                "\nblackbord = x\n",
                "/p/config line 2: unknown setting \"blackbord\"",
            ),
            (
                "cuhk = x:0\n",
                "/p/config line 1: \"0\" in \"x:0\" is not a port",
            ),
        ] {
            let e = Settings::parse(text, path)
                .unwrap_err()
                .message()
                .to_owned();
            assert!(e.starts_with(says), "{text:?}: {e}");
        }
    }
}
