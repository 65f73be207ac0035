//! MTCNN face detector: boxes, probabilities and 5 landmarks per face.
//!
//! Paper: K. Zhang, Z. Zhang, Z. Li, Y. Qiao, "Joint Face Detection and Alignment using
//! Multi-task Cascaded Convolutional Networks", IEEE SPL 2016.
//! Reference implementation mirrored here, weights included: facenet-pytorch 2.6.0
//! (<https://github.com/timesler/facenet-pytorch>), `models/mtcnn.py` (P/R/O-Net, `MTCNN.detect`)
//! and `models/utils/detect_face.py` (`detect_face`, `generateBoundingBox`, `bbreg`, `rerec`,
//! `pad`, `imresample`, `nms_numpy`). Tensor names equal facenet-pytorch's state-dict keys, so
//! `models/mtcnn/{pnet,rnet,onet}.safetensors` (converted by `scripts/convert_mtcnn.py`) load by name.
//!
//! The box arithmetic runs as tensor ops in the same order as facenet-pytorch, so float rounding
//! (e.g. the `floor` in the P-Net box grid) agrees with the reference; only NMS and the integer
//! crop bounds are computed in plain Rust on the CPU, as facenet does with numpy.
use crate::{Error, Result};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// facenet's `fixed_batch_process`: R-Net and O-Net see at most this many crops per forward.
const NET_BATCH: i64 = 512;
/// Frames of one size are stacked into one batch like facenet does, but in chunks of at most
/// this many input pixels so a long video's frames do not become one giant tensor.
const MAX_CHUNK_PIXELS: u64 = 1 << 25;
/// Refuse frames, or pyramid levels, above this many pixels (134 Mpx, a 1.6 GB float tensor):
/// e.g. a 16k² frame, or a small `min_face_size` that up-samples a large frame.
const MAX_LEVEL_PIXELS: f64 = (1u64 << 27) as f64;

/// One detected face, in pixel coordinates of the frame it was found in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Detection {
    /// x1, y1, x2, y2 in pixels.
    pub bbox: [f32; 4],
    /// O-Net face probability.
    pub prob: f32,
    /// Left eye, right eye, nose tip, mouth left, mouth right (left/right as seen in the image), px.
    pub landmarks: [[f32; 2]; 5],
}

/// Detector settings. `Default` is facenet-pytorch's `MTCNN()`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct MtcnnParams {
    /// Smallest face side searched for, px (sets the first pyramid scale 12 / min_face_size).
    pub min_face_size: u32,
    /// P-Net, R-Net, O-Net probability thresholds.
    pub thresholds: [f32; 3],
    /// Scale step between pyramid levels (0 < factor < 1). f64 as in facenet's Python floats,
    /// because the pyramid sizes are truncated from it.
    pub factor: f64,
}

impl Default for MtcnnParams {
    fn default() -> Self {
        Self {
            min_face_size: 20,
            thresholds: [0.6, 0.7, 0.7],
            factor: 0.709,
        }
    }
}

impl MtcnnParams {
    fn validate(&self) -> Result<()> {
        if self.min_face_size == 0 {
            return Err(Error::Config(
                "MTCNN min_face_size must be at least 1 px".into(),
            ));
        }
        if !(self.factor > 0.0 && self.factor < 1.0) {
            return Err(Error::Config(format!(
                "MTCNN pyramid factor must be between 0 and 1 (exclusive), not {}",
                self.factor
            )));
        }
        if self.thresholds.iter().any(|t| !t.is_finite()) {
            return Err(Error::Config(format!(
                "MTCNN thresholds must be finite numbers, not {:?}",
                self.thresholds
            )));
        }
        Ok(())
    }
}

/// facenet's PReLU: one learned slope per channel, key `<name>.weight`.
#[derive(Debug)]
struct PRelu {
    weight: Tensor,
}

impl PRelu {
    fn new(vs: nn::Path, channels: i64) -> Self {
        Self {
            weight: vs.var("weight", &[channels], nn::Init::Const(0.25)),
        }
    }
}

impl Module for PRelu {
    fn forward(&self, xs: &Tensor) -> Tensor {
        xs.prelu(&self.weight)
    }
}

fn conv(vs: &nn::Path, name: &str, i: i64, o: i64, k: i64) -> nn::Conv2D {
    nn::conv2d(vs / name, i, o, k, Default::default())
}

