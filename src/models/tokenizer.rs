//! CLIP's byte-level BPE tokenizer — Radford et al., 2021 (CLIP), after Sennrich et al., 2016
//! (BPE) and GPT-2's byte-to-unicode trick. Mirrors open_clip 3.3 `open_clip/tokenizer.py`
//! (`SimpleTokenizer`, itself OpenAI's `clip/simple_tokenizer.py`) with the default `lower`
//! cleaning, reading the same published merges file `bpe_simple_vocab_16e6.txt.gz`.
//! Parity with `open_clip.tokenize` is checked in `tests/parity_clip.rs`.
//!
//! Text cleaning. The reference runs `ftfy.fix_text`, then `html.unescape` twice, collapses
//! whitespace and lowercases. We reproduce ftfy's deterministic character fixes (Latin
//! ligatures, full-/half-width forms, curly quotes, C1 controls read as Windows-1252, line
//! breaks, terminal escapes, control characters, HTML entities ending in `;` while the text has
//! no `<`) and Python's `html.unescape`, with these approximations:
//! - ftfy's mojibake repair (`fix_encoding`, e.g. "Ã©" → "é") is not done;
//! - no NFC normalisation (decomposed accents stay decomposed; rare in typed prompts);
//! - named HTML entities come from a table of the 253 HTML 4 ones (all of HTML 4: Latin-1, Greek,
//!   punctuation, arrows, maths) rather than HTML5's 2 231; numeric references are complete.
//!
//! For prompts typed by analysts these give the same ids as open_clip.
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use regex::Regex;
use tch::Tensor;

use crate::{Error, Result};

/// `<start_of_text>`.
pub const BOS_TOKEN_ID: i64 = 49406;
/// `<end_of_text>`: the token whose hidden state CLIP's text tower pools.
pub const EOS_TOKEN_ID: i64 = 49407;
/// Context length of every OpenAI CLIP text tower.
pub const CONTEXT_LENGTH: usize = 77;

const MERGES_FILE: &str = "models/clip/bpe_simple_vocab_16e6.txt.gz";
/// The reference uses the first 49152 − 256 − 2 merges of the file (after its header line), so
/// that 256 bytes × 2 (with/without `</w>`) + merges + 2 specials = 49408 tokens.
const NUM_MERGES: usize = 49152 - 256 - 2;
const SPECIAL_TOKENS: [&str; 2] = ["<start_of_text>", "<end_of_text>"];

/// OpenAI's CLIP tokenizer: text → BPE token ids of the 49 408-token vocabulary.
#[derive(Debug)]
pub struct ClipTokenizer {
    /// Token string → id (for `encode` of single byte symbols and specials).
    encoder: HashMap<String, i64>,
    /// Id → token string (for `decode`).
    decoder: Vec<String>,
    /// Pair of symbol ids → (merge rank, id of the merged symbol).
    merges: HashMap<(i64, i64), (usize, i64)>,
    /// Byte → printable stand-in character (GPT-2's `bytes_to_unicode`).
    byte_encoder: [char; 256],
    byte_decoder: HashMap<char, u8>,
    pattern: Regex,
}

/// GPT-2's reversible map of the 256 byte values onto printable characters: printable Latin-1
/// bytes map to themselves, the rest to U+0100 onwards, so BPE never sees whitespace/control.
/// Returned in the reference dict's order (printable bytes first, then the rest), which is also
/// the order of the first 256 vocabulary entries.
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let printable = |b: u8| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let mut pairs: Vec<(u8, char)> = (0..=255u8)
        .filter(|&b| printable(b))
        .map(|b| (b, char::from(b)))
        .collect();
    let others = (0..=255u8).filter(|&b| !printable(b));
    pairs.extend(
        others
            .zip(256u32..)
            .map(|(b, c)| (b, char::from_u32(c).unwrap_or('\u{fffd}'))),
    );
    pairs
}

impl ClipTokenizer {
    /// Where the merges file is: in the shipped `models/` folder
    /// ([`repo_models_dir`](crate::models::repo_models_dir): installed package, unpacked tree or
    /// this source tree).
    pub fn default_path() -> PathBuf {
        crate::models::repo_models_dir()
            .parent()
            .map(|p| p.join(MERGES_FILE))
            .unwrap_or_else(|| PathBuf::from(MERGES_FILE))
    }

