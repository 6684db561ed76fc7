//! `spikemesh neuron`: runs one neuron model as firmware on one simulated neurocore (or its
//! golden model, or both) from a JSON description, and prints the per-step trace.

use anyhow::{anyhow, bail, Context, Result};
use firmware::loihi_lif::LoihiLifConfig;
use firmware::ttfs::{Compare, Psp, TtfsParams};
use firmware::{lif_reset, loihi_lif, ttfs, LifTrace, NeuronModel};
use isa::arith::loihi::{BiasTarget, ResetMode};
use serde_json::{json, Map, Value};
use sim::core::{CoreConfig, Neurocore, SynapseMemory};
use std::io::Read;
use std::path::PathBuf;

const HELP: &str = r#"INPUT (JSON object; unknown keys are refused):

  Loihi LIF, bit-exact with Lava's PyLifModelBitAcc ("model" may be omitted):
    {"model": "loihi-lif", "du": 0..4095, "dv": 0..4095, "vth": 0..131071,
     "bias_mant": [-4096..4095, one per neuron], "bias_exp": -4..3 (or one per neuron),
     "a_in": [[-32768..32767, one per neuron], one row per step]}
    a_in[t] is applied at step t (as Lava applies the input received in that step).
    Output: {"u": [[..]], "v": [[..]], "s": [[0/1..]], "cycles": [..]}, one row per step.

  LIF with reset (multi-spike networks): as loihi-lif, plus
    {"model": "lif-reset", ..., "reset": "zero" | "subtract" | "subtract-next",
     "bias_to": "voltage" | "current"}
    (default "zero"; "subtract-next" subtracts in the step after the spike, as snnTorch;
    "bias_to" default "voltage", "current" adds the bias to u as a constant input current)
    Output as loihi-lif.

  TTFS integrate-and-fire (S4NN / BS4NN / STiDi-BP), binary weights:
    {"model": "ttfs", "threshold": integer (or one per neuron), "t_max": 1..4096,
     "psp": "step" | "ramp" (default "step"), "cmp": ">" | ">=" (default ">"),
     "delay": 0 | 1 (default 1),
     "weights": [[-1|0|1, one per neuron], one row per input axon],
     "t_in": [spike time of each input axon; >= t_max means no spike]}
    Runs steps 0..t_max-1; input i's spike is applied at step t_in[i].
    Output: {"v": [[..]], "s": [[0/1..]], "t_spike": [..], "cycles": [..]}
    (t_spike = t_max means "no spike").

"cycles" is the neurocore's cycle count of each step (absent with --reference)."#;

/// Run one neuron model on one simulated neurocore from a JSON description and print the
/// per-step trace as JSON.
#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// The JSON description ("-" reads standard input). See --help for the format.
    pub input: PathBuf,
    /// Run the plain-Rust golden model instead of the firmware on the simulated core.
    #[arg(long, conflicts_with = "check")]
    pub reference: bool,
    /// Run both the firmware and the golden model; exit non-zero at the first divergence,
    /// naming the step and the neuron. Prints the firmware trace when they agree.
    #[arg(long)]
    pub check: bool,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let origin = args.input.display().to_string();
    let text = if origin == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        s
    } else {
        std::fs::read_to_string(&args.input).with_context(|| format!("reading {origin}"))?
    };
    let value: Value =
        serde_json::from_str(&text).map_err(|e| anyhow!("{origin}: invalid JSON: {e}"))?;
    let job = Job::parse(&value).map_err(|e| anyhow!("{origin}: {e}"))?;
    let out = match (args.reference, args.check) {
        (true, _) => job.reference().to_json(false),
        (false, false) => job.firmware()?.to_json(true),
        (false, true) => {
            let fw = job.firmware()?;
            let golden = job.reference();
            fw.compare(&golden)?;
            eprintln!(
                "check: firmware on the neurocore and golden model agree on {} steps x {} neurons",
                fw.steps(),
                fw.neurons()
            );
            fw.to_json(true)
        }
    };
    println!("{out}");
    Ok(())
}

