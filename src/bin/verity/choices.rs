//! Every fixed set of values on the command line as a clap `ValueEnum` (so a wrong value exits
//! with 2 and clap lists the allowed ones), mapped onto the core's own types; and the value
//! parsers for what the core parses itself (fusion modes, loss weights, detector presets).
use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::ValueEnum;

/// `--device`: where the networks run (`verity::device::DevicePref`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Device {
    /// CUDA when available, else the CPU
    Auto,
    /// The CPU
    Cpu,
    /// The first CUDA GPU (an error when there is none)
    #[value(alias = "gpu")]
    Cuda,
}

impl From<Device> for verity::device::DevicePref {
    fn from(d: Device) -> Self {
        match d {
            Device::Auto => Self::Auto,
            Device::Cpu => Self::Cpu,
            Device::Cuda => Self::Cuda,
        }
    }
}

/// `--aggregation`: how frame scores become the media score (`verity::config::Aggregation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Aggregation {
    /// The mean of the frame scores
    Mean,
    /// Mean weighted by each frame's motion (frames that move count more)
    #[value(alias = "motion")]
    MotionWeighted,
}

impl From<Aggregation> for verity::config::Aggregation {
    fn from(a: Aggregation) -> Self {
        match a {
            Aggregation::Mean => Self::Mean,
            Aggregation::MotionWeighted => Self::MotionWeighted,
        }
    }
}

/// `verity export --format` (`verity::report::Format`, except that JSON here is the
/// `verity-case/1` export of the stored case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The stored case as JSON (`verity-case/1`), to stdout or --out
    Json,
    /// A self-contained HTML report (needs --out)
    #[value(alias = "htm")]
    Html,
    /// The HTML report printed to PDF by headless Chromium (needs --out)
    Pdf,
}

impl ExportFormat {
    /// The core's report format (`None` for the JSON case export).
    pub fn report(self) -> Option<verity::report::Format> {
        match self {
            ExportFormat::Json => None,
            ExportFormat::Html => Some(verity::report::Format::Html),
            ExportFormat::Pdf => Some(verity::report::Format::Pdf),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Html => "html",
            ExportFormat::Pdf => "pdf",
        }
    }
}

/// `verity review <case> <verdict>` (`verity::store::Verdict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Verdict {
    /// The media is manipulated
    #[value(alias = "f")]
    Fake,
    /// The media is authentic
    #[value(alias = "r")]
    Real,
    /// Cannot tell (kept out of training)
    #[value(aliases = ["u", "skip"])]
    Unsure,
}

impl From<Verdict> for verity::store::Verdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Fake => Self::Fake,
            Verdict::Real => Self::Real,
            Verdict::Unsure => Self::Unsure,
        }
    }
}

/// `verity cases --band`: a score band or a case status (the store's filter names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CaseFilter {
    /// Band: likely fake
    Fake,
    /// Band: needs review
    Review,
    /// Band: likely real
    Real,
    /// Status: the analysis failed
    Failed,
    /// Status: the app or CLI stopped during the analysis
    Interrupted,
    /// Status: cancelled by an analyst
    Cancelled,
    /// Status: finished without a score (no detector, no face)
    #[value(name = "not_scored")]
    NotScored,
    /// Status: being analysed now
    Running,
    /// Status: imported, not analysed yet
    Pending,
    /// Status: analysed
    Done,
}

impl CaseFilter {
    /// The name `Store::list_cases` filters by.
    pub fn name(self) -> String {
        self.to_possible_value()
            .expect("no value is skipped")
            .get_name()
            .to_string()
    }
}

/// `verity models compose --fusion`: the kind; its weight comes from `--alpha`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FusionKind {
    /// Concatenate the CLIP and CNN features
    Concat,
    /// α·CLIP + (1−α)·CNN
    Weighted,
    /// Spherical interpolation at t
    Slerp,
}

