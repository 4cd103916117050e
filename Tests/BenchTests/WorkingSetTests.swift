import Testing
@testable import Bench

/// Working sets against the last-level cache (STREAM's rule: each array at least 4× the cache).
@Suite struct WorkingSetTests {
    static let mib: UInt64 = 1 << 20

    /// The options `cvm bench` would run with on a KVM host (or under TCG) whose last-level cache is `cacheBytes`.
    func sized(_ settings: BenchSettings = BenchSettings(), quick: Bool = false, cacheBytes: UInt64?, cacheLevel: Int? = 3,
               emulated: Bool = false) throws -> BenchOptions {
        var options = try settings.resolved(quick: quick)
        options.workingSetNote = WorkingSet.apply(to: &options, cacheBytes: cacheBytes, cacheLevel: cacheLevel, emulated: emulated)
        return options
    }

    @Test func theFullBenchGrowsTheArraysAndTheGuestMemoryToFourTimesTheCache() throws {
        let options = try sized(cacheBytes: 32 * Self.mib)
        #expect(options.parameters["stream.size"] == "128M" && options.parameters["chase.size"] == "128M")
        #expect(options.memoryMiB == [576], "three 128 MiB arrays and 192 MiB for the guest itself, in 64 MiB steps")
        let note = try #require(options.workingSetNote)
        #expect(note.contains("stream.size 128 MiB per array") && note.contains("L3 32 MiB"))
        // What the guests get on their command line.
        #expect(WorkloadCatalog.guestWords(["stream"], parameters: options.parameters).contains("stream.size=128M"))
    }

    @Test func aCacheLargerThanAQuarterGiBCapsTheArraysAtTheGuestLimit() throws {
        let options = try sized(cacheBytes: 260 * Self.mib)
        #expect(options.parameters["stream.size"] == "1024M")
        #expect(options.memoryMiB == [4352], "past 2.75 GiB q35 splits RAM at 2 GiB: four arrays' worth and 256 MiB")
        #expect(options.workingSetNote?.contains("exceeds the guests' 1 GiB per array") == true)
    }

    @Test func whatTheUserSetIsKeptAndNamed() throws {
        var settings = BenchSettings()
        settings.parameters = ["stream.size": "8M"]
        settings.memoryMiB = [512]
        let options = try sized(settings, cacheBytes: 32 * Self.mib)
        #expect(options.parameters["stream.size"] == "8M" && options.parameters["chase.size"] == "128M")
        #expect(options.memoryMiB == [512])
        #expect(options.workingSetNote?.contains("stream.size below 4× the cache, as set") == true)
    }

    @Test func quickKeepsItsSizesAndSaysTheyFitInTheCache() throws {
        let options = try sized(quick: true, cacheBytes: 32 * Self.mib)
        #expect(options.parameters["stream.size"] == nil && options.memoryMiB == [256])
        let note = try #require(options.workingSetNote)
        #expect(note.contains("--quick's stream.size 4 MiB and chase.size 8 MiB fit in or near the L3 32 MiB"), "\(note)")
        // A tiny cache: the quick sizes already exceed 4× of it, nothing to say.
        #expect(try sized(quick: true, cacheBytes: 1 * Self.mib, cacheLevel: 2).workingSetNote == nil)
    }

    @Test func anUnknownCacheLeavesTheDefaultsAndSaysSo() throws {
        let options = try sized(cacheBytes: nil, cacheLevel: nil)
        #expect(options.parameters.isEmpty && options.memoryMiB == [256])
        #expect(options.workingSetNote?.contains("does not expose its last-level cache") == true)
        var boots = BenchSettings()
        boots.workloads = ["boot", "sha256"]
        #expect(try sized(boots, cacheBytes: 32 * Self.mib).workingSetNote == nil, "no memory workload, no note")
    }

    @Test func underEmulationTheSizesStayAndTheNoteSaysWhy() throws {
        let options = try sized(cacheBytes: 32 * Self.mib, emulated: true)
        #expect(options.parameters.isEmpty && options.memoryMiB == [256])
        #expect(options.workingSetNote?.contains("emulation (TCG)") == true)
    }

    @Test func sizeWordsParse() {
        #expect(WorkingSet.bytes("4M") == 4 << 20 && WorkingSet.bytes("512K") == 512 << 10 && WorkingSet.bytes("1G") == 1 << 30)
        #expect(WorkingSet.bytes("4096") == 4096 && WorkingSet.bytes("x") == nil)
    }
}
