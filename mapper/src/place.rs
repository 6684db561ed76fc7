//! Placement: which tile of the mesh holds each partition, chosen to minimise spike traffic ×
//! hops, with the naive row-major placement kept for comparison.
//!
//! The cost of a placement is `Σ_edges packets(e) × hops(e)` where hops is the Manhattan
//! distance between the tiles of the edge's ends (XY routing takes exactly that many hops), and
//! traffic to and from the host is charged from and to the host port's tile. The optimiser
//! starts from a greedy placement (partitions in decreasing traffic order, each on the free tile
//! that is cheapest given those already placed) and refines it by simulated annealing over
//! swaps of two tiles (a partition with a free tile, or two partitions), with a seeded ChaCha
//! generator: the same inputs and seed give the same placement.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

/// Where a stream of packets starts or ends: a partition, or the host port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// Partition `i` (a core's worth of neurons).
    Part(usize),
    /// The host I/O port.
    Host,
}

/// Expected packets per inference between endpoints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrafficGraph {
    /// Number of partitions.
    pub parts: usize,
    /// `(from, to, packets)` streams; several streams between the same pair add up.
    pub edges: Vec<(Endpoint, Endpoint, f64)>,
}

/// The mesh placement works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeshShape {
    /// Tiles along x.
    pub width: u16,
    /// Tiles along y.
    pub height: u16,
    /// The tile index (`y * width + x`) the host port attaches to.
    pub host_tile: u16,
}

impl MeshShape {
    fn tiles(&self) -> usize {
        usize::from(self.width) * usize::from(self.height)
    }

    /// Hops between two tiles under XY routing.
    pub fn hops(&self, a: u16, b: u16) -> u32 {
        let (w, a, b) = (self.width, a, b);
        let (ax, ay) = (a % w, a / w);
        let (bx, by) = (b % w, b / w);
        u32::from(ax.abs_diff(bx)) + u32::from(ay.abs_diff(by))
    }
}

/// A placement: `tile_of[part]` is the tile index of each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Tile index of each partition.
    pub tile_of: Vec<u16>,
}

/// Why no placement exists.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlaceError {
    /// More partitions than tiles.
    #[error("{parts} cores are needed but the {width}x{height} mesh has only {tiles} tiles")]
    TooManyParts {
        /// Partitions to place.
        parts: usize,
        /// Mesh width.
        width: u16,
        /// Mesh height.
        height: u16,
        /// Tiles.
        tiles: usize,
    },
}

/// Options of the annealer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnnealOptions {
    /// Seed of the move generator.
    pub seed: u64,
    /// Moves tried per tile of the mesh (the total budget scales with the mesh).
    pub moves_per_tile: usize,
}

impl Default for AnnealOptions {
    fn default() -> Self {
        AnnealOptions {
            seed: 1,
            moves_per_tile: 2000,
        }
    }
}

/// Symmetric traffic between slots (parts and the host), flattened for the annealer.
struct Weights {
    /// `adj[p]` = `(other, packets)` for every partition `p`, both directions merged; `other`
    /// is a partition index or `parts` for the host.
    adj: Vec<Vec<(usize, f64)>>,
}

impl Weights {
    fn new(g: &TrafficGraph) -> Self {
        let host = g.parts;
        let slot = |e: Endpoint| match e {
            Endpoint::Part(i) => i,
            Endpoint::Host => host,
        };
        let mut dense = std::collections::BTreeMap::<(usize, usize), f64>::new();
        for &(a, b, w) in &g.edges {
            let (a, b) = (slot(a), slot(b));
            if a == b {
                continue;
            }
            let key = (a.min(b), a.max(b));
            *dense.entry(key).or_default() += w;
        }
        let mut adj = vec![Vec::new(); g.parts];
        for (&(a, b), &w) in &dense {
            if a < g.parts {
                adj[a].push((b, w));
            }
            if b < g.parts {
                adj[b].push((a, w));
            }
        }
        Weights { adj }
    }
}

fn check(g: &TrafficGraph, mesh: MeshShape) -> Result<(), PlaceError> {
    if g.parts > mesh.tiles() {
        return Err(PlaceError::TooManyParts {
            parts: g.parts,
            width: mesh.width,
            height: mesh.height,
            tiles: mesh.tiles(),
        });
    }
    Ok(())
}

