//! The instruction set of the neurocore processor: operands, instructions, their semantics and
//! their cycle costs.
//!
//! # Machine model
//!
//! Each neurocore has a small in-order processor with
//! - 16 **scalar registers** `r0..r15` of 32 bits (`r0` always reads 0; writes to it are ignored);
//! - 16 **neuron-state fields** `f0..f15`: each field is one signed 32-bit word *per neuron* of
//!   the core (a vector register whose lanes are the core's neurons). `f0` is the **input
//!   accumulator** (`ACC`): the synapse unit adds the weights of the spikes that arrived during
//!   the previous timestep into it (see `docs/ARCHITECTURE.md`, neurocore); firmware reads and
//!   may overwrite it like any other field;
//! - 8 **neuron masks** `m0..m7`: one bit per neuron. `m0` is hard-wired to all ones (unmasked)
//!   and writes to it are ignored;
//! - the **active range** `[lo, hi)` of neurons that vector instructions operate on (reset to
//!   all neurons of the core at the start of every timestep);
//! - a word-addressed **data memory** of 32-bit words (parameters the mapper loads);
//! - the **latent weight memory** (one signed word per synapse, rows indexed by axon) used by the
//!   learning kernels, and the binary **synapse rows** the synapse unit reads;
//! - control/status registers read with `csrr` ([`Csr`]).
//!
//! Vector instructions apply lane-wise to every neuron `n` in the active range whose bit in the
//! governing mask is set; other lanes keep their value. Arithmetic follows the rules of
//! [`crate::arith`] and `docs/ARITHMETIC.md`: unless an operation names another rule, 32-bit
//! arithmetic **wraps** (two's complement).
//!
//! # Cycle costs
//!
//! The processor issues one instruction at a time. [`Instruction::issue_cycles`] gives the cost
//! of each instruction excluding stalls, as a function of the active-range length and the
//! number of vector lanes of the core (a chip-description parameter): scalar instructions take 1
//! cycle; a taken branch or a jump adds 1 (pipeline refill); vector instructions take
//! `1 + ceil(len / lanes)`; mask instructions take `1 + ceil(len / 64)` (a 64-bit mask datapath).
//! Instructions that wait (`wait`, `barrier`, `recv` on an empty inbox, `send` under
//! backpressure) stall for as many extra cycles as the condition takes; the simulator counts
//! those as stall cycles.

use serde::{Deserialize, Serialize};

/// A scalar register `r0..r15`. `r0` reads as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reg(u8);

/// A neuron-state field `f0..f15` (a vector register with one 32-bit lane per neuron).
/// `f0` is the synaptic input accumulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Field(u8);

/// A neuron mask `m0..m7` (one bit per neuron). `m0` is all ones and read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Mask(u8);

