//! Lava-DL's netx format through the command line: `spikemesh netx` imports networks that
//! SLAYER trained and exported (`tests/data/netx/make_lavadl_digits.py`: a dense one, a
//! convolutional one, a recurrent one and a dense one with learned axonal delays), `map` and `run` put them on the chip, and their output spike counts
//! equal those Lava itself computed for the same files (netx + Lava's bit-accurate LIF, Dense
//! and Conv) on every test image; bad files exit 1 with a message naming the file.

mod cli_support;

use cli_support::{scratch_dir, spikemesh, stderr, test_data};
use model::lif::{LifNetwork, RateCode};
use std::path::Path;

fn fixture(name: &str) -> String {
    test_data("netx", name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn lava_dl_networks_run_on_the_chip_spike_for_spike_as_in_lava() {
    // Lava's output spike counts per network and test image (its steps 2..33 are the chip's
    // 0..31).
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("lavadl_digits.json")).unwrap())
            .unwrap();
    let test = model::data::digits().unwrap().test;
    let dir = scratch_dir("cli-netx");
    for name in ["lavadl_digits", "lavadl_conv", "lavadl_rnn", "lavadl_delay"] {
        let model = dir.join(format!("{name}.json"));
        let o = spikemesh(&[
            "netx",
            &fixture(&format!("{name}.net")),
            "--dataset",
            "digits",
            "-o",
            s(&model),
        ]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let net = LifNetwork::load(&model).unwrap();
        // SLAYER's CUBA neurons (current decay 0.25, voltage decay 0.03, threshold 1.25) as
        // netx gives them to Lava's LIF: du = iDecay − 1, dv = vDecay, vth = vThMant.
        assert!(
            net.layers
                .iter()
                .all(|l| (l.neuron.du, l.neuron.dv, l.neuron.vth) == (1023, 123, 80)),
            "{name}: {out}"
        );
        assert_eq!(net.layers[0].conv.is_some(), name == "lavadl_conv");
        assert_eq!(net.layers[0].is_recurrent(), name == "lavadl_rnn");
        // SLAYER's learned delays, several steps long in both layers (DelayDense in Lava,
        // the dendritic delay slots on the chip).
        assert_eq!(
            net.layers.iter().all(|l| l.max_input_delay() >= 5),
            name == "lavadl_delay",
            "{name}: {out}"
        );
        let lava = report[name]["lava_counts"].as_array().unwrap();
        assert_eq!(lava.len(), test.len());
        let mut spikes_total = 0;
        for (k, theirs) in lava.iter().enumerate() {
            let ours = net
                .forward(&RateCode::Regular.encode(test.image(k), 32))
                .output_counts;
            let theirs: Vec<u32> = theirs
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(ours, theirs, "{name}, test image {k}: chip model vs Lava");
            spikes_total += ours.iter().sum::<u32>();
        }
        assert!(
            spikes_total > 360 * 10,
            "{name}: {spikes_total} output spikes: too quiet to say much"
        );
        let accuracy = report[name]["lava_accuracy"].as_f64().unwrap();
        assert!(
            out.contains(&format!("{:.2} %", 100.0 * accuracy)),
            "{name}: Lava's accuracy {accuracy}: {out}"
        );
        // The chip itself (cycle-accurate) agrees with that model on every image.
        let image = dir.join(format!("{name}.img"));
        let o = spikemesh(&["map", s(&model), "-o", s(&image)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let o = spikemesh(&["run", s(&image), "--model", s(&model)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("chip agrees on 360/360 samples"),
            "{name}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

#[test]
fn files_that_are_not_netx_networks_are_refused_by_name() {
    let dir = scratch_dir("cli-netx-bad");
    let out = dir.join("x.json");
    let text = dir.join("not.net");
    std::fs::write(&text, "not hdf5").unwrap();
    let nir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nir/digits_lif.nir");
    // make_bad_netx.py: one broken rule each.
    for (file, want) in [
        (s(&text).to_string(), "a netx .net file is HDF5"),
        (nir.display().to_string(), "missing group `layer`"),
        (dir.join("absent.net").display().to_string(), "cannot read"),
        (
            fixture("bad_missing_vdecay.net"),
            "missing dataset `vDecay` in node `layer/0`",
        ),
        (fixture("bad_gap.net"), "missing group `layer/1`"),
        (
            fixture("bad_pool.net"),
            "node `layer/1` (netx layer): type: `pool`",
        ),
        (
            fixture("bad_delay.net"),
            "node `layer/0` (netx layer): delay[0]: 70 is outside 0..=62",
        ),
        (
            fixture("bad_conv_delay.net"),
            "node `layer/1` (netx layer): delay: axonal delays on a conv layer",
        ),
    ] {
        let o = spikemesh(&["netx", &file, "-o", s(&out)]);
        assert_eq!(o.status.code(), Some(1), "{file}");
        let e = stderr(&o);
        assert!(e.contains(&file) && e.contains(want), "{e}");
        assert!(!e.contains("panicked"), "{e}");
        assert!(!out.exists(), "a partial output was left");
    }
}
