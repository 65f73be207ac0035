//! The networks, written natively in `tch::nn` with the published checkpoints' parameter names.
pub mod clip;
pub mod tokenizer;
