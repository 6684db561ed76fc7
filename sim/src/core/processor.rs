//! The neurocore processor: fetches, checks and executes firmware instructions atomically,
//! adding each one's documented cost to its clock.

use super::{CoreFault, Cycle, Neurocore, ProcessorState, FIELDS, MASKS};
use isa::arith::{shr_round, Lfsr, Rounding};
use isa::chip::TileId;
use isa::image::Destination;
use isa::insn::{AluOp, Cond, Csr, Instruction, MaskOp, RedOp, Round};

const NEVER: u64 = u64::MAX;

/// Checks that every operand of `insn` exists (a deserialised program may carry any index).
pub(crate) fn validate(insn: &Instruction) -> Result<(), String> {
    use Instruction::*;
    let r = |x: isa::insn::Reg| x.index() < isa::insn::Reg::COUNT;
    let f = |x: isa::insn::Field| x.index() < isa::insn::Field::COUNT;
    let m = |x: isa::insn::Mask| x.index() < isa::insn::Mask::COUNT;
    let ok = match *insn {
        Nop | Halt | Barrier | Wait { .. } => true,
        Alu { rd, rs, rt, .. } => r(rd) && r(rs) && r(rt),
        Addi { rd, rs, .. } | Ori { rd, rs, .. } => r(rd) && r(rs),
        Lui { rd, .. } | Csrr { rd, .. } | Jal { rd, .. } => r(rd),
        Ld { rd, base, .. } => r(rd) && r(base),
        St { rs, base, .. } => r(rs) && r(base),
        Branch { rs, rt, off, .. } => {
            if off == 0 {
                return Err("branch offset 0 (a branch to itself) is not encodable".into());
            }
            r(rs) && r(rt)
        }
        Jr { rs } => r(rs),
        Send { dst, payload } => r(dst) && r(payload),
        Recv { rd, ra } => r(rd) && r(ra),
        VRange { lo, hi } => r(lo) && r(hi),
        VAlu {
            fd, fa, fb, m: k, ..
        } => f(fd) && f(fa) && f(fb) && m(k),
        VAluS {
            fd, fa, rs, m: k, ..
        }
        | VDecay { fd, fa, rs, m: k } => f(fd) && f(fa) && r(rs) && m(k),
        VDecayF { fd, fa, fk, m: k } => f(fd) && f(fa) && f(fk) && m(k),
        VShiftI {
            op,
            fd,
            fa,
            sh,
            m: k,
        } => {
            if !matches!(op, AluOp::Shl | AluOp::Sra | AluOp::Srl) {
                return Err(format!(
                    "vector shift-immediate with non-shift operation {op:?}"
                ));
            }
            if sh > 31 {
                return Err(format!("shift amount {sh} is outside 0..=31"));
            }
            f(fd) && f(fa) && m(k)
        }
        VMulShift {
            fd,
            fa,
            fb,
            sh,
            m: k,
            ..
        } => {
            if sh > 31 {
                return Err(format!("shift amount {sh} is outside 0..=31"));
            }
            f(fd) && f(fa) && f(fb) && m(k)
        }
        VMovI { fd, m: k, .. } => f(fd) && m(k),
        VMovS { fd, rs, m: k } => f(fd) && r(rs) && m(k),
        VMov { fd, fa, m: k } => f(fd) && f(fa) && m(k),
        VCmp {
            md, fa, fb, m: k, ..
        } => m(md) && f(fa) && f(fb) && m(k),
        VCmpS {
            md, fa, rs, m: k, ..
        } => m(md) && f(fa) && r(rs) && m(k),
        MaskAlu { md, ma, mb, .. } => m(md) && m(ma) && m(mb),
        MCount { rd, m: k } => r(rd) && m(k),
        VSpike { m: k } => m(k),
        WLoad { fd, row, m: k } => f(fd) && r(row) && m(k),
        WStore { fa, row, m: k } => f(fa) && r(row) && m(k),
        WSign { row } => r(row),
        VRed { rd, fa, m: k, .. } => r(rd) && f(fa) && m(k),
        VGet { rd, fa, rn } => r(rd) && f(fa) && r(rn),
        VSet { fd, rn, rs } => f(fd) && r(rn) && r(rs),
        ALd { rd, ra } => r(rd) && r(ra),
        VRedSumSq { hi, lo, fa, m: k } => r(hi) && r(lo) && f(fa) && m(k),
        ISqrt { rd, hi, lo } => r(rd) && r(hi) && r(lo),
        VDivQ { fd, fa, rs, m: k } => f(fd) && f(fa) && r(rs) && m(k),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "operand out of range in {insn:?} (r0..r15, f0..f15, m0..m7)"
        ))
    }
}

