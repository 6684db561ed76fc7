; Dispatch at address 0 of the chip's learning program (firmware::learn_out::chip_program:
; this file, then ttfs.s, learn_out.s and learn_hidden.s, concatenated and assembled as one
; program).
;
; The chip's reset line (Neurocore::restart, used by the host after every sample) restarts
; the processor at address 0. With learn_req = 0 it goes to the TTFS firmware's `wait sample`
; (inference). The host starts the learning phase by writing the label and learn_req = 1
; (management writes into data memory) and pulsing the reset line: the core then clears
; learn_req, waits for the learn event (Neurocore::begin_learn) and runs the output-layer
; kernel of learn_out.s (error_sources = 0) or the hidden-layer kernel of learn_hidden.s
; (error_sources = packets per neuron it receives) on the spike times ttfs.s latched in f3;
; both end with `jr r0`, back here, and so to `wait sample`.

        .data
learn_req: .word 0

        .text
dispatch:
        ld      r1, learn_req(r0)
        beq     r1, r0, sample      ; ttfs.s: wait for the next sample
        st      r0, learn_req(r0)
        wait    learn
        ld      r1, error_sources(r0)
        bne     r1, r0, learn_hidden ; learn_hidden.s: a hidden-layer core (errors come back)
        j       learn               ; learn_out.s: the rule on the latched spike times