impl FusionKind {
    /// With `alpha`, through the core's `compose::fusion_mode`.
    pub fn mode(self, alpha: f64) -> verity::Result<verity::models::fusion::FusionMode> {
        let kind = match self {
            FusionKind::Concat => "concat",
            FusionKind::Weighted => "weighted",
            FusionKind::Slerp => "slerp",
        };
        verity::models::compose::fusion_mode(kind, alpha)
    }
}

/// `verity models compose --head` (`verity::models::compose::Head`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Head {
    /// GenD: a linear layer on the CLIP CLS feature (CLIP only)
    Gend,
    /// The seed design: CLIP projection (+ CNN) fused, then an MLP
    Seed,
}

impl From<Head> for verity::models::compose::Head {
    fn from(h: Head) -> Self {
        match h {
            Head::Gend => Self::Gend,
            Head::Seed => Self::Seed,
        }
    }
}

/// `verity bench models --dtypes`: the precisions to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    /// 32-bit float
    #[value(alias = "float32")]
    Fp32,
    /// 16-bit float (CUDA only)
    #[value(alias = "float16")]
    Fp16,
    /// bfloat16 (CUDA only)
    #[value(alias = "bfloat16")]
    Bf16,
}

impl From<Dtype> for tch::Kind {
    fn from(d: Dtype) -> Self {
        match d {
            Dtype::Fp32 => tch::Kind::Float,
            Dtype::Fp16 => tch::Kind::Half,
            Dtype::Bf16 => tch::Kind::BFloat16,
        }
    }
}

/// The detector configurations `verity::models::detector::PRESETS` knows, as clap choices
/// (with their descriptions in `--help`).
pub fn preset() -> PossibleValuesParser {
    PossibleValuesParser::new(
        verity::models::detector::PRESETS
            .iter()
            .map(|(name, what)| PossibleValue::new(*name).help(*what)),
    )
}

/// `verity analyze --fusion`: parsed by the core (`FusionMode: FromStr`); a bad value exits 2.
pub fn fusion_mode(spec: &str) -> Result<verity::models::fusion::FusionMode, String> {
    spec.parse().map_err(|e: verity::Error| e.to_string())
}

/// `--loss`: the weights on top of the defaults (clap prints the error and exits with 2).
pub fn loss_weights(spec: &str) -> Result<verity::train::losses::LossWeights, String> {
    spec.parse().map_err(|e: verity::Error| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// Each choice's name is one the core parses to the same value (no second vocabulary).
    #[test]
    fn choices_agree_with_the_core_parsers() {
        fn name<T: ValueEnum>(v: &T) -> String {
            v.to_possible_value().unwrap().get_name().to_string()
        }
        for d in Device::value_variants() {
            let core = verity::device::DevicePref::from_str(&name(d)).unwrap();
            assert_eq!(core, (*d).into());
        }
        for a in Aggregation::value_variants() {
            let core = verity::config::Aggregation::from_str(&name(a)).unwrap();
            assert_eq!(core, (*a).into());
        }
        for f in ExportFormat::value_variants() {
            let core = verity::report::Format::from_str(&name(f)).unwrap();
            assert_eq!(core, f.report().unwrap_or(verity::report::Format::Json));
            assert_eq!(f.name(), name(f));
        }
        for v in Verdict::value_variants() {
            let core = verity::store::Verdict::from_str(&name(v)).unwrap();
            assert_eq!(core, (*v).into());
        }
        for h in Head::value_variants() {
            let core = verity::models::compose::Head::from_str(&name(h)).unwrap();
            assert_eq!(core, (*h).into());
        }
        for k in FusionKind::value_variants() {
            let m = k.mode(0.25).unwrap();
            assert!(m.to_string().starts_with(&name(k)), "{m} vs {}", name(k));
        }
        let dir = tempfile::tempdir().unwrap();
        let store = verity::store::Store::open(dir.path()).unwrap();
        for c in CaseFilter::value_variants() {
            store
                .list_cases(&verity::store::CaseFilter {
                    band: Some(c.name()),
                    ..Default::default()
                })
                .unwrap_or_else(|e| panic!("{}: {e}", c.name()));
        }
    }
}
