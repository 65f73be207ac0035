//! A simple IoU tracker: a face keeps one track id through a video while its box overlaps the
//! track's last box (IoU ≥ threshold) within `max_gap` sampled frames.

#[derive(Debug, Clone)]
struct Track {
    id: i64,
    bbox: [f32; 4],
    last_frame: usize,
}

#[derive(Debug, Clone)]
pub struct IouTracker {
    tracks: Vec<Track>,
    next_id: i64,
    pub iou_threshold: f32,
    pub max_gap: usize,
}

impl Default for IouTracker {
    fn default() -> Self {
        Self {
            tracks: Vec::new(),
            next_id: 1,
            iou_threshold: 0.3,
            max_gap: 5,
        }
    }
}

pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

impl IouTracker {
    /// Assigns track ids to the boxes of one frame (greedy by best IoU); returns one id per box.
    pub fn update(&mut self, frame: usize, boxes: &[[f32; 4]]) -> Vec<i64> {
        self.tracks
            .retain(|t| frame.saturating_sub(t.last_frame) <= self.max_gap);
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (bi, b) in boxes.iter().enumerate() {
            for (ti, t) in self.tracks.iter().enumerate() {
                let v = iou(b, &t.bbox);
                if v >= self.iou_threshold {
                    pairs.push((v, bi, ti));
                }
            }
        }
        pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
        let mut ids = vec![0i64; boxes.len()];
        let mut used_t = vec![false; self.tracks.len()];
        for (_, bi, ti) in pairs {
            if ids[bi] == 0 && !used_t[ti] {
                ids[bi] = self.tracks[ti].id;
                used_t[ti] = true;
                self.tracks[ti].bbox = boxes[bi];
                self.tracks[ti].last_frame = frame;
            }
        }
        for (bi, id) in ids.iter_mut().enumerate() {
            if *id == 0 {
                *id = self.next_id;
                self.next_id += 1;
                self.tracks.push(Track {
                    id: *id,
                    bbox: boxes[bi],
                    last_frame: frame,
                });
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_face_keeps_its_track_and_a_new_face_gets_a_new_one() {
        let mut t = IouTracker::default();
        assert_eq!(t.update(0, &[[10.0, 10.0, 50.0, 50.0]]), vec![1]);
        assert_eq!(
            t.update(1, &[[14.0, 12.0, 54.0, 52.0], [200.0, 10.0, 240.0, 50.0]]),
            vec![1, 2]
        );
        // Order of boxes does not matter.
        assert_eq!(
            t.update(2, &[[203.0, 10.0, 243.0, 50.0], [18.0, 12.0, 58.0, 52.0]]),
            vec![2, 1]
        );
        // After a long gap, the same place is a new track.
        assert_eq!(t.update(20, &[[18.0, 12.0, 58.0, 52.0]]), vec![3]);
    }

    #[test]
    fn iou_values() {
        assert_eq!(iou(&[0.0, 0.0, 2.0, 2.0], &[0.0, 0.0, 2.0, 2.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[2.0, 2.0, 3.0, 3.0]), 0.0);
        assert!((iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 0.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-6);
    }
}
