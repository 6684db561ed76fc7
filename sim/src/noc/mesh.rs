//! The W×H mesh of 5-port input-queued routers, their links, credit wires and the tiles'
//! network interfaces: the per-cycle router pipeline (route, VC allocation, switch allocation,
//! switch and link traversal, credit return), stepped only for routers holding work.
//!
//! # Layout
//!
//! Everything is flat `Vec`s indexed by router `r`, port `p` (0 N, 1 E, 2 S, 3 W, 4 local) and
//! virtual channel `c`: input VC `iv = (r·5 + p)·V + c` owns the ring buffer
//! `buf[iv·B .. iv·B + B]`; output VC `ov = (r·5 + o)·V + c` owns a credit counter and a busy
//! flag; output port `(r·5 + o)` owns the flit pipe that models switch + link traversal (a
//! ring of `(arrival cycle, flit)`) and, for o < 4, the credit pipe its downstream router
//! writes. Nothing is allocated after [`Mesh::new`] except the packet table growing to its
//! high-water mark.
//!
//! # One cycle of router r at cycle t (only if it holds work)
//!
//! 1. The network interface writes at most one flit of its front packet into a local input
//!    VC with room (a new packet takes the next VC round-robin); the head's arrival is `t`.
//! 2. Flits whose pipe arrival cycle is ≤ t enter the input VC buffers; flits on the ejection
//!    pipe are ejected (a tail completes the packet into the tile's ejection queue).
//! 3. Credits whose return cycle is ≤ t are added to the output VC counters.
//! 4. Route: an idle VC with a head at its front starts route computation at
//!    `max(head arrival, cycle after the previous tail left)` and becomes ready for VC
//!    allocation `routing_delay` cycles later (XY: x first, then y).
//! 5. VC allocation, per output port, round-robin over the requesting input VCs: a requester
//!    gets the lowest-numbered free output VC (for the local port, also a reserved slot in the
//!    ejection queue) and becomes ready for switch allocation `vc_alloc_delay` cycles later.
//! 6. Switch allocation, separable input-first with round-robin pointers that move only on a
//!    grant (iSLIP-style): each input port picks one eligible VC (front flit ready, a credit
//!    for its output VC), each output port grants one input port. A granted flit leaves its
//!    buffer at t, arrives downstream at `t + sw_alloc_delay + st_prepare_delay +
//!    st_final_delay + link_delay` (no link delay to the ejection queue), and returns a credit
//!    upstream usable from `t + link_delay + credit_delay`. A tail frees the output VC.

use super::config::NocConfig;
use super::packet::{DeliveredPacket, Flit, Packet, PacketSlot, FLIT_HEAD, FLIT_TAIL};
use super::{Cycle, NocError};
use isa::chip::TileId;
use thiserror::Error;

/// Router port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Port {
    /// Towards y − 1.
    North = 0,
    /// Towards x + 1.
    East = 1,
    /// Towards y + 1.
    South = 2,
    /// Towards x − 1.
    West = 3,
    /// The tile's own core (injection and ejection).
    Local = 4,
}

impl Port {
    /// All five ports, in index order.
    pub const ALL: [Port; 5] = [
        Port::North,
        Port::East,
        Port::South,
        Port::West,
        Port::Local,
    ];

    /// Index 0..5.
    pub fn index(self) -> usize {
        self as usize
    }

    /// One-letter name (N, E, S, W, L).
    pub fn letter(self) -> char {
        ['N', 'E', 'S', 'W', 'L'][self as usize]
    }
}

/// Why the network interface refused a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InjectError {
    /// The tile's injection queue is full: retry on a later cycle (nothing was dropped).
    #[error("backpressure: the injection queue of tile {0} is full")]
    Backpressure(u16),
    /// The source or destination tile is outside the mesh.
    #[error("tile {tile} is outside the {width}x{height} mesh")]
    TileOutsideMesh {
        /// The offending tile index.
        tile: u16,
        /// Mesh width.
        width: u16,
        /// Mesh height.
        height: u16,
    },
    /// A packet must have at least one flit.
    #[error("packet size must be at least 1 flit")]
    EmptyPacket,
}

/// Totals of the whole mesh. Conservation: `flits_accepted = flits_ejected + flits in flight`
/// where in flight = waiting in network interfaces + in router buffers + on links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MeshCounters {
    /// Packets accepted by `try_inject`.
    pub packets_accepted: u64,
    /// Flits of those packets.
    pub flits_accepted: u64,
    /// Flits written from a network interface into its router.
    pub flits_injected: u64,
    /// Flits that reached their destination's ejection port.
    pub flits_ejected: u64,
    /// Packets whose tail reached their destination.
    pub packets_delivered: u64,
    /// Flit traversals of router-to-router links (one per hop per flit).
    pub link_traversals: u64,
    /// Router-cycles actually simulated (routers with work, summed over cycles).
    pub router_cycles_active: u64,
}