    /// Loads the tokenizer from [`default_path`](Self::default_path).
    pub fn from_default_path() -> Result<Self> {
        Self::new(&Self::default_path())
    }

    /// Loads the published merges file, gzipped or plain text.
    pub fn new(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::input(path, format!("cannot read the CLIP BPE merges file: {e}"))
        })?;
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut s = String::new();
            flate2::read::GzDecoder::new(bytes.as_slice())
                .read_to_string(&mut s)
                .map_err(|e| {
                    Error::input(
                        path,
                        format!("cannot decompress the CLIP BPE merges file: {e}"),
                    )
                })?;
            s
        } else {
            String::from_utf8(bytes)
                .map_err(|_| Error::input(path, "the CLIP BPE merges file is not UTF-8 text"))?
        };
        Self::from_merges(&text).map_err(|m| Error::input(path, m))
    }

    fn from_merges(text: &str) -> std::result::Result<Self, String> {
        // Line 0 is a version header; the reference splits on '\n' and keeps lines 1..=NUM_MERGES.
        let lines: Vec<&str> = text.split('\n').skip(1).take(NUM_MERGES).collect();
        if lines.len() < NUM_MERGES {
            return Err(format!(
                "the CLIP BPE merges file has {} merges, expected at least {NUM_MERGES}",
                lines.len()
            ));
        }
        let table = bytes_to_unicode();
        let mut byte_encoder = ['\0'; 256];
        for &(b, c) in &table {
            byte_encoder[b as usize] = c;
        }
        let mut vocab: Vec<String> = table.iter().map(|(_, c)| c.to_string()).collect();
        vocab.extend(table.iter().map(|(_, c)| format!("{c}</w>")));
        let mut pairs = Vec::with_capacity(NUM_MERGES);
        for (i, line) in lines.iter().enumerate() {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => {
                    vocab.push(format!("{a}{b}"));
                    pairs.push((a, b));
                }
                _ => {
                    return Err(format!(
                        "line {} of the CLIP BPE merges file is not a pair: {line:?}",
                        i + 2
                    ))
                }
            }
        }
        vocab.extend(SPECIAL_TOKENS.iter().map(|s| s.to_string()));
        // As Python's dict(zip(vocab, range)): a repeated string keeps its last id.
        let encoder: HashMap<String, i64> = vocab
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as i64))
            .collect();
        let id = |s: &str| {
            encoder
                .get(s)
                .copied()
                .ok_or_else(|| format!("merge part {s:?} is not a token"))
        };
        let mut merges = HashMap::with_capacity(pairs.len());
        for (rank, (a, b)) in pairs.iter().enumerate() {
            let key = (id(a)?, id(b)?);
            let merged = id(&format!("{a}{b}"))?;
            // A repeated pair keeps its last rank, as the reference's dict does.
            merges.insert(key, (rank, merged));
        }
        let byte_decoder = table.iter().map(|&(b, c)| (c, b)).collect();
        let pattern = Regex::new(
            r"(?i)<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        )
        .map_err(|e| format!("internal: bad pre-tokeniser regex: {e}"))?;
        Ok(ClipTokenizer {
            encoder,
            decoder: vocab,
            merges,
            byte_encoder,
            byte_decoder,
            pattern,
        })
    }

    /// Number of tokens (49 408 for the published file).
    pub fn vocab_size(&self) -> usize {
        self.decoder.len()
    }

    /// Token ids of `text` without start/end markers (open_clip's `SimpleTokenizer.encode`).
    pub fn encode(&self, text: &str) -> Vec<i64> {
        let text = clean_lower(text);
        let mut ids = Vec::new();
        for m in self.pattern.find_iter(&text) {
            let piece = m.as_str();
            // The reference's BPE cache is seeded with the specials, so they map straight to ids.
            if SPECIAL_TOKENS.contains(&piece) {
                ids.push(self.encoder[piece]);
                continue;
            }
            self.bpe(piece, &mut ids);
        }
        ids
    }

    /// Byte-level BPE of one pre-token, appending its ids.
    fn bpe(&self, piece: &str, out: &mut Vec<i64>) {
        let chars: Vec<char> = piece
            .bytes()
            .map(|b| self.byte_encoder[b as usize])
            .collect();
        let last = chars.len().saturating_sub(1);
        // Every byte stand-in and its `</w>` form are in the vocabulary by construction.
        let mut word: Vec<i64> = chars
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let key = if i == last {
                    format!("{c}</w>")
                } else {
                    c.to_string()
                };
                self.encoder[&key]
            })
            .collect();
        loop {
            // The adjacent pair merged earliest in training goes first.
            let best = word
                .windows(2)
                .filter_map(|w| {
                    self.merges
                        .get(&(w[0], w[1]))
                        .map(|&(rank, merged)| (rank, w[0], w[1], merged))
                })
                .min();
            let Some((_, a, b, merged)) = best else { break };
            let mut next = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if word[i] == a && i + 1 < word.len() && word[i + 1] == b {
                    next.push(merged);
                    i += 2;
                } else {
                    next.push(word[i]);
                    i += 1;
                }
            }
            word = next;
            if word.len() == 1 {
                break;
            }
        }
        out.extend(word);
    }

    /// Text of `ids` (word ends become spaces), as open_clip's `decode`. Unknown ids are skipped.
    pub fn decode(&self, ids: &[i64]) -> String {
        let joined: String = ids
            .iter()
            .filter_map(|&i| usize::try_from(i).ok().and_then(|i| self.decoder.get(i)))
            .cloned()
            .collect();
        let bytes: Vec<u8> = joined
            .replace("</w>", " ")
            .chars()
            .flat_map(|c| match self.byte_decoder.get(&c) {
                Some(&b) => vec![b],
                None => c.to_string().into_bytes(),
            })
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// `[B, context_length]` int64 ids as `open_clip.tokenize`: start marker, tokens, end
    /// marker, zero padding; too-long texts are cut and end with the end marker.
    pub fn tokenize(&self, texts: &[&str], context_length: usize) -> Tensor {
        let mut data = vec![0i64; texts.len() * context_length];
        for (row, text) in data.chunks_mut(context_length.max(1)).zip(texts) {
            let mut tokens = Vec::with_capacity(context_length);
            tokens.push(BOS_TOKEN_ID);
            tokens.extend(self.encode(text));
            tokens.push(EOS_TOKEN_ID);
            if tokens.len() > context_length {
                tokens.truncate(context_length);
                if let Some(last) = tokens.last_mut() {
                    *last = EOS_TOKEN_ID;
                }
            }
            row[..tokens.len()].copy_from_slice(&tokens);
        }
        Tensor::from_slice(&data).view([texts.len() as i64, context_length as i64])
    }
}

