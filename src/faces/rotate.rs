//! Faces that turned sideways: a phone video whose rotation metadata is missing or wrong, a
//! photo scanned on its side. MTCNN only finds upright faces, so a frame in which it finds none
//! is looked at again turned a quarter clockwise, then three quarters, then half way round
//! ([`RETRY_ORDER`]; only frames still without a face go on to the next turn). What is found on
//! a turned frame is mapped back into the frame's own pixel coordinates — box and the five
//! landmarks — so alignment, crops, tracking and the stored rows all work on the frame as it
//! was decoded: the 5-point similarity fit simply includes the quarter turn, and the cut face
//! comes out upright.
//!
//! Coordinates are MTCNN's: pixel indices (pixel `i` is centred on `i`, a box `x1..=x2` spans
//! `x2 − x1 + 1` pixels), the convention OpenCV's `warpAffine` and the aligners use. In it a
//! quarter turn is exact: pixel `(x, y)` of the turned image *is* pixel
//! [`Turn::point_back`]`(x, y)` of the frame.
use image::RgbImage;

use super::mtcnn::{Detection, Mtcnn};
use crate::Result;

/// A clockwise turn applied to a frame before detecting faces in it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    Cw90,
    Cw180,
    Cw270,
}

/// The turns tried on a frame without a face, in order: sideways faces (a quarter either way)
/// are far more common than upside-down ones.
pub const RETRY_ORDER: [Turn; 3] = [Turn::Cw90, Turn::Cw270, Turn::Cw180];

impl Turn {
    pub fn degrees(self) -> u32 {
        match self {
            Turn::Cw90 => 90,
            Turn::Cw180 => 180,
            Turn::Cw270 => 270,
        }
    }

    /// The frame turned clockwise (`image::imageops::rotate90/180/270`).
    pub fn apply(self, frame: &RgbImage) -> RgbImage {
        match self {
            Turn::Cw90 => image::imageops::rotate90(frame),
            Turn::Cw180 => image::imageops::rotate180(frame),
            Turn::Cw270 => image::imageops::rotate270(frame),
        }
    }

    /// A point of the turned image back in the original frame of `width` × `height` (the
    /// original's size, not the turned one's).
    pub fn point_back(self, p: [f32; 2], width: u32, height: u32) -> [f32; 2] {
        let (w1, h1) = (width as f32 - 1.0, height as f32 - 1.0);
        let [x, y] = p;
        match self {
            // rotate90 puts frame pixel (x, y) at (h − 1 − y, x).
            Turn::Cw90 => [y, h1 - x],
            // rotate180 puts it at (w − 1 − x, h − 1 − y).
            Turn::Cw180 => [w1 - x, h1 - y],
            // rotate270 puts it at (y, w − 1 − x).
            Turn::Cw270 => [w1 - y, x],
        }
    }

    /// A detection made on the turned image, in the original frame's coordinates: the box's
    /// corners mapped and re-ordered into x1 ≤ x2, y1 ≤ y2; the landmarks mapped one by one,
    /// keeping their order (left eye, right eye, nose, mouth left, mouth right *of the upright
    /// face*), so the alignment turns the face upright.
    pub fn detection_back(self, d: &Detection, width: u32, height: u32) -> Detection {
        let [x1, y1, x2, y2] = d.bbox;
        let a = self.point_back([x1, y1], width, height);
        let b = self.point_back([x2, y2], width, height);
        Detection {
            bbox: [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[0].max(b[0]),
                a[1].max(b[1]),
            ],
            prob: d.prob,
            landmarks: d.landmarks.map(|p| self.point_back(p, width, height)),
        }
    }
}

/// [`detect_with`] on MTCNN.
pub fn detect(
    mtcnn: &Mtcnn,
    frames: &[&RgbImage],
    retry_turned: bool,
) -> Result<Vec<Vec<Detection>>> {
    detect_with(frames, retry_turned, |batch| mtcnn.detect(batch))
}

