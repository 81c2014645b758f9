//! Flows as Markdown files, for `flowpilot kb import`: YAML front matter
//! with `title` (required), `slug` (default: the file name), `symptoms` (a
//! string or a list) and `tags` (a list); the Markdown after it is the
//! flow's body, and a `## Resolution` section, if there is one, becomes its
//! resolution (and leaves the body). `examples/README.md` shows the format.

use serde::Deserialize;

use super::FlowInput;

/// `symptoms` may be one string or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: Option<String>,
    slug: Option<String>,
    symptoms: Option<OneOrMany>,
    tags: Option<Vec<String>>,
}

/// Why a file is not a flow, said so its author can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

/// Reads one flow file. `file_stem` (the name without `.md`) is the slug
/// when the front matter has none.
pub fn parse_flow_file(text: &str, file_stem: &str) -> Result<FlowInput, FileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (front, body) = split_front_matter(text)?;
    let meta: FrontMatter = serde_yaml_ng::from_str(front).map_err(|e| {
        FileError(format!(
            "the front matter is not valid YAML for a flow ({e}); it takes title, slug, symptoms and tags"
        ))
    })?;
    let title = meta
        .title
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| FileError("the front matter has no `title:`".into()))?;
    let symptoms = match meta.symptoms {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    };
    let (body, resolution) = split_resolution(body);
    Ok(FlowInput {
        slug: Some(meta.slug.unwrap_or_else(|| file_stem.to_owned())),
        title,
        symptoms,
        body,
        resolution,
        tags: meta.tags.unwrap_or_default(),
    })
}

/// (front matter, the rest): the file must start with a `---` line and
/// the front matter end at the next one.
fn split_front_matter(text: &str) -> Result<(&str, &str), FileError> {
    let missing = || {
        FileError(
            "the file does not start with front matter: a `---` line, `title: …` and the other fields, then `---`".into(),
        )
    };
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or_else(missing)?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err(FileError(
        "the front matter is not closed: add a `---` line after it".into(),
    ))
}

/// Takes a `## Resolution` section out of the body (up to the next `## `
/// heading or the end), ignoring headings inside code fences.
fn split_resolution(body: &str) -> (String, String) {
    let mut kept = String::with_capacity(body.len());
    let mut resolution = String::new();
    let mut in_resolution = false;
    let mut in_fence = false;
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && trimmed.starts_with("## ") {
            in_resolution = trimmed[3..].trim().eq_ignore_ascii_case("resolution");
            if in_resolution {
                continue;
            }
        }
        if in_resolution {
            resolution.push_str(line);
        } else {
            kept.push_str(line);
        }
    }
    (kept.trim().to_owned(), resolution.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "---\ntitle: Printer offline\nsymptoms: Shows offline\ntags: [printing, SNMP]\n---\nIntro.\n\n## Checks\n### Ping it\n```bash\n## not a heading\nping printer\n```\n\n## Resolution\nFix the port.\n\n## Notes\nAfter.\n";

    #[test]
    fn front_matter_body_and_resolution_are_read() {
        let flow = parse_flow_file(FILE, "printer-offline").unwrap();
        assert_eq!(flow.title, "Printer offline");
        assert_eq!(flow.slug.as_deref(), Some("printer-offline"));
        assert_eq!(flow.symptoms, ["Shows offline"]);
        assert_eq!(flow.tags, ["printing", "SNMP"]);
        assert_eq!(flow.resolution, "Fix the port.");
        assert!(flow.body.contains("## not a heading"), "{}", flow.body);
        assert!(flow.body.ends_with("## Notes\nAfter."), "{}", flow.body);
        assert!(!flow.body.contains("Fix the port"));
    }

    #[test]
    fn a_file_without_front_matter_or_title_or_with_unknown_keys_is_refused_saying_why() {
        let no_front = parse_flow_file("# Title\n", "x").unwrap_err();
        assert!(no_front.0.contains("front matter"), "{no_front}");
        let unclosed = parse_flow_file("---\ntitle: A\n", "x").unwrap_err();
        assert!(unclosed.0.contains("not closed"), "{unclosed}");
        let no_title = parse_flow_file("---\ntags: [a]\n---\nbody\n", "x").unwrap_err();
        assert!(no_title.0.contains("title"), "{no_title}");
        let unknown = parse_flow_file("---\ntitle: A\ntag: [a]\n---\nbody\n", "x").unwrap_err();
        assert!(unknown.0.contains("tag"), "{unknown}");
    }

    #[test]
    fn symptoms_may_be_a_list_and_the_slug_may_be_given() {
        let flow = parse_flow_file(
            "---\r\ntitle: A\r\nslug: given\r\nsymptoms:\r\n  - one\r\n  - two\r\n---\r\nbody\r\n",
            "file",
        )
        .unwrap();
        assert_eq!(flow.slug.as_deref(), Some("given"));
        assert_eq!(flow.symptoms, ["one", "two"]);
        assert_eq!(flow.body, "body");
    }
}
