import Bench
import Testing

// Replaced by the engine's tests.
@Suite struct BenchEngineBuilds {
    @Test func moduleLinks() { _ = BenchEngine.self }
}