/// Faces in each frame: `detect` on the frames as they are; when `retry_turned`, each frame in
/// which it found none is tried again turned by each of [`RETRY_ORDER`] until one turn finds a
/// face (one `detect` call per turn, on the frames still without one), and what that turn found
/// is mapped back ([`Turn::detection_back`]). Frames with an upright face are never turned.
pub fn detect_with(
    frames: &[&RgbImage],
    retry_turned: bool,
    mut detect: impl FnMut(&[&RgbImage]) -> Result<Vec<Vec<Detection>>>,
) -> Result<Vec<Vec<Detection>>> {
    let mut found = detect(frames)?;
    if !retry_turned {
        return Ok(found);
    }
    for turn in RETRY_ORDER {
        let without: Vec<usize> = (0..frames.len()).filter(|&i| found[i].is_empty()).collect();
        if without.is_empty() {
            break;
        }
        let turned: Vec<RgbImage> = without.iter().map(|&i| turn.apply(frames[i])).collect();
        let refs: Vec<&RgbImage> = turned.iter().collect();
        for (&i, dets) in without.iter().zip(detect(&refs)?) {
            if dets.is_empty() {
                continue;
            }
            let (w, h) = frames[i].dimensions();
            tracing::debug!(
                frame = i,
                degrees = turn.degrees(),
                faces = dets.len(),
                "faces found on a turned frame"
            );
            found[i] = dets.iter().map(|d| turn.detection_back(d, w, h)).collect();
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A non-square frame in which every pixel is different, so a pixel identifies its place.
    fn distinct(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([x as u8, y as u8, (x * 7 + y * 13) as u8]))
    }

    #[test]
    fn every_pixel_of_a_turned_frame_maps_back_to_itself() {
        for (w, h) in [(37u32, 23u32), (23, 37), (16, 16)] {
            let frame = distinct(w, h);
            for turn in RETRY_ORDER {
                let turned = turn.apply(&frame);
                let (tw, th) = turned.dimensions();
                let sideways = turn != Turn::Cw180;
                assert_eq!((tw, th), if sideways { (h, w) } else { (w, h) });
                for ty in 0..th {
                    for tx in 0..tw {
                        let [x, y] = turn.point_back([tx as f32, ty as f32], w, h);
                        assert!(x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32);
                        assert_eq!(
                            turned.get_pixel(tx, ty),
                            frame.get_pixel(x as u32, y as u32),
                            "{turn:?} {w}×{h}: turned ({tx}, {ty}) → ({x}, {y})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_box_and_landmarks_found_on_a_turned_frame_land_on_the_same_pixels() {
        // A face-like detection in a 40×30 frame: box (5..=20, 3..=14) and five marked pixels.
        let (w, h) = (40u32, 30u32);
        let frame = distinct(w, h);
        let upright = Detection {
            bbox: [5.0, 3.0, 20.0, 14.0],
            prob: 0.99,
            landmarks: [
                [8.0, 6.0],
                [16.0, 6.0],
                [12.0, 9.0],
                [9.0, 12.0],
                [15.0, 12.0],
            ],
        };
        for turn in RETRY_ORDER {
            let turned = turn.apply(&frame);
            // Where a detector would have found the same face on the turned frame.
            let forward = |p: [f32; 2]| -> [f32; 2] {
                let (tw, th) = turned.dimensions();
                (0..th)
                    .flat_map(|y| (0..tw).map(move |x| (x, y)))
                    .find(|&(x, y)| {
                        turned.get_pixel(x, y) == frame.get_pixel(p[0] as u32, p[1] as u32)
                    })
                    .map(|(x, y)| [x as f32, y as f32])
                    .unwrap()
            };
            let a = forward([upright.bbox[0], upright.bbox[1]]);
            let b = forward([upright.bbox[2], upright.bbox[3]]);
            let on_turned = Detection {
                bbox: [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[0].max(b[0]),
                    a[1].max(b[1]),
                ],
                prob: 0.99,
                landmarks: upright.landmarks.map(forward),
            };
            // The box spans as many pixels as the face's, sideways for a quarter turn.
            let (bw, bh) = (
                on_turned.bbox[2] - on_turned.bbox[0],
                on_turned.bbox[3] - on_turned.bbox[1],
            );
            assert_eq!(
                (bw, bh),
                if turn == Turn::Cw180 {
                    (15.0, 11.0)
                } else {
                    (11.0, 15.0)
                }
            );
            assert_eq!(turn.detection_back(&on_turned, w, h), upright, "{turn:?}");
        }
    }

    fn face_at(x: f32) -> Detection {
        Detection {
            bbox: [x, 1.0, x + 4.0, 6.0],
            prob: 0.9,
            landmarks: [
                [x + 1.0, 2.0],
                [x + 3.0, 2.0],
                [x + 2.0, 3.0],
                [x + 1.0, 5.0],
                [x + 3.0, 5.0],
            ],
        }
    }

    #[test]
    fn only_frames_without_a_face_are_turned_until_a_turn_finds_one() {
        // Frame 0 has an upright face; frame 1 a face the stub finds only a quarter turned
        // anticlockwise (i.e. on the 270° image); frame 2 none at all.
        let frames: Vec<RgbImage> = (0..3).map(|i| distinct(20 + i, 10)).collect();
        let refs: Vec<&RgbImage> = frames.iter().collect();
        let mut calls: Vec<Vec<(u32, u32)>> = Vec::new();
        let stub = |batch: &[&RgbImage]| -> Result<Vec<Vec<Detection>>> {
            calls.push(batch.iter().map(|i| i.dimensions()).collect());
            Ok(batch
                .iter()
                .map(|img| match img.dimensions() {
                    (20, 10) => vec![face_at(2.0)],
                    // Frame 1 turned 270°: only this orientation has a face (10×21, and the
                    // top-left pixel is what rotate270 brings there).
                    (10, 21) if img.get_pixel(0, 0) == frames[1].get_pixel(20, 0) => {
                        vec![face_at(1.0)]
                    }
                    _ => vec![],
                })
                .collect())
        };
        let found = detect_with(&refs, true, stub).unwrap();
        assert_eq!(
            found[0],
            vec![face_at(2.0)],
            "an upright face is kept as found"
        );
        assert_eq!(
            found[1],
            vec![Turn::Cw270.detection_back(&face_at(1.0), 21, 10)]
        );
        assert!(found[2].is_empty());
        // Upright: all three; 90°: frames 1 and 2; 270°: frames 1 and 2; 180°: frame 2 only.
        assert_eq!(
            calls,
            vec![
                vec![(20, 10), (21, 10), (22, 10)],
                vec![(10, 21), (10, 22)],
                vec![(10, 21), (10, 22)],
                vec![(22, 10)],
            ]
        );
        // Switched off: one upright pass, nothing turned.
        let mut n = 0;
        let found = detect_with(&refs, false, |b| {
            n += 1;
            Ok(vec![vec![]; b.len()])
        })
        .unwrap();
        assert_eq!((n, found.iter().map(Vec::len).sum::<usize>()), (1, 0));
    }
}
