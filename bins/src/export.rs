//! `export-p12`, the same on both client binaries (`student` and `staff`): its arguments, and
//! what it does with them.

use handin_client::student::{self, PasswordSource, Profile, StudentError};
use std::path::PathBuf;

/// Write your key, certificate and the CUHK root as one PKCS#12 file (mode 0600) to import
/// into a browser or a key store; protected by a password (asked twice on the terminal unless
/// --password-file gives it). An existing file is not replaced without --force.
#[derive(clap::Args, Debug)]
pub struct ExportP12 {
    /// The file to write (such as handin.p12).
    #[arg(long)]
    out: PathBuf,
    /// Read the password from the first line of this file instead of asking.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl ExportP12 {
    /// Exports `profile`'s identity as the arguments say, and prints what was written.
    pub fn run(self, profile: &Profile) -> Result<(), StudentError> {
        let password = self
            .password_file
            .map_or(PasswordSource::Prompt, PasswordSource::File);
        let x = student::export_p12(profile, &self.out, &password, self.force)?;
        crate::json::print_exported_p12(&x, self.json);
        Ok(())
    }
}
