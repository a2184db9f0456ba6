//! What the client binaries (`student`, `staff`) share about the servers: how `enroll` comes
//! to trust the CUHK root (`--ca` or `--fingerprint`), the addresses it remembers, and the
//! `config` command that shows and changes them.

use handin_client::config::{self, Chosen, Server, ServerAddr, Settings, Source};
use handin_client::student::{Profile, Trust};
use handin_core::pki::Fingerprint;
use serde_json::json;
use std::path::PathBuf;

/// The trust `enroll` was given: the root's file (`--ca`) or its fingerprint
/// (`--fingerprint`); the argument parser sees that exactly one is.
pub fn trust(ca: Option<PathBuf>, fingerprint: Option<&str>) -> Result<Trust, String> {
    match (ca, fingerprint) {
        (Some(ca), None) => Ok(Trust::CaFile(ca)),
        (None, Some(f)) => f
            .parse::<Fingerprint>()
            .map(Trust::Fingerprint)
            .map_err(|e| format!("--fingerprint: {e}")),
        _ => Err("give either --ca FILE or --fingerprint SHA256 (from `cuhk fingerprint`)".into()),
    }
}

/// The addresses given to `enroll` by flag, checked before anything is sent, to be remembered
/// once it succeeds.
pub fn given(flags: &[(Server, Option<&str>)]) -> Result<Vec<(Server, ServerAddr)>, String> {
    flags
        .iter()
        .filter_map(|(s, f)| f.map(|f| (*s, f)))
        .map(|(s, f)| {
            ServerAddr::parse(f, s.default_port())
                .map(|a| (s, a))
                .map_err(|e| format!("--{}: {e}", s.key()))
        })
        .collect()
}

/// `config`: remembers the addresses given in the profile, forgets those named by `--unset`,
/// then shows the address in force for each server and where it comes from (as text, or one
/// JSON object with `as_json`). `program` is `student` or `staff`, for the hints.
pub fn config_command(
    program: &str,
    profile: &Profile,
    set: &[(Server, Option<&str>)],
    unset: &[String],
    as_json: bool,
) -> Result<(), String> {
    let given = given(set)?;
    let unset: Vec<Server> = unset
        .iter()
        .map(|u| {
            Server::ALL
                .into_iter()
                .find(|s| s.key() == u)
                .ok_or_else(|| format!("--unset {u:?}: name cuhk or blackboard"))
        })
        .collect::<Result<_, _>>()?;
    let mut settings = Settings::load(profile).map_err(|e| e.to_string())?;
    let saved = !given.is_empty() || !unset.is_empty();
    if saved {
        for s in unset {
            settings.set(s, None);
        }
        for (s, addr) in given {
            settings.set(s, Some(addr));
        }
        settings.save(profile).map_err(|e| e.to_string())?;
        if !as_json {
            println!("saved in {}", profile.settings().display());
        }
    }
    let mut servers = serde_json::Map::new();
    for server in Server::ALL {
        let chosen = config::choose(
            server,
            None,
            config::env_value(server).as_deref(),
            profile,
            || Ok(settings.clone()),
        )
        .map_err(|e| e.to_string())?;
        if as_json {
            servers.insert(
                server.key().to_owned(),
                json!({
                    "address": chosen.addr.to_string(),
                    "source": source(&chosen.source),
                    "remembered": settings.get(server).map(|a| a.to_string()),
                }),
            );
        } else {
            println!(
                "{:<11} {:<28} {}",
                server.key(),
                chosen.addr.to_string(),
                whence(program, server, &chosen, &settings)
            );
        }
    }
    if as_json {
        crate::json::print(&json!({
            "servers": servers,
            "settings_file": crate::json::path(&profile.settings()),
            "saved": saved,
        }));
    }
    Ok(())
}

/// Where an address in force came from, as `config --json` names it.
fn source(s: &Source) -> &'static str {
    match s {
        Source::Flag => "flag",
        Source::Env => "env",
        Source::Profile(_) => "profile",
        Source::Default => "default",
    }
}

fn whence(program: &str, server: Server, chosen: &Chosen, settings: &Settings) -> String {
    match &chosen.source {
        Source::Env => match settings.get(server) {
            Some(mine) => format!("(from {}, over the profile's {mine})", server.env()),
            None => format!("(from {})", server.env()),
        },
        Source::Profile(path) => format!("(remembered in {})", path.display()),
        Source::Default => format!(
            "(default; `{program} config --{} HOST[:PORT]` sets it)",
            server.key()
        ),
        Source::Flag => format!("(--{})", server.key()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enroll_trusts_a_file_or_a_fingerprint() {
        assert!(matches!(
            trust(Some("ca.crt".into()), None),
            Ok(Trust::CaFile(_))
        ));
        let f = "sha256 Fingerprint=".to_owned() + &["AB"; 32].join(":");
        assert!(matches!(trust(None, Some(&f)), Ok(Trust::Fingerprint(_))));
        let e = trust(None, Some("AB:CD")).unwrap_err();
        assert!(
            e.starts_with("--fingerprint: not a SHA-256 fingerprint"),
            "{e}"
        );
        assert!(trust(None, None).is_err());
    }

    #[test]
    fn addresses_given_are_checked_and_completed() {
        let g = given(&[
            (Server::Cuhk, Some("cuhk.example.edu")),
            (Server::Blackboard, None),
        ])
        .expect("given");
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].1.to_string(), "cuhk.example.edu:9335");
        let e = given(&[(Server::Blackboard, Some("bb:x"))]).unwrap_err();
        assert!(e.starts_with("--blackboard: "), "{e}");
    }
}