fn linear(vs: &nn::Path, name: &str, i: i64, o: i64) -> nn::Linear {
    nn::linear(vs / name, i, o, Default::default())
}

/// `nn.MaxPool2d(k, s, ceil_mode=True)`: ceil mode keeps the last partial window, which the
/// feature-map sizes (and so the weights of the dense layers) depend on.
fn max_pool(xs: &Tensor, k: i64, s: i64) -> Tensor {
    xs.max_pool2d([k, k], [s, s], [0, 0], [1, 1], true)
}

/// Proposal network (`PNet` in facenet-pytorch's mtcnn.py): fully convolutional, 12×12 window,
/// stride 2 on the input of each pyramid level.
#[derive(Debug)]
pub struct PNet {
    conv1: nn::Conv2D,
    prelu1: PRelu,
    conv2: nn::Conv2D,
    prelu2: PRelu,
    conv3: nn::Conv2D,
    prelu3: PRelu,
    conv4_1: nn::Conv2D,
    conv4_2: nn::Conv2D,
}

impl PNet {
    pub fn new(vs: nn::Path) -> Self {
        Self {
            conv1: conv(&vs, "conv1", 3, 10, 3),
            prelu1: PRelu::new(&vs / "prelu1", 10),
            conv2: conv(&vs, "conv2", 10, 16, 3),
            prelu2: PRelu::new(&vs / "prelu2", 16),
            conv3: conv(&vs, "conv3", 16, 32, 3),
            prelu3: PRelu::new(&vs / "prelu3", 32),
            conv4_1: conv(&vs, "conv4_1", 32, 2, 1),
            conv4_2: conv(&vs, "conv4_2", 32, 4, 1),
        }
    }

    /// `x`: [B,3,H,W] normalised as (px − 127.5)/128. Returns (box regression [B,4,H',W'],
    /// softmax face/non-face probabilities [B,2,H',W']).
    pub fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let x = max_pool(&x.apply(&self.conv1).apply(&self.prelu1), 2, 2);
        let x = x.apply(&self.conv2).apply(&self.prelu2);
        let x = x.apply(&self.conv3).apply(&self.prelu3);
        let prob = x.apply(&self.conv4_1).softmax(1, Kind::Float);
        let reg = x.apply(&self.conv4_2);
        (reg, prob)
    }
}

/// Refinement network (`RNet`): 24×24 crops.
#[derive(Debug)]
pub struct RNet {
    conv1: nn::Conv2D,
    prelu1: PRelu,
    conv2: nn::Conv2D,
    prelu2: PRelu,
    conv3: nn::Conv2D,
    prelu3: PRelu,
    dense4: nn::Linear,
    prelu4: PRelu,
    dense5_1: nn::Linear,
    dense5_2: nn::Linear,
}

impl RNet {
    pub fn new(vs: nn::Path) -> Self {
        Self {
            conv1: conv(&vs, "conv1", 3, 28, 3),
            prelu1: PRelu::new(&vs / "prelu1", 28),
            conv2: conv(&vs, "conv2", 28, 48, 3),
            prelu2: PRelu::new(&vs / "prelu2", 48),
            conv3: conv(&vs, "conv3", 48, 64, 2),
            prelu3: PRelu::new(&vs / "prelu3", 64),
            dense4: linear(&vs, "dense4", 576, 128),
            prelu4: PRelu::new(&vs / "prelu4", 128),
            dense5_1: linear(&vs, "dense5_1", 128, 2),
            dense5_2: linear(&vs, "dense5_2", 128, 4),
        }
    }

    /// `x`: [N,3,24,24]. Returns (box regression [N,4], probabilities [N,2]).
    pub fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let x = max_pool(&x.apply(&self.conv1).apply(&self.prelu1), 3, 2);
        let x = max_pool(&x.apply(&self.conv2).apply(&self.prelu2), 3, 2);
        let x = x.apply(&self.conv3).apply(&self.prelu3);
        // The weights come from a Caffe/TF model that flattened in (W, H, C) order: facenet
        // permutes (0, 3, 2, 1) before flattening, and so must we.
        let x = flatten_whc(&x);
        let x = x.apply(&self.dense4).apply(&self.prelu4);
        let prob = x.apply(&self.dense5_1).softmax(1, Kind::Float);
        let reg = x.apply(&self.dense5_2);
        (reg, prob)
    }
}

