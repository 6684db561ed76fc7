; Loihi-compatible LIF, bit-exact with Lava's PyLifModelBitAcc (reference/hardware.md §1.3).
;
; Per step (Lava's order): u <- wrap24(decay(u, du + 1) + (a_in << 6));
;                          v <- sat24(decay(v, dv) + u + bias);
;                          spike iff v > vth << 6 (strict); on a spike v <- 0.
;
; Fields:  f0 a_in (synaptic input accumulator)   f1 u   f2 v
;          f3 bias_mant (13-bit signed, per neuron)   f4 bias_exp (3-bit signed, per neuron)
;          f5 effective bias   f6 spike flag of this step (0/1)   f7 scratch
; Masks:   m1 spiked this step   m2 bias_exp >= 0   m3 bias_exp < 0
; Params:  du, dv (12-bit unsigned), vth (17-bit unsigned mantissa) in .data

        .data
du:     .word 0
dv:     .word 0
vth:    .word 0

        .text
start:
        wait    sample              ; the host begins the run; a_in of step 0 is in f0
init:                               ; a new sample: reload the parameters, u = v = 0
        vmovi   f1, 0
        vmovi   f2, 0
        ld      r1, du(r0)
        addi    r1, r1, 1           ; current decay constant du + ds_offset (1)
        ld      r2, dv(r0)          ; voltage decay constant dv + dm_offset (0)
        ld      r3, vth(r0)
        li      r4, 6
        shl     r3, r3, r4          ; effective threshold vth << 6
        ; effective bias: bias_mant << bias_exp, or bias_mant >> -bias_exp (floor) if negative
        vcmps.ge m2, f4, r0
        mandn   m3, m0, m2
        vshl    f5, f3, f4, m2
        vmovi   f7, 0
        vsub    f7, f7, f4
        vsra    f5, f3, f7, m3
step:
        vdecay  f1, f1, r1          ; u <- decay(u, du + 1), truncating toward zero
        vshli   f7, f0, 6           ; a_in << 6
        vaddw24 f1, f1, f7          ; u wraps to 24 bits
        vdecay  f2, f2, r2          ; v <- decay(v, dv)
        vadd    f7, f1, f5          ; u + bias (exact in 32 bits)
        vadds24 f2, f2, f7          ; v saturates to +-(2^23 - 1)
        vcmps.gt m1, f2, r3         ; spike iff v > vth << 6
        vmovi   f2, 0, m1           ; reset to zero
        vmovi   f6, 0
        vmovi   f6, 1, m1
        vspike  m1
        barrier
        csrr    r6, timestep
        bne     r6, r0, step        ; next step of the run
        j       init                ; the host began a new sample at the barrier
