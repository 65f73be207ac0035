//! The networks: encoders (CLIP, forensic CNNs), fusion, head, the detector composing them, and
//! their weights (strict loading, profiles, the model hub).
pub mod detector;
pub mod fusion;
pub mod head;
pub mod hub;
pub mod profile;
pub mod weights;
