//! What a flow asks and checks, read from its Markdown: the bullets of a
//! `## Diagnostic questions` (or `## Questions`) section, the `### Label`
//! entries of a `## Checks` section (a line of description and a fenced
//! command each), and the first fenced block of the resolution. The
//! offline guide walks a flow through this outline.

/// One check: what to do, why, and the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub label: String,
    pub description: String,
    pub command: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    pub questions: Vec<String>,
    pub checks: Vec<Check>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Other,
    Questions,
    Checks,
}

/// Reads the outline of a flow body; sections it doesn't know are skipped.
pub fn outline(body: &str) -> Outline {
    let mut out = Outline::default();
    let mut section = Section::Other;
    let mut fence: Option<String> = None;
    for line in body.lines() {
        let trimmed = line.trim();
        if let Some(code) = fence.as_mut() {
            if trimmed.starts_with("```") {
                if let Some(check) = out.checks.last_mut().filter(|c| c.command.is_empty()) {
                    check.command = code.trim_end().to_owned();
                }
                fence = None;
            } else {
                code.push_str(line);
                code.push('\n');
            }
            continue;
        }
        if trimmed.starts_with("```") {
            fence = Some(String::new());
            continue;
        }
        if let Some(heading) = trimmed.strip_prefix("## ") {
            let h = heading.trim().to_ascii_lowercase();
            section = if h.contains("question") {
                Section::Questions
            } else if h.contains("check") {
                Section::Checks
            } else {
                Section::Other
            };
            continue;
        }
        match section {
            Section::Questions => {
                if let Some(q) = trimmed
                    .strip_prefix("- ")
                    .or_else(|| trimmed.strip_prefix("* "))
                    .map(str::trim)
                    .filter(|q| !q.is_empty())
                {
                    out.questions.push(q.to_owned());
                }
            }
            Section::Checks => {
                if let Some(label) = trimmed.strip_prefix("### ") {
                    out.checks.push(Check {
                        label: label.trim().to_owned(),
                        description: String::new(),
                        command: String::new(),
                    });
                } else if !trimmed.is_empty()
                    && let Some(check) = out.checks.last_mut()
                    && check.description.is_empty()
                    && check.command.is_empty()
                {
                    check.description = trimmed.to_owned();
                }
            }
            Section::Other => {}
        }
    }
    out
}

/// The first fenced block of a resolution (its script), if any.
pub fn resolution_script(resolution: &str) -> Option<String> {
    let mut lines = resolution.lines();
    lines.by_ref().find(|l| l.trim().starts_with("```"))?;
    let code: Vec<&str> = lines.take_while(|l| !l.trim().starts_with("```")).collect();
    let code = code.join("\n");
    (!code.trim().is_empty()).then_some(code)
}

/// The resolution's prose, without its fenced blocks.
pub fn resolution_text(resolution: &str) -> String {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in resolution.lines() {
        if line.trim().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            out.push(line);
        }
    }
    out.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "Intro.\n\n## Diagnostic questions\n- Does it affect everyone?\n- Since when?\n\n## Checks\n### Ping the printer\nIt should answer.\n```bash\nping 10.0.0.5\n```\n\n### Restart the spooler\nClears stuck jobs.\n```cmd\nnet stop spooler\nnet start spooler\n```\n";

    #[test]
    fn questions_and_checks_with_their_commands_are_read() {
        let o = outline(BODY);
        assert_eq!(o.questions, ["Does it affect everyone?", "Since when?"]);
        assert_eq!(o.checks.len(), 2);
        assert_eq!(o.checks[0].label, "Ping the printer");
        assert_eq!(o.checks[0].description, "It should answer.");
        assert_eq!(o.checks[0].command, "ping 10.0.0.5");
        assert_eq!(o.checks[1].command, "net stop spooler\nnet start spooler");
    }

    #[test]
    fn a_resolution_splits_into_prose_and_script() {
        let r = "Give it a static IP.\n```cmd\nnet stop spooler\n```\n";
        assert_eq!(resolution_text(r), "Give it a static IP.");
        assert_eq!(resolution_script(r).as_deref(), Some("net stop spooler"));
        assert_eq!(resolution_script("No script."), None);
    }

    #[test]
    fn every_demo_flow_has_questions_and_checks_with_commands() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flows");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("examples/flows") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
            let flow = super::super::markdown::parse_flow_file(&text, stem).expect("a flow");
            let o = outline(&flow.body);
            assert!(o.questions.len() >= 3, "{stem}: {o:?}");
            assert!(o.checks.len() >= 2, "{stem}");
            assert!(o.checks.iter().all(|c| !c.command.is_empty()), "{stem}");
            assert!(!flow.resolution.is_empty(), "{stem}");
            seen += 1;
        }
        assert!(seen >= 40, "{seen} demo flows");
    }
}