/// A parsed, validated description.
enum Job {
    Lif {
        raw: LifRaw,
        config: LoihiLifConfig,
        a_in: Vec<Vec<i16>>,
        reset: Option<ResetMode>,
    },
    Ttfs {
        params: TtfsParams,
        /// Per-neuron thresholds, when the description gives an array.
        thresholds: Option<Vec<i32>>,
        weights: Vec<Vec<i32>>,
        t_in: Vec<u32>,
    },
}

struct LifRaw {
    du: i64,
    dv: i64,
    vth: i64,
    bias_mant: Vec<i64>,
    bias_exp: Vec<i64>,
    bias_target: BiasTarget,
}

/// A traced quantity by name, one row per step.
type NamedRows = (&'static str, Vec<Vec<i64>>);

/// What a run produced.
enum Outcome {
    Lif {
        trace: LifTrace,
        cycles: Vec<u64>,
    },
    Ttfs {
        trace: ttfs::TtfsTrace,
        cycles: Vec<u64>,
    },
}

const MAX_NEURONS: usize = 4096;
const MAX_AXONS: usize = 4096;
const MAX_STEPS: usize = 1 << 20;

fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value> {
    obj.get(key).ok_or_else(|| anyhow!("missing field `{key}`"))
}

fn int(v: &Value, name: &str, min: i64, max: i64, rule: &str) -> Result<i64> {
    let x = v
        .as_i64()
        .ok_or_else(|| anyhow!("field `{name}` must be an integer, found {v}"))?;
    if !(min..=max).contains(&x) {
        bail!(
            "field `{name}` = {x} is out of range: the rule is {min} <= {name} <= {max} ({rule})"
        );
    }
    Ok(x)
}

fn array<'a>(v: &'a Value, name: &str) -> Result<&'a Vec<Value>> {
    v.as_array()
        .ok_or_else(|| anyhow!("field `{name}` must be an array"))
}

fn int_array(v: &Value, name: &str, min: i64, max: i64, rule: &str) -> Result<Vec<i64>> {
    array(v, name)?
        .iter()
        .enumerate()
        .map(|(i, x)| int(x, &format!("{name}[{i}]"), min, max, rule))
        .collect()
}

fn matrix(
    v: &Value,
    name: &str,
    cols: usize,
    what: &str,
    min: i64,
    max: i64,
    rule: &str,
) -> Result<Vec<Vec<i64>>> {
    let rows = array(v, name)?;
    let mut out = Vec::with_capacity(rows.len());
    for (t, row) in rows.iter().enumerate() {
        let row_name = format!("{name}[{t}]");
        let r = int_array(row, &row_name, min, max, rule)?;
        if r.len() != cols {
            bail!("field `{row_name}` has {} entries, expected {cols} (one per {what}): ragged `{name}`", r.len());
        }
        out.push(r);
    }
    Ok(out)
}

fn word<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    default: &'a str,
    allowed: &[&str],
) -> Result<&'a str> {
    let s = match obj.get(key) {
        None => default,
        Some(v) => v
            .as_str()
            .ok_or_else(|| anyhow!("field `{key}` must be a string"))?,
    };
    if !allowed.contains(&s) {
        bail!("field `{key}` = \"{s}\" is not one of {allowed:?}");
    }
    Ok(s)
}

fn refuse_unknown(obj: &Map<String, Value>, known: &[&str]) -> Result<()> {
    for k in obj.keys() {
        if !known.contains(&k.as_str()) {
            bail!("unknown field `{k}` (expected one of {known:?})");
        }
    }
    Ok(())
}

impl Job {
    fn parse(value: &Value) -> Result<Job> {
        let obj = value
            .as_object()
            .ok_or_else(|| anyhow!("the description must be a JSON object"))?;
        let model = word(
            obj,
            "model",
            "loihi-lif",
            &["loihi-lif", "lif-reset", "ttfs"],
        )?;
        match model {
            "ttfs" => Self::parse_ttfs(obj),
            m => Self::parse_lif(obj, m == "lif-reset"),
        }
    }

