//! The model manifest and `models fetch`: downloading published checkpoints from a Hugging Face
//! hub (or a mirror), verifying them against the hub's own checksums, and installing them.
//!
//! Nothing here runs during analysis: Verity Desk makes no network calls at run time; fetching is
//! an explicit, separate step (`verity models fetch <name>`).
//!
//! Protocol, as `huggingface_hub`'s `file_download.py` uses it: `HEAD {endpoint}/{repo}/resolve/
//! {revision}/{file}` without following redirects. For files stored in LFS the hub answers with a
//! redirect carrying `X-Linked-Etag` (the file's SHA-256) and `X-Linked-Size`; for small files kept
//! in git it answers 200 with `ETag` = the git blob SHA-1. `X-Repo-Commit` names the commit. Then a
//! `GET` (redirects followed, `Range` to resume) streams the file into `<file>.part`; the file is
//! installed only after its size and checksum match, so an interrupted or corrupted download never
//! looks installed. We talk to the hub with `ureq` directly rather than through `hf-hub`: hf-hub
//! stores files in its own cache layout, does not verify checksums, and panics on some
//! malformed answers; we need verification, our own folder layout and a resumable `.part`.
//!
//! Layout of the models folder ([`models_dir`]):
//! - `profiles/<name>/` — ready detector profiles (`gend-clip-l14` after a fetch);
//! - `base/<name>/` — base checkpoints (CLIP, CNNs) that fusion profiles build on;
//! - `installed.toml` — what was fetched, from which commit, with verified hashes;
//! - `.partial/` — downloads in progress (resumed by the next fetch).
//!
//! Files committed to the repository (MTCNN weights, the CLIP vocabulary) are listed in the
//! manifest with their SHA-256 and found under the models folder or the source tree's `models/`.
use super::detector::clip_preset_matching;
use super::detector::{CnnKind, Variant, WeightRole};
use super::fusion::FusionMode;
use super::profile::{Preprocessing, Profile, Template, WeightFile};
use super::weights::{read_header, sha256_file};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public hub; `HF_ENDPOINT` overrides it (mirrors, tests).
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The manifest, compiled in so the installed app knows it without the source tree.
const MANIFEST: &str = include_str!("../../models/manifest.toml");

/// What `installed.toml` is called.
pub const INSTALLED_FILE: &str = "installed.toml";

/// Model files we know (`models/manifest.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub committed: Vec<CommittedFile>,
    #[serde(default)]
    pub fetchable: Vec<FetchableModel>,
}

/// A file kept in the repository under `models/`.
#[derive(Debug, Clone, Deserialize)]
pub struct CommittedFile {
    pub name: String,
    /// Relative to the models folder.
    pub path: String,
    pub sha256: String,
    pub source: String,
    pub licence: String,
}

/// What a fetched model becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallAs {
    /// A ready detector profile in GenD's layout, under `profiles/<name>/`.
    GendProfile,
    /// A CLIP checkpoint under `base/<name>/`.
    ClipBase,
    /// A timm CNN checkpoint under `base/<name>/`.
    CnnBase,
}

/// A published checkpoint that `models fetch` can download.
#[derive(Debug, Clone, Deserialize)]
pub struct FetchableModel {
    pub name: String,
    /// Hub repository id, e.g. `openai/clip-vit-large-patch14`.
    pub repo: String,
    #[serde(default = "main_revision")]
    pub revision: String,
    pub files: Vec<String>,
    pub install_as: InstallAs,
    pub licence: String,
    #[serde(default)]
    pub description: String,
}

fn main_revision() -> String {
    "main".into()
}

/// The compiled-in manifest.
pub fn manifest() -> Result<Manifest> {
    toml::from_str(MANIFEST)
        .map_err(|e| Error::Config(format!("models/manifest.toml is invalid: {e}")))
}

/// `HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`].
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
}

pub use super::{models_dir, repo_models_dir};

