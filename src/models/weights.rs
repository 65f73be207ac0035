//! Strict weight loading from safetensors files into a `tch::nn::VarStore`.
//!
//! The format is Hugging Face's safetensors (<https://github.com/huggingface/safetensors>): an
//! 8-byte little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}`, then
//! the raw little-endian tensor bytes. We parse the header ourselves and read one tensor at a time,
//! so a 1.2 GB ViT-L/14 checkpoint never needs a second 1.2 GB copy in memory (tch's
//! `Tensor::read_safetensors` reads the whole file first).
//!
//! Unlike `VarStore::load_partial`, which returns the missing names and silently skips the rest,
//! [`load_strict`] checks every name and shape of every file against the model *before* copying
//! anything, and fails with one error that lists what is missing, unexpected and mis-shaped — the
//! only useful message when a checkpoint and a model disagree. Tensors stored in another floating
//! point precision (fp16/bf16 checkpoints) are cast to the variable's kind.
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use tch::{nn, Kind, Tensor};

/// How many names of each kind an error message lists before it only counts.
const LIST_LIMIT: usize = 10;

/// The safetensors header is JSON; refuse absurd sizes rather than allocate them.
const MAX_HEADER_BYTES: u64 = 100 * 1024 * 1024;

/// What a successful [`load_strict`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Variables filled from the files.
    pub loaded: usize,
    /// Tensors of the files that were skipped because `ignore` accepted them (sorted).
    pub ignored: Vec<String>,
    /// Loaded tensors whose stored kind differed from the variable's (e.g. fp16 → fp32).
    pub cast: usize,
    /// Bytes of tensor data read.
    pub bytes: u64,
    pub files: Vec<PathBuf>,
}

/// One tensor's entry in a safetensors header.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub kind: Kind,
    pub shape: Vec<i64>,
    /// Absolute byte range of the data in the file.
    pub start: u64,
    pub end: u64,
}

/// Reads and validates the header of a safetensors file: name → dtype, shape, byte range.
pub fn read_header(path: &Path) -> Result<BTreeMap<String, TensorInfo>> {
    let bad = |message: String| Error::Weights(format!("{}: {message}", path.display()));
    let mut file = File::open(path).map_err(|e| bad(format!("cannot open: {e}")))?;
    let file_len = file.metadata()?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes).map_err(|_| {
        bad("not a safetensors file (shorter than its 8-byte header length)".into())
    })?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER_BYTES || 8 + header_len > file_len {
        return Err(bad(format!(
            "not a safetensors file (header length {header_len} does not fit a {file_len}-byte file)"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)?;
    let json: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("not a safetensors file (header is not JSON: {e})")))?;
    let entries = json
        .as_object()
        .ok_or_else(|| bad("not a safetensors file (header is not a JSON object)".into()))?;
    let data_start = 8 + header_len;
    let mut out = BTreeMap::new();
    for (name, entry) in entries {
        if name == "__metadata__" {
            continue;
        }
        let dtype = entry["dtype"].as_str().unwrap_or("");
        let kind = kind_of(dtype)
            .ok_or_else(|| bad(format!("tensor {name}: unsupported dtype {dtype:?}")))?;
        let shape: Option<Vec<i64>> = entry["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_i64()).collect());
        let offsets: Option<Vec<u64>> = entry["data_offsets"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_u64()).collect());
        let (shape, offsets) = match (shape, offsets) {
            (Some(s), Some(o)) if o.len() == 2 && s.iter().all(|&d| d >= 0) => (s, o),
            _ => {
                return Err(bad(format!(
                    "tensor {name}: malformed header entry {entry}"
                )))
            }
        };
        // A crafted header can make every one of these overflow: checked, never wrapped.
        let expected_bytes = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .and_then(|n| n.checked_mul(kind.elt_size_in_bytes() as u64));
        let range = data_start
            .checked_add(offsets[0])
            .zip(data_start.checked_add(offsets[1]));
        let fits = match (expected_bytes, range) {
            (Some(expected), Some((start, end))) => {
                start <= end && end - start == expected && end <= file_len
            }
            _ => false,
        };
        let (start, end) = range.unwrap_or((0, 0));
        if !fits {
            return Err(bad(format!(
                "tensor {name}: its byte range {}..{} does not hold a {dtype} tensor of shape {shape:?} \
                 inside the {file_len}-byte file (truncated or corrupt file?)",
                offsets[0], offsets[1]
            )));
        }
        out.insert(
            name.clone(),
            TensorInfo {
                kind,
                shape,
                start,
                end,
            },
        );
    }
    Ok(out)
}