    fn parse_lif(obj: &Map<String, Value>, with_reset: bool) -> Result<Job> {
        let mut known = vec!["model", "du", "dv", "vth", "bias_mant", "bias_exp", "a_in"];
        if with_reset {
            known.extend(["reset", "bias_to"]);
        }
        refuse_unknown(obj, &known)?;
        let du = int(field(obj, "du")?, "du", 0, 4095, "12-bit unsigned")?;
        let dv = int(field(obj, "dv")?, "dv", 0, 4095, "12-bit unsigned")?;
        let vth = int(
            field(obj, "vth")?,
            "vth",
            0,
            (1 << 17) - 1,
            "17-bit unsigned",
        )?;
        let bias_mant = int_array(
            field(obj, "bias_mant")?,
            "bias_mant",
            -4096,
            4095,
            "13-bit signed",
        )?;
        let n = bias_mant.len();
        if n == 0 || n > MAX_NEURONS {
            bail!("field `bias_mant` has {n} entries: one per neuron, 1..={MAX_NEURONS} neurons");
        }
        let exp_v = field(obj, "bias_exp")?;
        let bias_exp = if exp_v.is_array() {
            let e = int_array(exp_v, "bias_exp", -4, 3, "3-bit signed")?;
            if e.len() != n {
                bail!(
                    "field `bias_exp` has {} entries, expected {n} (one per neuron, as bias_mant)",
                    e.len()
                );
            }
            e
        } else {
            vec![int(exp_v, "bias_exp", -4, 3, "3-bit signed")?; n]
        };
        let a_in = matrix(
            field(obj, "a_in")?,
            "a_in",
            n,
            "neuron",
            -32768,
            32767,
            "16-bit signed",
        )?;
        if a_in.len() > MAX_STEPS {
            bail!("field `a_in` has {} steps, at most {MAX_STEPS}", a_in.len());
        }
        let a_in: Vec<Vec<i16>> = a_in
            .into_iter()
            .map(|r| r.into_iter().map(|x| x as i16).collect())
            .collect();
        let reset = if with_reset {
            Some(
                match word(obj, "reset", "zero", &["zero", "subtract", "subtract-next"])? {
                    "subtract" => ResetMode::Subtract,
                    "subtract-next" => ResetMode::SubtractNext,
                    _ => ResetMode::Zero,
                },
            )
        } else {
            None
        };
        let bias_target = if with_reset
            && word(obj, "bias_to", "voltage", &["voltage", "current"])? == "current"
        {
            BiasTarget::Current
        } else {
            BiasTarget::Voltage
        };
        let mut config = LoihiLifConfig::new(du, dv, vth, &bias_mant, &bias_exp)?;
        for p in &mut config.neurons {
            *p = p.with_bias_target(bias_target);
        }
        Ok(Job::Lif {
            raw: LifRaw {
                du,
                dv,
                vth,
                bias_mant,
                bias_exp,
                bias_target,
            },
            config,
            a_in,
            reset,
        })
    }