/// Where a committed file is: the models folder first, then the source tree.
pub fn committed_path(models_dir: &Path, file: &CommittedFile) -> Option<PathBuf> {
    [
        models_dir.join(&file.path),
        repo_models_dir().join(&file.path),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// One fetched file, as recorded in `installed.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledFile {
    pub file: String,
    pub sha256: String,
    pub size: u64,
    /// What the download was checked against: `"sha256 (X-Linked-Etag)"` or `"git-sha1 (ETag)"`.
    pub verified_by: String,
}

/// A fetched model, as recorded in `installed.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    pub name: String,
    pub repo: String,
    pub revision: String,
    /// The hub's `X-Repo-Commit`, when it sent one.
    #[serde(default)]
    pub commit: String,
    pub endpoint: String,
    /// The folder the files were installed in.
    pub path: PathBuf,
    pub files: Vec<InstalledFile>,
    /// RFC 3339.
    pub installed_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct InstalledList {
    #[serde(default)]
    model: Vec<Installed>,
}

/// Everything recorded in `<models_dir>/installed.toml`.
pub fn installed(models_dir: &Path) -> Result<Vec<Installed>> {
    Ok(read_installed(models_dir)?.model)
}

fn read_installed(models_dir: &Path) -> Result<InstalledList> {
    let path = models_dir.join(INSTALLED_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| Error::input(&path, format!("unreadable list of installed models: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(InstalledList::default()),
        Err(e) => Err(Error::input(&path, format!("cannot read: {e}"))),
    }
}

fn record_installed(models_dir: &Path, entry: Installed) -> Result<()> {
    let mut list = read_installed(models_dir)?;
    list.model.retain(|m| m.name != entry.name);
    list.model.push(entry);
    list.model.sort_by(|a, b| a.name.cmp(&b.name));
    let text = toml::to_string_pretty(&list)
        .map_err(|e| Error::Other(format!("cannot write {INSTALLED_FILE}: {e}")))?;
    let tmp = models_dir.join(format!(".{INSTALLED_FILE}.tmp"));
    fs::write(&tmp, text)?;
    fs::rename(&tmp, models_dir.join(INSTALLED_FILE))?;
    Ok(())
}

/// A manifest entry and whether it is present and intact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelStatus {
    pub name: String,
    pub installed: bool,
    /// `Some(true)` when every file's SHA-256 was recomputed now and matches the manifest (committed
    /// files) or the hash verified at download (fetched models); `None` when not installed.
    pub verified: Option<bool>,
    pub path: Option<PathBuf>,
    /// The expected hash of the (main) file, when known.
    pub sha256: Option<String>,
    /// Where it comes from: a hub URL or the package it was taken from.
    pub source: String,
    pub licence: String,
}

/// The status of every manifest entry, re-hashing installed files (seconds for large ones).
pub fn list(models_dir: &Path) -> Result<Vec<ModelStatus>> {
    let manifest = manifest()?;
    let installed = installed(models_dir)?;
    let mut out = vec![];
    for c in &manifest.committed {
        let path = committed_path(models_dir, c);
        let verified = match &path {
            Some(p) => Some(sha256_file(p)?.eq_ignore_ascii_case(&c.sha256)),
            None => None,
        };
        out.push(ModelStatus {
            name: c.name.clone(),
            installed: path.is_some(),
            verified,
            path,
            sha256: Some(c.sha256.clone()),
            source: c.source.clone(),
            licence: c.licence.clone(),
        });
    }
    let ep = endpoint();
    for f in &manifest.fetchable {
        let record = installed.iter().find(|i| i.name == f.name);
        let present =
            record.is_some_and(|r| r.files.iter().all(|x| r.path.join(&x.file).is_file()));
        let verified = match record.filter(|_| present) {
            Some(r) => {
                let mut ok = true;
                for x in &r.files {
                    ok &= sha256_file(&r.path.join(&x.file))?.eq_ignore_ascii_case(&x.sha256);
                }
                Some(ok)
            }
            None => None,
        };
        out.push(ModelStatus {
            name: f.name.clone(),
            installed: present,
            verified,
            path: record.map(|r| r.path.clone()),
            sha256: record
                .and_then(|r| r.files.first())
                .map(|x| x.sha256.clone()),
            source: format!(
                "{}/{}",
                record.map(|r| r.endpoint.as_str()).unwrap_or(&ep),
                f.repo
            ),
            licence: f.licence.clone(),
        });
    }
    Ok(out)
}

/// What the hub promises about a file before we download it.
#[derive(Debug)]
struct Remote {
    size: u64,
    check: Check,
    commit: Option<String>,
}

#[derive(Debug, Clone)]
enum Check {
    Sha256(String),
    GitSha1(String),
}

impl Check {
    fn describe(&self) -> &'static str {
        match self {
            Check::Sha256(_) => "sha256 (X-Linked-Etag)",
            Check::GitSha1(_) => "git-sha1 (ETag)",
        }
    }
}

fn agent(redirects: u32) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(redirects)
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .user_agent(&format!("verity-desk/{}", crate::version()))
        .build()
}