macro_rules! operand {
    ($ty:ident, $count:expr, $prefix:literal) => {
        impl $ty {
            /// How many of these the processor has.
            pub const COUNT: u8 = $count;

            /// The operand with this index, if it exists.
            pub const fn new(index: u8) -> Option<Self> {
                if index < Self::COUNT {
                    Some(Self(index))
                } else {
                    None
                }
            }

            /// Its index.
            pub const fn index(self) -> u8 {
                self.0
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

operand!(Reg, 16, "r");
operand!(Field, 16, "f");
operand!(Mask, 8, "m");

impl Reg {
    /// `r0`, the zero register.
    pub const ZERO: Reg = Reg(0);
}

impl Field {
    /// `f0`, the synaptic input accumulator written by the synapse unit.
    pub const ACC: Field = Field(0);
}

impl Mask {
    /// `m0`, the all-ones mask.
    pub const ALL: Mask = Mask(0);
}

/// A comparison, used by branches and vector compares (signed 32-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cond {
    /// `a == b`
    Eq,
    /// `a != b`
    Ne,
    /// `a < b`
    Lt,
    /// `a <= b`
    Le,
    /// `a > b`
    Gt,
    /// `a >= b`
    Ge,
}

impl Cond {
    /// Every condition, in encoding order.
    pub const ALL: [Cond; 6] = [Cond::Eq, Cond::Ne, Cond::Lt, Cond::Le, Cond::Gt, Cond::Ge];

    /// Evaluates the condition on two signed 32-bit values.
    #[inline]
    pub fn holds(self, a: i32, b: i32) -> bool {
        match self {
            Cond::Eq => a == b,
            Cond::Ne => a != b,
            Cond::Lt => a < b,
            Cond::Le => a <= b,
            Cond::Gt => a > b,
            Cond::Ge => a >= b,
        }
    }
}

/// A two-operand integer operation, shared by the scalar ALU and the vector unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AluOp {
    /// 32-bit wrapping add.
    Add,
    /// 32-bit wrapping subtract `a - b`.
    Sub,
    /// 32-bit saturating add.
    AddSat,
    /// 32-bit saturating subtract `a - b`.
    SubSat,
    /// Low 32 bits of the product (wrapping).
    Mul,
    /// Add, then wrap to 24 bits the way Loihi's current `u` wraps
    /// ([`crate::arith`]'s 24-bit wrap rule).
    AddWrap24,
    /// Add, then saturate to ±(2^23 − 1) the way Loihi's voltage `v` saturates.
    AddSat24,
    /// Signed minimum.
    Min,
    /// Signed maximum.
    Max,
    /// Bitwise and.
    And,
    /// Bitwise or.
    Or,
    /// Bitwise exclusive or.
    Xor,
    /// Shift left by `b & 31` (bits shifted out are lost).
    Shl,
    /// Arithmetic shift right by `b & 31` (rounds toward −∞).
    Sra,
    /// Logical shift right by `b & 31`.
    Srl,
    /// 1 if `a < b` (signed) else 0.
    Slt,
}

impl AluOp {
    /// Every operation, in encoding order.
    pub const ALL: [AluOp; 16] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::AddSat,
        AluOp::SubSat,
        AluOp::Mul,
        AluOp::AddWrap24,
        AluOp::AddSat24,
        AluOp::Min,
        AluOp::Max,
        AluOp::And,
        AluOp::Or,
        AluOp::Xor,
        AluOp::Shl,
        AluOp::Sra,
        AluOp::Srl,
        AluOp::Slt,
    ];
}

/// An operation on whole neuron masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MaskOp {
    /// `a & b`
    And,
    /// `a | b`
    Or,
    /// `a & !b`
    AndNot,
    /// `a ^ b`
    Xor,
}

impl MaskOp {
    /// Every operation, in encoding order.
    pub const ALL: [MaskOp; 4] = [MaskOp::And, MaskOp::Or, MaskOp::AndNot, MaskOp::Xor];
}

/// How a right shift of a product rounds (see `docs/ARITHMETIC.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Round {
    /// Toward −∞ (plain arithmetic shift).
    Floor,
    /// Toward zero (sign-magnitude truncation).
    TowardZero,
    /// To nearest, ties to even.
    NearestEven,
    /// Stochastic, with the fraction compared against the core's seeded LFSR.
    Stochastic,
}

impl Round {
    /// Every mode, in encoding order.
    pub const ALL: [Round; 4] = [
        Round::Floor,
        Round::TowardZero,
        Round::NearestEven,
        Round::Stochastic,
    ];
}

/// A reduction over the lanes of a field (`vred`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RedOp {
    /// Signed minimum (`i32::MAX` when no lane takes part).
    Min,
    /// Signed maximum (`i32::MIN` when no lane takes part).
    Max,
    /// 32-bit wrapping sum (0 when no lane takes part); wrapping addition is associative, so
    /// the result does not depend on the order of the adder tree.
    Sum,
}

impl RedOp {
    /// Every reduction, in encoding order.
    pub const ALL: [RedOp; 3] = [RedOp::Min, RedOp::Max, RedOp::Sum];
}

/// A control/status register readable with `csrr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Csr {
    /// The current algorithmic timestep within the sample (0 at the first step).
    Timestep,
    /// How many neurons this core holds.
    Neurons,
    /// This core's tile index (`y * width + x`).
    TileId,
    /// The index of the current sample since the chip was loaded.
    Sample,
    /// The low 32 bits of the global cycle counter.
    CycleLo,
    /// How many packets wait in the learning inbox.
    InboxLen,
    /// The number of vector lanes of this core.
    Lanes,
    /// The number of axons (synapse rows) of this core.
    Axons,
}