    fn parse_ttfs(obj: &Map<String, Value>) -> Result<Job> {
        refuse_unknown(
            obj,
            &[
                "model",
                "threshold",
                "t_max",
                "psp",
                "cmp",
                "delay",
                "weights",
                "t_in",
            ],
        )?;
        let th_value = field(obj, "threshold")?;
        let (lo, hi) = (i64::from(i32::MIN), i64::from(i32::MAX));
        let (threshold, thresholds) = if th_value.is_array() {
            let t = int_array(th_value, "threshold", lo, hi, "32-bit signed")?;
            (t.first().copied().unwrap_or(0), Some(t))
        } else {
            (int(th_value, "threshold", lo, hi, "32-bit signed")?, None)
        };
        let t_max = int(
            field(obj, "t_max")?,
            "t_max",
            1,
            ttfs::T_MAX_LIMIT,
            "a u12 time",
        )?;
        let psp = if word(obj, "psp", "step", &["step", "ramp"])? == "ramp" {
            Psp::Ramp
        } else {
            Psp::Step
        };
        let compare = if word(obj, "cmp", ">", &[">", ">="])? == ">=" {
            Compare::GreaterEqual
        } else {
            Compare::Greater
        };
        let delay = match obj.get("delay") {
            None => 1,
            Some(v) => int(v, "delay", 0, 1, "the output delay is 0 or 1")?,
        };
        let rows = array(field(obj, "weights")?, "weights")?;
        let neurons = rows.first().and_then(Value::as_array).map_or(0, Vec::len);
        if rows.is_empty() || rows.len() > MAX_AXONS {
            bail!(
                "field `weights` has {} rows: one per input axon, 1..={MAX_AXONS}",
                rows.len()
            );
        }
        if neurons == 0 || neurons > MAX_NEURONS {
            bail!("field `weights[0]` has {neurons} entries: one per neuron, 1..={MAX_NEURONS}");
        }
        let weights = matrix(
            field(obj, "weights")?,
            "weights",
            neurons,
            "neuron",
            -1,
            1,
            "binary weights are -1, 0 (absent) or +1",
        )?;
        let weights: Vec<Vec<i32>> = weights
            .into_iter()
            .map(|r| r.into_iter().map(|x| x as i32).collect())
            .collect();
        let t_in = int_array(
            field(obj, "t_in")?,
            "t_in",
            0,
            i64::from(u32::MAX),
            "a spike time; >= t_max means no spike",
        )?;
        if let Some(t) = &thresholds {
            if t.len() != neurons {
                bail!(
                    "field `threshold` has {} entries, expected {neurons} (one per neuron, as each row of `weights`)",
                    t.len()
                );
            }
        }
        if t_in.len() != weights.len() {
            bail!(
                "field `t_in` has {} entries, expected {} (one per row of `weights`)",
                t_in.len(),
                weights.len()
            );
        }
        if psp == Psp::Ramp && (weights.len() as i64) * t_max * t_max > i64::from(i32::MAX) {
            bail!("fields `weights` and `t_max`: a ramp PSP over {} inputs and {t_max} steps can exceed 32 bits (the rule is axons * t_max^2 <= 2^31 - 1)", weights.len());
        }
        let params = TtfsParams {
            threshold: threshold as i32,
            t_max: t_max as u32,
            psp,
            compare,
            delay: delay as u8,
        }
        .validated()?;
        Ok(Job::Ttfs {
            params,
            thresholds: thresholds.map(|t| t.into_iter().map(|x| x as i32).collect()),
            weights,
            t_in: t_in.into_iter().map(|t| t as u32).collect(),
        })
    }

    fn reference(&self) -> Outcome {
        match self {
            Job::Lif {
                config,
                a_in,
                reset,
                ..
            } => Outcome::Lif {
                trace: match reset {
                    None => loihi_lif::golden_run(config, a_in),
                    Some(r) => lif_reset::golden_run(config, a_in, *r),
                },
                cycles: Vec::new(),
            },
            Job::Ttfs {
                params,
                thresholds,
                weights,
                t_in,
            } => Outcome::Ttfs {
                trace: match thresholds {
                    Some(th) => ttfs::golden_run_thresholds(params, th, weights, t_in),
                    None => ttfs::golden_run(params, weights, t_in),
                },
                cycles: Vec::new(),
            },
        }
    }

    fn firmware(&self) -> Result<Outcome> {
        match self {
            Job::Lif {
                raw, a_in, reset, ..
            } => run_lif(raw, a_in, *reset),
            Job::Ttfs {
                params,
                thresholds,
                weights,
                t_in,
            } => run_ttfs(params, thresholds.as_deref(), weights, t_in),
        }
    }
}