fn kind_of(dtype: &str) -> Option<Kind> {
    Some(match dtype {
        "F64" => Kind::Double,
        "F32" => Kind::Float,
        "F16" => Kind::Half,
        "BF16" => Kind::BFloat16,
        "I64" => Kind::Int64,
        "I32" => Kind::Int,
        "I16" => Kind::Int16,
        "I8" => Kind::Int8,
        "U8" => Kind::Uint8,
        "BOOL" => Kind::Bool,
        _ => return None,
    })
}

/// Reads one tensor's bytes from an open file into a CPU tensor of its stored kind.
fn read_tensor(file: &mut File, info: &TensorInfo) -> Result<Tensor> {
    let mut bytes = vec![0u8; (info.end - info.start) as usize];
    file.seek(SeekFrom::Start(info.start))?;
    file.read_exact(&mut bytes)?;
    // safetensors stores little-endian data, which is the host order on every platform libtorch
    // supports for us (x86-64, aarch64).
    Ok(Tensor::f_from_data_size(&bytes, &info.shape, info.kind)?)
}

/// One weight file and how its tensor names map onto the model's variables.
pub struct Source<'a> {
    pub path: &'a Path,
    /// File tensor name → variable name; `None` keeps the name.
    pub rename: &'a dyn Fn(&str) -> Option<String>,
    /// File tensors (by their stored name) that may be left unused.
    pub ignore: &'a dyn Fn(&str) -> bool,
    /// This file's tensors may replace those of earlier non-overriding files (e.g. LayerNorm
    /// parameters tuned on top of a frozen base checkpoint). Two overriding files providing the
    /// same variable are still a duplicate.
    pub overrides: bool,
}

/// Loads every variable of `vs` from the safetensors `files`, strictly.
///
/// Each tensor name `n` found in the files maps to the variable `rename(n)` (or `n` itself when
/// `rename` returns `None`). Then:
/// - a variable that no file provides is **missing**;
/// - a file tensor whose (renamed) name is no variable is **unexpected**, unless `ignore(n)`
///   (called with the name as stored in the file) accepts it — for tensors a checkpoint carries
///   that this model deliberately does not use (CLIP's text tower, `position_ids` buffers,
///   BatchNorm's `num_batches_tracked`);
/// - a tensor whose shape differs from its variable's is **mis-shaped**;
/// - two tensors landing on the same variable are **duplicates**.
///
/// If any of these occur nothing is copied and one [`Error::Weights`] lists them (the first
/// [`LIST_LIMIT`] of each, plus counts). Otherwise all tensors are copied under `no_grad`, cast to
/// the variable's kind and moved to its device.
pub fn load_strict(
    vs: &mut nn::VarStore,
    files: &[&Path],
    rename: &dyn Fn(&str) -> Option<String>,
    ignore: &dyn Fn(&str) -> bool,
) -> Result<LoadReport> {
    let sources: Vec<Source> = files
        .iter()
        .map(|&path| Source {
            path,
            rename,
            ignore,
            overrides: false,
        })
        .collect();
    load_sources(vs, &sources)
}

