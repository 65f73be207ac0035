//! Nearest stored face embeddings by cosine: brute force up to [`BRUTE_FORCE_MAX`] vectors, an
//! HNSW graph (`hnsw_rs`) above. Vectors are L2-normalised on insertion, so cosine is a dot
//! product. The graph is persisted per (profile, width) and grown incrementally: see
//! `super::persist`. `docs/bench/similar.json` (`verity bench similar`) has the times and the
//! HNSW's recall against brute force.
use hnsw_rs::prelude::{Distance, Hnsw};

/// Up to this many stored vectors a query reads them all (exact); above, it walks an HNSW graph
/// (approximate: see the benchmark's recall@10).
pub const BRUTE_FORCE_MAX: usize = 100_000;

/// HNSW parameters: graph degree M (neighbours kept per node and layer), `ef_construction` and
/// the smallest `ef_search`.
pub const HNSW_M: usize = 16;
pub const HNSW_EF_CONSTRUCTION: usize = 100;
pub const HNSW_EF_SEARCH: usize = 100;
/// Layers of the graph (hnsw_rs' maximum).
pub const HNSW_LAYERS: usize = 16;

/// Dot product with 16 independent accumulators (vectorisable; memory-bound at 1024-d).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `v / |v|`; a zero vector stays zero (cosine 0 with everything).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt();
    if n > 0.0 && n.is_finite() {
        v.iter().map(|x| x / n).collect()
    } else {
        vec![0.0; v.len()]
    }
}

/// 1 − cosine between two normalised vectors (the graph stores normalised vectors only);
/// clamped at 0 against rounding.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - dot(a, b)).max(0.0)
    }
}

/// The HNSW graph type (data ids are the caller's: a face id, or a position).
pub type Graph = Hnsw<'static, f32, UnitCosine>;

/// An empty graph sized for about `expected` vectors.
pub fn new_graph(expected: usize) -> Graph {
    Hnsw::new(
        HNSW_M,
        expected.max(1),
        HNSW_LAYERS,
        HNSW_EF_CONSTRUCTION,
        UnitCosine,
    )
}

/// Inserts normalised `(vector, id)` rows, on all cores when there are many.
pub fn insert_all(graph: &Graph, rows: &[(&[f32], usize)]) {
    if rows.len() >= 64 {
        graph.parallel_insert_slice(&rows.to_vec());
    } else {
        for r in rows {
            graph.insert_slice(*r);
        }
    }
}

/// One hit: the id of the stored vector (its position for [`FaceIndex::brute`] and
/// [`FaceIndex::build`]; the id given at insertion for a graph) and its cosine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub index: usize,
    pub cosine: f32,
}

/// Stored face embeddings, searchable by cosine.
pub enum FaceIndex {
    /// Every vector in one flat array (`dim` floats each).
    Brute {
        dim: usize,
        data: Vec<f32>,
    },
    Hnsw {
        dim: usize,
        graph: Graph,
    },
}

impl std::fmt::Debug for FaceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaceIndex({}, {} vectors)", self.method(), self.len())
    }
}

impl FaceIndex {
    /// Brute force up to [`BRUTE_FORCE_MAX`] vectors, HNSW above. Every vector must have the
    /// same width (`dim`); others are the caller's bug and are skipped with a log line.
    pub fn build(dim: usize, vectors: impl IntoIterator<Item = Vec<f32>>) -> Self {
        let v: Vec<Vec<f32>> = vectors.into_iter().collect();
        if v.len() > BRUTE_FORCE_MAX {
            Self::hnsw(dim, v)
        } else {
            Self::brute(dim, v)
        }
    }

    pub fn brute(dim: usize, vectors: impl IntoIterator<Item = Vec<f32>>) -> Self {
        let mut data = Vec::new();
        for v in vectors {
            if v.len() != dim {
                tracing::warn!(
                    "face embedding of width {} skipped (index width {dim})",
                    v.len()
                );
                continue;
            }
            data.extend(normalized(&v));
        }
        FaceIndex::Brute { dim, data }
    }

