use model::*;
#[test]
#[ignore]
fn debug_dump() {
    let net = Network::load(std::path::Path::new("/work/notes/runs/fashion-bs4nn-784-600-10.json")).unwrap();
    let g = GoldenNetwork::new(&net).unwrap();
    let data = DatasetSpec::Fashion("/work/shared/data/fashion-mnist".into()).load().unwrap();
    let enc = LatencyEncoder { rule: EncodingRule::Bs4nn, t_max: 256 };
    for l in &net.layers { if let LayerKind::Dense(d) = &l.kind { println!("{:?} {:?}", d.threshold, d.scale); } }
    for k in 0..8 {
        let tr = g.forward(&enc.encode(data.test.image(k))).unwrap();
        let h: Vec<u16> = tr.layer_times[1].iter().map(|t| t.0).collect();
        let mut hs = h.clone(); hs.sort();
        let fired = h.iter().filter(|&&t| t < 256).count();
        println!("label {} pred {} hidden fired {} min {} med {} out {:?}", data.test.label(k), tr.prediction, fired, hs[0], hs[300], tr.layer_times[2].iter().map(|t| t.0).collect::<Vec<_>>());
    }
}
