"""What a user runs: the `charclf` command, prediction from image files, the demo, the benchmark, model cards."""
