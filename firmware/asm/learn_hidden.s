; Hidden-layer learning kernel (docs/LEARNING.md, steps 4 and 5 of the fixed-point rule on the
; receiving side; golden: model::onchip::OnChipTrainer). Chip form only: it is assembled after
; learn_out.s (firmware::learn_out::chip_program) and ends in that kernel's latent update.
;
; Inputs:  the partial hidden errors sent by the cores of the next layer (learn_out.s with
;          send_errors = 1): `error_sources` packets per neuron of this core (one per core of
;          the next layer), each addressed to the neuron (`recv`: payload, lane), in any order;
;          f3 = this core's spike times t_j (ttfs.s), the first-arrival latches (`ald`) = the
;          input times t_i, and the update parameters of learn_out.s (eta, arrival_offset,
;          send_errors, src_table).
; Rule:    g_j = wrap32(sum of the partials of neuron j) (wrapping addition: any packet order
;          and any split of the next layer give the same sum), g_j = sat24(g_j),
;          delta = l2_normalise(g): sum g^2 in 64 bits (vred.sumsq), norm = isqrt (floor),
;          delta_j = (g_j << 15) / norm to nearest, ties away from zero, saturated to Q1.15
;          (vdivq). The sum runs over this core's neurons (Normalisation::Core, which is
;          Normalisation::Layer when the layer is on one core), or, with norm_peers = P - 1 > 0,
;          over the whole layer split over P cores (Normalisation::Layer): each core sends its
;          64-bit partial (two packets, lanes NORM_HI / NORM_LO) to the other P - 1 cores, whose
;          tiles follow the reverse-routing table (src_table[axons + p] = tile << 16), and adds
;          theirs (64-bit addition modulo 2^64: the same total on every core, in any order).
;          Then the update loop of learn_out.s:
;          for every axon row i and every lane j with delta_j != 0 and t_i < t_j,
;          latent[i][j] = sat(latent[i][j] + round_sr((-delta_j * eta) >> 8)), wsign; and with
;          send_errors = 1 the partial errors of the layer below are sent on; with
;          theta_learn = 1 the core's thresholds are learned last (step 7, learn_out.s).
; Bounds:  |g| <= 2^23 after sat24, so sum g^2 < 2^63 for up to 2^17 neurons.
; Packets: a payload for lane NORM_HI / NORM_LO (>= any core's neuron count) is a peer's
;          partial sum of squares (high / low word); any other lane is a partial error.
; Fields:  f9 g   f10 delta (then learn_out.s's f5, f7, f11..f15, m4..m6).

        .equ NORM_HI, 0xFFFF        ; lane tags of the peers' partial sums of squares
        .equ NORM_LO, 0xFFFE

        .data
error_sources: .word 0              ; packets per neuron (cores of the next layer); 0 = output core
norm_peers: .word 0                 ; other cores of the layer normalised together (0: this core alone)

        .text
learn_hidden:
        csrr    r10, neurons
        vmovi   f9, 0               ; g = 0
        ld      r1, error_sources(r0)
        mul     r1, r1, r10         ; partial errors to receive
        ld      r11, norm_peers(r0)
        add     r12, r11, r11       ; peer words to receive (hi and lo from each peer)
        li      r13, 0              ; r13:r14 = the peers' sum of squares (64 bits)
        li      r14, 0
        beq     r1, r0, saturate
gather:
        recv    r2, r3              ; r2 = payload, r3 = the lane (neuron) it is for, or a tag
        bge     r3, r10, .Lpeer_early
        vget    r4, f9, r3
        add     r4, r4, r2          ; 32-bit wrapping sum
        vset    f9, r3, r4
        addi    r1, r1, -1
        bne     r1, r0, gather
        j       saturate
.Lpeer_early:                       ; a peer's word arrived before our own errors were complete
        jal     r15, peer_word
        j       gather
saturate:
        li      r4, 0x7FFFFF
        vmin    f9, f9, r4          ; sat24: [-2^23, 2^23 - 1]
        li      r4, -0x800000
        vmax    f9, f9, r4
        vred.sumsq r6, r7, f9       ; own sum g^2, 64 bits in r6:r7
        beq     r11, r0, norm
        csrr    r5, axons           ; the peers' tiles follow the src_table words of the axons
        li      r8, 0               ; peer p
share:
        add     r9, r5, r8
        ld      r9, src_table(r9)   ; peer tile << 16
        ori     r4, r9, NORM_HI
        send    r4, r6
        ori     r4, r9, NORM_LO
        send    r4, r7
        addi    r8, r8, 1
        blt     r8, r11, share
collect:
        beq     r12, r0, total
        recv    r2, r3              ; only peer words are left
        jal     r15, peer_word
        j       collect
total:                              ; own (r6:r7) + peers (r13:r14), modulo 2^64
        add     r6, r6, r13
        add     r7, r7, r14
        lui     r4, 0x8000          ; carry = (low sum) <u r14: flip the sign bits, then slt
        xor     r5, r7, r4
        xor     r4, r14, r4
        slt     r5, r5, r4
        add     r6, r6, r5
norm:
        isqrt   r8, r6, r7          ; norm = floor(sqrt), unsigned
        vdivq   f10, f9, r8         ; delta (all 0 when the norm is 0)
        j       update              ; learn_out.s: latent update, binary rows, send_errors

; One peer word (r2 = payload, r3 = its tag) into r13:r14 modulo 2^64; r12 counts down.
; Returns through r15; uses r4, r5.
peer_word:
        addi    r12, r12, -1
        li      r4, NORM_HI
        bne     r3, r4, .Lpeer_lo
        add     r13, r13, r2        ; high word
        jr      r15
.Lpeer_lo:
        add     r14, r14, r2        ; low word, the carry into the high word
        lui     r4, 0x8000
        xor     r5, r14, r4
        xor     r4, r2, r4
        slt     r5, r5, r4
        add     r13, r13, r5
        jr      r15