/// Output network (`ONet`): 48×48 crops, adds the 5 landmarks.
#[derive(Debug)]
pub struct ONet {
    conv1: nn::Conv2D,
    prelu1: PRelu,
    conv2: nn::Conv2D,
    prelu2: PRelu,
    conv3: nn::Conv2D,
    prelu3: PRelu,
    conv4: nn::Conv2D,
    prelu4: PRelu,
    dense5: nn::Linear,
    prelu5: PRelu,
    dense6_1: nn::Linear,
    dense6_2: nn::Linear,
    dense6_3: nn::Linear,
}

impl ONet {
    pub fn new(vs: nn::Path) -> Self {
        Self {
            conv1: conv(&vs, "conv1", 3, 32, 3),
            prelu1: PRelu::new(&vs / "prelu1", 32),
            conv2: conv(&vs, "conv2", 32, 64, 3),
            prelu2: PRelu::new(&vs / "prelu2", 64),
            conv3: conv(&vs, "conv3", 64, 64, 3),
            prelu3: PRelu::new(&vs / "prelu3", 64),
            conv4: conv(&vs, "conv4", 64, 128, 2),
            prelu4: PRelu::new(&vs / "prelu4", 128),
            dense5: linear(&vs, "dense5", 1152, 256),
            prelu5: PRelu::new(&vs / "prelu5", 256),
            dense6_1: linear(&vs, "dense6_1", 256, 2),
            dense6_2: linear(&vs, "dense6_2", 256, 4),
            dense6_3: linear(&vs, "dense6_3", 256, 10),
        }
    }

    /// `x`: [N,3,48,48]. Returns (box regression [N,4], landmarks [N,10] as x1..x5, y1..y5
    /// relative to the crop, probabilities [N,2]) — facenet's order `b, c, a`.
    pub fn forward(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let x = max_pool(&x.apply(&self.conv1).apply(&self.prelu1), 3, 2);
        let x = max_pool(&x.apply(&self.conv2).apply(&self.prelu2), 3, 2);
        let x = max_pool(&x.apply(&self.conv3).apply(&self.prelu3), 2, 2);
        let x = x.apply(&self.conv4).apply(&self.prelu4);
        let x = flatten_whc(&x);
        let x = x.apply(&self.dense5).apply(&self.prelu5);
        let prob = x.apply(&self.dense6_1).softmax(1, Kind::Float);
        let reg = x.apply(&self.dense6_2);
        let landmarks = x.apply(&self.dense6_3);
        (reg, landmarks, prob)
    }
}

fn flatten_whc(x: &Tensor) -> Tensor {
    let n = x.size()[0];
    x.permute([0, 3, 2, 1]).contiguous().view([n, -1])
}

/// The three MTCNN stages with their weights, on one device.
#[derive(Debug)]
pub struct Mtcnn {
    pub pnet: PNet,
    pub rnet: RNet,
    pub onet: ONet,
    pub params: MtcnnParams,
    device: Device,
    /// Batches of frames split after running out of memory (see [`crate::failover`]).
    oom_splits: std::sync::atomic::AtomicUsize,
    // The modules hold shallow copies of these variables; the stores are kept so the weights'
    // owner is explicit and lives as long as the detector.
    _stores: [nn::VarStore; 3],
}

impl Mtcnn {
    /// The folder holding pnet/rnet/onet.safetensors: `$VERITY_MODELS_DIR/mtcnn` when that
    /// folder has them, else the shipped copy in the repository's `models/mtcnn`.
    pub fn default_dir() -> PathBuf {
        // A user's models folder may hold its own copy; otherwise the weights the app ships.
        let shipped = crate::models::repo_models_dir().join("mtcnn");
        match std::env::var_os("VERITY_MODELS_DIR") {
            Some(dir) if !dir.is_empty() => {
                let own = PathBuf::from(dir).join("mtcnn");
                if own.join("pnet.safetensors").is_file()
                    || !shipped.join("pnet.safetensors").is_file()
                {
                    own
                } else {
                    shipped
                }
            }
            _ => shipped,
        }
    }

