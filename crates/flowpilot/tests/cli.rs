//! The `flowpilot` command, run as a user would: a real process, real
//! files, real PostgreSQL.

use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn flowpilot() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowpilot"));
    for (key, _) in std::env::vars() {
        if key.starts_with("FLOWPILOT_") || key.ends_with("_API_KEY") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flowpilot starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("flowpilot finishes")
}

#[test]
fn markers_parse_prints_the_spec_object_in_batch_and_streamed() {
    let reply = "Check the spooler.\n\n[QUESTIONS]\n[{\"text\": \"Is it one printer?\"}]\n[/QUESTIONS]\n[FORK]{\"options\": [{\"label\": \"Only\"}]}[/FORK]";
    let batch = run_with_stdin(flowpilot().args(["markers", "parse"]), reply);
    assert!(
        batch.status.success(),
        "{}",
        String::from_utf8_lossy(&batch.stderr)
    );
    let parsed: Value = serde_json::from_slice(&batch.stdout).expect("JSON on stdout");
    assert_eq!(parsed["display"], "Check the spooler.");
    assert_eq!(
        parsed["questions"],
        json!([{"text": "Is it one printer?", "context": ""}])
    );
    assert_eq!(parsed["actions"], Value::Null);
    assert_eq!(parsed["fork"], Value::Null);
    assert_eq!(parsed["diagnostics"][0]["marker"], "FORK");
    for n in ["1", "3", "64"] {
        let streamed = run_with_stdin(
            flowpilot().args(["markers", "parse", "--stream-chunks", n]),
            reply,
        );
        assert!(streamed.status.success());
        let streamed: Value = serde_json::from_slice(&streamed.stdout).expect("JSON");
        assert_eq!(streamed, parsed, "chunks of {n}");
    }
    let zero = run_with_stdin(
        flowpilot().args(["markers", "parse", "--stream-chunks", "0"]),
        reply,
    );
    assert!(!zero.status.success(), "a zero chunk size is refused");
}

#[test]
fn account_create_reads_the_password_from_env_or_stdin_and_refuses_a_taken_email() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let migrate = flowpilot()
        .args(["migrate", "--data-dir", data])
        .output()
        .expect("runs");
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert!(String::from_utf8_lossy(&migrate.stdout).contains("migration"));

    let create = |email: &str| {
        let mut cmd = flowpilot();
        cmd.args([
            "account",
            "create",
            "--name",
            "Acme",
            "--admin-email",
            email,
            "--admin-name",
            "Ada",
            "--data-dir",
            data,
        ]);
        cmd
    };
    let out = create("ada@acme.test")
        .env("FLOWPILOT_ADMIN_PASSWORD", "correct horse battery")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ada@acme.test"));

    let out = run_with_stdin(&mut create("bob@other.test"), "another long password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run_with_stdin(&mut create("ADA@acme.test"), "correct horse battery\n");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("email is already in use"), "{stderr}");

    let out = run_with_stdin(&mut create("carol@acme.test"), "\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FLOWPILOT_ADMIN_PASSWORD"));
}

#[test]
fn account_create_works_on_postgresql() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = runtime
        .block_on(store::test_support::fresh_postgres_url())
        .expect("a fresh PostgreSQL database");
    let out = flowpilot()
        .args([
            "account",
            "create",
            "--name",
            "Acme",
            "--admin-email",
            "ada@acme.test",
            "--admin-name",
            "Ada",
        ])
        .args(["--database-url", &url])
        .env("FLOWPILOT_ADMIN_PASSWORD", "correct horse battery")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = flowpilot()
        .args(["migrate", "--database-url", &url])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("0 migration"));
}

