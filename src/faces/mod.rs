//! Faces: find them (MTCNN boxes + 5 landmarks) and cut them out upright (5-point similarity
//! alignment), ready for the encoders, by the chain the profile prescribes (`preprocess`).
pub mod align;
pub mod mtcnn;
pub mod preprocess;
pub mod resize;
pub mod rotate;
pub mod warp_tensor;
