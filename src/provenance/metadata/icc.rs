//! The ICC profile's name: the `desc` tag (ICC.1 v2 `textDescriptionType` or v4
//! `multiLocalizedUnicodeType`), plus the header's colour space and version. Every offset and
//! length is checked against the profile's bytes; nothing is allocated from a declared size.

/// What the profile says about itself.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Icc {
    pub description: Option<String>,
    pub colour_space: String,
    pub version: String,
    pub creator: String,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn sig(b: &[u8], at: usize) -> String {
    b.get(at..at + 4)
        .map(|s| {
            String::from_utf8_lossy(s)
                .trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string()
        })
        .unwrap_or_default()
}

/// Parses a profile; `Err` says what was wrong.
pub(super) fn parse(p: &[u8]) -> Result<Icc, String> {
    if p.len() < 132 || &p[36..40] != b"acsp" {
        return Err("the ICC profile has no valid header".into());
    }
    let version = format!("{}.{}", p[8], p[9] >> 4);
    let mut icc = Icc {
        description: None,
        colour_space: sig(p, 16),
        version,
        creator: sig(p, 80),
    };
    let count = be32(p, 128).ok_or("the ICC tag table is cut")? as usize;
    // 12 bytes per entry; a count beyond the data is a lie.
    if count > (p.len() - 132) / 12 {
        return Err(format!(
            "the ICC profile claims {count} tags but holds at most {}",
            (p.len() - 132) / 12
        ));
    }
    for i in 0..count {
        let at = 132 + 12 * i;
        if p.get(at..at + 4) != Some(b"desc") {
            continue;
        }
        let off = be32(p, at + 4).unwrap_or(0) as usize;
        let len = be32(p, at + 8).unwrap_or(0) as usize;
        let tag = off
            .checked_add(len)
            .and_then(|end| p.get(off..end))
            .ok_or("the ICC description points outside the profile")?;
        icc.description = Some(description(tag)?);
        break;
    }
    Ok(icc)
}

fn description(tag: &[u8]) -> Result<String, String> {
    match tag.get(..4) {
        Some(b"desc") => {
            let n = be32(tag, 8).ok_or("the ICC description is cut")? as usize;
            let s = n
                .checked_add(12)
                .and_then(|end| tag.get(12..end))
                .ok_or("the ICC description is longer than its tag")?;
            super::text(s).or_else(Ok)
        }
        Some(b"mluc") => {
            let records = be32(tag, 8).ok_or("the ICC description is cut")? as usize;
            let size = be32(tag, 12).ok_or("the ICC description is cut")? as usize;
            if records == 0 || size < 12 {
                return Err("the ICC description has no text".into());
            }
            // The first record (usually en-US) is enough to name the profile.
            let len = be32(tag, 16 + 4).ok_or("the ICC description is cut")? as usize;
            let off = be32(tag, 16 + 8).ok_or("the ICC description is cut")? as usize;
            let s = off
                .checked_add(len)
                .and_then(|end| tag.get(off..end))
                .ok_or("the ICC description points outside its tag")?;
            let units: Vec<u16> = s
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            Ok(super::clip(&String::from_utf16_lossy(&units)))
        }
        _ => Err("the ICC description has an unknown type".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal v2 profile with a `desc` tag.
    pub(crate) fn profile(name: &str) -> Vec<u8> {
        let mut p = vec![0u8; 128];
        p[8] = 2;
        p[9] = 0x10;
        p[16..20].copy_from_slice(b"RGB ");
        p[36..40].copy_from_slice(b"acsp");
        p.extend(1u32.to_be_bytes());
        let off = 128 + 4 + 12;
        let mut tag = b"desc\0\0\0\0".to_vec();
        tag.extend((name.len() as u32 + 1).to_be_bytes());
        tag.extend(name.as_bytes());
        tag.push(0);
        p.extend(b"desc");
        p.extend((off as u32).to_be_bytes());
        p.extend((tag.len() as u32).to_be_bytes());
        p.extend(tag);
        let n = p.len() as u32;
        p[..4].copy_from_slice(&n.to_be_bytes());
        p
    }

    #[test]
    fn reads_the_description() {
        let icc = parse(&profile("sRGB IEC61966-2.1")).unwrap();
        assert_eq!(icc.description.as_deref(), Some("sRGB IEC61966-2.1"));
        assert_eq!(icc.colour_space, "RGB");
        assert_eq!(icc.version, "2.1");
    }

    #[test]
    fn lies_are_errors() {
        let mut p = profile("x");
        p[128..132].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse(&p).unwrap_err().contains("claims"));
        let mut p = profile("x");
        let at = 132 + 8;
        p[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse(&p).is_err());
        assert!(parse(&[0u8; 40]).is_err());
    }
}
