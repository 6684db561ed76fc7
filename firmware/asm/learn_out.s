; Output-layer learning kernel (docs/LEARNING.md, steps 2-4 and 6 of the fixed-point rule;
; golden: model::onchip::OnChipTrainer). Stand-alone form: waits for a sample, lets `steps`
; timesteps pass (the forward pass of the TTFS firmware runs in those steps in the full
; firmware; here the host sets the output spike times f3 directly), then learns.
;
; Inputs:  f3 = output spike times t_k (t_max = no spike, as ttfs.s latches them);
;          the synapse unit's first-arrival latches (`ald`) = input spike times t_i;
;          .data: label, t_max, gamma, eta, steps, send_errors, arrival_offset.
; Rule:    targets T (S4NN, gamma), e = T - t, delta = l2_normalise(e) in Q1.15 (vred.sumsq,
;          isqrt floor, vdivq: division to nearest with ties away from zero, saturated to
;          32767), then for every
;          axon row i and every lane k with delta_k != 0 and t_i < t_k:
;          latent[i][k] = sat(latent[i][k] + round_sr((-delta_k * eta) >> 8)), and the binary
;          row refreshed from the signs (wsign).
;          With send_errors = 1, then for every axon j: the partial hidden error
;          sum_k [t_j < t_k] * ((delta_k * w_kj) >> 8) (32-bit wrapping sum; step 5 of the rule)
;          is sent with `send` to src_table[j] (the source neuron of axon j).
; Bounds:  sum e^2 is formed in 64 bits: exact for any layer a core holds.
;          With theta_learn = 1 (step 7, thresholds learned; golden:
;          model::onchip::ThresholdLearning), last, per neuron k: the latent threshold (f7,
;          fixed point with theta_frac = F fraction bits)
;          theta_lat = clamp(theta_lat + round_ne((delta_k * theta_eta) >> THETA_SHIFT),
;          theta_lo, theta_hi) (theta_lo / theta_hi = theta_min / theta_max << F); with
;          theta_window > 0, the silence count (f11: consecutive samples with t_k = t_max, 0
;          after a spike) reaching theta_window lowers it by theta_step (then clamped to
;          theta_lo) and restarts the count; the comparator threshold ttfs.s reads (f5, with
;          threshold_field = 1) = (theta_lat + (2^F >> 1)) >> F (arithmetic).
; Fields:  f3 t   f5 threshold (comparator)   f7 latent threshold   f8 T   f9 e   f10 delta
;          f11 silence count   f12 -eta (then theta_eta)   f13 update   f14 latent row
;          f15 t - arrival_offset.
; Masks:   m3 pushed competitors   m4 delta != 0   m5 update mask   m6 threshold masks.

        .equ THETA_SHIFT, 15        ; right shift of delta * theta_eta (OnChipRule thresholds.shift)

        .data
label:  .word 0
t_max:  .word 256
gamma:  .word 3
eta:    .word 1
steps:  .word 0
send_errors: .word 0                ; 1: send the hidden-error partial sums back
arrival_offset: .word 0             ; ald reads t_i - arrival_offset (stand-alone 0; on the
                                    ; chip a spike of time t arrives in timestep t - 1: 1)
theta_learn: .word 0                ; 1: learn the thresholds (step 7)
theta_eta: .word 0                  ; eta_theta of the layer
theta_lo: .word 0                   ; theta_min << F
theta_hi: .word 0                   ; theta_max << F
theta_frac: .word 8                 ; F, fraction bits of the latent threshold
theta_window: .word 0               ; homeostasis window in samples (0: none)
theta_step: .word 0                 ; homeostatic lowering in latent LSBs
src_table: .word 0                  ; per axon j: tile << 16 | neuron of its source (the
                                    ; reverse-routing table; the host writes `axons` words here)

        .text
top:
        wait    sample
        ld      r1, steps(r0)
        beq     r1, r0, learn
pass:
        barrier
        addi    r1, r1, -1
        bne     r1, r0, pass
learn:
        ld      r2, t_max(r0)
        ld      r3, gamma(r0)
        ld      r4, label(r0)
        vred.min r5, f3             ; t_min
        blt     r5, r2, fired
        vmovs   f8, r2              ; nobody fired: T = t_max, T_y = max(t_max - gamma, 0)
        sub     r6, r2, r3
        bge     r6, r0, nobody_fired
        li      r6, 0
