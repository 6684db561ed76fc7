; TTFS integrate-and-fire for STiDi-BP / S4NN / BS4NN (reference/stidi-bp.md §3).
;
; Non-leaky, one spike per neuron per sample, binary (sign) weights, integer threshold.
; Per step t = 0 .. t_max - 1, with f0 = the weighted input spikes applied at step t:
;   step PSP (psp_ramp = 0):  V += f0                     (S4NN: V(t) = sum_i w_i [t_i <= t])
;   ramp PSP (psp_ramp = 1):  V += S; S += f0             (STiDi-BP: V(t) = sum_i w_i max(0, t - t_i))
;   fire iff not yet fired and V > θ (cmp_ge = 0) or V >= θ (cmp_ge = 1), with θ the
;   per-neuron threshold field f5 (threshold_field = 1: preloaded by the loader) or the
;   scalar `threshold` copied into f5 at each sample start (threshold_field = 0);
;   spike time t + out_delay, latched in f3; a time >= t_max means "no spike" (f3 = t_max,
;   nothing sent). V and S saturate at 32 bits.
; After step t_max - 1 (and one more barrier release) the core waits for the next sample;
; a sample begun while the core is at the barrier restarts it directly.
;
; Fields:  f0 acc   f1 V   f2 S (ramp slope)   f3 spike-time latch   f4 spike flag (0/1)
;          f5 threshold θ per neuron   f6 decoding snapshot (output cores, snap_step >= 0):
;          V of the crossing step for a neuron that sent its spike (the host decides ties
;          by it), else V of step snap_step (the no-spike fallback of
;          reference/stidi-bp.md §4.2 reads it when no output neuron fires)
; Masks:   m1 fires now   m2 has fired in this sample   m3 has not fired (snapshot step)
; Params:  threshold, t_max, psp_ramp, cmp_ge, out_delay, threshold_field, snap_step
;          (-1: never) in .data

        .data
threshold:  .word 100
t_max:      .word 256
psp_ramp:   .word 0
cmp_ge:     .word 0
out_delay:  .word 1
threshold_field: .word 0
snap_step:  .word -1

        .text
sample:
        wait    sample              ; a new sample: timestep 0, inputs of step 0 in f0
init:                               ; (re)load the parameters, clear the state
        ld      r1, threshold(r0)
        ld      r2, t_max(r0)
        ld      r3, psp_ramp(r0)
        ld      r4, cmp_ge(r0)
        ld      r5, out_delay(r0)
        ld      r8, snap_step(r0)
        ld      r7, threshold_field(r0)
        bne     r7, r0, keep_theta  ; per-neuron thresholds are already in f5
        vmovs   f5, r1              ; one threshold for every neuron
keep_theta:
        vmovi   f1, 0
        vmovi   f2, 0
        vmovs   f3, r2              ; no spike yet
        mandn   m2, m2, m2          ; nobody has fired
        li      r6, 0               ; timestep 0
step:
        vmovi   f4, 0
        beq     r3, r0, step_psp
        vadds   f1, f1, f2          ; ramp: V += S (inputs up to t - 1)
        vadds   f2, f2, f0          ; S += inputs of step t
        j       snapshot
step_psp:
        vadds   f1, f1, f0          ; step: V += inputs of step t
snapshot:
        bne     r6, r8, compare     ; keep V of step snap_step for the decoding fallback,
        mandn   m3, m0, m2          ; but not over a crossing potential already kept
        vmov    f6, f1, m3
compare:
        bne     r4, r0, compare_ge
        vcmp.gt m1, f1, f5
        j       fire
compare_ge:
        vcmp.ge m1, f1, f5
fire:
        mandn   m1, m1, m2          ; only neurons that have not fired yet
        mor     m2, m2, m1
        add     r7, r6, r5          ; spike time t + out_delay
        bge     r7, r2, silent      ; at or past t_max: "no spike"
        vmovs   f3, r7, m1          ; latch the spike time
        vmovi   f4, 1, m1
        vspike  m1
        bge     r8, r0, latch       ; an output core keeps the crossing potentials (taken
                                    ; there; the hidden layers, most of the work, fall through)
silent:
        barrier
        csrr    r6, timestep
        beq     r6, r0, init        ; the host began a new sample at the barrier
        blt     r6, r2, step        ; next step of this sample
        j       sample              ; the window is over: wait for the next sample
latch:
        vmov    f6, f1, m1          ; V of the crossing step, for the host's tie decoding
        j       silent