fn net_error(url: &str, e: ureq::Error) -> Error {
    match e {
        ureq::Error::Status(404, _) => {
            Error::Other(format!("{url}: not found on the hub (404) — check the model name and the endpoint (HF_ENDPOINT)"))
        }
        ureq::Error::Status(code @ (401 | 403), _) => {
            Error::Other(format!("{url}: access denied ({code}); the repository may be gated or private"))
        }
        ureq::Error::Status(code, r) => Error::Other(format!("{url}: the hub answered {code} {}", r.status_text())),
        ureq::Error::Transport(t) => Error::Other(format!("{url}: cannot reach the hub: {t}")),
    }
}

fn hex_of_len(s: &str, len: usize) -> Option<String> {
    let s = s
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase();
    (s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
}

/// HEAD the resolve URL, following only same-host (relative) redirects, and read the checksum.
fn probe(url: &str) -> Result<Remote> {
    let agent = agent(0);
    let mut current = url.to_string();
    let (mut linked_etag, mut linked_size, mut commit) = (None, None, None);
    for _ in 0..5 {
        let resp = agent.head(&current).call().map_err(|e| net_error(url, e))?;
        linked_etag = linked_etag.or_else(|| resp.header("x-linked-etag").map(str::to_string));
        linked_size = linked_size.or_else(|| {
            resp.header("x-linked-size")
                .and_then(|s| s.trim().parse::<u64>().ok())
        });
        commit = commit.or_else(|| resp.header("x-repo-commit").map(str::to_string));
        let status = resp.status();
        if (300..400).contains(&status) {
            let location = resp.header("location").unwrap_or_default().to_string();
            if location.starts_with('/') {
                // A renamed repository: the hub redirects within itself.
                let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
                current = format!("{origin}{location}");
                continue;
            }
            // An LFS file served elsewhere (CDN): the hub's headers above are what we need.
            let size = linked_size
                .ok_or_else(|| Error::Other(format!("{url}: the hub sent no X-Linked-Size")))?;
            let sha = linked_etag
                .as_deref()
                .and_then(|e| hex_of_len(e, 64))
                .ok_or_else(|| {
                    Error::Weights(format!(
                        "{url}: the hub sent no SHA-256 (X-Linked-Etag) to verify the file against"
                    ))
                })?;
            return Ok(Remote {
                size,
                check: Check::Sha256(sha),
                commit,
            });
        }
        let size = linked_size
            .or_else(|| {
                resp.header("content-length")
                    .and_then(|s| s.trim().parse().ok())
            })
            .ok_or_else(|| Error::Other(format!("{url}: the hub sent no file size")))?;
        if let Some(sha) = linked_etag.as_deref().and_then(|e| hex_of_len(e, 64)) {
            return Ok(Remote {
                size,
                check: Check::Sha256(sha),
                commit,
            });
        }
        let etag = resp.header("etag").unwrap_or_default();
        let check = if let Some(sha) = hex_of_len(etag, 64) {
            Check::Sha256(sha)
        } else if let Some(sha1) = hex_of_len(etag, 40) {
            Check::GitSha1(sha1)
        } else {
            return Err(Error::Weights(format!(
                "{url}: the hub sent no checksum (ETag {etag:?}); refusing to install an unverifiable file"
            )));
        };
        return Ok(Remote {
            size,
            check,
            commit,
        });
    }
    Err(Error::Other(format!("{url}: too many redirects")))
}

/// Downloads `url` into `part` (resuming what is there), then checks size and checksum. Returns the
/// file's SHA-256. On a checksum mismatch the part file is deleted.
fn download(
    url: &str,
    part: &Path,
    remote: &Remote,
    progress: &mut dyn FnMut(u64),
) -> Result<String> {
    let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if have > remote.size {
        fs::remove_file(part)?;
        have = 0;
    }
    if have < remote.size {
        let mut req = agent(5).get(url);
        if have > 0 {
            req = req.set("Range", &format!("bytes={have}-"));
        }
        let resp = req.call().map_err(|e| net_error(url, e))?;
        let mut file = if have > 0 && resp.status() == 206 {
            OpenOptions::new().append(true).open(part)?
        } else {
            // 200: the server ignored the range (or this is a fresh start): begin again.
            have = 0;
            File::create(part)?
        };
        progress(have);
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    file.flush().ok();
                    return Err(interrupted(url, have, remote.size, &e.to_string()));
                }
            };
            file.write_all(&buf[..n])?;
            have += n as u64;
            progress(have);
            if have > remote.size {
                break;
            }
        }
        file.sync_all()?;
    }
    if have != remote.size {
        if have > remote.size {
            fs::remove_file(part).ok();
        }
        return Err(interrupted(
            url,
            have,
            remote.size,
            "the connection closed early",
        ));
    }
    let sha256 = sha256_file(part)?;
    let (ok, expected, actual) = match &remote.check {
        Check::Sha256(e) => (sha256 == *e, e.clone(), sha256.clone()),
        Check::GitSha1(e) => {
            let a = git_blob_sha1(part)?;
            (a == *e, e.clone(), a)
        }
    };
    if !ok {
        fs::remove_file(part).ok();
        return Err(Error::Weights(format!(
            "{url}: the downloaded file does not match the hub's checksum ({}: expected {expected}, got {actual}). \
             It was discarded and nothing was installed.",
            remote.check.describe()
        )));
    }
    Ok(sha256)
}