/// open_clip's `lower` cleaning: `whitespace_clean(basic_clean(text)).lower()`.
fn clean_lower(text: &str) -> String {
    let text = html_unescape(&html_unescape(&fix_text(text)));
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The deterministic part of `ftfy.fix_text` (default config), line by line, each line fixed
/// until stable as ftfy does.
fn fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // ftfy's "auto" HTML unescaping turns itself off for good at the first line containing '<'.
    let mut unescape = true;
    for line in text.split_inclusive('\n') {
        if line.contains('<') {
            unescape = false;
        }
        let mut line = line.to_string();
        loop {
            let before = line.clone();
            if unescape {
                line = unescape_semicolon_entities(&line);
            }
            line = line
                .chars()
                .map(fix_c1_control)
                .flat_map(|c| ligature(c).map_or_else(|| vec![c], |s| s.chars().collect()))
                .map(fix_width)
                .map(uncurl_quote)
                .collect();
            line = fix_line_breaks(&line);
            line = remove_terminal_escapes(&line);
            line.retain(|c| !is_removed_control(c));
            if line == before {
                break;
            }
        }
        out.push_str(&line);
    }
    out
}

/// Windows-1252's characters for bytes 0x80–0x9F (None: undefined there, kept as is).
const CP1252_HIGH: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

fn fix_c1_control(c: char) -> char {
    match c as u32 {
        n @ 0x80..=0x9f => CP1252_HIGH[(n - 0x80) as usize].unwrap_or(c),
        _ => c,
    }
}