fn run_lif(raw: &LifRaw, a_in: &[Vec<i16>], reset: Option<ResetMode>) -> Result<Outcome> {
    let n = raw.bias_mant.len();
    let model = if reset.is_some() {
        NeuronModel::LifReset
    } else {
        NeuronModel::LoihiLif
    };
    let program = model.program()?;
    let mut core = Neurocore::new(CoreConfig::standalone(n as u32, 1), &program)?;
    core.set_param("du", raw.du as i32)?;
    core.set_param("dv", raw.dv as i32)?;
    core.set_param("vth", raw.vth as i32)?;
    if let Some(r) = reset {
        core.set_param("reset_mode", lif_reset::reset_mode_word(r))?;
        core.set_param(
            "bias_current",
            lif_reset::bias_current_word(raw.bias_target),
        )?;
    }
    let mant: Vec<i32> = raw.bias_mant.iter().map(|&x| x as i32).collect();
    let exp: Vec<i32> = raw.bias_exp.iter().map(|&x| x as i32).collect();
    core.set_field(loihi_lif::BIAS_MANT, &mant)?;
    core.set_field(loihi_lif::BIAS_EXP, &exp)?;
    let mut trace = LifTrace::default();
    let mut cycles = Vec::with_capacity(a_in.len());
    core.run_sample(
        a_in.len(),
        |t, core, at| {
            for (i, &x) in a_in[t].iter().enumerate() {
                if x != 0 {
                    core.inject_current(i as u32, i32::from(x), at)?;
                }
            }
            Ok(())
        },
        |_, core, report| {
            trace.u.push(core.field(loihi_lif::U).to_vec());
            trace.v.push(core.field(loihi_lif::V).to_vec());
            trace.s.push(
                core.field(loihi_lif::SPIKED)
                    .iter()
                    .map(|&x| u8::from(x != 0))
                    .collect(),
            );
            cycles.push(report.cycles);
            Ok(())
        },
    )?;
    Ok(Outcome::Lif { trace, cycles })
}

fn run_ttfs(
    params: &TtfsParams,
    thresholds: Option<&[i32]>,
    weights: &[Vec<i32>],
    t_in: &[u32],
) -> Result<Outcome> {
    let axons = weights.len();
    let n = weights.first().map_or(0, Vec::len);
    let program = NeuronModel::Ttfs.program()?;
    let mut core = Neurocore::new(CoreConfig::standalone(n as u32, axons as u32), &program)?;
    for (name, value) in params.data_words() {
        core.set_param(name, value)?;
    }
    if let Some(th) = thresholds {
        core.set_param("threshold_field", 1)?;
        core.set_field(ttfs::THRESHOLD, th)?;
    }
    let mut mem = SynapseMemory::new(n, axons);
    for (i, row) in weights.iter().enumerate() {
        for (j, &w) in row.iter().enumerate() {
            let bit = match w {
                1 => Some(true),
                -1 => Some(false),
                _ => None,
            };
            mem.set_binary(i, j, bit)?;
        }
    }
    core.set_synapses(mem)?;
    // Inputs grouped by the step they are applied at.
    let steps = params.t_max as usize;
    let mut by_step: Vec<Vec<u32>> = vec![Vec::new(); steps];
    for (i, &t) in t_in.iter().enumerate() {
        if let Some(list) = by_step.get_mut(t as usize) {
            list.push(i as u32);
        }
    }
    let mut trace = ttfs::TtfsTrace::default();
    let mut cycles = Vec::with_capacity(steps);
    core.run_sample(
        steps,
        |t, core, at| {
            for &axon in &by_step[t] {
                core.deliver_spike(axon, at)?;
            }
            Ok(())
        },
        |_, core, report| {
            trace.v.push(core.field(ttfs::V).to_vec());
            trace.s.push(
                core.field(ttfs::SPIKED)
                    .iter()
                    .map(|&x| u8::from(x != 0))
                    .collect(),
            );
            cycles.push(report.cycles);
            Ok(())
        },
    )?;
    trace.t_spike = core
        .field(ttfs::T_SPIKE)
        .iter()
        .map(|&x| x as u32)
        .collect();
    Ok(Outcome::Ttfs { trace, cycles })
}

impl Outcome {
    fn steps(&self) -> usize {
        match self {
            Outcome::Lif { trace, .. } => trace.v.len(),
            Outcome::Ttfs { trace, .. } => trace.v.len(),
        }
    }