impl Csr {
    /// Every CSR, in encoding order.
    pub const ALL: [Csr; 8] = [
        Csr::Timestep,
        Csr::Neurons,
        Csr::TileId,
        Csr::Sample,
        Csr::CycleLo,
        Csr::InboxLen,
        Csr::Lanes,
        Csr::Axons,
    ];
}

/// An event the processor can wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// A new sample begins (the host has reset the chip's per-sample state and will inject
    /// input spikes).
    Sample,
    /// The learning phase of the current sample begins.
    Learn,
}

impl Event {
    /// Every event, in encoding order.
    pub const ALL: [Event; 2] = [Event::Sample, Event::Learn];
}

/// One instruction of the neurocore processor.
///
/// Immediate and offset fields carry the ranges the 32-bit encoding can hold; see each variant.
/// Branch and jump offsets are in instruction words relative to the instruction's own address
/// (`target = pc + off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Instruction {
    // ----- scalar -----
    /// Does nothing for one cycle.
    Nop,
    /// Stops the processor for good (until the chip is reloaded).
    Halt,
    /// `rd = op(rs, rt)`.
    Alu {
        /// The operation.
        op: AluOp,
        /// Destination.
        rd: Reg,
        /// First operand.
        rs: Reg,
        /// Second operand.
        rt: Reg,
    },
    /// `rd = rs + sext(imm)` (wrapping).
    Addi {
        /// Destination.
        rd: Reg,
        /// Operand.
        rs: Reg,
        /// Immediate.
        imm: i16,
    },
    /// `rd = imm << 16`.
    Lui {
        /// Destination.
        rd: Reg,
        /// Upper half.
        imm: u16,
    },
    /// `rd = rs | zext(imm)`.
    Ori {
        /// Destination.
        rd: Reg,
        /// Operand.
        rs: Reg,
        /// Lower half, zero-extended.
        imm: u16,
    },
    /// `rd = data[rs + sext(off)]`; an address outside data memory is a core fault.
    Ld {
        /// Destination.
        rd: Reg,
        /// Base address register.
        base: Reg,
        /// Word offset.
        off: i16,
    },
    /// `data[base + sext(off)] = rs`; an address outside data memory is a core fault.
    St {
        /// Value.
        rs: Reg,
        /// Base address register.
        base: Reg,
        /// Word offset.
        off: i16,
    },
    /// If `cond(rs, rt)`, `pc += off`. Offset range: −2^15 ..= 2^15 − 1 (not zero).
    Branch {
        /// The comparison.
        cond: Cond,
        /// First operand.
        rs: Reg,
        /// Second operand.
        rt: Reg,
        /// Word offset.
        off: i16,
    },
    /// `rd = pc + 1; pc += off`. Offset range: −2^21 ..= 2^21 − 1.
    Jal {
        /// Link register (use `r0` for a plain jump).
        rd: Reg,
        /// Word offset.
        off: i32,
    },
    /// `pc = rs`.
    Jr {
        /// Target address register.
        rs: Reg,
    },
    /// `rd = csr`.
    Csrr {
        /// Destination.
        rd: Reg,
        /// The register read.
        csr: Csr,
    },

    // ----- synchronisation and packets -----
    /// Stall until the event happens.
    Wait {
        /// The event.
        event: Event,
    },
    /// Report this core done with the current timestep (once its spike-out queue has drained),
    /// then stall until the mesh-wide barrier releases the next timestep. At release the
    /// timestep counter increments, the synapse unit's pending accumulator becomes `f0`, and the
    /// active range resets to all neurons.
    Barrier,
    /// Inject one packet of kind `learn` into the local router port: destination address in
    /// `dst` (`tile << 16 | axon`), 32-bit payload in `payload`. Stalls under backpressure.
    Send {
        /// Destination address register.
        dst: Reg,
        /// Payload register.
        payload: Reg,
    },
    /// Pop the oldest packet of the learning inbox: `rd = payload`, `rs = source axon`.
    /// Stalls while the inbox is empty.
    Recv {
        /// Payload destination.
        rd: Reg,
        /// Destination of the axon the packet was addressed to.
        ra: Reg,
    },

    // ----- vector over neuron lanes -----
    /// Set the active range to `[lo, hi)`, clamped to the core's neurons.
    VRange {
        /// First neuron.
        lo: Reg,
        /// One past the last neuron.
        hi: Reg,
    },
    /// `fd[n] = op(fa[n], fb[n])` where `m[n]`.
    VAlu {
        /// The operation.
        op: AluOp,
        /// Destination.
        fd: Field,
        /// First operand.
        fa: Field,
        /// Second operand.
        fb: Field,
        /// Governing mask.
        m: Mask,
    },
    /// `fd[n] = op(fa[n], rs)` where `m[n]`: a vector–scalar operation.
    VAluS {
        /// The operation.
        op: AluOp,
        /// Destination.
        fd: Field,
        /// Vector operand.
        fa: Field,
        /// Scalar operand.
        rs: Reg,
        /// Governing mask.
        m: Mask,
    },
    /// `fd[n] = op(fa[n], sh)` where `m[n]`, for `op` one of `Shl`, `Sra`, `Srl`; `sh` in 0..=31.
    VShiftI {
        /// `Shl`, `Sra` or `Srl`.
        op: AluOp,
        /// Destination.
        fd: Field,
        /// Operand.
        fa: Field,
        /// Shift amount, 0..=31.
        sh: u8,
        /// Governing mask.
        m: Mask,
    },
    /// Loihi decay: `fd[n] = sign(fa[n]) * ((|fa[n]| * (4096 − rs)) >> 12)` where `m[n]`, with
    /// `rs` clamped to 0..=4096 (sign-magnitude truncation toward zero, 64-bit intermediate).
    VDecay {
        /// Destination.
        fd: Field,
        /// Operand.
        fa: Field,
        /// Decay constant register.
        rs: Reg,
        /// Governing mask.
        m: Mask,
    },
    /// Loihi decay by a per-neuron constant: [`Instruction::VDecay`] with `fk[n]` (clamped to
    /// 0..=4096) in place of `rs` — each neuron its own time constant.
    VDecayF {
        /// Destination.
        fd: Field,
        /// Operand.
        fa: Field,
        /// Decay constants, one per neuron.
        fk: Field,
        /// Governing mask.
        m: Mask,
    },
    /// `fd[n] = round((fa[n] * fb[n]) >> sh)` where `m[n]`, product in 64 bits, rounded by
    /// `round`, saturated to 32 bits. `sh` in 0..=31.
    VMulShift {
        /// Destination.
        fd: Field,
        /// First factor.
        fa: Field,
        /// Second factor.
        fb: Field,
        /// Right shift, 0..=31.
        sh: u8,
        /// Rounding of the shift.
        round: Round,
        /// Governing mask.
        m: Mask,
    },
    /// `fd[n] = sext(imm)` where `m[n]`.
    VMovI {
        /// Destination.
        fd: Field,
        /// Immediate.
        imm: i16,
        /// Governing mask.
        m: Mask,
    },
    /// `fd[n] = rs` where `m[n]`.
    VMovS {
        /// Destination.
        fd: Field,
        /// Scalar source.
        rs: Reg,
        /// Governing mask.
        m: Mask,
    },
    /// `fd[n] = fa[n]` where `m[n]`.
    VMov {
        /// Destination.
        fd: Field,
        /// Source.
        fa: Field,
        /// Governing mask.
        m: Mask,
    },
    /// `md[n] = m[n] && cond(fa[n], fb[n])` for `n` in the active range; `md[n] = 0` outside it.
    VCmp {
        /// The comparison.
        cond: Cond,
        /// Destination mask.
        md: Mask,
        /// First operand.
        fa: Field,
        /// Second operand.
        fb: Field,
        /// Governing mask.
        m: Mask,
    },
    /// `md[n] = m[n] && cond(fa[n], rs)` for `n` in the active range; `md[n] = 0` outside it.
    VCmpS {
        /// The comparison.
        cond: Cond,
        /// Destination mask.
        md: Mask,
        /// Vector operand.
        fa: Field,
        /// Scalar operand.
        rs: Reg,
        /// Governing mask.
        m: Mask,
    },
    /// `md = op(ma, mb)` over all neurons of the core.
    MaskAlu {
        /// The operation.
        op: MaskOp,
        /// Destination.
        md: Mask,
        /// First operand.
        ma: Mask,
        /// Second operand.
        mb: Mask,
    },
    /// `rd = |{n in active range : m[n]}|`.
    MCount {
        /// Destination.
        rd: Reg,
        /// Mask counted.
        m: Mask,
    },
    /// Hand every neuron `n` of the active range with `m[n]` set, in ascending order, to the
    /// spike-out unit, which sends one spike packet per fan-out entry of `n`.
    VSpike {
        /// Neurons that spike.
        m: Mask,
    },

    // ----- learning -----
    /// `fd[n] = latent[row][n]` where `m[n]`: load row `row` (an axon) of the latent weights.
    WLoad {
        /// Destination.
        fd: Field,
        /// Row register.
        row: Reg,
        /// Governing mask.
        m: Mask,
    },
    /// `latent[row][n] = sat(fa[n])` where `m[n]`, saturated to the latent-weight width of the
    /// chip description.
    WStore {
        /// Source.
        fa: Field,
        /// Row register.
        row: Reg,
        /// Governing mask.
        m: Mask,
    },
    /// Refresh the binary synapse row `row` from the latent weights: `bit[n] = latent[row][n] >= 0`
    /// for every neuron of the active range.
    WSign {
        /// Row register.
        row: Reg,
    },

    // ----- lane access and reductions (learning kernels) -----
    /// `rd = op over { fa[n] : n in the active range, m[n] }` (see [`RedOp`] for the empty
    /// case). Cost: a vector instruction's (`1 + ceil(len / lanes)`): the lane partials are
    /// folded by the adder/comparator tree inside the same pipeline.
    VRed {
        /// The reduction.
        op: RedOp,
        /// Destination.
        rd: Reg,
        /// Field reduced.
        fa: Field,
        /// Governing mask.
        m: Mask,
    },
    /// `rd = fa[rn]` (one lane, any neuron of the core regardless of the active range); a lane
    /// index outside the core's neurons is a core fault. One cycle.
    VGet {
        /// Destination.
        rd: Reg,
        /// Field read.
        fa: Field,
        /// Lane (neuron) index register.
        rn: Reg,
    },
    /// `fd[rn] = rs` (one lane, any neuron of the core); a lane index outside the core's
    /// neurons is a core fault. One cycle.
    VSet {
        /// Field written.
        fd: Field,
        /// Lane (neuron) index register.
        rn: Reg,
        /// Value.
        rs: Reg,
    },
    /// `rd` = the timestep at which the first spike of the current sample arrived on axon `ra`
    /// (the synapse unit's per-axon first-arrival latch, cleared at every sample start), or
    /// `i32::MAX` if none arrived, or −1 if it arrived while the processor waited for the
    /// sample to begin (the host's preload); an axon outside the core is a core fault. One
    /// cycle.
    ALd {
        /// Destination.
        rd: Reg,
        /// Axon index register.
        ra: Reg,
    },

    // ----- L2 normalisation (hidden-layer learning kernel) -----
    /// `hi:lo = Σ fa[n]²` over `n` in the active range with `m[n]`: the exact squares summed
    /// in 64 bits (wrapping modulo `2^64`; with `|fa| <= 2^23` a group of up to `2^17` lanes
    /// stays below `2^63`, so the learning kernels never wrap), written as two registers: `lo` = bits 31..0, then `hi` = bits 63..32 (so `hi` wins when both
    /// name the same register). 0 when no lane takes part. Cost: a vector instruction's (the
    /// lane multipliers form the squares, a 64-bit adder tree folds them).
    VRedSumSq {
        /// High word of the sum.
        hi: Reg,
        /// Low word of the sum.
        lo: Reg,
        /// Field reduced.
        fa: Field,
        /// Governing mask.
        m: Mask,
    },
    /// `rd = floor(sqrt(hi:lo))`: the integer square root (floor, exact) of the unsigned 64-bit
    /// value `hi << 32 | lo` (both registers read as unsigned words); the root is below `2^32`
    /// and is written as a 32-bit word (read it as unsigned). Cost: 1 + 32 cycles (a
    /// digit-recurrence unit producing one root bit per cycle).
    ISqrt {
        /// Destination.
        rd: Reg,
        /// High word of the radicand.
        hi: Reg,
        /// Low word of the radicand.
        lo: Reg,
    },
    /// `fd[n] = sat_q15(round((fa[n] << 15) / zext(rs)))` for `n` in the active range with
    /// `m[n]`: the Q1.15 normalised error of `isa::arith::normalise_q1_15` — the exact quotient
    /// of `fa[n] · 2^15` by the unsigned 32-bit divisor `rs`, rounded to nearest with ties away
    /// from zero, saturated to `[-32768, 32767]`; a divisor of 0 gives 0. Cost:
    /// `1 + 17 · ceil(len / lanes)` (a radix-2 divider per lane: 16 quotient bits and the
    /// rounding bit).
    VDivQ {
        /// Destination.
        fd: Field,
        /// Dividend field.
        fa: Field,
        /// Divisor register (unsigned).
        rs: Reg,
        /// Governing mask.
        m: Mask,
    },
}

