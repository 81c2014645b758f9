//! Database URLs: which backend a URL names, and what it points at.

use std::path::PathBuf;

use anyhow::bail;

const ACCEPTED: &str = "use sqlite:PATH, sqlite://PATH, postgres://… or postgresql://…";

/// A database URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DatabaseUrl {
    /// The path of a SQLite file, relative to the working directory unless
    /// absolute (`sqlite:///var/lib/flowpilot/flowpilot.db`).
    Sqlite(PathBuf),
    /// A PostgreSQL URL, as given (sqlx parses the rest).
    Postgres(String),
}

impl DatabaseUrl {
    pub(crate) fn parse(url: &str) -> anyhow::Result<Self> {
        let url = url.trim();
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                bail!("the SQLite database URL has no file path; {ACCEPTED}");
            }
            // Every pooled connection would get its own empty database.
            if path.starts_with(":memory:") || path.contains("mode=memory") {
                bail!("an in-memory SQLite database is not supported; give a file path");
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        // Only the scheme is echoed: the rest may hold a password.
        let scheme = url.split_once(':').map_or("(none)", |(scheme, _)| scheme);
        bail!("unsupported database URL scheme {scheme:?}; {ACCEPTED}")
    }

    const fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// The backend a database URL names: `"sqlite"` or `"postgres"`, or `None`
/// when it is not a URL `open` accepts.
pub fn backend_name(url: &str) -> Option<&'static str> {
    DatabaseUrl::parse(url).ok().map(|url| url.backend())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        let cases = [
            ("sqlite:data/flowpilot.db", Some("sqlite")),
            ("sqlite://data/flowpilot.db", Some("sqlite")),
            ("sqlite:///var/lib/fp/flowpilot.db", Some("sqlite")),
            ("postgres://fp@db/fp", Some("postgres")),
            ("postgresql://fp@db/fp", Some("postgres")),
            ("mysql://fp@db/fp", None),
            ("sqlite:", None),
            ("sqlite::memory:", None),
            ("flowpilot.db", None),
            ("", None),
        ];
        for (url, want) in cases {
            assert_eq!(backend_name(url), want, "{url}");
        }
    }

    #[test]
    fn sqlite_urls_keep_relative_and_absolute_paths() {
        let cases = [
            ("sqlite:data/x.db", "data/x.db"),
            ("sqlite://data/x.db", "data/x.db"),
            ("sqlite:///abs/x.db", "/abs/x.db"),
            ("sqlite:/abs/x.db", "/abs/x.db"),
        ];
        for (url, path) in cases {
            assert_eq!(
                DatabaseUrl::parse(url).ok(),
                Some(DatabaseUrl::Sqlite(path.into())),
                "{url}"
            );
        }
    }

    #[test]
    fn unsupported_urls_say_what_is_accepted_without_echoing_secrets() {
        let err = DatabaseUrl::parse("mysql://root:hunter2@db/fp")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("sqlite:PATH") && err.contains("postgres://"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
}