    fn neurons(&self) -> usize {
        match self {
            Outcome::Lif { trace, .. } => trace.v.first().map_or(0, Vec::len),
            Outcome::Ttfs { trace, .. } => trace.t_spike.len(),
        }
    }

    fn to_json(&self, with_cycles: bool) -> String {
        let mut v = match self {
            Outcome::Lif { trace, .. } => json!({"u": trace.u, "v": trace.v, "s": trace.s}),
            Outcome::Ttfs { trace, .. } => {
                json!({"v": trace.v, "s": trace.s, "t_spike": trace.t_spike})
            }
        };
        if with_cycles {
            let cycles = match self {
                Outcome::Lif { cycles, .. } | Outcome::Ttfs { cycles, .. } => cycles,
            };
            v["cycles"] = json!(cycles);
        }
        v.to_string()
    }

    /// The first divergence between the firmware's trace (`self`) and the golden one.
    fn compare(&self, golden: &Outcome) -> Result<()> {
        let rows = |o: &Outcome| -> Vec<NamedRows> {
            match o {
                Outcome::Lif { trace, .. } => vec![
                    ("u", widen(&trace.u)),
                    ("v", widen(&trace.v)),
                    ("s", widen(&trace.s)),
                ],
                Outcome::Ttfs { trace, .. } => vec![("v", widen(&trace.v)), ("s", widen(&trace.s))],
            }
        };
        let (a, b) = (rows(self), rows(golden));
        let steps = self.steps().max(golden.steps());
        for t in 0..steps {
            for ((name, fa), (_, fb)) in a.iter().zip(&b) {
                let (ra, rb) = (fa.get(t), fb.get(t));
                let len = ra.map_or(0, Vec::len).max(rb.map_or(0, Vec::len));
                for j in 0..len {
                    let x = ra.and_then(|r| r.get(j));
                    let y = rb.and_then(|r| r.get(j));
                    if x != y {
                        bail!(
                            "divergence at step {t}, neuron {j}: {name} = {} on the neurocore, {} in the golden model",
                            x.map_or("missing".into(), i64::to_string),
                            y.map_or("missing".into(), i64::to_string)
                        );
                    }
                }
            }
        }
        if let (Outcome::Ttfs { trace: ta, .. }, Outcome::Ttfs { trace: tb, .. }) = (self, golden) {
            for (j, (x, y)) in ta.t_spike.iter().zip(&tb.t_spike).enumerate() {
                if x != y {
                    bail!("divergence in the spike time of neuron {j}: t_spike = {x} on the neurocore, {y} in the golden model");
                }
            }
        }
        Ok(())
    }
}

/// A trace's rows as `i64`, so traces of different integer widths compare alike.
fn widen<T: Copy + Into<i64>>(rows: &[Vec<T>]) -> Vec<Vec<i64>> {
    rows.iter()
        .map(|r| r.iter().map(|&x| x.into()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lif(v11: i32) -> Outcome {
        Outcome::Lif {
            trace: LifTrace {
                u: vec![vec![1, 2], vec![3, 4]],
                v: vec![vec![5, 6], vec![7, v11]],
                s: vec![vec![0, 0], vec![1, 0]],
            },
            cycles: vec![10, 10],
        }
    }

    #[test]
    fn check_names_the_first_divergent_step_and_neuron() {
        assert!(lif(8).compare(&lif(8)).is_ok());
        let err = lif(8).compare(&lif(9)).unwrap_err().to_string();
        assert_eq!(
            err,
            "divergence at step 1, neuron 1: v = 8 on the neurocore, 9 in the golden model"
        );
    }

    #[test]
    fn check_compares_ttfs_spike_times() {
        let run = |t: u32| Outcome::Ttfs {
            trace: ttfs::TtfsTrace {
                v: vec![vec![0]],
                s: vec![vec![0]],
                t_spike: vec![t],
            },
            cycles: vec![],
        };
        let err = run(3).compare(&run(4)).unwrap_err().to_string();
        assert!(
            err.contains("neuron 0") && err.contains("t_spike = 3"),
            "{err}"
        );
    }
}
