//! The STiDi-BP architecture string: grammar, geometry, and errors that name the token and rule.

use model::stidi::{Arch, Geometry, LayerSpec};

#[test]
fn parses_conv_pool_fc_and_prints_back() {
    let a = Arch::parse("c16k5-p2-c32k3s1p1-p2-fc10").unwrap();
    assert_eq!(
        a.layers,
        vec![
            LayerSpec::Conv {
                channels: 16,
                kernel: 5,
                stride: 1,
                padding: 0
            },
            LayerSpec::Pool {
                kernel: 2,
                stride: 2
            },
            LayerSpec::Conv {
                channels: 32,
                kernel: 3,
                stride: 1,
                padding: 1
            },
            LayerSpec::Pool {
                kernel: 2,
                stride: 2
            },
            LayerSpec::Fc { neurons: 10 },
        ]
    );
    assert_eq!(a.to_string(), "c16k5-p2-c32k3p1-p2-fc10");
    assert_eq!(Arch::parse(&a.to_string()).unwrap().layers, a.layers);
    assert_eq!(a.outputs(), 10);
}

#[test]
fn resolves_mnist_geometry_with_implicit_flatten() {
    let g = Arch::parse("c16k5-p2-c32k3-p2-fc10")
        .unwrap()
        .resolve(1, 28, 28)
        .unwrap();
    // 28 -5+1 = 24, /2 = 12, -3+1 = 10, /2 = 5: 32·5·5 = 800 inputs to the output layer.
    assert_eq!(
        g[0],
        Geometry::Conv {
            cin: 1,
            h: 28,
            w: 28,
            cout: 16,
            oh: 24,
            ow: 24,
            k: 5,
            s: 1,
            p: 0
        }
    );
    assert_eq!(
        g[1],
        Geometry::Pool {
            c: 16,
            h: 24,
            w: 24,
            oh: 12,
            ow: 12,
            k: 2,
            s: 2
        }
    );
    assert_eq!(g[2].outputs(), 32 * 10 * 10);
    assert_eq!(g[3].outputs(), 32 * 5 * 5);
    assert_eq!(g[4], Geometry::Flatten { n: 800 });
    assert_eq!(
        g[5],
        Geometry::Dense {
            n_in: 800,
            n_out: 10
        }
    );
    assert_eq!(g.len(), 6);
    let fc = Arch::parse("fc100-fc10").unwrap().resolve(1, 8, 8).unwrap();
    assert_eq!(
        fc,
        vec![
            Geometry::Flatten { n: 64 },
            Geometry::Dense {
                n_in: 64,
                n_out: 100
            },
            Geometry::Dense {
                n_in: 100,
                n_out: 10
            }
        ]
    );
}

fn err(s: &str) -> model::stidi::ArchError {
    Arch::parse(s).expect_err(s)
}

#[test]
fn errors_name_token_column_and_rule() {
    let e = err("c16-p2-fc10");
    assert_eq!((e.token, e.column), (1, 1));
    assert!(e.rule.contains("kernel"), "{e}");

    let e = err("c8k3-p2-fc10-c4k3-fc10");
    assert_eq!((e.token, e.column), (4, 14));
    assert!(e.rule.contains("cannot follow a fully connected"), "{e}");

    let e = err("c8k3-p2");
    assert_eq!(e.token, 2);
    assert!(e.rule.contains("last layer"), "{e}");

    let e = err("c8k3--fc10");
    assert_eq!((e.token, e.column), (2, 6));
    assert!(e.rule.contains("empty token"), "{e}");

    let e = err("c8k3-x5-fc10");
    assert_eq!(e.token, 2);
    assert!(e.rule.contains("unknown layer `x`"), "{e}");

    let e = err("c8k3q2-fc10");
    assert!(e.rule.contains("unknown field `q`"), "{e}");
    assert_eq!(e.column, 5);

    let e = err("c8k3p3-fc10");
    assert!(
        e.rule.contains("padding 3 must be below the kernel 3"),
        "{e}"
    );

    let e = err("fc0");
    assert!(e.rule.contains("fc must be in 1..=65535"), "{e}");

    let e = err("c8k-fc10");
    assert!(e.rule.contains("followed by a number"), "{e}");

    assert_eq!(err("").token, 0);
    // The message carries everything.
    let text = err("fc10-p2-fc10").to_string();
    assert!(
        text.contains("token 2") && text.contains("`p2`") && text.contains("column 6"),
        "{text}"
    );
}

#[test]
fn shape_errors_name_the_layer_that_does_not_fit() {
    let a = Arch::parse("c8k3-p2-c8k5-fc10").unwrap();
    let e = a.resolve(1, 8, 8).expect_err("5×5 kernel on a 3×3 map");
    assert_eq!(e.token, 3);
    assert!(e.rule.contains("does not fit the padded 3×3 input"), "{e}");
    let e = Arch::parse("p9-fc10")
        .unwrap()
        .resolve(1, 8, 8)
        .unwrap_err();
    assert_eq!(e.token, 1);
    assert!(e.rule.contains("window 9"), "{e}");
}
