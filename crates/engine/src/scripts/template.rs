//! The `{{name}}` placeholders of a script body: finding them and filling
//! them in. Pure functions, so that the chat pipeline and the CLI can render
//! a body without a store.
//!
//! A placeholder is `{{`, optional spaces or tabs, a name
//! (`[A-Za-z_][A-Za-z0-9_]*`), optional spaces or tabs, `}}`. Anything
//! else between braces (`{{ not a name }}`, `${{x}`, a lone `{{`) is
//! ordinary script text and stays as it is: scripting languages use braces
//! for their own purposes.

use std::collections::HashMap;

use crate::account::ValidationError;

/// A piece of a body: text to copy, or a placeholder to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Text(&'a str),
    Parameter(&'a str),
}

/// If `rest` starts with a placeholder, its name and its length in bytes.
fn placeholder(rest: &str) -> Option<(&str, usize)> {
    let bytes = rest.as_bytes();
    if !rest.starts_with("{{") {
        return None;
    }
    let is_blank = |b: u8| b == b' ' || b == b'\t';
    let mut i = 2;
    while bytes.get(i).copied().is_some_and(is_blank) {
        i += 1;
    }
    let start = i;
    match bytes.get(i) {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => i += 1,
        _ => return None,
    }
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        i += 1;
    }
    let end = i;
    while bytes.get(i).copied().is_some_and(is_blank) {
        i += 1;
    }
    if rest[i..].starts_with("}}") {
        // Only ASCII was stepped over, so these are char boundaries.
        Some((&rest[start..end], i + 2))
    } else {
        None
    }
}

/// Splits a body into text and placeholders. Linear: each attempt at a
/// placeholder scans only blanks and name characters, which contain no `{`.
fn segments(body: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut text_start = 0;
    let mut search_from = 0;
    while let Some(found) = body[search_from..].find("{{") {
        let at = search_from + found;
        match placeholder(&body[at..]) {
            Some((name, len)) => {
                if text_start < at {
                    out.push(Segment::Text(&body[text_start..at]));
                }
                out.push(Segment::Parameter(name));
                text_start = at + len;
                search_from = text_start;
            }
            // `{{{name}}}`: the placeholder may start one brace later.
            None => search_from = at + 1,
        }
    }
    if text_start < body.len() {
        out.push(Segment::Text(&body[text_start..]));
    }
    out
}

/// The distinct parameter names of a body, in order of first appearance.
pub fn parameters(body: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for segment in segments(body) {
        if let Segment::Parameter(name) = segment
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_owned());
        }
    }
    names
}

/// The parameters a render was not given a value for, in order of first
/// appearance in the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no value for the parameters {}", self.0.join(", "))]
pub struct MissingParameters(pub Vec<String>);

impl From<MissingParameters> for ValidationError {
    fn from(missing: MissingParameters) -> Self {
        ValidationError::new(
            "parameters",
            format!(
                "give a value for each of the script's parameters; missing: {}",
                missing.0.join(", ")
            ),
        )
    }
}

/// Fills every placeholder of `body` with its value from `values`, inserted
/// as given (no quoting: the engineer reviews the script before running it).
/// Values for names the body does not use are ignored; a placeholder with
/// no value is an error that lists every such name.
pub fn render(body: &str, values: &HashMap<String, String>) -> Result<String, MissingParameters> {
    let segments = segments(body);
    let mut missing: Vec<String> = Vec::new();
    let mut script = String::with_capacity(body.len());
    for segment in segments {
        match segment {
            Segment::Text(text) => script.push_str(text),
            Segment::Parameter(name) => match values.get(name) {
                Some(value) => script.push_str(value),
                None if missing.iter().any(|m| m == name) => {}
                None => missing.push(name.to_owned()),
            },
        }
    }
    if missing.is_empty() {
        Ok(script)
    } else {
        Err(MissingParameters(missing))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parameters_are_found_once_in_order_of_first_appearance() {
        let cases: &[(&str, &[&str])] = &[
            ("Restart-Service {{service}}", &["service"]),
            ("{{ b }} {{a}} {{b}}\t{{\ta\t}}", &["b", "a"]),
            ("{{_x1}}{{X_2}}", &["_x1", "X_2"]),
            ("no placeholders", &[]),
            ("{{}} {{ }} {{1abc}} {{a-b}} {{a b}} {{a", &[]),
            ("{{\nname}}", &[]),
            ("{{{name}}}", &["name"]),
            ("${{ matrix.os }} {{ok}}", &["ok"]),
            ("{ {x} } {{y} }", &[]),
            ("émoji 🦀 {{ü}} {{ok}} 🦀", &["ok"]),
        ];
        for (body, want) in cases {
            assert_eq!(parameters(body), *want, "{body:?}");
        }
    }

    #[test]
    fn rendering_fills_every_placeholder_and_keeps_other_braces() {
        let body = "Get-Service {{ name }} | % { $_.Status } # {{name}} {{not valid}} {{{x}}}";
        let script = render(
            body,
            &values(&[("name", "Spooler"), ("x", "1"), ("extra", "?")]),
        );
        assert_eq!(
            script.as_deref(),
            Ok("Get-Service Spooler | % { $_.Status } # Spooler {{not valid}} {1}")
        );
    }

    #[test]
    fn values_are_inserted_as_given() {
        let script = render("echo {{v}}", &values(&[("v", "{{v}} \"$(rm -rf)\"")]));
        assert_eq!(script.as_deref(), Ok("echo {{v}} \"$(rm -rf)\""));
    }

    #[test]
    fn rendering_names_every_missing_parameter_once() {
        let missing = render("{{a}} {{b}} {{a}} {{c}}", &values(&[("b", "")]));
        assert_eq!(
            missing,
            Err(MissingParameters(vec!["a".to_owned(), "c".to_owned()]))
        );
        let message = ValidationError::from(MissingParameters(vec!["a".into(), "c".into()]));
        assert!(message.message.ends_with("missing: a, c"), "{message}");
    }

    #[test]
    fn a_long_run_of_braces_is_handled_in_linear_time() {
        let body = format!("{}{}", "{{".repeat(50_000), "}}");
        assert!(parameters(&body).is_empty());
        assert_eq!(render(&body, &HashMap::new()).as_deref(), Ok(body.as_str()));
    }

    proptest! {
        #[test]
        fn rendering_with_every_parameter_leaves_none_behind(
            body in "([a-z ]|\\{\\{ ?(alpha|beta|_g1) ?\\}\\}|[{}])*",
        ) {
            let names = parameters(&body);
            // Values free of braces, so none can form a placeholder.
            let given: HashMap<String, String> =
                names.iter().map(|n| (n.clone(), format!("<{n}>"))).collect();
            let script = render(&body, &given).expect("every parameter has a value");
            let left = parameters(&script);
            prop_assert!(
                names.iter().all(|n| !left.contains(n)),
                "{body:?} rendered to {script:?}"
            );
        }

        #[test]
        fn a_body_without_placeholders_renders_to_itself(body in "[^{]*") {
            prop_assert_eq!(render(&body, &HashMap::new()), Ok(body.clone()));
        }
    }
}