/// Cycles of the square-root unit after issue (`isqrt`: one root bit per cycle).
pub const ISQRT_STEPS: u64 = 32;
/// Cycles of a lane divider per lane group (`vdivq`: 16 quotient bits and the rounding bit).
pub const DIVQ_STEPS: u64 = 17;

/// The class of an instruction, which decides its cost formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostClass {
    /// One cycle.
    Scalar,
    /// One cycle, plus one if the branch is taken.
    Branch,
    /// Two cycles (a jump always refills the pipeline).
    Jump,
    /// `1 + ceil(len / lanes)`.
    Vector,
    /// `1 + ceil(len / 64)`.
    MaskWide,
    /// One cycle plus however long the wait lasts.
    Wait,
    /// `1 + 32`: the square-root unit (`isqrt`), one root bit per cycle.
    Root,
    /// `1 + 17 · ceil(len / lanes)`: the lane dividers (`vdivq`).
    VectorDivide,
}

impl Instruction {
    /// The cost formula this instruction follows.
    pub fn cost_class(&self) -> CostClass {
        use Instruction::*;
        match self {
            Nop
            | Halt
            | Alu { .. }
            | Addi { .. }
            | Lui { .. }
            | Ori { .. }
            | Ld { .. }
            | St { .. }
            | Csrr { .. }
            | VRange { .. }
            | VGet { .. }
            | VSet { .. }
            | ALd { .. } => CostClass::Scalar,
            Branch { .. } => CostClass::Branch,
            Jal { .. } | Jr { .. } => CostClass::Jump,
            Wait { .. } | Barrier | Send { .. } | Recv { .. } => CostClass::Wait,
            VAlu { .. }
            | VAluS { .. }
            | VShiftI { .. }
            | VDecay { .. }
            | VDecayF { .. }
            | VMulShift { .. }
            | VMovI { .. }
            | VMovS { .. }
            | VMov { .. }
            | VCmp { .. }
            | VCmpS { .. }
            | VSpike { .. }
            | WLoad { .. }
            | WStore { .. }
            | WSign { .. }
            | VRed { .. }
            | VRedSumSq { .. } => CostClass::Vector,
            ISqrt { .. } => CostClass::Root,
            VDivQ { .. } => CostClass::VectorDivide,
            MaskAlu { .. } | MCount { .. } => CostClass::MaskWide,
        }
    }

    /// Cycles this instruction occupies the processor, excluding stalls: `active_len` is the
    /// length of the active neuron range, `lanes` the core's vector width (≥ 1), `taken` whether
    /// a branch is taken (ignored otherwise).
    pub fn issue_cycles(&self, active_len: u32, lanes: u32, taken: bool) -> u64 {
        let len = u64::from(active_len);
        match self.cost_class() {
            CostClass::Scalar | CostClass::Wait => 1,
            CostClass::Branch => 1 + u64::from(taken),
            CostClass::Jump => 2,
            CostClass::Vector => 1 + len.div_ceil(u64::from(lanes.max(1))),
            CostClass::MaskWide => 1 + len.div_ceil(64),
            CostClass::Root => 1 + ISQRT_STEPS,
            CostClass::VectorDivide => 1 + DIVQ_STEPS * len.div_ceil(u64::from(lanes.max(1))),
        }
    }
}