/// The naive placement: partition `i` on tile `i`, row-major.
pub fn place_naive(g: &TrafficGraph, mesh: MeshShape) -> Result<Placement, PlaceError> {
    check(g, mesh)?;
    Ok(Placement {
        tile_of: (0..g.parts as u16).collect(),
    })
}

/// Packets × hops of a placement (the quantity placement minimises).
pub fn cost(g: &TrafficGraph, mesh: MeshShape, p: &Placement) -> f64 {
    let tile = |e: Endpoint| match e {
        Endpoint::Part(i) => p.tile_of[i],
        Endpoint::Host => mesh.host_tile,
    };
    g.edges
        .iter()
        .map(|&(a, b, w)| w * f64::from(mesh.hops(tile(a), tile(b))))
        .sum()
}

/// The optimised placement: greedy construction, then simulated annealing.
pub fn place_optimised(
    g: &TrafficGraph,
    mesh: MeshShape,
    opts: AnnealOptions,
) -> Result<Placement, PlaceError> {
    check(g, mesh)?;
    let tiles = mesh.tiles();
    let w = Weights::new(g);
    let host = g.parts;
    // tile_of[slot]; the host slot is pinned to the host tile.
    let mut tile_of = vec![u16::MAX; g.parts + 1];
    tile_of[host] = mesh.host_tile;
    // occupant[tile] = partition or usize::MAX.
    let mut occupant = vec![usize::MAX; tiles];

    // Greedy: heaviest partitions first, each where it is cheapest given those placed.
    let mut order: Vec<usize> = (0..g.parts).collect();
    let volume: Vec<f64> = w
        .adj
        .iter()
        .map(|a| a.iter().map(|&(_, x)| x).sum())
        .collect();
    order.sort_by(|&a, &b| volume[b].total_cmp(&volume[a]).then(a.cmp(&b)));
    for &p in &order {
        let mut best = (f64::INFINITY, 0usize);
        for (t, &occ) in occupant.iter().enumerate() {
            if occ != usize::MAX {
                continue;
            }
            let c: f64 = w.adj[p]
                .iter()
                .filter(|&&(o, _)| tile_of[o] != u16::MAX)
                .map(|&(o, x)| x * f64::from(mesh.hops(t as u16, tile_of[o])))
                .sum();
            // Ties go to the tile nearest the host port, then the lowest index.
            let c = c + 1e-9 * f64::from(mesh.hops(t as u16, mesh.host_tile));
            if c < best.0 {
                best = (c, t);
            }
        }
        tile_of[p] = best.1 as u16;
        occupant[best.1] = p;
    }

    // Annealing over tile swaps. The change in cost of moving partition p from tile a to b
    // only involves p's neighbours.
    let delta_move = |tile_of: &[u16], p: usize, to: u16, skip: usize| -> f64 {
        let from = tile_of[p];
        w.adj[p]
            .iter()
            .filter(|&&(o, _)| o != skip)
            .map(|&(o, x)| {
                let t = tile_of[o];
                x * (f64::from(mesh.hops(to, t)) - f64::from(mesh.hops(from, t)))
            })
            .sum()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let moves = opts.moves_per_tile * tiles;
    let total: f64 = g.edges.iter().map(|e| e.2.abs()).sum();
    let mut temp = if g.parts > 1 && total > 0.0 {
        total / g.edges.len().max(1) as f64
    } else {
        0.0
    };
    let cooling = if moves > 0 {
        (1e-4f64).powf(1.0 / moves as f64)
    } else {
        1.0
    };
    if g.parts >= 1 && tiles >= 2 {
        for _ in 0..moves {
            let p = rng.gen_range(0..g.parts);
            let b = rng.gen_range(0..tiles) as u16;
            let a = tile_of[p];
            if a == b {
                temp *= cooling;
                continue;
            }
            let q = occupant[usize::from(b)];
            let mut d = delta_move(&tile_of, p, b, q);
            if q != usize::MAX {
                d += delta_move(&tile_of, q, a, p);
            }
            let accept = d <= 0.0 || (temp > 0.0 && rng.gen::<f64>() < (-d / temp).exp());
            if accept {
                tile_of[p] = b;
                occupant[usize::from(b)] = p;
                occupant[usize::from(a)] = q;
                if q != usize::MAX {
                    tile_of[q] = a;
                }
            }
            temp *= cooling;
        }
    }
    tile_of.truncate(g.parts);
    Ok(Placement { tile_of })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(parts: usize, packets: f64) -> TrafficGraph {
        let mut edges = vec![(Endpoint::Host, Endpoint::Part(0), packets)];
        for i in 1..parts {
            edges.push((Endpoint::Part(i - 1), Endpoint::Part(i), packets));
        }
        edges.push((Endpoint::Part(parts - 1), Endpoint::Host, packets));
        TrafficGraph { parts, edges }
    }

    fn mesh(w: u16, h: u16) -> MeshShape {
        MeshShape {
            width: w,
            height: h,
            host_tile: 0,
        }
    }

    fn assert_valid(p: &Placement, m: MeshShape) {
        let mut seen = vec![false; m.tiles()];
        for &t in &p.tile_of {
            assert!(usize::from(t) < m.tiles());
            assert!(!seen[usize::from(t)], "tile {t} used twice");
            seen[usize::from(t)] = true;
        }
    }

    #[test]
    fn hops_are_manhattan_distance() {
        let m = mesh(4, 3);
        assert_eq!(m.hops(0, 11), 3 + 2);
        assert_eq!(m.hops(5, 5), 0);
        assert_eq!(m.hops(3, 4), 3 + 1);
    }

    #[test]
    fn cost_counts_packets_times_hops() {
        let g = chain(3, 10.0);
        let m = mesh(4, 4);
        let naive = place_naive(&g, m).unwrap();
        // host(0)->0: 0 hops, 0->1: 1, 1->2: 1, 2->host: 2
        assert_eq!(cost(&g, m, &naive), 10.0 * (0.0 + 1.0 + 1.0 + 2.0));
    }

    #[test]
    fn optimised_placement_is_valid_and_never_worse_than_naive() {
        let m = mesh(4, 4);
        // A dense random graph.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let parts = 12;
        let mut edges = Vec::new();
        for _ in 0..40 {
            let a = rng.gen_range(0..parts);
            let b = rng.gen_range(0..parts);
            edges.push((
                Endpoint::Part(a),
                Endpoint::Part(b),
                rng.gen_range(1.0..100.0),
            ));
        }
        edges.push((Endpoint::Host, Endpoint::Part(3), 500.0));
        let g = TrafficGraph { parts, edges };
        let naive = place_naive(&g, m).unwrap();
        let opt = place_optimised(&g, m, AnnealOptions::default()).unwrap();
        assert_valid(&opt, m);
        assert!(cost(&g, m, &opt) <= cost(&g, m, &naive));
    }

    #[test]
    fn shuffled_chain_is_laid_out_with_unit_hops() {
        // Partitions numbered so that row-major order scatters the chain.
        let m = mesh(4, 1);
        let g = TrafficGraph {
            parts: 4,
            edges: vec![
                (Endpoint::Part(3), Endpoint::Part(0), 10.0),
                (Endpoint::Part(0), Endpoint::Part(2), 10.0),
                (Endpoint::Part(2), Endpoint::Part(1), 10.0),
            ],
        };
        let opt = place_optimised(&g, m, AnnealOptions::default()).unwrap();
        assert_valid(&opt, m);
        assert_eq!(cost(&g, m, &opt), 30.0, "{opt:?}");
        assert!(cost(&g, m, &place_naive(&g, m).unwrap()) > 30.0);
    }

    #[test]
    fn same_seed_gives_same_placement() {
        let g = chain(9, 3.0);
        let m = mesh(4, 4);
        let o = AnnealOptions {
            seed: 42,
            moves_per_tile: 500,
        };
        assert_eq!(
            place_optimised(&g, m, o).unwrap(),
            place_optimised(&g, m, o).unwrap()
        );
    }

    #[test]
    fn too_many_partitions_is_an_error() {
        let g = chain(5, 1.0);
        let err = place_naive(&g, mesh(2, 2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "5 cores are needed but the 2x2 mesh has only 4 tiles"
        );
    }
}
