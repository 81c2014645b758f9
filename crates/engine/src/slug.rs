//! `Slug`: the short, URL-safe handle a person or the assistant can name a
//! thing by (a script template now, knowledge-base flows later), unique
//! within an account.

use std::fmt;

use crate::account::ValidationError;

/// Lowercase ASCII letters, digits and single hyphens between them
/// (`restart-print-spooler`), 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

impl Slug {
    pub const MAX_CHARS: usize = 64;

    /// What a slug derived from a title with no letters or digits becomes.
    const FALLBACK: &'static str = "untitled";

    /// Checks a slug as given; nothing is normalised, so that the slug a
    /// client sends is the one it can look up later.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let rule = || {
            ValidationError::new(
                field,
                format!(
                    "must be 1 to {} lowercase letters (a-z), digits and single hyphens \
                     between them, like \"restart-print-spooler\"",
                    Self::MAX_CHARS
                ),
            )
        };
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if raw.is_empty()
            || raw.len() > Self::MAX_CHARS
            || !raw.chars().all(allowed)
            || raw.starts_with('-')
            || raw.ends_with('-')
            || raw.contains("--")
        {
            return Err(rule());
        }
        Ok(Self(raw.to_owned()))
    }

    /// Derives a slug from a title: ASCII letters and digits lowercased,
    /// every other run of characters one hyphen, cut to `MAX_CHARS`.
    /// A title with no ASCII letter or digit gives `untitled`.
    pub fn from_title(title: &str) -> Self {
        let mut slug = String::with_capacity(title.len().min(Self::MAX_CHARS));
        let mut pending_hyphen = false;
        for c in title.chars() {
            if c.is_ascii_alphanumeric() {
                // A separator only between two kept words, never leading.
                if pending_hyphen && !slug.is_empty() {
                    slug.push('-');
                }
                pending_hyphen = false;
                slug.push(c.to_ascii_lowercase());
            } else {
                pending_hyphen = true;
            }
            if slug.len() >= Self::MAX_CHARS {
                break;
            }
        }
        slug.truncate(Self::MAX_CHARS);
        let slug = slug.trim_end_matches('-');
        if slug.is_empty() {
            Self(Self::FALLBACK.to_owned())
        } else {
            Self(slug.to_owned())
        }
    }

    /// This slug with `-n` appended, cut so the result still fits: how a
    /// derived slug steps aside when it is taken.
    pub fn with_suffix(&self, n: u32) -> Self {
        let suffix = format!("-{n}");
        let keep = Self::MAX_CHARS
            .saturating_sub(suffix.len())
            .min(self.0.len());
        let base = self.0[..keep].trim_end_matches('-');
        Self(format!("{base}{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_rule() {
        let cases = [
            ("restart-spooler", true),
            ("a", true),
            ("x1-2y", true),
            (&"a".repeat(64), true),
            (&"a".repeat(65), false),
            ("", false),
            ("Restart", false),
            ("-a", false),
            ("a-", false),
            ("a--b", false),
            ("a_b", false),
            ("a b", false),
            ("café", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(Slug::parse("slug", raw).is_ok(), ok, "{raw:?}");
        }
    }

    #[test]
    fn titles_become_valid_slugs() {
        let cases = [
            ("Restart the Print Spooler", "restart-the-print-spooler"),
            ("  --Reset  DNS cache!! ", "reset-dns-cache"),
            ("IPv6 / DHCP", "ipv6-dhcp"),
            ("Café crème", "caf-cr-me"),
            ("???", "untitled"),
            ("", "untitled"),
        ];
        for (title, want) in cases {
            let slug = Slug::from_title(title);
            assert_eq!(slug.as_str(), want, "{title:?}");
            assert!(Slug::parse("slug", slug.as_str()).is_ok());
        }
    }

    #[test]
    fn long_titles_are_cut_without_a_trailing_hyphen() {
        let title = format!("{} b", "a".repeat(63));
        let slug = Slug::from_title(&title);
        assert_eq!(slug.as_str(), "a".repeat(63));
        let long = Slug::from_title(&"word ".repeat(40));
        assert!(Slug::parse("slug", long.as_str()).is_ok(), "{long}");
    }

    #[test]
    fn suffixes_keep_slugs_valid() {
        let base = Slug::from_title("restart");
        assert_eq!(base.with_suffix(2).as_str(), "restart-2");
        let long = Slug::parse("slug", &format!("{}-b", "a".repeat(62))).expect("valid");
        let suffixed = long.with_suffix(12);
        assert!(Slug::parse("slug", suffixed.as_str()).is_ok(), "{suffixed}");
        assert!(suffixed.as_str().ends_with("-12"));
    }
}
