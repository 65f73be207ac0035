//! Frame scores → track scores → one media score, by mean or motion-weighted mean.
use crate::config::Aggregation;

/// One scored face: which sampled frame, which track, the frame's motion value, the probability.
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub frame: i64,
    pub track: i64,
    pub motion: f64,
    pub prob: f64,
}

/// Weighted mean; with motion weighting, frames that did not move at all would get weight 0, so
/// all-static input falls back to the plain mean.
fn wmean(items: &[(f64, f64)], how: Aggregation) -> Option<f64> {
    if items.is_empty() {
        return None;
    }
    let plain = items.iter().map(|x| x.0).sum::<f64>() / items.len() as f64;
    match how {
        Aggregation::Mean => Some(plain),
        Aggregation::MotionWeighted => {
            let w: f64 = items.iter().map(|x| x.1.max(0.0)).sum();
            if w <= 1e-12 {
                Some(plain)
            } else {
                Some(items.iter().map(|x| x.0 * x.1.max(0.0)).sum::<f64>() / w)
            }
        }
    }
}

/// Per-frame score = the most suspicious face in that frame. Returns (frame, motion, score) sorted.
pub fn frame_scores(faces: &[Scored]) -> Vec<(i64, f64, f64)> {
    let mut m: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
    for f in faces {
        let e = m.entry(f.frame).or_insert((f.motion, f64::MIN));
        e.1 = e.1.max(f.prob);
    }
    m.into_iter().map(|(k, (mo, s))| (k, mo, s)).collect()
}

/// Per-track aggregate: (track id, score, faces).
pub fn track_scores(faces: &[Scored], how: Aggregation) -> Vec<(i64, f64, usize)> {
    let mut m: std::collections::BTreeMap<i64, Vec<(f64, f64)>> = Default::default();
    for f in faces {
        m.entry(f.track).or_default().push((f.prob, f.motion));
    }
    m.into_iter()
        .filter_map(|(t, v)| wmean(&v, how).map(|s| (t, s, v.len())))
        .collect()
}

/// The media score from the frame scores.
pub fn media_score(faces: &[Scored], how: Aggregation) -> Option<f64> {
    let frames: Vec<(f64, f64)> = frame_scores(faces)
        .into_iter()
        .map(|(_, mo, s)| (s, mo))
        .collect();
    wmean(&frames, how)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(frame: i64, track: i64, motion: f64, prob: f64) -> Scored {
        Scored {
            frame,
            track,
            motion,
            prob,
        }
    }

    #[test]
    fn mean_and_motion_weighting() {
        let faces = [s(0, 1, 0.0, 0.2), s(1, 1, 0.1, 0.4), s(2, 1, 0.3, 0.9)];
        assert!((media_score(&faces, Aggregation::Mean).unwrap() - 0.5).abs() < 1e-12);
        // (0.4·0.1 + 0.9·0.3) / 0.4 = 0.775
        assert!((media_score(&faces, Aggregation::MotionWeighted).unwrap() - 0.775).abs() < 1e-12);
        // A still image has no motion: weighting falls back to the mean.
        assert!(
            (media_score(&[s(0, 1, 0.0, 0.8)], Aggregation::MotionWeighted).unwrap() - 0.8).abs()
                < 1e-12
        );
        assert_eq!(media_score(&[], Aggregation::Mean), None);
    }

    #[test]
    fn frame_takes_the_most_suspicious_face_and_tracks_are_separate() {
        let faces = [
            s(0, 1, 0.0, 0.1),
            s(0, 2, 0.0, 0.9),
            s(1, 1, 0.2, 0.3),
            s(1, 2, 0.2, 0.7),
        ];
        let f = frame_scores(&faces);
        assert_eq!(f.iter().map(|x| x.2).collect::<Vec<_>>(), vec![0.9, 0.7]);
        let t = track_scores(&faces, Aggregation::Mean);
        assert_eq!(t.len(), 2);
        assert!((t[0].1 - 0.2).abs() < 1e-12 && (t[1].1 - 0.8).abs() < 1e-12);
    }
}
