; Multi-spike LIF with reset to zero or by subtraction (networks imported from NIR).
;
; The Loihi LIF dynamics (reference/hardware.md §1.3) with a choice of reset, golden model
; isa::arith::loihi::step_with_reset:
;   u <- wrap24(decay(u, du + 1) + (acc << 6));  v <- sat24(decay(v, dv) + u + bias);
;   or, with bias_current = 1 (the bias feeds the current, as a biased Linear before a
;   current-based neuron does): u <- wrap24(decay(u, du + 1) + (acc << 6) + bias),
;   v <- sat24(decay(v, dv) + u);
;   spike iff v > vth << 6;  reset_mode 0: v <- 0;  reset_mode 1: v <- v - (vth << 6);
;   reset_mode 2 (snnTorch's delayed reset): no reset in the spike's step, and the next step
;   subtracts vth << 6 inside its sum, v <- sat24(decay(v, dv) + u + bias - (vth << 6)).
; The input acc (f0) is the weighted sum of the spikes that arrived in the previous step
; (multi-bit synapse weights) or a host current.
;
; Fields:  f0 acc   f1 u   f2 v   f3 bias_mant   f4 bias_exp   f5 effective bias
;          f6 spike flag of this step (0/1)   f7 scratch
;          f8 current decay du + 1 per neuron   f9 voltage decay dv per neuron
;          f10 effective bias into the current (f5 then 0; both fixed at sample start)
; Masks:   m1 spiked this step (until the comparison: in the previous step)
;          m2 bias_exp >= 0   m3 bias_exp < 0
; Params:  du, dv, vth, reset_mode (0 = to zero, 1 = by subtraction, 2 = by subtraction in
;          the next step) in .data;
;          decay_fields (0: every neuron decays by du and dv, copied into f8/f9 at each sample
;          start; 1: f8/f9 are preloaded per neuron, for layers whose time constants differ);
;          bias_current (0: the bias is added to v; 1: to u)

        .data
du:         .word 0
dv:         .word 0
vth:        .word 0
reset_mode: .word 0
decay_fields: .word 0
bias_current: .word 0

        .text
start:
        wait    sample
init:                               ; a new sample: reload the parameters, u = v = 0
        vmovi   f1, 0
        vmovi   f2, 0
        ld      r1, du(r0)
        addi    r1, r1, 1           ; du + ds_offset
        ld      r2, dv(r0)
        ld      r3, vth(r0)
        li      r4, 6
        shl     r3, r3, r4          ; vth << 6
        ld      r5, reset_mode(r0)
        li      r8, 2               ; reset_mode of the delayed subtraction
        mandn   m1, m1, m1          ; nobody spiked before the sample
        ld      r7, decay_fields(r0)
        bne     r7, r0, keep_decays ; per-neuron decays are already in f8 / f9
        vmovs   f8, r1
        vmovs   f9, r2
keep_decays:
        vcmps.ge m2, f4, r0
        mandn   m3, m0, m2
        vshl    f5, f3, f4, m2
        vmovi   f7, 0
        vsub    f7, f7, f4
        vsra    f5, f3, f7, m3
        vmovi   f10, 0
        ld      r9, bias_current(r0)
        beq     r9, r0, step
        vmov    f10, f5             ; the bias feeds the current, not the voltage
        vmovi   f5, 0
step:
        vdecay  f1, f1, f8
        vshli   f7, f0, 6
        vadd    f7, f7, f10         ; |acc << 6| <= 2^21, |bias| <= 2^15: no 32-bit overflow
        vaddw24 f1, f1, f7
        vdecay  f2, f2, f9
        vadd    f7, f1, f5
        bne     r5, r8, add_input
        vsub    f7, f7, r3, m1      ; delayed reset: subtract for last step's spikes
add_input:
        vadds24 f2, f2, f7
        vcmps.gt m1, f2, r3
        beq     r5, r8, emit        ; delayed reset: keep v in the spike's step
        bne     r5, r0, subtract
        vmovi   f2, 0, m1           ; reset to zero
        j       emit
subtract:
        vsub    f2, f2, r3, m1      ; reset by subtraction: keep the excess
emit:
        vmovi   f6, 0
        vmovi   f6, 1, m1
        vspike  m1
        barrier
        csrr    r6, timestep
        bne     r6, r0, step        ; next step of the run
        j       init                ; the host began a new sample at the barrier
