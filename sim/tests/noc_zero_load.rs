//! Zero-load latency: a single packet in an idle mesh takes exactly the documented
//! `(hops+1)·(routing + VA + SA + ST) + hops·link + (flits−1)` cycles, for every source and
//! destination pair (so every hop count) and for non-default delay settings.

use proptest::prelude::*;
use sim::noc::{Mesh, NocConfig, Packet, TileId};

/// The latency the pipeline description implies, derived stage by stage: at each of the
/// `hops + 1` routers on the path the head spends routing, VC-allocation, switch-allocation and
/// switch-traversal (prepare + final) cycles; on each of the `hops` links it spends the link
/// delay; the remaining flits follow the head one cycle apart.
fn expected(cfg: &NocConfig, hops: u64, flits: u64) -> u64 {
    let per_router = u64::from(cfg.routing_delay)
        + u64::from(cfg.vc_alloc_delay)
        + u64::from(cfg.sw_alloc_delay)
        + u64::from(cfg.st_prepare_delay)
        + u64::from(cfg.st_final_delay);
    let mut t = 0;
    for _ in 0..=hops {
        t += per_router;
    }
    for _ in 0..hops {
        t += u64::from(cfg.link_delay);
    }
    t + (flits - 1)
}

/// Sends one packet from `src` to `dst` through an idle mesh and returns its latency and hops.
fn one_packet(mesh: &mut Mesh, src: TileId, dst: TileId, flits: u16) -> (u64, u32) {
    assert!(mesh.is_empty());
    let created = mesh.now();
    mesh.try_inject(src, Packet::synthetic(dst, flits)).unwrap();
    for _ in 0..10_000 {
        mesh.step().unwrap();
        if let Some(d) = mesh.pop_delivered(dst) {
            assert_eq!(d.created, created);
            assert_eq!(d.src, src);
            assert!(mesh.is_empty());
            return (d.latency(), d.hops);
        }
    }
    panic!("packet {src:?} -> {dst:?} not delivered");
}

fn all_pairs(cfg: NocConfig, flits: u16) {
    let mut mesh = Mesh::new(NocConfig {
        check_invariants: true,
        ..cfg.clone()
    })
    .unwrap();
    let mut seen_hops = std::collections::BTreeSet::new();
    for s in 0..cfg.tiles() as u16 {
        for d in 0..cfg.tiles() as u16 {
            let (lat, hops) = one_packet(&mut mesh, TileId(s), TileId(d), flits);
            let (sx, sy) = (s % cfg.width, s / cfg.width);
            let (dx, dy) = (d % cfg.width, d / cfg.width);
            assert_eq!(u32::from(sx.abs_diff(dx) + sy.abs_diff(dy)), hops);
            let want = expected(&cfg, hops.into(), flits.into());
            assert_eq!(lat, want, "{s} -> {d} ({hops} hops, {flits} flits)");
            assert_eq!(cfg.zero_load_latency(hops.into(), flits.into()), want);
            seen_hops.insert(hops);
        }
    }
    // Every hop count 0..=(W−1)+(H−1) was exercised.
    let max = u32::from(cfg.width - 1 + cfg.height - 1);
    assert_eq!(
        seen_hops.into_iter().collect::<Vec<_>>(),
        (0..=max).collect::<Vec<_>>()
    );
}

#[test]
fn default_delays_single_flit_every_pair_of_a_5x4_mesh() {
    all_pairs(NocConfig::mesh(5, 4), 1);
}

#[test]
fn nondefault_delays_every_pair() {
    let cfg = NocConfig {
        routing_delay: 0,
        vc_alloc_delay: 2,
        sw_alloc_delay: 3,
        st_prepare_delay: 1,
        st_final_delay: 2,
        link_delay: 4,
        credit_delay: 3,
        ..NocConfig::mesh(4, 3)
    };
    all_pairs(cfg, 1);
}

#[test]
fn multi_flit_packets_follow_the_head_one_cycle_apart() {
    let cfg = NocConfig {
        buffer_depth: 8,
        ..NocConfig::mesh(4, 4)
    };
    all_pairs(cfg.clone(), 5);
    let cfg = NocConfig {
        routing_delay: 2,
        link_delay: 2,
        buffer_depth: 4,
        ..cfg
    };
    all_pairs(cfg, 4);
}

#[test]
fn spike_packet_keeps_its_fields() {
    let mut mesh = Mesh::new(NocConfig::mesh(3, 3)).unwrap();
    let p = Packet::spike(TileId(8), 17, 0xdead);
    mesh.try_inject(TileId(0), p).unwrap();
    mesh.drain(100).unwrap();
    let d = mesh.pop_delivered(TileId(8)).unwrap();
    assert_eq!(d.packet, p);
    assert_eq!(d.hops, 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn zero_load_formula_holds_for_random_delays(
        w in 1u16..7, h in 1u16..7, r in 0u8..4, va in 1u8..4, sa in 1u8..4,
        prep in 0u8..3, fin in 0u8..3, link in 1u8..5, credit in 0u8..4,
        flits in 1u16..6, s_pick in 0u16..1000, d_pick in 0u16..1000,
    ) {
        let cfg = NocConfig {
            routing_delay: r, vc_alloc_delay: va, sw_alloc_delay: sa, st_prepare_delay: prep,
            st_final_delay: fin, link_delay: link, credit_delay: credit,
            buffer_depth: flits, check_invariants: true,
            ..NocConfig::mesh(w, h)
        };
        let n = w * h;
        let (s, d) = (TileId(s_pick % n), TileId(d_pick % n));
        let mut mesh = Mesh::new(cfg.clone()).unwrap();
        let (lat, hops) = one_packet(&mut mesh, s, d, flits);
        prop_assert_eq!(lat, expected(&cfg, hops.into(), flits.into()));
    }
}

#[test]
fn corner_to_every_tile_of_an_8x8_mesh_covers_hops_0_to_14() {
    let cfg = NocConfig {
        check_invariants: true,
        ..NocConfig::mesh(8, 8)
    };
    let mut mesh = Mesh::new(cfg.clone()).unwrap();
    let mut hops_seen = Vec::new();
    for src in [0u16, 63] {
        for dst in 0..64u16 {
            let (lat, hops) = one_packet(&mut mesh, TileId(src), TileId(dst), 1);
            assert_eq!(lat, expected(&cfg, hops.into(), 1));
            hops_seen.push(hops);
        }
    }
    hops_seen.sort_unstable();
    hops_seen.dedup();
    assert_eq!(hops_seen, (0..=14).collect::<Vec<u32>>());
}
