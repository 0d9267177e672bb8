"""County-scale data generator and benchmarks (`make bench`)."""