/// The scalar semantics of an ALU operation (shared by `alu` and the vector unit).
#[inline(always)]
pub fn alu(op: AluOp, a: i32, b: i32) -> i32 {
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::AddSat => a.saturating_add(b),
        AluOp::SubSat => a.saturating_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::AddWrap24 => wrap24(i64::from(a) + i64::from(b)),
        AluOp::AddSat24 => sat24(i64::from(a) + i64::from(b)),
        AluOp::Min => a.min(b),
        AluOp::Max => a.max(b),
        AluOp::And => a & b,
        AluOp::Or => a | b,
        AluOp::Xor => a ^ b,
        AluOp::Shl => a.wrapping_shl((b & 31) as u32),
        AluOp::Sra => a >> (b & 31),
        AluOp::Srl => ((a as u32) >> (b & 31)) as i32,
        AluOp::Slt => i32::from(a < b),
    }
}

/// Loihi's 24-bit wrap of the current (the `AddWrap24` rule, [`isa::arith::wrap24`]).
#[inline(always)]
pub fn wrap24(x: i64) -> i32 {
    isa::arith::wrap24(x)
}

/// Loihi's saturation of the voltage to `±(2^23 − 1)` (the `AddSat24` rule, [`isa::arith::sat24`]).
#[inline(always)]
pub fn sat24(x: i64) -> i32 {
    isa::arith::sat24(x)
}

/// The `vdecay` rule: [`isa::arith::decay12`] with the constant clamped to `0..=4096`.
#[inline(always)]
pub fn decay(a: i32, d: i32) -> i32 {
    match isa::arith::Decay12::new(i64::from(d.clamp(0, 4096)), "vdecay constant") {
        Ok(k) => isa::arith::decay12(a, k),
        Err(_) => a,
    }
}

macro_rules! with_alu {
    ($op:expr, $f:ident => $e:expr) => {
        match $op {
            AluOp::Add => {
                let $f = |a: i32, b: i32| a.wrapping_add(b);
                $e
            }
            AluOp::Sub => {
                let $f = |a: i32, b: i32| a.wrapping_sub(b);
                $e
            }
            AluOp::AddSat => {
                let $f = |a: i32, b: i32| a.saturating_add(b);
                $e
            }
            AluOp::SubSat => {
                let $f = |a: i32, b: i32| a.saturating_sub(b);
                $e
            }
            AluOp::Mul => {
                let $f = |a: i32, b: i32| a.wrapping_mul(b);
                $e
            }
            AluOp::AddWrap24 => {
                let $f = |a: i32, b: i32| wrap24(i64::from(a) + i64::from(b));
                $e
            }
            AluOp::AddSat24 => {
                let $f = |a: i32, b: i32| sat24(i64::from(a) + i64::from(b));
                $e
            }
            AluOp::Min => {
                let $f = |a: i32, b: i32| a.min(b);
                $e
            }
            AluOp::Max => {
                let $f = |a: i32, b: i32| a.max(b);
                $e
            }
            AluOp::And => {
                let $f = |a: i32, b: i32| a & b;
                $e
            }
            AluOp::Or => {
                let $f = |a: i32, b: i32| a | b;
                $e
            }
            AluOp::Xor => {
                let $f = |a: i32, b: i32| a ^ b;
                $e
            }
            AluOp::Shl => {
                let $f = |a: i32, b: i32| a.wrapping_shl((b & 31) as u32);
                $e
            }
            AluOp::Sra => {
                let $f = |a: i32, b: i32| a >> (b & 31);
                $e
            }
            AluOp::Srl => {
                let $f = |a: i32, b: i32| ((a as u32) >> (b & 31)) as i32;
                $e
            }
            AluOp::Slt => {
                let $f = |a: i32, b: i32| i32::from(a < b);
                $e
            }
        }
    };
}