nobody_fired:
        vset    f8, r4, r6
        j       errors
fired:
        vmov    f8, f3              ; T = t
        add     r6, r5, r3          ; t_min + gamma
        min     r7, r6, r2
        vcmps.lt m3, f3, r6         ; t_k - t_min < gamma
        vmovs   f8, r7, m3          ; pushed to min(t_min + gamma, t_max)
        vset    f8, r4, r5          ; T_y = t_min
errors:
        vsub    f9, f8, f3          ; e = T - t
        vred.sumsq r6, r7, f9       ; sum e^2, 64 bits in r6:r7
        isqrt   r7, r6, r7          ; norm = floor(sqrt)
        vdivq   f10, f9, r7         ; delta = (e << 15) / norm to nearest, ties away from zero,
                                    ; saturated to Q1.15 (all 0 when the norm is 0)
update:
        ld      r6, eta(r0)
        sub     r6, r0, r6
        vmovs   f12, r6             ; -eta (delta * -eta = -delta * eta, the same product)
        vcmps.ne m4, f10, r0        ; delta != 0
        ld      r6, arrival_offset(r0)
        vmovs   f15, r6
        vsub    f15, f3, f15        ; t_k - arrival_offset, compared with the latch
        csrr    r10, axons
        li      r11, 0              ; axon row i
row:
        ald     r9, r11             ; t_i - arrival_offset (i32::MAX: no input spike)
        vcmps.gt m5, f15, r9        ; t_i < t_k
        mand    m5, m5, m4
        vmulsh.sr f13, f10, f12, 8, m5
        wload   f14, r11, m5
        vadds   f14, f14, f13, m5
        wstore  f14, r11, m5        ; saturates to the latent width
        wsign   r11
        addi    r11, r11, 1
        blt     r11, r10, row
        ld      r6, send_errors(r0)
        beq     r6, r0, finish
        li      r11, 0              ; axon j: partial hidden error, with the UPDATED latents
back:
        ald     r9, r11             ; t_j - arrival_offset
        vcmps.gt m5, f15, r9        ; t_j < t_k
        wload   f14, r11, m5
        vmulsh.floor f13, f10, f14, 8, m5   ; (delta_k * w_kj) >> hidden_shift (8), floor
        vred.sum r7, f13, m5        ; wrapping sum over the lanes
        ld      r8, src_table(r11)
        send    r8, r7
        addi    r11, r11, 1
        blt     r11, r10, back
finish:
        ld      r6, theta_learn(r0)
        beq     r6, r0, done
        ld      r6, theta_eta(r0)   ; step 7: the thresholds
        vmovs   f12, r6
        vmulsh.ne f13, f10, f12, THETA_SHIFT ; round_ne((delta * theta_eta) >> THETA_SHIFT)
        vadds   f7, f7, f13         ; saturating, then clamped
        ld      r7, theta_lo(r0)
        ld      r8, theta_hi(r0)
        vmax    f7, f7, r7
        vmin    f7, f7, r8
        ld      r6, theta_window(r0)
        beq     r6, r0, comparator
        ld      r2, t_max(r0)
        vcmps.lt m6, f3, r2         ; fired in this sample: the count restarts
        vmovi   f11, 0, m6
        li      r9, 1
        vcmps.ge m6, f3, r2         ; silent: one more silent sample
        vadd    f11, f11, r9, m6
        vcmps.ge m6, f11, r6        ; silent for theta_window samples
        ld      r9, theta_step(r0)
        vsubs   f7, f7, r9, m6      ; lowered (saturating), then clamped
        vmax    f7, f7, r7
        vmovi   f11, 0, m6
comparator:
        ld      r6, theta_frac(r0)
        li      r9, 1
        shl     r8, r9, r6
        sra     r8, r8, r9          ; half = 2^F >> 1
        vadd    f5, f7, r8          ; theta_lat + half (fits: theta_max << F + half <= i32::MAX)
        vsra    f5, f5, r6          ; comparator = (theta_lat + half) >> F
done:
        jr      r0                  ; back to address 0 (stand-alone: `top`; on the chip: the
                                    ; dispatch of firmware::learn_out::chip_program)