    /// Loads the three networks from `dir` (strict: every tensor name and shape must match
    /// facenet-pytorch's state dicts, no extra tensors) with the default parameters.
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let (pvs, pnet) = load_net(dir, "pnet", device, PNet::new)?;
        let (rvs, rnet) = load_net(dir, "rnet", device, RNet::new)?;
        let (ovs, onet) = load_net(dir, "onet", device, ONet::new)?;
        Ok(Self {
            pnet,
            rnet,
            onet,
            params: MtcnnParams::default(),
            device,
            oom_splits: Default::default(),
            _stores: [pvs, rvs, ovs],
        })
    }

    /// How many times a batch of frames was split after running out of memory (since loading).
    pub fn oom_splits(&self) -> usize {
        self.oom_splits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The same detector with other parameters.
    pub fn with_params(mut self, params: MtcnnParams) -> Self {
        self.params = params;
        self
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Detects faces in each image; returns one list per image, largest box first (facenet's
    /// `select_largest=True` order). Images of the same size are batched through the pyramid
    /// together, as facenet-pytorch does; each size group is processed on its own. Images with a
    /// side too small for the smallest pyramid level (below `min_face_size`) give no faces.
    pub fn detect(&self, images: &[&RgbImage]) -> Result<Vec<Vec<Detection>>> {
        self.params.validate()?;
        let _span = tracing::debug_span!("detect", images = images.len()).entered();
        let started = std::time::Instant::now();
        let mut out = vec![Vec::new(); images.len()];
        for chunk in size_chunks(images) {
            let (w, h) = images[chunk[0]].dimensions();
            if self.scales(w, h).is_empty() {
                continue;
            }
            check_pyramid_size(w, h, &self.params)?;
            let batch: Vec<&RgbImage> = chunk.iter().map(|&i| images[i]).collect();
            // tch reports libtorch failures by panicking: `guarded` keeps them an error of
            // this call (typed: out of memory, device lost), and a batch of frames that runs out
            // of memory is halved and retried.
            let found = crate::failover::split_on_oom(&batch, &self.oom_splits, &mut |part| {
                crate::failover::inject::check("detect", part.len())?;
                crate::failover::guarded(self.device, "MTCNN face detection", || {
                    tch::no_grad(|| self.detect_same_size(part))
                })
            })?;
            for (i, dets) in chunk.into_iter().zip(found) {
                out[i] = dets;
            }
        }
        tracing::debug!(
            faces = out.iter().map(Vec::len).sum::<usize>(),
            ms = started.elapsed().as_millis() as u64,
            "MTCNN detect"
        );
        Ok(out)
    }

    /// facenet's scale pyramid, in f64 like its Python floats.
    fn scales(&self, w: u32, h: u32) -> Vec<f64> {
        let m = 12.0 / self.params.min_face_size as f64;
        let mut minl = w.min(h) as f64 * m;
        let mut scale = m;
        let mut scales = Vec::new();
        while minl >= 12.0 {
            scales.push(scale);
            scale *= self.params.factor;
            minl *= self.params.factor;
        }
        scales
    }

    /// `detect_face` for a batch of equally sized images (at least one pyramid level).
    fn detect_same_size(&self, images: &[&RgbImage]) -> Result<Vec<Vec<Detection>>> {
        let p = &self.params;
        let (w, h) = images[0].dimensions();
        let n_img = images.len();
        let mut raw = Vec::with_capacity(n_img * w as usize * h as usize * 3);
        for im in images {
            raw.extend_from_slice(im.as_raw());
        }
        // Same layout as facenet: uint8 NHWC → permute to NCHW (a strided view) → float.
        let imgs = Tensor::from_slice(&raw)
            .view([n_img as i64, h as i64, w as i64, 3])
            .to_device(self.device)
            .permute([0, 3, 1, 2])
            .to_kind(Kind::Float);
        let empty = || vec![Vec::new(); n_img];

        // Stage 1: P-Net over the pyramid, NMS per scale (0.5) then across scales (0.7).
        let mut stage1 = Vec::new();
        let mut stage1_inds = Vec::new();
        for scale in self.scales(w, h) {
            let hs = (h as f64 * scale + 1.0) as i64;
            let ws = (w as f64 * scale + 1.0) as i64;
            let im = normalise(&imgs.adaptive_avg_pool2d([hs, ws]));
            let (reg, prob) = self.pnet.forward(&im);
            let (boxes, inds) = generate_bounding_box(&reg, &prob, scale, p.thresholds[0])?;
            let pick = nms(&boxes, &inds, 0.5, Overlap::Union)?;
            stage1.push(select_rows(&boxes, &pick));
            stage1_inds.extend(pick.iter().map(|&i| inds[i]));
        }
        let boxes = Tensor::cat(&stage1, 0);
        if boxes.size()[0] == 0 {
            return Ok(empty());
        }
        let pick = nms(&boxes, &stage1_inds, 0.7, Overlap::Union)?;
        let boxes = select_rows(&boxes, &pick);
        let inds: Vec<i64> = pick.iter().map(|&i| stage1_inds[i]).collect();
        let (b0, b1, b2, b3) = (
            col(&boxes, 0),
            col(&boxes, 1),
            col(&boxes, 2),
            col(&boxes, 3),
        );
        let regw = &b2 - &b0;
        let regh = &b3 - &b1;
        let boxes = Tensor::stack(
            &[
                &b0 + col(&boxes, 5) * &regw,
                &b1 + col(&boxes, 6) * &regh,
                &b2 + col(&boxes, 7) * &regw,
                &b3 + col(&boxes, 8) * &regh,
                col(&boxes, 4),
            ],
            1,
        );
        let boxes = rerec(&boxes);

        // Stage 2: R-Net on 24×24 crops.
        let (crops, valid) = self.crops(&imgs, &boxes, &inds, w, h, 24)?;
        if valid.is_empty() {
            return Ok(empty());
        }
        let boxes = select_rows(&boxes, &valid);
        let inds: Vec<i64> = valid.iter().map(|&i| inds[i]).collect();
        let out = batched(&crops, |x| {
            let (r, p) = self.rnet.forward(x);
            vec![r, p]
        });
        let (reg, prob) = (&out[0], &out[1]);
        let score = col(prob, 1);
        let pass = above(&score, p.thresholds[1])?;
        let boxes = Tensor::cat(
            &[
                select_rows(&boxes.narrow(1, 0, 4), &pass),
                select_rows(&score, &pass).unsqueeze(1),
            ],
            1,
        );
        let inds: Vec<i64> = pass.iter().map(|&i| inds[i]).collect();
        let mv = select_rows(reg, &pass);
        let pick = nms(&boxes, &inds, 0.7, Overlap::Union)?;
        if pick.is_empty() {
            return Ok(empty());
        }
        let boxes = select_rows(&boxes, &pick);
        let inds: Vec<i64> = pick.iter().map(|&i| inds[i]).collect();
        let mv = select_rows(&mv, &pick);
        let boxes = rerec(&bbreg(&boxes, &mv));

        // Stage 3: O-Net on 48×48 crops; landmarks from the crop box before its regression.
        let (crops, valid) = self.crops(&imgs, &boxes, &inds, w, h, 48)?;
        if valid.is_empty() {
            return Ok(empty());
        }
        let boxes = select_rows(&boxes, &valid);
        let inds: Vec<i64> = valid.iter().map(|&i| inds[i]).collect();
        let out = batched(&crops, |x| {
            let (r, l, p) = self.onet.forward(x);
            vec![r, l, p]
        });
        let (reg, lms, prob) = (&out[0], &out[1], &out[2]);
        let score = col(prob, 1);
        let pass = above(&score, p.thresholds[2])?;
        let boxes = Tensor::cat(
            &[
                select_rows(&boxes.narrow(1, 0, 4), &pass),
                select_rows(&score, &pass).unsqueeze(1),
            ],
            1,
        );
        let inds: Vec<i64> = pass.iter().map(|&i| inds[i]).collect();
        let mv = select_rows(reg, &pass);
        let lms = select_rows(lms, &pass);
        let w_i = (col(&boxes, 2) - col(&boxes, 0) + 1.0).unsqueeze(1);
        let h_i = (col(&boxes, 3) - col(&boxes, 1) + 1.0).unsqueeze(1);
        let points_x = &w_i * lms.narrow(1, 0, 5) + col(&boxes, 0).unsqueeze(1) - 1.0;
        let points_y = &h_i * lms.narrow(1, 5, 5) + col(&boxes, 1).unsqueeze(1) - 1.0;
        let boxes = bbreg(&boxes, &mv);
        let pick = nms(&boxes, &inds, 0.7, Overlap::Min)?;

        let boxes = to_vec(&select_rows(&boxes, &pick))?;
        let px = to_vec(&select_rows(&points_x, &pick))?;
        let py = to_vec(&select_rows(&points_y, &pick))?;
        let mut out = empty();
        for (k, &i) in pick.iter().enumerate() {
            let b = &boxes[k * 5..k * 5 + 5];
            let mut landmarks = [[0f32; 2]; 5];
            for (j, lm) in landmarks.iter_mut().enumerate() {
                *lm = [px[k * 5 + j], py[k * 5 + j]];
            }
            out[inds[i] as usize].push(Detection {
                bbox: [b[0], b[1], b[2], b[3]],
                prob: b[4],
                landmarks,
            });
        }
        for dets in &mut out {
            // facenet's select_largest=True order (a stable sort: ties keep score order).
            dets.sort_by(|a, b| area(b).total_cmp(&area(a)));
        }
        Ok(out)
    }

    /// facenet's `pad` + crop + `imresample`: the box is truncated to integers and clipped to
    /// the image (no zero padding: a box over the border is squeezed), then area-resized to
    /// `size`². Boxes lying wholly outside the image have no crop and are dropped; returns the
    /// crops (normalised) and the indices of the boxes that have one.
    fn crops(
        &self,
        imgs: &Tensor,
        boxes: &Tensor,
        inds: &[i64],
        w: u32,
        h: u32,
        size: i64,
    ) -> Result<(Tensor, Vec<usize>)> {
        let b = to_vec(&boxes.narrow(1, 0, 4).trunc())?;
        let (w, h) = (w as i64, h as i64);
        let mut crops = Vec::new();
        let mut valid = Vec::new();
        for (k, &img) in inds.iter().enumerate() {
            let x = (b[k * 4] as i64).max(1);
            let y = (b[k * 4 + 1] as i64).max(1);
            let ex = (b[k * 4 + 2] as i64).min(w);
            let ey = (b[k * 4 + 3] as i64).min(h);
            if ey > y - 1 && ex > x - 1 {
                let crop = imgs
                    .get(img)
                    .narrow(1, y - 1, ey - y + 1)
                    .narrow(2, x - 1, ex - x + 1);
                crops.push(crop.unsqueeze(0).adaptive_avg_pool2d([size, size]));
                valid.push(k);
            }
        }
        if crops.is_empty() {
            return Ok((
                Tensor::empty([0, 3, size, size], (Kind::Float, self.device)),
                valid,
            ));
        }
        Ok((normalise(&Tensor::cat(&crops, 0)), valid))
    }
}

fn normalise(x: &Tensor) -> Tensor {
    (x - 127.5) * 0.0078125
}

fn area(d: &Detection) -> f32 {
    (d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1])
}

/// Runs a network over `x` in chunks of `NET_BATCH` rows and concatenates each output.
fn batched(x: &Tensor, f: impl Fn(&Tensor) -> Vec<Tensor>) -> Vec<Tensor> {
    let n = x.size()[0];
    let mut parts: Vec<Vec<Tensor>> = Vec::new();
    let mut start = 0;
    while start < n {
        let len = NET_BATCH.min(n - start);
        parts.push(f(&x.narrow(0, start, len)));
        start += len;
    }
    let outputs = parts.first().map_or(0, Vec::len);
    (0..outputs)
        .map(|o| Tensor::cat(&parts.iter().map(|p| &p[o]).collect::<Vec<_>>(), 0))
        .collect()
}

/// `generateBoundingBox`: every P-Net cell with p ≥ thresh becomes a 12×12 box mapped back to
/// the frame. Returns [N, 9] = (x1, y1, x2, y2, score, reg×4) and each box's image index.
fn generate_bounding_box(
    reg: &Tensor,
    prob: &Tensor,
    scale: f64,
    thresh: f32,
) -> Result<(Tensor, Vec<i64>)> {
    let probs = prob.select(1, 1);
    let mask = probs.ge(thresh as f64);
    let at = mask.nonzero(); // (image, y, x), row-major like facenet's mask.nonzero()
    let (bi, yi, xi) = (at.select(1, 0), at.select(1, 1), at.select(1, 2));
    let score = probs.index(&[Some(&bi), Some(&yi), Some(&xi)]);
    let reg = reg
        .permute([0, 2, 3, 1])
        .index(&[Some(&bi), Some(&yi), Some(&xi)]);
    let bb = at.narrow(1, 1, 2).to_kind(Kind::Float).flip([1]);
    let q1 = ((&bb * 2.0 + 1.0) / scale).floor();
    let q2 = ((&bb * 2.0 + 12.0) / scale).floor();
    let boxes = Tensor::cat(&[q1, q2, score.unsqueeze(1), reg], 1);
    let inds = Vec::<i64>::try_from(&bi.to_device(Device::Cpu))?;
    Ok((boxes, inds))
}

/// `bbreg`: shifts each edge by the regression times the box's (inclusive) width/height.
fn bbreg(boxes: &Tensor, reg: &Tensor) -> Tensor {
    let (b0, b1, b2, b3) = (col(boxes, 0), col(boxes, 1), col(boxes, 2), col(boxes, 3));
    let w = &b2 - &b0 + 1.0;
    let h = &b3 - &b1 + 1.0;
    let moved = Tensor::stack(
        &[
            &b0 + col(reg, 0) * &w,
            &b1 + col(reg, 1) * &h,
            &b2 + col(reg, 2) * &w,
            &b3 + col(reg, 3) * &h,
        ],
        1,
    );
    let rest = boxes.size()[1] - 4;
    Tensor::cat(&[moved, boxes.narrow(1, 4, rest)], 1)
}

/// `rerec`: squares each box around its centre with side max(w, h).
fn rerec(boxes: &Tensor) -> Tensor {
    let (b0, b1, b2, b3) = (col(boxes, 0), col(boxes, 1), col(boxes, 2), col(boxes, 3));
    let h = &b3 - &b1;
    let w = &b2 - &b0;
    let l = w.maximum(&h);
    let x1 = &b0 + &w * 0.5 - &l * 0.5;
    let y1 = &b1 + &h * 0.5 - &l * 0.5;
    let x2 = &x1 + &l;
    let y2 = &y1 + &l;
    let rest = boxes.size()[1] - 4;
    Tensor::cat(
        &[
            Tensor::stack(&[x1, y1, x2, y2], 1),
            boxes.narrow(1, 4, rest),
        ],
        1,
    )
}

fn col(t: &Tensor, i: i64) -> Tensor {
    t.select(1, i)
}

fn select_rows(t: &Tensor, rows: &[usize]) -> Tensor {
    let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    t.index_select(0, &Tensor::from_slice(&idx).to_device(t.device()))
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(Vec::<f32>::try_from(
        &t.to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .view([-1]),
    )?)
}

/// Indices where `score > thresh` (float32 comparison, as torch compares a float32 tensor).
fn above(score: &Tensor, thresh: f32) -> Result<Vec<usize>> {
    Ok(to_vec(score)?
        .iter()
        .enumerate()
        .filter(|(_, &s)| s > thresh)
        .map(|(i, _)| i)
        .collect())
}

#[derive(Clone, Copy, PartialEq)]
enum Overlap {
    /// torchvision `nms`: IoU with areas (x2 − x1)(y2 − y1).
    Union,
    /// facenet's `nms_numpy(..., 'Min')`: intersection over the smaller box, areas with +1.
    Min,
}

/// Greedy NMS within each image: boxes in descending score order (stable), each kept box
/// suppresses later boxes of the same image whose overlap is > `thresh`. Columns 0..4 of
/// `boxes` are the box, column 4 the score. Returns the kept rows, highest score first, like
/// torchvision's `batched_nms` and facenet's `batched_nms_numpy` (which separate images by a
/// coordinate offset instead; per-image grouping is the exact form of the same idea).
fn nms(boxes: &Tensor, image_inds: &[i64], thresh: f32, mode: Overlap) -> Result<Vec<usize>> {
    let n = boxes.size()[0] as usize;
    if n == 0 {
        return Ok(Vec::new());
    }
    let cols = boxes.size()[1] as usize;
    let data = to_vec(boxes)?;
    let row = |i: usize| &data[i * cols..i * cols + 5];
    let plus = if mode == Overlap::Min { 1.0f32 } else { 0.0 };
    let areas: Vec<f32> = (0..n)
        .map(|i| {
            let r = row(i);
            (r[2] - r[0] + plus) * (r[3] - r[1] + plus)
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| row(b)[4].total_cmp(&row(a)[4]));
    let mut suppressed = vec![false; n];
    let mut keep = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let bi = row(i);
        for &j in &order[pos + 1..] {
            if suppressed[j] || image_inds[j] != image_inds[i] {
                continue;
            }
            let bj = row(j);
            let iw = (bi[2].min(bj[2]) - bi[0].max(bj[0]) + plus).max(0.0);
            let ih = (bi[3].min(bj[3]) - bi[1].max(bj[1]) + plus).max(0.0);
            let inter = iw * ih;
            let overlap = match mode {
                Overlap::Union => inter / (areas[i] + areas[j] - inter),
                Overlap::Min => inter / areas[i].min(areas[j]),
            };
            if overlap > thresh {
                suppressed[j] = true;
            }
        }
    }
    Ok(keep)
}

/// Groups image indices by size (first-seen order) and splits each group into chunks of at most
/// `MAX_CHUNK_PIXELS` input pixels (always at least one image per chunk).
fn size_chunks(images: &[&RgbImage]) -> Vec<Vec<usize>> {
    let mut groups: Vec<((u32, u32), Vec<usize>)> = Vec::new();
    for (i, im) in images.iter().enumerate() {
        let dims = im.dimensions();
        match groups.iter_mut().find(|(d, _)| *d == dims) {
            Some((_, members)) => members.push(i),
            None => groups.push((dims, vec![i])),
        }
    }
    let mut chunks = Vec::new();
    for ((w, h), members) in groups {
        let per_chunk = (MAX_CHUNK_PIXELS / (w as u64 * h as u64).max(1)).max(1) as usize;
        chunks.extend(members.chunks(per_chunk).map(<[usize]>::to_vec));
    }
    chunks
}

fn check_pyramid_size(w: u32, h: u32, p: &MtcnnParams) -> Result<()> {
    let m = (12.0 / p.min_face_size as f64).max(1.0);
    let level = (w as f64 * m + 1.0) * (h as f64 * m + 1.0);
    if level > MAX_LEVEL_PIXELS {
        return Err(Error::TooLarge(format!(
            "a {w}×{h} frame with min_face_size {} px needs a {:.0}-megapixel detection pyramid; \
             downscale the frame or raise min_face_size",
            p.min_face_size,
            level / 1e6
        )));
    }
    Ok(())
}

/// Builds one network and fills it from `<dir>/<name>.safetensors`, strictly: every variable
/// must be in the file with the same shape, and the file may hold nothing else.
fn load_net<N>(
    dir: &Path,
    name: &str,
    device: Device,
    build: impl FnOnce(nn::Path) -> N,
) -> Result<(nn::VarStore, N)> {
    let path = dir.join(format!("{name}.safetensors"));
    if !path.is_file() {
        return Err(Error::Weights(format!(
            "MTCNN weights not found: {} does not exist. pnet.safetensors, rnet.safetensors and \
             onet.safetensors are expected in {} (the repository ships them in models/mtcnn; set \
             VERITY_MODELS_DIR to a folder containing mtcnn/ to use another copy)",
            path.display(),
            dir.display()
        )));
    }
    let mut vs = nn::VarStore::new(device);
    let net = build(vs.root());
    let file: HashMap<String, Tensor> = Tensor::read_safetensors(&path)
        .map_err(|e| Error::Weights(format!("{}: cannot read safetensors: {e}", path.display())))?
        .into_iter()
        .collect();
    let vars = vs.variables();
    let mut missing: Vec<&str> = vars
        .keys()
        .filter(|k| !file.contains_key(*k))
        .map(String::as_str)
        .collect();
    let mut unexpected: Vec<&str> = file
        .keys()
        .filter(|k| !vars.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        missing.sort_unstable();
        unexpected.sort_unstable();
        return Err(Error::Weights(format!(
            "{} does not hold facenet-pytorch's {name} weights: missing tensors {missing:?}, \
             unexpected tensors {unexpected:?}",
            path.display()
        )));
    }
    tch::no_grad(|| -> Result<()> {
        for (key, mut var) in vars {
            let src = &file[&key];
            if src.size() != var.size() {
                return Err(Error::Weights(format!(
                    "{}: tensor {key} has shape {:?}, {name} needs {:?}",
                    path.display(),
                    src.size(),
                    var.size()
                )));
            }
            var.f_copy_(&src.to_kind(Kind::Float))?;
        }
        Ok(())
    })?;
    vs.freeze();
    Ok((vs, net))
}