#[test]
fn serve_help_documents_every_setting() {
    let out = flowpilot()
        .args(["serve", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--database-url",
        "--max-body-bytes",
        "--llm-provider",
        "--llm-base-url",
        "--llm-api-key",
        "--llm-model",
        "FLOWPILOT_LISTEN",
        "FLOWPILOT_DATABASE_URL",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn serve_refuses_a_provider_without_its_key_and_says_what_to_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = flowpilot()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--llm-provider",
            "anthropic",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ANTHROPIC_API_KEY"), "{stderr}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn serve_answers_healthz_on_a_fresh_data_dir_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut child = flowpilot()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path().join("fresh"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let healthy = loop {
        if let Ok(body) = get_json(&format!("http://127.0.0.1:{port}/healthz")) {
            break body;
        }
        assert!(Instant::now() < deadline, "no /healthz answer within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(healthy, json!({"status": "ok"}));
    assert!(dir.path().join("fresh/flowpilot.db").exists());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("exits");
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

/// A blocking GET on a fresh runtime, to keep this file free of async.
fn get_json(url: &str) -> Result<Value, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let response = reqwest::get(url).await.map_err(|e| e.to_string())?;
        response.json().await.map_err(|e| e.to_string())
    })
}

/// Creates an account "Acme" with `account create` at `db_args`.
fn create_acme(db_args: &[&str]) {
    let out = flowpilot()
        .args(["account", "create", "--name", "Acme", "--admin-email"])
        .arg(format!("ada-{}@acme.test", std::process::id()))
        .args(["--admin-name", "Ada"])
        .args(db_args)
        .env("FLOWPILOT_ADMIN_PASSWORD", "correct horse battery")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn kb_import_reports_each_file(db_args: &[&str]) {
    create_acme(db_args);
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/flows");
    let count = std::fs::read_dir(examples).expect("examples").count();
    let import = |path: &str| {
        flowpilot()
            .args(["kb", "import", path, "--account", "Acme"])
            .args(db_args)
            .output()
            .expect("runs")
    };
    let first = import(examples);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains(&format!("{count} created, 0 updated, 0 rejected")),
        "{stdout}"
    );
    assert!(
        stdout.contains("created   printer-offline-but-on"),
        "{stdout}"
    );
    let again = import(examples);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&format!("0 created, {count} updated"))
    );

    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("good.md"),
        "---\ntitle: Good\n---\nSteps.\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("bad.md"), "no front matter\n").expect("write");
    let mixed = import(dir.path().to_str().expect("utf-8"));
    let stdout = String::from_utf8_lossy(&mixed.stdout);
    assert!(!mixed.status.success(), "a rejected file fails the command");
    assert!(
        stdout.contains("rejected") && stdout.contains("bad.md") && stdout.contains("front matter"),
        "{stdout}"
    );
    assert!(
        stdout.contains("created   good"),
        "the good one is stored: {stdout}"
    );
    let nobody = flowpilot()
        .args(["kb", "import", examples, "--account", "Nobody"])
        .args(db_args)
        .output()
        .expect("runs");
    assert!(!nobody.status.success());
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no account is named"));
}

#[test]
fn kb_import_on_sqlite_creates_updates_and_rejects_file_by_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    kb_import_reports_each_file(&["--data-dir", data.to_str().expect("utf-8")]);
}

#[test]
fn kb_import_on_postgresql_creates_updates_and_rejects_file_by_file() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let url = runtime
        .block_on(store::test_support::fresh_postgres_url())
        .expect("a fresh PostgreSQL database");
    kb_import_reports_each_file(&["--database-url", &url]);
}

#[test]
fn kb_eval_prints_recall_and_mrr_per_set() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = flowpilot()
        .current_dir(root)
        .args(["kb", "eval", "examples/eval/retrieval.jsonl"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let engineer = stdout
        .lines()
        .find(|l| l.starts_with("engineer"))
        .unwrap_or_else(|| panic!("{stdout}"));
    // "set | queries | r@1  r@3  MRR" (full text; more columns with a model).
    let recall3: f64 = engineer
        .split('|')
        .nth(2)
        .and_then(|cells| cells.split_whitespace().nth(1))
        .expect("recall@3")
        .parse()
        .expect("number");
    assert!(
        recall3 >= 0.9,
        "engineer-style recall@3 is {recall3}: {stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("user")), "{stdout}");
}