/// [`load_strict`] with a name mapping per file, and base files that later files may override.
pub fn load_sources(vs: &mut nn::VarStore, sources: &[Source]) -> Result<LoadReport> {
    if sources.is_empty() {
        return Err(Error::Weights("no weight files were given".into()));
    }
    let variables = vs.variables();
    let several = sources.len() > 1;

    // Pass 1: headers only — decide everything before touching a variable.
    // variable → (source index, tensor name as stored, tensor)
    let mut plan: HashMap<String, (usize, String, TensorInfo)> = HashMap::new();
    let (mut unexpected, mut misshaped, mut duplicates, mut ignored) =
        (vec![], vec![], vec![], vec![]);
    let mut misshaped_vars = HashSet::new();
    let label = |si: usize, name: &str| {
        if several {
            format!("{}:{name}", sources[si].path.display())
        } else {
            name.to_string()
        }
    };
    for (si, src) in sources.iter().enumerate() {
        for (name, info) in read_header(src.path)? {
            let target = (src.rename)(&name).unwrap_or_else(|| name.clone());
            let Some(var) = variables.get(&target) else {
                if (src.ignore)(&name) {
                    ignored.push(name);
                } else if target == name {
                    unexpected.push(name);
                } else {
                    unexpected.push(format!("{name} (as {target})"));
                }
                continue;
            };
            if var.size() != info.shape {
                misshaped.push(format!(
                    "{target}: model expects {:?}, file has {:?}",
                    var.size(),
                    info.shape
                ));
                misshaped_vars.insert(target);
                continue;
            }
            if let Some((first, first_name, _)) = plan.get(&target) {
                if !src.overrides || sources[*first].overrides {
                    duplicates.push(format!(
                        "{target} (from {} and {})",
                        label(*first, first_name),
                        label(si, &name)
                    ));
                    continue;
                }
            }
            plan.insert(target, (si, name, info));
        }
    }
    // A mis-shaped variable is reported as such, not also as missing.
    let mut missing: Vec<String> = variables
        .keys()
        .filter(|v| !plan.contains_key(*v) && !misshaped_vars.contains(*v))
        .cloned()
        .collect();
    missing.sort();
    unexpected.sort();
    misshaped.sort();
    duplicates.sort();
    ignored.sort();

    if !(missing.is_empty()
        && unexpected.is_empty()
        && misshaped.is_empty()
        && duplicates.is_empty())
    {
        let names: Vec<String> = sources
            .iter()
            .map(|s| s.path.display().to_string())
            .collect();
        let mut msg = format!(
            "{} do(es) not match the model ({} variables): {} missing, {} unexpected, {} mis-shaped",
            names.join(", "),
            variables.len(),
            missing.len(),
            unexpected.len(),
            misshaped.len()
        );
        if !duplicates.is_empty() {
            msg.push_str(&format!(", {} duplicate", duplicates.len()));
        }
        for (title, list) in [
            ("missing (in the model, not in the file)", &missing),
            ("unexpected (in the file, not in the model)", &unexpected),
            ("mis-shaped", &misshaped),
            ("duplicate", &duplicates),
        ] {
            if !list.is_empty() {
                msg.push_str(&format!(
                    "\n  {title}, {}: {}",
                    list.len(),
                    abbreviate(list)
                ));
            }
        }
        return Err(Error::Weights(msg));
    }

    // Pass 2: copy, one tensor at a time, file by file in offset order (sequential reads).
    let mut report = LoadReport {
        ignored,
        files: sources.iter().map(|s| s.path.to_path_buf()).collect(),
        ..Default::default()
    };
    let mut order: Vec<(&String, &(usize, String, TensorInfo))> = plan.iter().collect();
    order.sort_by_key(|(_, (si, _, info))| (*si, info.start));
    let mut open: Vec<Option<File>> = sources.iter().map(|_| None).collect();
    for (target, (si, _, info)) in order {
        let file = match &mut open[*si] {
            Some(f) => f,
            slot => slot.insert(File::open(sources[*si].path)?),
        };
        let src = read_tensor(file, info)?;
        let mut var = variables[target].shallow_clone();
        if src.kind() != var.kind() {
            report.cast += 1;
        }
        report.bytes += info.end - info.start;
        tch::no_grad(|| -> Result<()> {
            let src = src.f_to_device(var.device())?.f_to_kind(var.kind())?;
            var.f_copy_(&src)?;
            Ok(())
        })
        .map_err(|e| {
            Error::Weights(format!(
                "{target}: cannot copy the tensor into the model: {e}"
            ))
        })?;
        report.loaded += 1;
    }
    Ok(report)
}

/// "a, b, c … and 7 more".
fn abbreviate(list: &[String]) -> String {
    let mut s = list
        .iter()
        .take(LIST_LIMIT)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > LIST_LIMIT {
        s.push_str(&format!(" … and {} more", list.len() - LIST_LIMIT));
    }
    s
}

/// `rename` for files whose names already equal the variables'.
pub fn same_name(_: &str) -> Option<String> {
    None
}

/// `ignore` that accepts nothing: every tensor of the file must be used.
pub fn nothing(_: &str) -> bool {
    false
}

/// `rename` that puts a checkpoint under a sub-path, e.g. a timm CNN file under `cnn.`.
pub fn with_prefix(prefix: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| Some(format!("{prefix}{name}"))
}

/// SHA-256 of a file as lowercase hex, read in 1 MiB chunks (weight files are large).
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        File::open(path).map_err(|e| Error::input(path, format!("cannot open to hash: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::input(path, format!("read error while hashing: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