fn ligature(c: char) -> Option<&'static str> {
    Some(match c {
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'ŉ' => "ʼn",
        'Ǳ' => "DZ",
        'ǲ' => "Dz",
        'ǳ' => "dz",
        'Ǆ' => "DŽ",
        'ǅ' => "Dž",
        'ǆ' => "dž",
        'Ǉ' => "LJ",
        'ǈ' => "Lj",
        'ǉ' => "lj",
        'Ǌ' => "NJ",
        'ǋ' => "Nj",
        'ǌ' => "nj",
        'ﬀ' => "ff",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        'ﬃ' => "ffi",
        'ﬄ' => "ffl",
        'ﬅ' => "ſt",
        'ﬆ' => "st",
        _ => return None,
    })
}

/// Full-width ASCII and the ideographic space → ASCII (ftfy's `fix_character_width`; the
/// half-width katakana/hangul part of that map is not reproduced).
fn fix_width(c: char) -> char {
    match c as u32 {
        0x3000 => ' ',
        n @ 0xff01..=0xff5e => char::from_u32(n - 0xff01 + 0x21).unwrap_or(c),
        _ => c,
    }
}

fn uncurl_quote(c: char) -> char {
    match c {
        '\u{02bc}' | '\u{2018}'..='\u{201b}' => '\'',
        '\u{201c}'..='\u{201f}' => '"',
        _ => c,
    }
}

