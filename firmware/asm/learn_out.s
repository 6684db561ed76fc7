; Output-layer learning kernel (docs/LEARNING.md, steps 2-4 and 6 of the fixed-point rule;
; golden: model::onchip::OnChipTrainer). Stand-alone form: waits for a sample, lets `steps`
; timesteps pass (the forward pass of the TTFS firmware runs in those steps in the full
; firmware; here the host sets the output spike times f3 directly), then learns.
;
; Inputs:  f3 = output spike times t_k (t_max = no spike, as ttfs.s latches them);
;          the synapse unit's first-arrival latches (`ald`) = input spike times t_i;
;          .data: label, t_max, gamma, eta, steps, send_errors, arrival_offset.
; Rule:    targets T (S4NN, gamma), e = T - t, delta = l2_normalise(e) in Q1.15 (isqrt floor,
;          division to nearest with ties away from zero, saturated to 32767), then for every
;          axon row i and every lane k with delta_k != 0 and t_i < t_k:
;          latent[i][k] = sat(latent[i][k] + round_sr((-delta_k * eta) >> 8)), and the binary
;          row refreshed from the signs (wsign).
;          With send_errors = 1, then for every axon j: the partial hidden error
;          sum_k [t_j < t_k] * ((delta_k * w_kj) >> 8) (32-bit wrapping sum; step 5 of the rule)
;          is sent with `send` to src_table[j] (the source neuron of axon j).
; Bounds:  sum e^2 is formed in 32 bits and the division needs 2 * norm < 2^16: valid while
;          n_out * t_max^2 < 2^30 (e.g. 16384 outputs at t_max = 256).
; Fields:  f3 t   f8 T   f9 e   f10 delta   f11 -delta   f12 eta   f13 e^2 / update
;          f14 latent row   f15 t - arrival_offset.   Masks: m3 pushed competitors   m4 delta != 0   m5 update mask.

        .data
label:  .word 0
t_max:  .word 256
gamma:  .word 3
eta:    .word 1
steps:  .word 0
send_errors: .word 0                ; 1: send the hidden-error partial sums back
arrival_offset: .word 0             ; ald reads t_i - arrival_offset (stand-alone 0; on the
                                    ; chip a spike of time t arrives in timestep t - 1: 1)
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
        vmul    f13, f9, f9
        vred.sum r6, f13            ; sum e^2
        li      r7, 0               ; isqrt(r6) -> r7 (bit by bit, floor)
        li      r8, 0x40000000
        li      r15, 2
        li      r14, 1
isq_shrink:
        beq     r8, r0, isq_done
        bge     r6, r8, isq_loop
        srl     r8, r8, r15
        j       isq_shrink
isq_loop:
        beq     r8, r0, isq_done
        add     r9, r7, r8
        blt     r6, r9, isq_else
        sub     r6, r6, r9
        srl     r7, r7, r14
        add     r7, r7, r8
        j       isq_next
isq_else:
        srl     r7, r7, r14
isq_next:
        srl     r8, r8, r15
        j       isq_loop
isq_done:
        vmovi   f10, 0              ; delta = 0 (stays 0 when the norm is 0)
        beq     r7, r0, update
        csrr    r10, neurons
        li      r11, 0              ; lane k
        add     r12, r7, r7         ; D = 2 norm
delta_lane:
        vget    r9, f9, r11         ; e_k
        li      r13, 0
        bge     r9, r0, magnitude
        sub     r9, r0, r9
        li      r13, 1
magnitude:
        li      r6, 16
        shl     r9, r9, r6
        add     r9, r9, r7          ; N = |e| 2^16 + norm: q = floor(N / D) rounds |e| 2^15 / norm
        li      r6, 0               ; q
        li      r8, 15              ; quotient bit b (q <= 2^15)
div_bit:
        shl     r14, r12, r8
        blt     r9, r14, div_next
        sub     r9, r9, r14
        li      r15, 1
        shl     r15, r15, r8
        or      r6, r6, r15
div_next:
        beq     r8, r0, div_done
        addi    r8, r8, -1
        j       div_bit
div_done:
        beq     r13, r0, positive
        sub     r6, r0, r6          ; -q (>= -32768: exact)
positive:
        li      r14, 32767
        min     r6, r6, r14         ; +1.0 saturates
        vset    f10, r11, r6
        addi    r11, r11, 1
        blt     r11, r10, delta_lane
update:
        vmovi   f11, 0
        vsub    f11, f11, f10       ; -delta
        ld      r6, eta(r0)
        vmovs   f12, r6
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
        vmulsh.sr f13, f11, f12, 8, m5
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
        jr      r0                  ; back to address 0 (stand-alone: `top`; on the chip: the
                                    ; dispatch of firmware::learn_out::chip_program)