/// Counters of one router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouterCounters {
    /// Flits written into its input buffers (from links and its network interface).
    pub flits_in: u64,
    /// Flits sent through its switch.
    pub flits_out: u64,
    /// Flits in its input buffers now (= `flits_in − flits_out`).
    pub buffered: u64,
}

/// Counters of one output link (router-to-router, or router-to-ejection-queue for `Local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkCounters {
    /// Flits that entered the link (switch traversal started).
    pub sent: u64,
    /// Flits that left it at the far end.
    pub arrived: u64,
    /// Flits on it now (= `sent − arrived`).
    pub in_flight: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct TimedFlit {
    at: u64,
    flit: Flit,
}

#[derive(Debug, Clone, Copy)]
struct PacketRecord {
    packet: Packet,
    src: u16,
    created: u64,
    injected: u64,
}

/// Pipeline state of one input VC (its flits live in `Mesh::buf`).
#[derive(Debug, Clone, Copy, Default)]
struct InputVc {
    /// Cycle the current stage (routing, then VC allocation) completes.
    ready: u64,
    /// First cycle the next head may start routing (after the previous tail left).
    free_at: u64,
    /// `VC_IDLE`, `VC_WAIT_VA` or `VC_ACTIVE`.
    state: u8,
    /// Output port of the packet at the front.
    out_port: u8,
    /// Output VC allocated to it.
    out_vc: u8,
}

const VC_IDLE: u8 = 0;
const VC_WAIT_VA: u8 = 1;
const VC_ACTIVE: u8 = 2;
const LOCAL: usize = 4;
const NONE: u32 = u32::MAX;

/// Fixed-capacity FIFO rings stored back to back in one `Vec` (one ring per index).
#[derive(Debug, Clone)]
struct Rings<T: Copy + Default> {
    data: Vec<T>,
    head: Vec<u32>,
    len: Vec<u32>,
    cap: usize,
}

impl<T: Copy + Default> Rings<T> {
    fn new(count: usize, cap: usize) -> Self {
        Self {
            data: vec![T::default(); count * cap],
            head: vec![0; count],
            len: vec![0; count],
            cap,
        }
    }
    #[inline]
    fn len(&self, i: usize) -> usize {
        self.len[i] as usize
    }
    #[inline]
    fn is_full(&self, i: usize) -> bool {
        self.len[i] as usize >= self.cap
    }
    #[inline]
    fn front(&self, i: usize) -> Option<&T> {
        if self.len[i] == 0 {
            None
        } else {
            Some(&self.data[i * self.cap + self.head[i] as usize])
        }
    }
    /// Pushes unless full; returns false when full.
    #[inline]
    fn push(&mut self, i: usize, v: T) -> bool {
        let len = self.len[i] as usize;
        if len >= self.cap {
            return false;
        }
        let mut pos = self.head[i] as usize + len;
        if pos >= self.cap {
            pos -= self.cap;
        }
        self.data[i * self.cap + pos] = v;
        self.len[i] += 1;
        true
    }
    #[inline]
    fn pop(&mut self, i: usize) -> Option<T> {
        if self.len[i] == 0 {
            return None;
        }
        let h = self.head[i] as usize;
        let v = self.data[i * self.cap + h];
        self.head[i] = if h + 1 == self.cap { 0 } else { h as u32 + 1 };
        self.len[i] -= 1;
        Some(v)
    }
    fn iter(&self, i: usize) -> impl Iterator<Item = &T> + '_ {
        let h = self.head[i] as usize;
        (0..self.len[i] as usize).map(move |k| {
            let mut pos = h + k;
            if pos >= self.cap {
                pos -= self.cap;
            }
            &self.data[i * self.cap + pos]
        })
    }
}

