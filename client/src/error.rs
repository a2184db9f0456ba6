//! The client's errors: one line for the person at the keyboard (what went wrong and what to
//! do), and the kind of failure, which a script reads from the exit code.

/// What kind of failure an error is. Each kind has its own exit code ([`ErrorKind::exit_code`]),
/// the same in every handin binary, so that a script can tell "the server is down" from "the
/// server said no" from "a file is missing".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The command line asks for something it cannot have: a malformed value, a missing or
    /// contradictory choice (exit code 2, as for the argument parser's own errors).
    Usage,
    /// The server could not be reached: its name did not resolve, nothing answered, the
    /// connection timed out or broke off (exit code 3).
    Unreachable,
    /// The server answered and refused the request: a wrong code, not on the class list, past
    /// the cut-off, too large (exit code 4).
    Refused,
    /// A certificate or a signature did not verify: the server did not accept ours (revoked,
    /// expired, from another CA), ours did not accept the server's, or a receipt's signature
    /// is not Blackboard's (exit code 5).
    Auth,
    /// A local file or directory is missing, unreadable, unwritable, damaged or in the way (a
    /// profile not enrolled yet, an output file that exists, a data directory not created)
    /// (exit code 6).
    File,
    /// Anything else (exit code 1).
    Other,
}

impl ErrorKind {
    /// Every kind, in the order of their exit codes.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Other,
        ErrorKind::Usage,
        ErrorKind::Unreachable,
        ErrorKind::Refused,
        ErrorKind::Auth,
        ErrorKind::File,
    ];

    /// The process exit code for a failure of this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Other => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Unreachable => 3,
            ErrorKind::Refused => 4,
            ErrorKind::Auth => 5,
            ErrorKind::File => 6,
        }
    }

    /// What the kind means, in a few words (for `--help`).
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorKind::Other => "any other failure",
            ErrorKind::Usage => "usage: a bad or missing argument",
            ErrorKind::Unreachable => "cannot reach the server (name, connection, timeout)",
            ErrorKind::Refused => "the server refused the request",
            ErrorKind::Auth => "a certificate or signature did not verify",
            ErrorKind::File => "a local file or directory is missing, unreadable or in the way",
        }
    }
}

/// A client error: one line, what went wrong and what to do, and its [`ErrorKind`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StudentError {
    kind: ErrorKind,
    message: String,
    /// The server answered that it does not hold what was asked for (a `NotFound` refusal):
    /// kept through [`StudentError::context`] and [`StudentError::with_kind`], so that a
    /// caller can tell a missing object from a server that could not answer.
    missing: bool,
}

impl StudentError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            missing: false,
        }
    }

    /// The server refused because it does not hold what was asked for (kind `Refused`,
    /// [`StudentError::is_missing`]).
    pub fn missing(message: impl Into<String>) -> Self {
        Self {
            missing: true,
            ..Self::refused(message)
        }
    }

    /// Whether the server answered that it does not hold what was asked for.
    pub fn is_missing(&self) -> bool {
        self.missing
    }

    /// The same error as another kind (its message and whether something was missing kept).
    pub fn with_kind(self, kind: ErrorKind) -> Self {
        Self { kind, ..self }
    }

    /// A bad or missing argument.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    /// The server could not be reached.
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unreachable, message)
    }
    /// The server refused.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }
    /// A certificate or signature did not verify.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }
    /// A local file problem.
    pub fn file(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::File, message)
    }
    /// Anything else.
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error, with `context` and ": " before its message.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        Self {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_exit_code_and_1_is_for_the_rest() {
        let codes: Vec<i32> = ErrorKind::ALL.iter().map(|k| k.exit_code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6]);
        assert_eq!(StudentError::file("x").kind().exit_code(), 6);
        assert_eq!(StudentError::other("x").to_string(), "x");
    }
}
