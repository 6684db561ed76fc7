//! One module per subcommand of the `spikemesh` binary.