/// The mesh network: W×H routers, their links and credit wires, one network interface
/// (injection queue) and one ejection queue per tile. See the module documentation for the
/// per-cycle behaviour.
#[derive(Debug, Clone)]
pub struct Mesh {
    cfg: NocConfig,
    tiles: usize,
    vcs: usize,
    depth: usize,
    now: u64,
    d_route: u64,
    d_va: u64,
    d_switch: u64,
    d_link: u64,
    d_credit: u64,
    check: bool,
    /// Step only routers with work (on by default; off steps every router every cycle).
    skip_idle: bool,
    /// Neighbour of router r in direction d (0..4), or NONE.
    neighbour: Vec<u32>,
    /// `(x, y)` of every tile (no division in the routing stage).
    xy: Vec<(u16, u16)>,
    // Input VCs.
    buf: Rings<TimedFlit>,
    ivc: Vec<InputVc>,
    /// Per input port `(r·5 + p)`: bit c set when VC c holds a flit.
    nonempty: Vec<u32>,
    // Output VCs.
    credits: Vec<u32>,
    out_busy: Vec<bool>,
    // Pipes per output port.
    pipe: Rings<TimedFlit>,
    credit_pipe: Rings<(u64, u8)>,
    // Arbitration pointers.
    va_rr: Vec<u8>,
    sa_in_rr: Vec<u8>,
    sa_out_rr: Vec<u8>,
    // Network interfaces.
    ni: Rings<u32>,
    ni_sent: Vec<u16>,
    ni_vc: Vec<u8>,
    ni_rr: Vec<u8>,
    ni_pending_flits: u64,
    // Ejection queues.
    eject: Rings<DeliveredPacketSlot>,
    eject_reserved: Vec<u32>,
    // Packet table.
    records: Vec<Option<PacketRecord>>,
    free_slots: Vec<u32>,
    // Work per router: flits waiting in its interface, buffers and incoming pipes.
    work: Vec<u32>,
    // Counters.
    totals: MeshCounters,
    router_in: Vec<u64>,
    router_out: Vec<u64>,
    link_sent: Vec<u64>,
    link_arrived: Vec<u64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct DeliveredPacketSlot(Option<DeliveredPacket>);

#[inline]
fn opposite(d: usize) -> usize {
    (d + 2) & 3
}

/// First set bit of `mask` at or after `start` (wrapping), for round-robin over `bits` bits.
#[inline]
fn rr_pick(mask: u128, start: usize, bits: usize) -> Option<usize> {
    if mask == 0 {
        return None;
    }
    let start = if start >= bits { 0 } else { start };
    let hi = mask & (!0u128 << start);
    if hi != 0 {
        Some(hi.trailing_zeros() as usize)
    } else {
        Some(mask.trailing_zeros() as usize)
    }
}

/// [`rr_pick`] for masks of at most 32 bits.
#[inline]
fn rr_pick32(mask: u32, start: usize, bits: usize) -> Option<usize> {
    if mask == 0 {
        return None;
    }
    let start = if start >= bits { 0 } else { start };
    let hi = mask & (!0u32 << start);
    if hi != 0 {
        Some(hi.trailing_zeros() as usize)
    } else {
        Some(mask.trailing_zeros() as usize)
    }
}

impl Mesh {
    /// Builds an empty mesh; the configuration is validated first.
    pub fn new(cfg: NocConfig) -> Result<Self, NocError> {
        cfg.validate()?;
        let width = usize::from(cfg.width);
        let height = usize::from(cfg.height);
        let tiles = width * height;
        let vcs = usize::from(cfg.virtual_channels);
        let depth = usize::from(cfg.buffer_depth);
        let d_switch = u64::from(cfg.sw_alloc_delay) + cfg.switch_delay();
        let d_link = u64::from(cfg.link_delay);
        let d_credit = u64::from(cfg.credit_delay);
        // A pipe holds at most one flit per cycle of its latency, plus one written before the
        // far end reads it in the same cycle.
        let pipe_cap = (d_switch + d_link + 1) as usize;
        // Credits may wait unread while their router is idle: at most one per buffer slot.
        let credit_cap = vcs * depth + (d_link + d_credit) as usize + 2;
        let mut neighbour = vec![NONE; tiles * 4];
        for y in 0..height {
            for x in 0..width {
                let r = y * width + x;
                if y > 0 {
                    neighbour[r * 4] = (r - width) as u32;
                }
                if x + 1 < width {
                    neighbour[r * 4 + 1] = (r + 1) as u32;
                }
                if y + 1 < height {
                    neighbour[r * 4 + 2] = (r + width) as u32;
                }
                if x > 0 {
                    neighbour[r * 4 + 3] = (r - 1) as u32;
                }
            }
        }
        let ivs = tiles * 5 * vcs;
        let mut credits = vec![depth as u32; ivs];
        for r in 0..tiles {
            for c in 0..vcs {
                credits[(r * 5 + LOCAL) * vcs + c] = u32::MAX;
            }
        }
        Ok(Self {
            check: cfg.check_invariants || cfg!(debug_assertions),
            skip_idle: true,
            tiles,
            vcs,
            depth,
            now: 0,
            d_route: u64::from(cfg.routing_delay),
            d_va: u64::from(cfg.vc_alloc_delay),
            d_switch,
            d_link,
            d_credit,
            neighbour,
            xy: (0..tiles)
                .map(|t| ((t % width) as u16, (t / width) as u16))
                .collect(),
            buf: Rings::new(ivs, depth),
            ivc: vec![InputVc::default(); ivs],
            nonempty: vec![0; tiles * 5],
            credits,
            out_busy: vec![false; ivs],
            pipe: Rings::new(tiles * 5, pipe_cap),
            credit_pipe: Rings::new(tiles * 5, credit_cap),
            va_rr: vec![0; tiles * 5],
            sa_in_rr: vec![0; tiles * 5],
            sa_out_rr: vec![0; tiles * 5],
            ni: Rings::new(tiles, usize::from(cfg.inject_queue_depth)),
            ni_sent: vec![0; tiles],
            ni_vc: vec![0; tiles],
            ni_rr: vec![0; tiles],
            ni_pending_flits: 0,
            eject: Rings::new(tiles, usize::from(cfg.eject_queue_depth)),
            eject_reserved: vec![0; tiles],
            records: Vec::new(),
            free_slots: Vec::new(),
            work: vec![0; tiles],
            totals: MeshCounters::default(),
            router_in: vec![0; tiles],
            router_out: vec![0; tiles],
            link_sent: vec![0; tiles * 5],
            link_arrived: vec![0; tiles * 5],
            cfg,
        })
    }