fn interrupted(url: &str, have: u64, size: u64, why: &str) -> Error {
    Error::Other(format!(
        "{url}: download interrupted after {have} of {size} bytes ({why}). Nothing was installed; \
         run the fetch again to resume."
    ))
}

/// Downloads, verifies and installs the manifest model `name` from `endpoint` into `models_dir`.
/// `progress(done, total)` gets bytes over all the model's files.
pub fn fetch(
    name: &str,
    endpoint: &str,
    models_dir: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<Installed> {
    let manifest = manifest()?;
    let model = manifest
        .fetchable
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = manifest.fetchable.iter().map(|m| m.name.as_str()).collect();
            Error::Config(format!(
                "no fetchable model is called {name:?}; known: {}",
                known.join(", ")
            ))
        })?;
    let endpoint = endpoint.trim_end_matches('/');
    fs::create_dir_all(models_dir)
        .map_err(|e| Error::input(models_dir, format!("cannot create the models folder: {e}")))?;

    // 1. Ask the hub what to expect, for every file, before downloading anything.
    let mut remotes = vec![];
    for file in &model.files {
        let url = format!(
            "{endpoint}/{}/resolve/{}/{file}",
            model.repo, model.revision
        );
        let remote = probe(&url)?;
        remotes.push((file, url, remote));
    }
    let total: u64 = remotes.iter().map(|(_, _, r)| r.size).sum();
    let commit = remotes
        .iter()
        .find_map(|(_, _, r)| r.commit.clone())
        .unwrap_or_default();

    // 2. Download each into .partial/<name>/ (resumable, keyed by the expected checksum).
    let partial = models_dir.join(".partial").join(&model.name);
    fs::create_dir_all(&partial)?;
    let mut done_before = 0u64;
    let mut files = vec![];
    let mut parts = vec![];
    for (file, url, remote) in &remotes {
        let key = match &remote.check {
            Check::Sha256(s) | Check::GitSha1(s) => &s[..16],
        };
        let part = partial.join(format!("{file}.{key}.part"));
        let base = done_before;
        let mut report = |n: u64| progress(base + n, total);
        let sha256 = download(url, &part, remote, &mut report)?;
        done_before += remote.size;
        files.push(InstalledFile {
            file: file.to_string(),
            sha256,
            size: remote.size,
            verified_by: remote.check.describe().into(),
        });
        parts.push(part);
    }

    // 3. Assemble the install folder beside its destination, then swap it in.
    let dest = match model.install_as {
        InstallAs::GendProfile => models_dir.join("profiles").join(&model.name),
        InstallAs::ClipBase | InstallAs::CnnBase => models_dir.join("base").join(&model.name),
    };
    let parent = dest.parent().unwrap_or(models_dir);
    fs::create_dir_all(parent)?;
    let staging = parent.join(format!(".{}.staging", model.name));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir_all(&staging)?;
    let result = (|| -> Result<()> {
        for (part, f) in parts.iter().zip(&files) {
            // A hard link costs neither time nor space, and keeps the verified part file if the
            // conversion below fails; copy where links are not possible.
            let to = staging.join(&f.file);
            if fs::hard_link(part, &to).is_err() {
                fs::copy(part, &to)?;
            }
        }
        convert(model, &staging, &files, &commit)
    })();
    if let Err(e) = result {
        fs::remove_dir_all(&staging).ok();
        return Err(e);
    }
    if dest.exists() {
        let old = parent.join(format!(".{}.old", model.name));
        fs::remove_dir_all(&old).ok();
        fs::rename(&dest, &old)?;
        fs::rename(&staging, &dest)?;
        fs::remove_dir_all(&old).ok();
    } else {
        fs::rename(&staging, &dest)?;
    }
    fs::remove_dir_all(&partial).ok();

    let entry = Installed {
        name: model.name.clone(),
        repo: model.repo.clone(),
        revision: model.revision.clone(),
        commit,
        endpoint: endpoint.to_string(),
        path: dest,
        files,
        installed_at: chrono::Utc::now().to_rfc3339(),
    };
    record_installed(models_dir, entry.clone())?;
    Ok(entry)
}