fn fix_line_breaks(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

/// ANSI colour/cursor escapes (`ESC [ digits/; letter`).
fn remove_terminal_escapes(s: &str) -> String {
    if !s.contains('\u{1b}') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("\u{1b}[") {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos + 2..];
        let params = tail
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(tail.len());
        match tail[params..].chars().next() {
            Some(c) if c.is_ascii_alphabetic() => rest = &tail[params + 1..],
            _ => {
                out.push_str("\u{1b}[");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_removed_control(c: char) -> bool {
    matches!(c as u32, 0x00..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0x206a..=0x206f | 0xfeff | 0xfff9..=0xfffc)
}

/// ftfy's `unescape_html`: `&name;` / `&#…;` references (1–24 alphanumerics) from the entity
/// table, including all-caps spellings of lowercase names (`&EACUTE;` → "É").
fn unescape_semicolon_entities(s: &str) -> String {
    replace_references(s, |body| {
        let name = body.strip_suffix(';')?;
        if name.is_empty()
            || name.len() > 25
            || !name[name.starts_with('#') as usize..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            return None;
        }
        if let Some(num) = name.strip_prefix('#') {
            return numeric_reference(num);
        }
        if let Some(v) = named_entity(name) {
            return Some(v.to_string());
        }
        let lower = name.to_ascii_lowercase();
        if name.chars().all(|c| !c.is_ascii_lowercase()) && named_entity(name).is_none() {
            return named_entity(&lower).map(|v| v.to_uppercase());
        }
        None
    })
}

/// Python's `html.unescape`: numeric references with or without `;`, named ones with `;`, and
/// the legacy names that HTML allows without `;` (longest prefix wins, as in Python).
fn html_unescape(s: &str) -> String {
    replace_references(s, |body| {
        if let Some(num) = body.strip_prefix('#') {
            return numeric_reference(num.strip_suffix(';').unwrap_or(num));
        }
        if let Some(name) = body.strip_suffix(';') {
            if let Some(v) = named_entity(name) {
                return Some(v.to_string());
            }
        }
        (2..=body.len()).rev().find_map(|n| {
            let prefix = body.get(..n)?;
            LEGACY_NO_SEMICOLON
                .contains(&prefix)
                .then(|| named_entity(prefix))
                .flatten()
                .map(|v| format!("{v}{}", &body[n..]))
        })
    })
}

/// Finds `&…` references (Python's `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)`)
/// and replaces each with `decode(body)` when that returns Some.
fn replace_references(s: &str, decode: impl Fn(&str) -> Option<String>) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos + 1..];
        let len = reference_len(tail);
        match (len > 0).then(|| decode(&tail[..len])).flatten() {
            Some(v) => {
                out.push_str(&v);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Byte length of the reference body after '&' (0 if none), per Python's `html` charref regex.
fn reference_len(tail: &str) -> usize {
    let with_semicolon = |n: usize| if tail[n..].starts_with(';') { n + 1 } else { n };
    if let Some(hex) = tail.strip_prefix("#x").or_else(|| tail.strip_prefix("#X")) {
        let n = hex
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(hex.len());
        return if n == 0 { 0 } else { with_semicolon(2 + n) };
    }
    if let Some(dec) = tail.strip_prefix('#') {
        let n = dec.find(|c: char| !c.is_ascii_digit()).unwrap_or(dec.len());
        return if n == 0 { 0 } else { with_semicolon(1 + n) };
    }
    let mut n = 0;
    for (count, c) in tail.chars().enumerate() {
        if count == 32 || matches!(c, '\t' | '\n' | '\x0c' | ' ' | '<' | '&' | '#' | ';') {
            break;
        }
        n += c.len_utf8();
    }
    if n == 0 {
        0
    } else {
        with_semicolon(n)
    }
}

/// Python's numeric character reference rules (`html._replace_charref`). `num` is the text after
/// '#' without ';' ("65" or "x41").
fn numeric_reference(num: &str) -> Option<String> {
    let value = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
        Some(hex) => u32::from_str_radix(hex, 16).unwrap_or(u32::MAX),
        None => num.parse::<u32>().unwrap_or(u32::MAX),
    };
    let c = match value {
        0 => '\u{fffd}',
        0x0d => '\r',
        0x80..=0x9f => CP1252_HIGH[(value - 0x80) as usize]
            .unwrap_or_else(|| char::from_u32(value).unwrap_or('\u{fffd}')),
        0xd800..=0xdfff | 0x110000.. => '\u{fffd}',
        0x01..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0xfdd0..=0xfdef => return Some(String::new()),
        v if v & 0xfffe == 0xfffe => return Some(String::new()),
        v => char::from_u32(v).unwrap_or('\u{fffd}'),
    };
    Some(c.to_string())
}

/// The HTML 4 entity set (a subset of HTML5's table).
fn named_entity(name: &str) -> Option<&'static str> {
    ENTITIES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Names HTML5 also accepts without the trailing ';' (the HTML 4 Latin-1 set plus four).
const LEGACY_NO_SEMICOLON: &[&str] = &[
    "AElig", "AMP", "Aacute", "Acirc", "Agrave", "Aring", "Atilde", "Auml", "COPY", "Ccedil",
    "ETH", "Eacute", "Ecirc", "Egrave", "Euml", "GT", "Iacute", "Icirc", "Igrave", "Iuml", "LT",
    "Ntilde", "Oacute", "Ocirc", "Ograve", "Oslash", "Otilde", "Ouml", "QUOT", "REG", "THORN",
    "Uacute", "Ucirc", "Ugrave", "Uuml", "Yacute", "aacute", "acirc", "acute", "aelig", "agrave",
    "amp", "aring", "atilde", "auml", "brvbar", "ccedil", "cedil", "cent", "copy", "curren", "deg",
    "divide", "eacute", "ecirc", "egrave", "eth", "euml", "frac12", "frac14", "frac34", "gt",
    "iacute", "icirc", "iexcl", "igrave", "iquest", "iuml", "laquo", "lt", "macr", "micro",
    "middot", "nbsp", "not", "ntilde", "oacute", "ocirc", "ograve", "ordf", "ordm", "oslash",
    "otilde", "ouml", "para", "plusmn", "pound", "quot", "raquo", "reg", "sect", "shy", "sup1",
    "sup2", "sup3", "szlig", "thorn", "times", "uacute", "ucirc", "ugrave", "uml", "uuml",
    "yacute", "yen", "yuml",
];

#[rustfmt::skip]
const ENTITIES: &[(&str, &str)] = &[
    ("amp", "&"), ("lt", "<"), ("gt", ">"), ("quot", "\""), ("apos", "'"),
    ("AMP", "&"), ("LT", "<"), ("GT", ">"), ("QUOT", "\""), ("COPY", "©"), ("REG", "®"),
    ("nbsp", "\u{a0}"), ("iexcl", "¡"), ("cent", "¢"), ("pound", "£"), ("curren", "¤"), ("yen", "¥"),
    ("brvbar", "¦"), ("sect", "§"), ("uml", "¨"), ("copy", "©"), ("ordf", "ª"), ("laquo", "«"),
    ("not", "¬"), ("shy", "\u{ad}"), ("reg", "®"), ("macr", "¯"), ("deg", "°"), ("plusmn", "±"),
    ("sup2", "²"), ("sup3", "³"), ("acute", "´"), ("micro", "µ"), ("para", "¶"), ("middot", "·"),
    ("cedil", "¸"), ("sup1", "¹"), ("ordm", "º"), ("raquo", "»"), ("frac14", "¼"), ("frac12", "½"),
    ("frac34", "¾"), ("iquest", "¿"), ("Agrave", "À"), ("Aacute", "Á"), ("Acirc", "Â"), ("Atilde", "Ã"),
    ("Auml", "Ä"), ("Aring", "Å"), ("AElig", "Æ"), ("Ccedil", "Ç"), ("Egrave", "È"), ("Eacute", "É"),
    ("Ecirc", "Ê"), ("Euml", "Ë"), ("Igrave", "Ì"), ("Iacute", "Í"), ("Icirc", "Î"), ("Iuml", "Ï"),
    ("ETH", "Ð"), ("Ntilde", "Ñ"), ("Ograve", "Ò"), ("Oacute", "Ó"), ("Ocirc", "Ô"), ("Otilde", "Õ"),
    ("Ouml", "Ö"), ("times", "×"), ("Oslash", "Ø"), ("Ugrave", "Ù"), ("Uacute", "Ú"), ("Ucirc", "Û"),
    ("Uuml", "Ü"), ("Yacute", "Ý"), ("THORN", "Þ"), ("szlig", "ß"), ("agrave", "à"), ("aacute", "á"),
    ("acirc", "â"), ("atilde", "ã"), ("auml", "ä"), ("aring", "å"), ("aelig", "æ"), ("ccedil", "ç"),
    ("egrave", "è"), ("eacute", "é"), ("ecirc", "ê"), ("euml", "ë"), ("igrave", "ì"), ("iacute", "í"),
    ("icirc", "î"), ("iuml", "ï"), ("eth", "ð"), ("ntilde", "ñ"), ("ograve", "ò"), ("oacute", "ó"),
    ("ocirc", "ô"), ("otilde", "õ"), ("ouml", "ö"), ("divide", "÷"), ("oslash", "ø"), ("ugrave", "ù"),
    ("uacute", "ú"), ("ucirc", "û"), ("uuml", "ü"), ("yacute", "ý"), ("thorn", "þ"), ("yuml", "ÿ"),
    ("OElig", "Œ"), ("oelig", "œ"), ("Scaron", "Š"), ("scaron", "š"), ("Yuml", "Ÿ"), ("fnof", "ƒ"),
    ("circ", "ˆ"), ("tilde", "˜"), ("ensp", "\u{2002}"), ("emsp", "\u{2003}"), ("thinsp", "\u{2009}"),
    ("zwnj", "\u{200c}"), ("zwj", "\u{200d}"), ("lrm", "\u{200e}"), ("rlm", "\u{200f}"),
    ("ndash", "–"), ("mdash", "—"), ("lsquo", "‘"), ("rsquo", "’"), ("sbquo", "‚"), ("ldquo", "“"),
    ("rdquo", "”"), ("bdquo", "„"), ("dagger", "†"), ("Dagger", "‡"), ("bull", "•"), ("hellip", "…"),
    ("permil", "‰"), ("prime", "′"), ("Prime", "″"), ("lsaquo", "‹"), ("rsaquo", "›"), ("oline", "‾"),
    ("frasl", "⁄"), ("euro", "€"), ("image", "ℑ"), ("weierp", "℘"), ("real", "ℜ"), ("trade", "™"),
    ("alefsym", "ℵ"), ("larr", "←"), ("uarr", "↑"), ("rarr", "→"), ("darr", "↓"), ("harr", "↔"),
    ("crarr", "↵"), ("lArr", "⇐"), ("uArr", "⇑"), ("rArr", "⇒"), ("dArr", "⇓"), ("hArr", "⇔"),
    ("forall", "∀"), ("part", "∂"), ("exist", "∃"), ("empty", "∅"), ("nabla", "∇"), ("isin", "∈"),
    ("notin", "∉"), ("ni", "∋"), ("prod", "∏"), ("sum", "∑"), ("minus", "−"), ("lowast", "∗"),
    ("radic", "√"), ("prop", "∝"), ("infin", "∞"), ("ang", "∠"), ("and", "∧"), ("or", "∨"),
    ("cap", "∩"), ("cup", "∪"), ("int", "∫"), ("there4", "∴"), ("sim", "∼"), ("cong", "≅"),
    ("asymp", "≈"), ("ne", "≠"), ("equiv", "≡"), ("le", "≤"), ("ge", "≥"), ("sub", "⊂"),
    ("sup", "⊃"), ("nsub", "⊄"), ("sube", "⊆"), ("supe", "⊇"), ("oplus", "⊕"), ("otimes", "⊗"),
    ("perp", "⊥"), ("sdot", "⋅"), ("lceil", "⌈"), ("rceil", "⌉"), ("lfloor", "⌊"), ("rfloor", "⌋"),
    ("lang", "⟨"), ("rang", "⟩"), ("loz", "◊"), ("spades", "♠"), ("clubs", "♣"), ("hearts", "♥"),
    ("diams", "♦"),
    ("Alpha", "Α"), ("Beta", "Β"), ("Gamma", "Γ"), ("Delta", "Δ"), ("Epsilon", "Ε"), ("Zeta", "Ζ"),
    ("Eta", "Η"), ("Theta", "Θ"), ("Iota", "Ι"), ("Kappa", "Κ"), ("Lambda", "Λ"), ("Mu", "Μ"),
    ("Nu", "Ν"), ("Xi", "Ξ"), ("Omicron", "Ο"), ("Pi", "Π"), ("Rho", "Ρ"), ("Sigma", "Σ"),
    ("Tau", "Τ"), ("Upsilon", "Υ"), ("Phi", "Φ"), ("Chi", "Χ"), ("Psi", "Ψ"), ("Omega", "Ω"),
    ("alpha", "α"), ("beta", "β"), ("gamma", "γ"), ("delta", "δ"), ("epsilon", "ε"), ("zeta", "ζ"),
    ("eta", "η"), ("theta", "θ"), ("iota", "ι"), ("kappa", "κ"), ("lambda", "λ"), ("mu", "μ"),
    ("nu", "ν"), ("xi", "ξ"), ("omicron", "ο"), ("pi", "π"), ("rho", "ρ"), ("sigmaf", "ς"),
    ("sigma", "σ"), ("tau", "τ"), ("upsilon", "υ"), ("phi", "φ"), ("chi", "χ"), ("psi", "ψ"),
    ("omega", "ω"), ("thetasym", "ϑ"), ("upsih", "ϒ"), ("piv", "ϖ"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection_with_printable_stand_ins() {
        let t: HashMap<u8, char> = bytes_to_unicode().into_iter().collect();
        assert_eq!(t[&b'a'], 'a');
        assert_eq!(t[&b' '], 'Ġ'); // U+0120, as in GPT-2
        let distinct: std::collections::HashSet<char> = t.values().copied().collect();
        assert_eq!((t.len(), distinct.len()), (256, 256));
        // Vocabulary order: '!' is token 0, byte 0 (the first non-printable) token 188.
        let order = bytes_to_unicode();
        assert_eq!((order[0], order[188]), ((b'!', '!'), (0, '\u{100}')));
    }

    #[test]
    fn cleaning_follows_ftfy_and_html_unescape() {
        assert_eq!(
            clean_lower("  Tom &amp;amp; Jerry\t\n &#x263A; "),
            "tom & jerry ☺"
        );
        assert_eq!(
            clean_lower("“Curly” it’s ﬁne ＬＯＵＤ　ｘ"),
            "\"curly\" it's fine loud x"
        );
        assert_eq!(
            clean_lower("&copy &notit; P&EACUTE;REZ a&b"),
            "© ¬it; pérez a&b"
        );
        assert_eq!(clean_lower("\u{1b}[31mred\u{1b}[0m \u{feff}bom"), "red bom");
        // ftfy stops unescaping for good once a line contains '<'; html.unescape still runs twice.
        assert_eq!(clean_lower("<b> &amp;amp;amp;"), "<b> &amp;");
    }

    #[test]
    fn missing_file_is_an_input_error() {
        let err = ClipTokenizer::new(Path::new("/nonexistent/bpe.txt.gz")).unwrap_err();
        assert!(matches!(err, Error::Input { .. }));
        assert!(err.to_string().contains("CLIP BPE merges file"), "{err}");
    }
}