    /// The configuration the mesh was built with.
    pub fn config(&self) -> &NocConfig {
        &self.cfg
    }

    /// The cycle the next [`Mesh::step`] simulates (packets injected now are created at it).
    pub fn now(&self) -> Cycle {
        Cycle(self.now)
    }

    /// Number of tiles.
    pub fn tiles(&self) -> usize {
        self.tiles
    }

    /// Tile index of `(x, y)`.
    pub fn tile_at(&self, x: u16, y: u16) -> TileId {
        TileId(y * self.cfg.width + x)
    }

    /// `(x, y)` of a tile.
    pub fn coords(&self, tile: TileId) -> (u16, u16) {
        (tile.0 % self.cfg.width, tile.0 / self.cfg.width)
    }

    /// XY hop count between two tiles (Manhattan distance).
    pub fn hops(&self, a: TileId, b: TileId) -> u32 {
        let (ax, ay) = self.coords(a);
        let (bx, by) = self.coords(b);
        u32::from(ax.abs_diff(bx)) + u32::from(ay.abs_diff(by))
    }

    fn check_tile(&self, t: TileId) -> Result<(), InjectError> {
        if usize::from(t.0) >= self.tiles {
            Err(InjectError::TileOutsideMesh {
                tile: t.0,
                width: self.cfg.width,
                height: self.cfg.height,
            })
        } else {
            Ok(())
        }
    }

    /// Hands a packet to the network interface of tile `src`, created at the current cycle.
    /// Never drops: a full injection queue returns [`InjectError::Backpressure`] and the
    /// caller retries later.
    pub fn try_inject(&mut self, src: TileId, packet: Packet) -> Result<PacketSlot, InjectError> {
        self.try_inject_created(src, packet, Cycle(self.now))
    }