    /// An HNSW graph over the vectors (inserted on all cores; ids are positions). hnsw_rs draws
    /// its layers from a fixed seed; the parallel insertion order still varies between runs.
    pub fn hnsw(dim: usize, vectors: impl IntoIterator<Item = Vec<f32>>) -> Self {
        let mut points = Vec::new();
        for v in vectors {
            if v.len() != dim {
                tracing::warn!(
                    "face embedding of width {} skipped (index width {dim})",
                    v.len()
                );
                continue;
            }
            points.push(normalized(&v));
        }
        let graph = new_graph(points.len());
        let rows: Vec<(&[f32], usize)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_slice(), i))
            .collect();
        insert_all(&graph, &rows);
        FaceIndex::Hnsw { dim, graph }
    }

    pub fn method(&self) -> &'static str {
        match self {
            FaceIndex::Brute { .. } => "brute force",
            FaceIndex::Hnsw { .. } => "HNSW",
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            FaceIndex::Brute { dim, .. } | FaceIndex::Hnsw { dim, .. } => *dim,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            FaceIndex::Brute { dim, data } => data.len() / (*dim).max(1),
            FaceIndex::Hnsw { graph, .. } => graph.get_nb_point(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` stored vectors nearest to `query` (highest cosine first). HNSW searches with
    /// `ef_search` = max(k, [`HNSW_EF_SEARCH`]).
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<Hit> {
        if query.len() != self.dim() || k == 0 {
            return vec![];
        }
        let q = normalized(query);
        match self {
            FaceIndex::Brute { dim, data } => {
                // A bounded min-heap of the best k (cosine as ordered bits: no NaN here).
                let mut best: std::collections::BinaryHeap<std::cmp::Reverse<(OrdF32, usize)>> =
                    Default::default();
                for (i, row) in data.chunks_exact(*dim).enumerate() {
                    let c = dot(&q, row);
                    if best.len() < k {
                        best.push(std::cmp::Reverse((OrdF32(c), i)));
                    } else if c > best.peek().map(|r| r.0 .0 .0).unwrap_or(f32::MIN) {
                        best.pop();
                        best.push(std::cmp::Reverse((OrdF32(c), i)));
                    }
                }
                let mut hits: Vec<Hit> = best
                    .into_iter()
                    .map(|std::cmp::Reverse((c, i))| Hit {
                        index: i,
                        cosine: c.0,
                    })
                    .collect();
                hits.sort_by(|a, b| b.cosine.total_cmp(&a.cosine).then(a.index.cmp(&b.index)));
                hits
            }
            FaceIndex::Hnsw { graph, .. } => {
                let mut hits: Vec<Hit> = graph
                    .search(&q, k, k.max(HNSW_EF_SEARCH))
                    .into_iter()
                    .map(|n| Hit {
                        index: n.d_id,
                        cosine: 1.0 - n.distance,
                    })
                    .collect();
                hits.sort_by(|a, b| b.cosine.total_cmp(&a.cosine).then(a.index.cmp(&b.index)));
                hits
            }
        }
    }

    /// Stored vectors with cosine ≥ `min` to `query`, best first, at most `k`.
    pub fn within(&self, query: &[f32], min: f32, k: usize) -> Vec<Hit> {
        let mut hits = self.nearest(query, k);
        hits.retain(|h| h.cosine >= min);
        hits
    }
}

#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct OrdF32(f32);
impl Eq for OrdF32 {}
impl Ord for OrdF32 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        (0..n).map(|_| (0..dim).map(|_| next()).collect()).collect()
    }

    #[test]
    fn brute_force_finds_the_exact_neighbours_and_hnsw_agrees_on_a_small_set() {
        let v = vectors(2000, 48, 1);
        let brute = FaceIndex::brute(48, v.clone());
        let hnsw = FaceIndex::hnsw(48, v.clone());
        assert_eq!((brute.len(), hnsw.len()), (2000, 2000));
        // A stored vector is its own nearest neighbour, cosine 1.
        let hits = brute.nearest(&v[17], 5);
        assert_eq!(hits[0].index, 17);
        assert!((hits[0].cosine - 1.0).abs() < 1e-5);
        assert!(hits.windows(2).all(|w| w[0].cosine >= w[1].cosine));
        // Exactness against a sort of every cosine.
        let q = normalized(&v[1999]);
        let mut all: Vec<(f32, usize)> = v
            .iter()
            .enumerate()
            .map(|(i, x)| (dot(&q, &normalized(x)), i))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        let want: Vec<usize> = all.iter().take(10).map(|x| x.1).collect();
        let got: Vec<usize> = brute
            .nearest(&v[1999], 10)
            .iter()
            .map(|h| h.index)
            .collect();
        assert_eq!(got, want);
        assert_eq!(hnsw.nearest(&v[17], 1)[0].index, 17);
        // The threshold filter and a wrong width.
        assert!(brute.within(&v[3], 0.999, 10).iter().all(|h| h.index == 3));
        assert!(brute.nearest(&[1.0; 3], 5).is_empty());
    }

    #[test]
    fn build_chooses_brute_force_for_small_sets() {
        assert_eq!(
            FaceIndex::build(4, vectors(10, 4, 2)).method(),
            "brute force"
        );
    }
}