#[inline(always)]
fn fi(f: isa::insn::Field) -> usize {
    usize::from(f.index()) & (FIELDS - 1)
}

#[inline(always)]
fn mi(m: isa::insn::Mask) -> usize {
    usize::from(m.index()) & (MASKS - 1)
}

#[inline(always)]
fn ri(r: isa::insn::Reg) -> usize {
    usize::from(r.index()) & 15
}

fn round_shift(p: i64, sh: u32, round: Round, lfsr: &mut Lfsr) -> i32 {
    let mode = match round {
        Round::Floor => Rounding::Floor,
        Round::TowardZero => Rounding::TowardZero,
        Round::NearestEven => Rounding::NearestEven,
        Round::Stochastic => Rounding::Stochastic,
    };
    shr_round(p, sh, mode, lfsr).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

impl Neurocore {
    /// The cycle at which the next instruction can issue, or `u64::MAX` while it is blocked.
    pub(crate) fn processor_next(&self) -> u64 {
        let base = self.ready_at.0.max(self.now.0);
        match self.text.get(self.pc as usize) {
            Some(Instruction::VSpike { .. }) => {
                if self.spike_out.busy() {
                    NEVER
                } else {
                    base.max(self.spike_out.free_at.0)
                }
            }
            Some(Instruction::Send { .. }) => {
                if self.spike_out.busy() || !self.spike_out.has_space() {
                    NEVER
                } else {
                    base.max(self.spike_out.free_at.0)
                }
            }
            Some(Instruction::Recv { .. }) => match self.inbox.front() {
                Some(&(_, _, arrived)) => base.max(arrived.0),
                None => NEVER,
            },
            _ => base,
        }
    }

    fn fault_at(&mut self, fault: CoreFault) {
        self.state = ProcessorState::Faulted(fault);
    }

    fn set_reg(&mut self, r: isa::insn::Reg, v: i32) {
        self.regs[ri(r)] = v;
        self.regs[0] = 0;
    }

    /// Executes the instruction at `pc`, issuing at cycle `at`.
    pub(crate) fn execute(&mut self, at: Cycle) {
        let pc = self.pc;
        let Some(&insn) = self.text.get(pc as usize) else {
            self.fault_at(CoreFault::PcOutOfRange {
                pc,
                len: self.text.len() as u32,
                cycle: at.0,
            });
            return;
        };
        if at.0 > self.ready_at.0 {
            self.counters.stall_cycles += at.0 - self.ready_at.0;
        }
        let len = (self.hi - self.lo) as u32;
        let mut next_pc = pc.wrapping_add(1);
        let mut taken = false;
        let n = self.neurons;
        use Instruction::*;
        match insn {
            Nop => {}
            Halt => self.state = ProcessorState::Halted,
            Alu { op, rd, rs, rt } => {
                let v = alu(op, self.regs[ri(rs)], self.regs[ri(rt)]);
                self.set_reg(rd, v);
            }
            Addi { rd, rs, imm } => {
                let v = self.regs[ri(rs)].wrapping_add(i32::from(imm));
                self.set_reg(rd, v);
            }
            Lui { rd, imm } => self.set_reg(rd, (u32::from(imm) << 16) as i32),
            Ori { rd, rs, imm } => {
                let v = self.regs[ri(rs)] | i32::from(imm);
                self.set_reg(rd, v);
            }
            Ld { rd, base, off } => {
                let addr = i64::from(self.regs[ri(base)]) + i64::from(off);
                match usize::try_from(addr).ok().and_then(|a| self.data.get(a)) {
                    Some(&v) => self.set_reg(rd, v),
                    None => {
                        let words = self.config.data_words;
                        return self.fault_at(CoreFault::DataAddress {
                            pc,
                            addr,
                            words,
                            cycle: at.0,
                        });
                    }
                }
            }
            St { rs, base, off } => {
                let addr = i64::from(self.regs[ri(base)]) + i64::from(off);
                let v = self.regs[ri(rs)];
                match usize::try_from(addr)
                    .ok()
                    .and_then(|a| self.data.get_mut(a))
                {
                    Some(slot) => *slot = v,
                    None => {
                        let words = self.config.data_words;
                        return self.fault_at(CoreFault::DataAddress {
                            pc,
                            addr,
                            words,
                            cycle: at.0,
                        });
                    }
                }
            }
            Branch { cond, rs, rt, off } => {
                if cond.holds(self.regs[ri(rs)], self.regs[ri(rt)]) {
                    taken = true;
                    next_pc =
                        (i64::from(pc) + i64::from(off)).clamp(-1, i64::from(u32::MAX)) as u32;
                }
            }
            Jal { rd, off } => {
                self.set_reg(rd, pc.wrapping_add(1) as i32);
                next_pc = (i64::from(pc) + i64::from(off)).clamp(-1, i64::from(u32::MAX)) as u32;
            }
            Jr { rs } => next_pc = self.regs[ri(rs)] as u32,
            Csrr { rd, csr } => {
                let v = match csr {
                    Csr::Timestep => self.timestep as i32,
                    Csr::Neurons => n as i32,
                    Csr::TileId => i32::from(self.config.tile.0),
                    Csr::Sample => self.samples_begun.wrapping_sub(1) as i32,
                    Csr::CycleLo => at.0 as u32 as i32,
                    Csr::InboxLen => self.inbox.len() as i32,
                    Csr::Lanes => self.config.lanes as i32,
                    Csr::Axons => self.config.axons as i32,
                };
                self.set_reg(rd, v);
            }
            Wait { event } => {
                self.state = ProcessorState::Waiting(event, Cycle(at.0.saturating_add(1)))
            }
            Barrier => self.state = ProcessorState::Barrier(Cycle(at.0.saturating_add(1))),
            Send { dst, payload } => {
                let d = self.regs[ri(dst)] as u32;
                self.spike_out.outbound.push_back(super::OutPacket {
                    dst: Destination::Core {
                        tile: TileId((d >> 16) as u16),
                        axon: d & 0xFFFF,
                    },
                    kind: super::PacketKind::Learn,
                    payload: self.regs[ri(payload)],
                    source: 0,
                    emitted_at: at,
                });
                self.counters.learn_packets_out += 1;
            }
            Recv { rd, ra } => {
                if let Some((axon, payload, _)) = self.inbox.pop_front() {
                    self.set_reg(rd, payload);
                    self.set_reg(ra, axon as i32);
                }
            }
            VRange { lo, hi } => {
                let l = self.regs[ri(lo)].clamp(0, n as i32) as usize;
                let h = self.regs[ri(hi)].clamp(0, n as i32) as usize;
                self.lo = l;
                self.hi = h.max(l);
            }
            VAlu { op, fd, fa, fb, m } => {
                with_alu!(op, f => self.vop2(fi(fd), fi(fa), fi(fb), mi(m), f))
            }
            VAluS { op, fd, fa, rs, m } => {
                let s = self.regs[ri(rs)];
                with_alu!(op, f => self.vop1(fi(fd), fi(fa), mi(m), move |a| f(a, s)))
            }
            VShiftI { op, fd, fa, sh, m } => {
                let s = i32::from(sh);
                with_alu!(op, f => self.vop1(fi(fd), fi(fa), mi(m), move |a| f(a, s)))
            }
            VDecay { fd, fa, rs, m } => {
                let d = self.regs[ri(rs)].clamp(0, 4096);
                match isa::arith::Decay12::new(i64::from(d), "vdecay constant") {
                    Ok(k) => self.vop1(fi(fd), fi(fa), mi(m), move |a| isa::arith::decay12(a, k)),
                    Err(_) => self.vop1(fi(fd), fi(fa), mi(m), move |a| decay(a, d)),
                }
            }
            // `decay` clamps each lane's constant to 0..=4096.
            VDecayF { fd, fa, fk, m } => self.vop2(fi(fd), fi(fa), fi(fk), mi(m), decay),
            VMulShift {
                fd,
                fa,
                fb,
                sh,
                round,
                m,
            } => self.vmulshift(fi(fd), fi(fa), fi(fb), u32::from(sh & 31), round, mi(m)),
            VMovI { fd, imm, m } => self.vop1(fi(fd), fi(fd), mi(m), move |_| i32::from(imm)),
            VMovS { fd, rs, m } => {
                let s = self.regs[ri(rs)];
                self.vop1(fi(fd), fi(fd), mi(m), move |_| s)
            }
            VMov { fd, fa, m } => self.vop1(fi(fd), fi(fa), mi(m), |a| a),
            VCmp {
                cond,
                md,
                fa,
                fb,
                m,
            } => {
                let fb = fi(fb);
                self.vcmp(cond, mi(md), fi(fa), Some(fb), 0, mi(m))
            }
            VCmpS {
                cond,
                md,
                fa,
                rs,
                m,
            } => {
                let s = self.regs[ri(rs)];
                self.vcmp(cond, mi(md), fi(fa), None, s, mi(m))
            }
            MaskAlu { op, md, ma, mb } => {
                let (md, ma, mb, w) = (mi(md), mi(ma), mi(mb), self.words);
                if md != 0 {
                    for i in 0..w {
                        let a = self.masks[ma * w + i];
                        let b = self.masks[mb * w + i];
                        self.masks[md * w + i] = match op {
                            MaskOp::And => a & b,
                            MaskOp::Or => a | b,
                            MaskOp::AndNot => a & !b,
                            MaskOp::Xor => a ^ b,
                        };
                    }
                }
            }
            MCount { rd, m } => {
                let c = self.count_mask(mi(m));
                self.set_reg(rd, c as i32);
            }
            VSpike { m } => {
                let cost = insn.issue_cycles(len, self.config.lanes, false);
                self.vspike(mi(m), Cycle(at.0.saturating_add(cost)));
            }
            WLoad { fd, row, m } => {
                let Some(r) = self.latent_row(pc, row, at) else {
                    return;
                };
                let fd = fi(fd);
                let m = mi(m);
                if let Some(lat) = self.latent.as_ref() {
                    for i in self.lo..self.hi {
                        if super::bit(&self.masks, m, self.words, i) {
                            self.fields[fd * n + i] = lat[r * n + i];
                        }
                    }
                }
            }
            WStore { fa, row, m } => {
                let Some(r) = self.latent_row(pc, row, at) else {
                    return;
                };
                let fa = fi(fa);
                let m = mi(m);
                let bits = u32::from(self.config.latent_weight_bits.clamp(2, 32));
                let max = (1i64 << (bits - 1)) - 1;
                if let Some(lat) = self.latent.as_mut() {
                    let mut written = 0u64;
                    for i in self.lo..self.hi {
                        if super::bit(&self.masks, m, self.words, i) {
                            lat[r * n + i] =
                                i64::from(self.fields[fa * n + i]).clamp(-max - 1, max) as i32;
                            written += 1;
                        }
                    }
                    self.counters.latent_writes += written;
                }
            }
            WSign { row } => {
                let Some(r) = self.latent_row(pc, row, at) else {
                    return;
                };
                if let Some(lat) = self.latent.as_ref() {
                    for i in self.lo..self.hi {
                        self.synapse.memory.set_sign_bit(r, i, lat[r * n + i] >= 0);
                    }
                }
            }
            VRed { op, rd, fa, m } => {
                let (fa, m) = (fi(fa), mi(m));
                let mut acc = match op {
                    RedOp::Min => i32::MAX,
                    RedOp::Max => i32::MIN,
                    RedOp::Sum => 0,
                };
                for i in self.lo..self.hi {
                    if m == 0 || super::bit(&self.masks, m, self.words, i) {
                        let v = self.fields[fa * n + i];
                        acc = match op {
                            RedOp::Min => acc.min(v),
                            RedOp::Max => acc.max(v),
                            RedOp::Sum => acc.wrapping_add(v),
                        };
                    }
                }
                self.set_reg(rd, acc);
            }
            VGet { rd, fa, rn } => {
                let Some(lane) = self.lane(pc, rn, at) else {
                    return;
                };
                let v = self.fields[fi(fa) * n + lane];
                self.set_reg(rd, v);
            }
            ALd { rd, ra } => {
                let axon = i64::from(self.regs[ri(ra)]);
                let axons = self.config.axons;
                if axon < 0 || axon >= i64::from(axons) {
                    self.fault_at(CoreFault::Axon {
                        pc,
                        axon,
                        axons,
                        cycle: at.0,
                    });
                    return;
                }
                let v = self.axon_first[axon as usize];
                self.set_reg(rd, v);
            }
            VSet { fd, rn, rs } => {
                let Some(lane) = self.lane(pc, rn, at) else {
                    return;
                };
                self.fields[fi(fd) * n + lane] = self.regs[ri(rs)];
            }
            VRedSumSq { hi, lo, fa, m } => {
                let (fa, m) = (fi(fa), mi(m));
                let mut acc = 0u64;
                for i in self.lo..self.hi {
                    if m == 0 || super::bit(&self.masks, m, self.words, i) {
                        let v = u64::from(self.fields[fa * n + i].unsigned_abs());
                        acc = acc.wrapping_add(v * v);
                    }
                }
                self.set_reg(lo, acc as u32 as i32);
                self.set_reg(hi, (acc >> 32) as u32 as i32);
            }
            ISqrt { rd, hi, lo } => {
                let x = (u64::from(self.regs[ri(hi)] as u32) << 32)
                    | u64::from(self.regs[ri(lo)] as u32);
                self.set_reg(rd, isa::arith::isqrt_u64(x) as u32 as i32);
            }
            VDivQ { fd, fa, rs, m } => {
                let (fd, fa, m) = (fi(fd), fi(fa), mi(m));
                let norm = u64::from(self.regs[ri(rs)] as u32);
                for i in self.lo..self.hi {
                    if m == 0 || super::bit(&self.masks, m, self.words, i) {
                        let q = isa::arith::normalise_q1_15(self.fields[fa * n + i], norm);
                        self.fields[fd * n + i] = i32::from(q.to_bits());
                    }
                }
            }
        }
        let cost = insn.issue_cycles(len, self.config.lanes, taken);
        self.counters.instructions += 1;
        self.counters.issue_cycles += cost;
        if matches!(
            insn.cost_class(),
            isa::insn::CostClass::Vector
                | isa::insn::CostClass::MaskWide
                | isa::insn::CostClass::VectorDivide
        ) {
            self.counters.vector_instructions += 1;
        }
        self.ready_at = Cycle(at.0.saturating_add(cost));
        self.pc = next_pc;
        if let ProcessorState::Waiting(e, _) = self.state {
            self.state = ProcessorState::Waiting(e, self.ready_at);
        } else if let ProcessorState::Barrier(_) = self.state {
            self.state = ProcessorState::Barrier(self.ready_at);
        }
    }

    /// The lane named by register `rn`, or a [`CoreFault::Lane`] fault.
    fn lane(&mut self, pc: u32, rn: isa::insn::Reg, at: Cycle) -> Option<usize> {
        let lane = i64::from(self.regs[ri(rn)]);
        let neurons = self.neurons as u32;
        if lane < 0 || lane >= i64::from(neurons) {
            self.fault_at(CoreFault::Lane {
                pc,
                lane,
                neurons,
                cycle: at.0,
            });
            return None;
        }
        Some(lane as usize)
    }

    fn latent_row(&mut self, pc: u32, row: isa::insn::Reg, at: Cycle) -> Option<usize> {
        let r = i64::from(self.regs[ri(row)]);
        let rows = if self.latent.is_some() {
            self.config.axons
        } else {
            0
        };
        if r < 0 || r >= i64::from(rows) {
            self.fault_at(CoreFault::LatentRow {
                pc,
                row: r,
                rows,
                cycle: at.0,
            });
            return None;
        }
        Some(r as usize)
    }

    #[inline]
    fn vop1<F: Fn(i32) -> i32>(&mut self, fd: usize, fa: usize, m: usize, f: F) {
        let (n, lo, hi) = (self.neurons, self.lo, self.hi);
        if lo >= hi {
            return;
        }
        if m == 0 {
            // Unmasked: straight lane loops on the field memory (lane-wise, so aliasing of
            // destination and operand is harmless).
            let (dst, left, rest) = split_field(&mut self.fields, n, fd);
            if fa == fd {
                for d in &mut dst[lo..hi] {
                    *d = f(*d);
                }
            } else {
                let a = other_field(left, rest, n, fd, fa);
                for (d, &x) in dst[lo..hi].iter_mut().zip(&a[lo..hi]) {
                    *d = f(x);
                }
            }
            return;
        }
        let len = hi - lo;
        let a = &mut self.scratch_a[..len];
        a.copy_from_slice(&self.fields[fa * n + lo..fa * n + hi]);
        let dst = &mut self.fields[fd * n + lo..fd * n + hi];
        if m == 0 {
            for (d, &x) in dst.iter_mut().zip(a.iter()) {
                *d = f(x);
            }
        } else {
            let mw = &self.masks[m * self.words..(m + 1) * self.words];
            for (wi, &word) in mw.iter().enumerate().take((hi - 1) / 64 + 1).skip(lo / 64) {
                let mut bits = word & range_word(wi, lo, hi);
                while bits != 0 {
                    let i = wi * 64 + bits.trailing_zeros() as usize - lo;
                    bits &= bits - 1;
                    dst[i] = f(a[i]);
                }
            }
        }
    }

    #[inline]
    fn vop2<F: Fn(i32, i32) -> i32>(&mut self, fd: usize, fa: usize, fb: usize, m: usize, f: F) {
        let (n, lo, hi) = (self.neurons, self.lo, self.hi);
        if lo >= hi {
            return;
        }
        if m == 0 {
            let (dst, left, rest) = split_field(&mut self.fields, n, fd);
            let dst = &mut dst[lo..hi];
            match (fa == fd, fb == fd) {
                (true, true) => {
                    for d in dst {
                        *d = f(*d, *d);
                    }
                }
                (true, false) => {
                    let b = &other_field(left, rest, n, fd, fb)[lo..hi];
                    for (d, &y) in dst.iter_mut().zip(b) {
                        *d = f(*d, y);
                    }
                }
                (false, true) => {
                    let a = &other_field(left, rest, n, fd, fa)[lo..hi];
                    for (d, &x) in dst.iter_mut().zip(a) {
                        *d = f(x, *d);
                    }
                }
                (false, false) => {
                    let a = &other_field(left, rest, n, fd, fa)[lo..hi];
                    let b = &other_field(left, rest, n, fd, fb)[lo..hi];
                    for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                        *d = f(x, y);
                    }
                }
            }
            return;
        }
        let len = hi - lo;
        let a = &mut self.scratch_a[..len];
        a.copy_from_slice(&self.fields[fa * n + lo..fa * n + hi]);
        let b = &mut self.scratch_b[..len];
        b.copy_from_slice(&self.fields[fb * n + lo..fb * n + hi]);
        let dst = &mut self.fields[fd * n + lo..fd * n + hi];
        if m == 0 {
            for ((d, &x), &y) in dst.iter_mut().zip(a.iter()).zip(b.iter()) {
                *d = f(x, y);
            }
        } else {
            let mw = &self.masks[m * self.words..(m + 1) * self.words];
            for (wi, &word) in mw.iter().enumerate().take((hi - 1) / 64 + 1).skip(lo / 64) {
                let mut bits = word & range_word(wi, lo, hi);
                while bits != 0 {
                    let i = wi * 64 + bits.trailing_zeros() as usize - lo;
                    bits &= bits - 1;
                    dst[i] = f(a[i], b[i]);
                }
            }
        }
    }

    fn vmulshift(&mut self, fd: usize, fa: usize, fb: usize, sh: u32, round: Round, m: usize) {
        let n = self.neurons;
        for k in self.lo..self.hi {
            if m == 0 || super::bit(&self.masks, m, self.words, k) {
                let p = i64::from(self.fields[fa * n + k]) * i64::from(self.fields[fb * n + k]);
                self.fields[fd * n + k] = round_shift(p, sh, round, &mut self.lfsr);
            }
        }
    }

    fn vcmp(&mut self, cond: Cond, md: usize, fa: usize, fb: Option<usize>, s: i32, m: usize) {
        match cond {
            Cond::Eq => self.vcmp_with(md, fa, fb, s, m, |a, b| a == b),
            Cond::Ne => self.vcmp_with(md, fa, fb, s, m, |a, b| a != b),
            Cond::Lt => self.vcmp_with(md, fa, fb, s, m, |a, b| a < b),
            Cond::Le => self.vcmp_with(md, fa, fb, s, m, |a, b| a <= b),
            Cond::Gt => self.vcmp_with(md, fa, fb, s, m, |a, b| a > b),
            Cond::Ge => self.vcmp_with(md, fa, fb, s, m, |a, b| a >= b),
        }
    }

    #[inline]
    fn vcmp_with<F: Fn(i32, i32) -> bool>(
        &mut self,
        md: usize,
        fa: usize,
        fb: Option<usize>,
        s: i32,
        m: usize,
        f: F,
    ) {
        if md == 0 {
            return;
        }
        let (n, w) = (self.neurons, self.words);
        // Word i of the result depends only on word i of the governing mask (read first, so
        // md may equal m).
        for wi in 0..w {
            let gov = self.masks[m * w + wi];
            let lo = (wi * 64).max(self.lo);
            let hi = ((wi + 1) * 64).min(self.hi);
            let mut out = 0u64;
            if lo < hi {
                let shift = lo % 64;
                let a = &self.fields[fa * n + lo..fa * n + hi];
                match fb {
                    Some(fb) => {
                        let b = &self.fields[fb * n + lo..fb * n + hi];
                        for (j, (&x, &y)) in a.iter().zip(b).enumerate() {
                            out |= u64::from(f(x, y)) << (shift + j);
                        }
                    }
                    None => {
                        for (j, &x) in a.iter().enumerate() {
                            out |= u64::from(f(x, s)) << (shift + j);
                        }
                    }
                }
            }
            self.masks[md * w + wi] = out & gov;
        }
    }

    fn count_mask(&self, m: usize) -> u32 {
        let w = self.words;
        (0..w)
            .map(|wi| (self.masks[m * w + wi] & range_word(wi, self.lo, self.hi)).count_ones())
            .sum()
    }

    fn vspike(&mut self, m: usize, handed_at: Cycle) {
        let t = self.timestep;
        let unit = &mut self.spike_out;
        unit.list.clear();
        unit.cursor = 0;
        unit.entry = 0;
        let w = self.words;
        for wi in 0..w {
            let mut bits = self.masks[m * w + wi] & range_word(wi, self.lo, self.hi);
            while bits != 0 {
                let k = wi * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                unit.list.push(k as u32);
                if unit.first_spike[k] == super::NO_SPIKE {
                    unit.first_spike[k] = t;
                }
                unit.last_spike[k] = t;
                if let Some(log) = unit.log.as_mut() {
                    log.push((t, k as u32));
                }
            }
        }
        self.counters.spikes_out += unit.list.len() as u64;
        if !unit.list.is_empty() {
            unit.next_at = handed_at.max(unit.free_at);
        }
    }
}

/// The bits of mask word `wi` that lie in the active range `[lo, hi)`.
#[inline]
fn range_word(wi: usize, lo: usize, hi: usize) -> u64 {
    let (start, end) = (wi * 64, wi * 64 + 64);
    let a = lo.clamp(start, end) - start;
    let b = hi.clamp(start, end) - start;
    if a >= b {
        return 0;
    }
    let upper = if b == 64 { u64::MAX } else { (1u64 << b) - 1 };
    upper & !((1u64 << a) - 1)
}

/// Splits the field memory into field `fd` (mutable) and the fields before and after it.
#[inline]
fn split_field(fields: &mut [i32], n: usize, fd: usize) -> (&mut [i32], &[i32], &[i32]) {
    let (left, right) = fields.split_at_mut(fd * n);
    let (dst, rest) = right.split_at_mut(n);
    (dst, left, rest)
}

/// Field `f` (≠ `fd`) out of the two parts [`split_field`] left around `fd`.
#[inline]
fn other_field<'a>(left: &'a [i32], rest: &'a [i32], n: usize, fd: usize, f: usize) -> &'a [i32] {
    if f < fd {
        &left[f * n..(f + 1) * n]
    } else {
        &rest[(f - fd - 1) * n..(f - fd) * n]
    }
}
