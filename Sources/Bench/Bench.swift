import BenchReport

/// The benchmark engine (being written): plans the matrix, runs guests, appends run records.
public enum BenchEngine {}