/// Checks a downloaded checkpoint has the layout its role needs, and writes what makes it usable
/// (a GenD folder gets its `profile.toml`).
fn convert(
    model: &FetchableModel,
    dir: &Path,
    files: &[InstalledFile],
    commit: &str,
) -> Result<()> {
    let weights = files
        .iter()
        .find(|f| f.file.ends_with(".safetensors"))
        .ok_or_else(|| {
            Error::Config(format!(
                "manifest entry {:?} lists no .safetensors file",
                model.name
            ))
        })?;
    let header = read_header(&dir.join(&weights.file))?;
    let shape = |k: &str| header.get(k).map(|t| t.shape.clone());
    let wrong = |what: &str| {
        Error::Weights(format!(
            "{} ({}): {what}; this is not the checkpoint the manifest describes",
            model.name, model.repo
        ))
    };
    match model.install_as {
        InstallAs::CnnBase => {
            if !header
                .keys()
                .any(|k| k.starts_with("conv") || k.starts_with("blocks."))
            {
                return Err(wrong("no timm CNN tensors (conv*, blocks.*)"));
            }
            Ok(())
        }
        InstallAs::ClipBase => {
            if shape("vision_model.post_layernorm.weight").is_none() {
                return Err(wrong(
                    "no CLIP vision tower (vision_model.post_layernorm.weight)",
                ));
            }
            Ok(())
        }
        InstallAs::GendProfile => {
            let vm = "feature_extractor.vision_model.";
            let hidden =
                shape(&format!("{vm}post_layernorm.weight")).and_then(|s| s.first().copied());
            let patch = shape(&format!("{vm}embeddings.patch_embedding.weight"))
                .and_then(|s| s.get(2).copied());
            let layers = header
                .keys()
                .filter_map(|k| {
                    k.strip_prefix(&format!("{vm}encoder.layers."))?
                        .split('.')
                        .next()?
                        .parse::<i64>()
                        .ok()
                })
                .max()
                .map(|m| m + 1);
            let projection = shape("feature_extractor.visual_projection.weight")
                .and_then(|s| s.first().copied());
            let linear = shape("model.linear.weight");
            let (Some(hidden), Some(patch), Some(layers), Some(projection)) =
                (hidden, patch, layers, projection)
            else {
                return Err(wrong(
                    "no GenD CLIP feature extractor (feature_extractor.vision_model.*)",
                ));
            };
            if linear != Some(vec![2, hidden]) {
                return Err(wrong(&format!(
                    "model.linear.weight is {linear:?}, expected [2, {hidden}]"
                )));
            }
            let clip = clip_preset_matching(hidden, patch, layers).ok_or_else(|| {
                wrong(&format!("its CLIP tower (width {hidden}, patch {patch}, {layers} layers) matches no known preset"))
            })?;
            // GenD's config.json: {"backbone": ..., "head": "linear" | "LinearNorm"}.
            let head = match fs::read_to_string(dir.join("config.json")) {
                Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
                    .map_err(|e| wrong(&format!("config.json is not JSON: {e}")))?["head"]
                    .as_str()
                    .unwrap_or("linear")
                    .to_string(),
                Err(_) => "linear".into(),
            };
            let gend_head_norm = match head.as_str() {
                "linear" => false,
                "LinearNorm" => true,
                other => {
                    return Err(wrong(&format!(
                        "unknown GenD head {other:?} in config.json"
                    )))
                }
            };
            let profile = Profile {
                name: model.name.clone(),
                description: format!(
                    "{} — {}/{} at {}",
                    model.description,
                    model.repo,
                    model.revision,
                    if commit.is_empty() {
                        "an unrecorded commit"
                    } else {
                        commit
                    }
                ),
                variant: Variant::GenD,
                trained: true,
                clip: clip.into(),
                cnn: CnnKind::None,
                fusion: FusionMode::Concat,
                projection_dim: Some(projection),
                fusion_dim: 0,
                head_hidden: 0,
                dropout: 0.0,
                gend_head_norm,
                preprocessing: Preprocessing {
                    chain: Some(crate::faces::preprocess::Chain::Gend),
                    template: Template::Gend,
                    context_scale: 1.3,
                    size: 224,
                },
                weights: vec![WeightFile {
                    file: weights.file.clone(),
                    sha256: weights.sha256.clone(),
                    role: WeightRole::Model,
                }],
                base_weights: vec![],
                training: None,
                dir: dir.to_path_buf(),
            };
            profile.validate()?;
            profile.save(dir)?;
            // Load every tensor strictly now, not at the first analysis: a checkpoint with one
            // tensor too many or too few is refused here, by name, before anything is installed.
            super::profile::LoadedDetector::load(dir, tch::Device::Cpu)
                .map(drop)
                .map_err(|e| wrong(&format!("it does not load strictly: {e}")))
        }
    }
}

/// Git's object id of a file: SHA-1 of `"blob <len>\0" + content` (what the hub's ETag is for
/// files stored in git rather than LFS).
pub fn git_blob_sha1(path: &Path) -> Result<String> {
    let data = fs::read(path)?;
    let mut msg = format!("blob {}\0", data.len()).into_bytes();
    msg.extend_from_slice(&data);
    Ok(sha1_hex(&msg))
}

/// SHA-1 (FIPS 180-4), used only to compare against git object ids — not for security. Kept
/// here rather than as a dependency because small git-stored files are all it hashes.
fn sha1_hex(msg: &[u8]) -> String {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut data = msg.to_vec();
    let bit_len = (msg.len() as u64).wrapping_mul(8);
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&bit_len.to_be_bytes());
    for block in data.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}
