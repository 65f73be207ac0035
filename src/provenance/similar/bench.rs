//! `verity bench similar`: query time of the face index, brute force against HNSW, on synthetic
//! normalised vectors (timing only; nothing here is a face). The vectors are clustered like
//! face embeddings are (a set of "identities", each vector its identity's centre plus noise:
//! cosine ≈ 0.73 within an identity, ≈ 0 across), since uniform random vectors in 1024-d are the
//! HNSW's worst case and unlike any embedding. Queries are fresh samples of stored identities.
use super::index::{dot, insert_all, new_graph, FaceIndex, Hit};
use serde::Serialize;
use std::time::Instant;

/// What to measure.
#[derive(Debug, Clone)]
pub struct FaceBench {
    /// Stored vector counts.
    pub sizes: Vec<usize>,
    pub dim: usize,
    /// Timed queries per size.
    pub queries: usize,
    /// Build the HNSW graph only up to this many vectors (its build is the expensive part).
    pub hnsw_max: usize,
    pub seed: u64,
}

/// One stored-vector count.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub vectors: usize,
    pub dim: usize,
    pub queries: usize,
    /// Seconds to make the synthetic vectors (not part of any search).
    pub generate_s: f64,
    /// Memory of the stored vectors alone (f32).
    pub vectors_mib: f64,
    pub brute_p50_ms: f64,
    pub brute_p99_ms: f64,
    pub hnsw_build_s: Option<f64>,
    pub hnsw_p50_ms: Option<f64>,
    pub hnsw_p99_ms: Option<f64>,
    /// Share of brute force's 10 nearest that HNSW also returns, over the queries.
    pub hnsw_recall_at_10: Option<f64>,
    /// Why HNSW was not measured at this size.
    pub hnsw_skipped: Option<String>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    /// ≈ N(0, 1): the sum of four uniforms, centred and scaled (Irwin–Hall; enough for timing).
    fn normal(&mut self) -> f32 {
        let mut s = 0.0f32;
        for _ in 0..4 {
            s += (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        }
        (s - 2.0) * 1.732_050_8
    }
}

fn unit_into(v: &mut [f32]) {
    let n = dot(v, v).sqrt().max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= n);
}

/// `identities` centres, then `n` samples (centre + noise), row-major, each normalised.
fn sample(rng: &mut Rng, centres: &[f32], dim: usize, n: usize) -> Vec<f32> {
    let ids = centres.len() / dim;
    let sigma = 0.6 / (dim as f32).sqrt();
    let mut out = vec![0f32; n * dim];
    for row in out.chunks_exact_mut(dim) {
        let c = (rng.next() % ids as u64) as usize;
        for (x, &m) in row.iter_mut().zip(&centres[c * dim..(c + 1) * dim]) {
            *x = m + sigma * rng.normal();
        }
        unit_into(row);
    }
    out
}

fn timed(
    queries: &[f32],
    dim: usize,
    mut f: impl FnMut(&[f32]) -> Vec<Hit>,
) -> (Vec<Vec<Hit>>, f64, f64) {
    let mut ms = vec![];
    let mut hits = vec![];
    for q in queries.chunks_exact(dim) {
        let t = Instant::now();
        let h = f(q);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        hits.push(h);
    }
    ms.sort_by(f64::total_cmp);
    (
        hits,
        crate::bench::percentile(&ms, 0.5),
        crate::bench::percentile(&ms, 0.99),
    )
}

/// Runs the benchmark, reporting each step through `progress`.
pub fn bench_faces(cfg: &FaceBench, progress: &dyn Fn(&str)) -> Vec<BenchRow> {
    let dim = cfg.dim.max(1);
    let mut rows = vec![];
    for &n in &cfg.sizes {
        let mut rng = Rng(cfg.seed ^ n as u64);
        let t = Instant::now();
        let identities = (n / 5).max(1);
        let mut centres = vec![0f32; identities * dim];
        for c in centres.chunks_exact_mut(dim) {
            c.iter_mut().for_each(|x| *x = rng.normal());
            unit_into(c);
        }
        let data = sample(&mut rng, &centres, dim, n);
        let queries = sample(&mut rng, &centres, dim, cfg.queries);
        drop(centres);
        let generate_s = t.elapsed().as_secs_f64();
        progress(&format!(
            "{n} vectors × {dim}: generated in {generate_s:.1} s"
        ));

        // HNSW first (it copies the points), then the flat array becomes the brute index.
        // Parallel insertion on every core (rayon).
        let (hnsw, hnsw_build_s, hnsw_skipped) = if n <= cfg.hnsw_max {
            let t = Instant::now();
            let graph = new_graph(n);
            let rows: Vec<(&[f32], usize)> = data.chunks_exact(dim).zip(0..n).collect();
            insert_all(&graph, &rows);
            let s = t.elapsed().as_secs_f64();
            progress(&format!("  HNSW built in {s:.1} s"));
            (Some(FaceIndex::Hnsw { dim, graph }), Some(s), None)
        } else {
            (
                None,
                None,
                Some(format!(
                    "HNSW not built above {} vectors in this run (--hnsw-max)",
                    cfg.hnsw_max
                )),
            )
        };
        let brute = FaceIndex::Brute { dim, data };
        let (exact, b50, b99) = timed(&queries, dim, |q| brute.nearest(q, 10));
        progress(&format!("  brute force: p50 {b50:.2} ms, p99 {b99:.2} ms"));
        let (h50, h99, recall) = match &hnsw {
            Some(index) => {
                let (approx, h50, h99) = timed(&queries, dim, |q| index.nearest(q, 10));
                let found: usize = exact
                    .iter()
                    .zip(&approx)
                    .map(|(e, a)| {
                        e.iter()
                            .filter(|x| a.iter().any(|y| y.index == x.index))
                            .count()
                    })
                    .sum();
                let recall = found as f64 / exact.iter().map(Vec::len).sum::<usize>().max(1) as f64;
                progress(&format!(
                    "  HNSW: p50 {h50:.3} ms, p99 {h99:.3} ms, recall@10 {recall:.3}"
                ));
                (Some(h50), Some(h99), Some(recall))
            }
            None => (None, None, None),
        };
        rows.push(BenchRow {
            vectors: n,
            dim,
            queries: cfg.queries,
            generate_s,
            vectors_mib: (n * dim * 4) as f64 / (1024.0 * 1024.0),
            brute_p50_ms: b50,
            brute_p99_ms: b99,
            hnsw_build_s,
            hnsw_p50_ms: h50,
            hnsw_p99_ms: h99,
            hnsw_recall_at_10: recall,
            hnsw_skipped,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_has_exact_brute_force_and_measured_recall() {
        let rows = bench_faces(
            &FaceBench {
                sizes: vec![500],
                dim: 32,
                queries: 20,
                hnsw_max: 1000,
                seed: 1,
            },
            &|_| {},
        );
        let r = &rows[0];
        assert_eq!((r.vectors, r.dim, r.queries), (500, 32, 20));
        let recall = r.hnsw_recall_at_10.unwrap();
        assert!((0.0..=1.0).contains(&recall) && recall > 0.5, "{recall}");
        assert!(r.brute_p50_ms > 0.0 && r.brute_p99_ms >= r.brute_p50_ms);
    }
}