    /// Like [`Mesh::try_inject`] for a packet generated earlier at cycle `created` and held in
    /// a source queue since (the packet latency then includes that queueing).
    pub fn try_inject_created(
        &mut self,
        src: TileId,
        packet: Packet,
        created: Cycle,
    ) -> Result<PacketSlot, InjectError> {
        self.check_tile(src)?;
        self.check_tile(packet.dst)?;
        if packet.flits == 0 {
            return Err(InjectError::EmptyPacket);
        }
        let s = usize::from(src.0);
        if self.ni.is_full(s) {
            return Err(InjectError::Backpressure(src.0));
        }
        let record = PacketRecord {
            packet,
            src: src.0,
            created: created.0,
            injected: 0,
        };
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.records[slot as usize] = Some(record);
                slot
            }
            None => {
                self.records.push(Some(record));
                (self.records.len() - 1) as u32
            }
        };
        self.ni.push(s, slot);
        let flits = u64::from(packet.flits);
        self.ni_pending_flits += flits;
        self.work[s] += u32::from(packet.flits);
        self.totals.packets_accepted += 1;
        self.totals.flits_accepted += flits;
        Ok(PacketSlot(slot))
    }

    /// Takes the oldest delivered packet from tile `tile`'s ejection queue (the core drains it;
    /// a full queue stops the router ejecting to it).
    pub fn pop_delivered(&mut self, tile: TileId) -> Option<DeliveredPacket> {
        let t = usize::from(tile.0);
        if t >= self.tiles {
            return None;
        }
        self.eject.pop(t).and_then(|s| s.0)
    }

    /// Packets waiting in tile `tile`'s ejection queue.
    pub fn delivered_waiting(&self, tile: TileId) -> usize {
        let t = usize::from(tile.0);
        if t >= self.tiles {
            0
        } else {
            self.eject.len(t)
        }
    }

    /// Packets tile `tile`'s network interface can still accept this cycle.
    pub fn inject_room(&self, tile: TileId) -> usize {
        let t = usize::from(tile.0);
        if t >= self.tiles {
            0
        } else {
            self.ni.cap - self.ni.len(t)
        }
    }

    /// No flit anywhere: network interfaces, router buffers and links are empty (ejection
    /// queues hold delivered packets and do not count).
    pub fn is_empty(&self) -> bool {
        self.in_flight_flits() == 0
    }

    /// Flits accepted but not yet ejected.
    pub fn in_flight_flits(&self) -> u64 {
        self.totals.flits_accepted - self.totals.flits_ejected
    }

    /// Mesh-wide counters.
    pub fn counters(&self) -> &MeshCounters {
        &self.totals
    }

    /// Counters of the router of `tile`.
    pub fn router_counters(&self, tile: TileId) -> Option<RouterCounters> {
        let r = usize::from(tile.0);
        if r >= self.tiles {
            return None;
        }
        Some(RouterCounters {
            flits_in: self.router_in[r],
            flits_out: self.router_out[r],
            buffered: self.router_in[r] - self.router_out[r],
        })
    }

    /// Counters of the output link of `tile` on `port` (`None` at a mesh edge).
    pub fn link_counters(&self, tile: TileId, port: Port) -> Option<LinkCounters> {
        let r = usize::from(tile.0);
        if r >= self.tiles {
            return None;
        }
        if port != Port::Local && self.neighbour[r * 4 + port.index()] == NONE {
            return None;
        }
        let i = r * 5 + port.index();
        Some(LinkCounters {
            sent: self.link_sent[i],
            arrived: self.link_arrived[i],
            in_flight: self.link_sent[i] - self.link_arrived[i],
        })
    }

    /// Every router-to-router link as `(tile, output port)`, in tile then port order.
    pub fn links(&self) -> Vec<(TileId, Port)> {
        let mut out = Vec::new();
        for r in 0..self.tiles {
            for d in 0..4 {
                if self.neighbour[r * 4 + d] != NONE {
                    out.push((TileId(r as u16), Port::ALL[d]));
                }
            }
        }
        out
    }

    /// The packets accepted but not yet delivered, as `(slot, src, packet, created)`.
    pub fn undelivered(&self) -> impl Iterator<Item = (PacketSlot, TileId, Packet, Cycle)> + '_ {
        self.records.iter().enumerate().filter_map(|(i, r)| {
            r.map(|r| {
                (
                    PacketSlot(i as u32),
                    TileId(r.src),
                    r.packet,
                    Cycle(r.created),
                )
            })
        })
    }

    /// Advances the network by one cycle. Returns an error only if the conservation check
    /// (on in debug builds or with `check_invariants`) finds a flit created or lost.
    pub fn step(&mut self) -> Result<(), NocError> {
        let now = self.now;
        for r in 0..self.tiles {
            if self.work[r] != 0 || !self.skip_idle {
                self.totals.router_cycles_active += 1;
                self.step_router(r, now)?;
            }
        }
        self.now += 1;
        if self.check {
            self.check_conservation()?;
        }
        Ok(())
    }

    /// Turns the skipping of idle routers (no flit in their interface, buffers or incoming
    /// links) on or off. On by default; it changes no count and no timing, only simulation
    /// speed and `router_cycles_active` (tests compare both modes).
    pub fn set_idle_skipping(&mut self, on: bool) {
        self.skip_idle = on;
    }

    /// Steps until the network is empty or `max_cycles` cycles have passed; returns whether
    /// it is empty. Delivered packets stay in the ejection queues.
    pub fn drain(&mut self, max_cycles: u64) -> Result<bool, NocError> {
        for _ in 0..max_cycles {
            if self.is_empty() {
                return Ok(true);
            }
            self.step()?;
        }
        Ok(self.is_empty())
    }

    fn violation(&self, detail: String) -> NocError {
        NocError::Invariant {
            cycle: self.now,
            detail,
        }
    }

    #[inline]
    fn xy_port(&self, r: usize, dst: usize) -> usize {
        let (x, y) = self.xy[r];
        let (dx, dy) = self.xy[dst];
        if dx > x {
            1
        } else if dx < x {
            3
        } else if dy > y {
            2
        } else if dy < y {
            0
        } else {
            LOCAL
        }
    }

    fn step_router(&mut self, r: usize, now: u64) -> Result<(), NocError> {
        let vcs = self.vcs;
        // 1. Network interface → local input VC.
        if let Some(&slot) = self.ni.front(r) {
            self.inject_one(r, slot, now);
        }
        // 2. Arrivals from links and at the ejection port.
        for d in 0..4 {
            let u = self.neighbour[r * 4 + d];
            if u == NONE {
                continue;
            }
            let pi = u as usize * 5 + opposite(d);
            while let Some(tf) = self.pipe.front(pi).copied() {
                if tf.at > now {
                    break;
                }
                self.pipe.pop(pi);
                self.link_arrived[pi] += 1;
                let iv = (r * 5 + d) * vcs + usize::from(tf.flit.vc);
                if !self.buf.push(iv, tf) {
                    return Err(self.violation(format!(
                        "router {r} input {d} vc {} overflowed: a flit was sent without a credit",
                        tf.flit.vc
                    )));
                }
                self.nonempty[r * 5 + d] |= 1 << tf.flit.vc;
                self.router_in[r] += 1;
            }
        }
        let ei = r * 5 + LOCAL;
        while let Some(tf) = self.pipe.front(ei).copied() {
            if tf.at > now {
                break;
            }
            self.pipe.pop(ei);
            self.link_arrived[ei] += 1;
            self.totals.flits_ejected += 1;
            self.work[r] -= 1;
            if tf.flit.is_tail() {
                self.deliver(r, tf.flit.packet, now)?;
            }
        }
        // 3. Credits.
        for d in 0..4 {
            let ci = r * 5 + d;
            while let Some(&(at, c)) = self.credit_pipe.front(ci) {
                if at > now {
                    break;
                }
                self.credit_pipe.pop(ci);
                self.credits[ci * vcs + usize::from(c)] += 1;
            }
        }
        // 4. Route computation; gather VC- and switch-allocation requests.
        let ports = &self.nonempty[r * 5..r * 5 + 5];
        let occupied: [u32; 5] = [ports[0], ports[1], ports[2], ports[3], ports[4]];
        if occupied == [0; 5] {
            return Ok(());
        }
        let mut va_req = [0u128; 5];
        let mut any_va = false;
        let mut sa_req = [0u32; 5];
        let base = r * 5 * vcs;
        for (p, sa_p) in sa_req.iter_mut().enumerate() {
            let mut bits = occupied[p];
            while bits != 0 {
                let c = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let bit = p * vcs + c;
                let iv = base + bit;
                let state = self.ivc[iv].state;
                if state == VC_ACTIVE {
                    if self.ivc[iv].ready <= now {
                        let ov = (r * 5 + usize::from(self.ivc[iv].out_port)) * vcs
                            + usize::from(self.ivc[iv].out_vc);
                        if self.credits[ov] > 0 {
                            *sa_p |= 1 << c;
                        }
                    }
                    continue;
                }
                if state == VC_IDLE {
                    let Some(front) = self.buf.front(iv).copied() else {
                        continue;
                    };
                    if !front.flit.is_head() {
                        return Err(self.violation(format!(
                            "router {r} input VC {bit} has a body flit at its front while idle"
                        )));
                    }
                    let start = front.at.max(self.ivc[iv].free_at);
                    self.ivc[iv].ready = start + self.d_route;
                    self.ivc[iv].out_port = self.xy_port(r, usize::from(front.flit.dst)) as u8;
                    self.ivc[iv].state = VC_WAIT_VA;
                }
                if self.ivc[iv].ready <= now {
                    va_req[usize::from(self.ivc[iv].out_port)] |= 1u128 << bit;
                    any_va = true;
                }
            }
        }
        // 5. VC allocation.
        let nbits = 5 * vcs;
        for (o, &req) in va_req.iter().enumerate() {
            if !any_va {
                break;
            }
            let mut req = req;
            while req != 0 {
                let ri = r * 5 + o;
                let Some(bit) = rr_pick(req, usize::from(self.va_rr[ri]), nbits) else {
                    break;
                };
                let ob = ri * vcs;
                if o == LOCAL
                    && self.eject.len(r) + self.eject_reserved[r] as usize >= self.eject.cap
                {
                    break;
                }
                let Some(c) = (0..vcs).find(|&c| !self.out_busy[ob + c]) else {
                    break;
                };
                req &= !(1u128 << bit);
                self.out_busy[ob + c] = true;
                if o == LOCAL {
                    self.eject_reserved[r] += 1;
                }
                let iv = base + bit;
                self.ivc[iv].state = VC_ACTIVE;
                self.ivc[iv].out_vc = c as u8;
                self.ivc[iv].ready = now + self.d_va;
                self.va_rr[ri] = (bit + 1) as u8;
            }
        }
        // 6. Switch allocation (input stage, then output stage) and traversal.
        let mut in_choice = [0usize; 5];
        let mut out_req = [0u32; 5];
        for p in 0..5 {
            if let Some(c) = rr_pick32(sa_req[p], usize::from(self.sa_in_rr[r * 5 + p]), vcs) {
                in_choice[p] = c;
                let o = usize::from(self.ivc[base + p * vcs + c].out_port);
                out_req[o] |= 1 << p;
            }
        }
        for (o, &req) in out_req.iter().enumerate() {
            let Some(p) = rr_pick32(req, usize::from(self.sa_out_rr[r * 5 + o]), 5) else {
                continue;
            };
            let c = in_choice[p];
            // rr_pick wraps a pointer past the last requester to 0.
            self.sa_out_rr[r * 5 + o] = (p + 1) as u8;
            self.sa_in_rr[r * 5 + p] = (c + 1) as u8;
            self.traverse(r, p, c, o, now)?;
        }
        Ok(())
    }

    fn inject_one(&mut self, r: usize, slot: u32, now: u64) {
        let vcs = self.vcs;
        let Some(rec) = self.records[slot as usize] else {
            return;
        };
        let sent = self.ni_sent[r];
        let lb = (r * 5 + LOCAL) * vcs;
        let c = if sent == 0 {
            let start = usize::from(self.ni_rr[r]);
            let Some(c) = (0..vcs)
                .map(|k| (start + k) % vcs)
                .find(|&c| !self.buf.is_full(lb + c))
            else {
                return;
            };
            self.ni_vc[r] = c as u8;
            self.ni_rr[r] = ((c + 1) % vcs) as u8;
            if let Some(rec) = self.records[slot as usize].as_mut() {
                rec.injected = now;
            }
            c
        } else {
            let c = usize::from(self.ni_vc[r]);
            if self.buf.is_full(lb + c) {
                return;
            }
            c
        };
        let mut flags = 0;
        if sent == 0 {
            flags |= FLIT_HEAD;
        }
        if sent + 1 == rec.packet.flits {
            flags |= FLIT_TAIL;
        }
        let flit = Flit {
            packet: slot,
            dst: rec.packet.dst.0,
            vc: c as u8,
            flags,
        };
        self.buf.push(lb + c, TimedFlit { at: now, flit });
        self.nonempty[r * 5 + LOCAL] |= 1 << c;
        self.router_in[r] += 1;
        self.totals.flits_injected += 1;
        self.ni_pending_flits -= 1;
        if sent + 1 == rec.packet.flits {
            self.ni.pop(r);
            self.ni_sent[r] = 0;
        } else {
            self.ni_sent[r] = sent + 1;
        }
    }

    fn deliver(&mut self, r: usize, slot: u32, now: u64) -> Result<(), NocError> {
        let Some(rec) = self.records.get_mut(slot as usize).and_then(Option::take) else {
            return Err(self.violation(format!("tail flit of a dead packet {slot} ejected")));
        };
        self.free_slots.push(slot);
        let hops = self.hops(TileId(rec.src), rec.packet.dst);
        let delivered = DeliveredPacket {
            packet: rec.packet,
            src: TileId(rec.src),
            created: Cycle(rec.created),
            injected: Cycle(rec.injected),
            ejected: Cycle(now),
            hops,
        };
        self.eject_reserved[r] = self.eject_reserved[r].saturating_sub(1);
        if !self.eject.push(r, DeliveredPacketSlot(Some(delivered))) {
            return Err(self.violation(format!("ejection queue of tile {r} overflowed")));
        }
        self.totals.packets_delivered += 1;
        Ok(())
    }

    fn traverse(
        &mut self,
        r: usize,
        p: usize,
        c: usize,
        o: usize,
        now: u64,
    ) -> Result<(), NocError> {
        let vcs = self.vcs;
        let iv = (r * 5 + p) * vcs + c;
        let Some(mut tf) = self.buf.pop(iv) else {
            return Err(self.violation(format!("router {r} granted an empty VC {iv}")));
        };
        if self.buf.len(iv) == 0 {
            self.nonempty[r * 5 + p] &= !(1 << c);
        }
        let oc = usize::from(self.ivc[iv].out_vc);
        let pi = r * 5 + o;
        let ov = pi * vcs + oc;
        tf.flit.vc = oc as u8;
        tf.at = now + self.d_switch;
        if o != LOCAL {
            tf.at += self.d_link;
            self.credits[ov] -= 1;
            self.work[r] -= 1;
            let n = self.neighbour[r * 4 + o] as usize;
            self.work[n] += 1;
            self.totals.link_traversals += 1;
        }
        if !self.pipe.push(pi, tf) {
            return Err(self.violation(format!("link {r}:{o} carried two flits in one cycle")));
        }
        self.link_sent[pi] += 1;
        self.router_out[r] += 1;
        if p != LOCAL {
            let u = self.neighbour[r * 4 + p] as usize;
            let ci = u * 5 + opposite(p);
            if !self
                .credit_pipe
                .push(ci, (now + self.d_link + self.d_credit, c as u8))
            {
                return Err(self.violation(format!("credit wire into router {u} overflowed")));
            }
        }
        if tf.flit.is_tail() {
            self.out_busy[ov] = false;
            self.ivc[iv].state = VC_IDLE;
            self.ivc[iv].free_at = now + 1;
        }
        Ok(())
    }

    /// Checks conservation now: per router `flits_in − flits_out` equals the flits in its
    /// buffers; per link `sent − arrived` equals the flits on it; per output VC, credits +
    /// flits downstream + flits and credits on the wires equal the buffer depth; and mesh-wide
    /// `flits_accepted = flits_ejected + waiting in interfaces + buffered + on links`.
    pub fn check_conservation(&self) -> Result<(), NocError> {
        let vcs = self.vcs;
        let mut buffered = 0u64;
        for r in 0..self.tiles {
            let held: u64 = (0..5 * vcs)
                .map(|k| self.buf.len(r * 5 * vcs + k) as u64)
                .sum();
            if held != self.router_in[r] - self.router_out[r] {
                return Err(self.violation(format!(
                    "router {r}: {} flits in − {} out ≠ {held} buffered",
                    self.router_in[r], self.router_out[r]
                )));
            }
            buffered += held;
        }
        let mut on_links = 0u64;
        for i in 0..self.tiles * 5 {
            let len = self.pipe.len(i) as u64;
            if len != self.link_sent[i] - self.link_arrived[i] {
                return Err(self.violation(format!(
                    "link {}:{}: {} sent − {} arrived ≠ {len} on the link",
                    i / 5,
                    i % 5,
                    self.link_sent[i],
                    self.link_arrived[i]
                )));
            }
            on_links += len;
        }
        let accounted = self.totals.flits_ejected + self.ni_pending_flits + buffered + on_links;
        if accounted != self.totals.flits_accepted {
            return Err(self.violation(format!(
                "{} flits accepted ≠ {} ejected + {} waiting + {buffered} buffered + {on_links} on links",
                self.totals.flits_accepted, self.totals.flits_ejected, self.ni_pending_flits
            )));
        }
        for r in 0..self.tiles {
            for d in 0..4 {
                let u = self.neighbour[r * 4 + d];
                if u == NONE {
                    continue;
                }
                let u = u as usize;
                let pi = r * 5 + d;
                for c in 0..vcs {
                    let downstream = self.buf.len((u * 5 + opposite(d)) * vcs + c) as u64;
                    let wire = self
                        .pipe
                        .iter(pi)
                        .filter(|t| usize::from(t.flit.vc) == c)
                        .count();
                    let back = self
                        .credit_pipe
                        .iter(pi)
                        .filter(|&&(_, v)| usize::from(v) == c)
                        .count();
                    let total = u64::from(self.credits[pi * vcs + c])
                        + downstream
                        + wire as u64
                        + back as u64;
                    if total != self.depth as u64 {
                        return Err(self.violation(format!(
                            "router {r} port {d} vc {c}: credits + flits downstream + on wires = {total} ≠ buffer depth {}",
                            self.depth
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mesh with flits in buffers, on links and in interfaces.
    fn busy_mesh() -> Mesh {
        let mut mesh = Mesh::new(NocConfig {
            check_invariants: true,
            ..NocConfig::mesh(3, 3)
        })
        .unwrap();
        for src in 0..9u16 {
            mesh.try_inject(TileId(src), Packet::synthetic(TileId(8 - src), 3))
                .unwrap();
        }
        for _ in 0..4 {
            mesh.step().unwrap();
        }
        mesh.check_conservation().unwrap();
        mesh
    }

    #[test]
    fn check_catches_a_lost_flit() {
        let mut mesh = busy_mesh();
        let iv = (0..mesh.buf.len.len())
            .find(|&i| mesh.buf.len(i) > 0)
            .unwrap();
        mesh.buf.pop(iv);
        let err = mesh.check_conservation().unwrap_err().to_string();
        assert!(err.contains("buffered"), "{err}");
    }

    #[test]
    fn check_catches_a_flit_lost_on_a_link() {
        let mut mesh = busy_mesh();
        let pi = (0..mesh.pipe.len.len())
            .find(|&i| mesh.pipe.len(i) > 0)
            .unwrap();
        mesh.pipe.pop(pi);
        let err = mesh.check_conservation().unwrap_err().to_string();
        assert!(err.contains("on the link"), "{err}");
    }

    #[test]
    fn check_catches_a_created_credit() {
        let mut mesh = busy_mesh();
        mesh.credits[mesh.vcs] += 1; // router 0, port E, VC 0
        let err = mesh.check_conservation().unwrap_err().to_string();
        assert!(err.contains("buffer depth"), "{err}");
    }

    #[test]
    fn check_catches_a_created_flit() {
        let mut mesh = busy_mesh();
        mesh.totals.flits_accepted += 1;
        let err = mesh.check_conservation().unwrap_err().to_string();
        assert!(err.contains("flits accepted"), "{err}");
    }

    #[test]
    fn rr_pick_wraps_around() {
        assert_eq!(rr_pick(0b1010, 0, 4), Some(1));
        assert_eq!(rr_pick(0b1010, 2, 4), Some(3));
        assert_eq!(rr_pick(0b1010, 4, 4), Some(1));
        assert_eq!(rr_pick(0, 0, 4), None);
        assert_eq!(rr_pick32(0b0011, 1, 5), Some(1));
        assert_eq!(rr_pick32(0b0001, 3, 5), Some(0));
    }
}
