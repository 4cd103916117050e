import Foundation
import Testing
@testable import UnikernelCore

/// SplitMix64: a seeded generator so every run of the randomized tests is the same run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

@Suite struct PageFrameAllocatorTests {
    let initial = [PhysicalRange(start: 0x10_0000, end: 0x80_0000), PhysicalRange(start: 0x100_0000, end: 0x140_0000)]

    func checkFreeList(_ allocator: PageFrameAllocator) {
        for range in allocator.freeRanges {
            #expect(range.start % 4096 == 0 && range.end % 4096 == 0 && range.start < range.end)
        }
        for (left, right) in zip(allocator.freeRanges, allocator.freeRanges.dropFirst()) {
            #expect(left.end < right.start, "free ranges must be sorted, disjoint and not touching")
        }
    }

    @Test func allocationsComeFromFreeMemoryAndHonourAlignment() throws {
        var allocator = PageFrameAllocator(ranges: initial)
        let total = allocator.freePages
        #expect(total == (0x70_0000 + 0x40_0000) / 4096)
        let step1 = allocator.allocate(pages: 1)
        let page = try #require(step1)
        #expect(page == 0x10_0000)
        let step2 = allocator.allocate(pages: 3, alignment: 2 << 20)
        let aligned = try #require(step2)
        #expect(aligned % (2 << 20) == 0)
        #expect(allocator.freePages == total - 4)
        checkFreeList(allocator)
    }

    @Test func requestsLargerThanAnyRangeFail() {
        var allocator = PageFrameAllocator(ranges: initial)
        let step3 = allocator.allocate(pages: 0x71_0000 / 4096) == nil
        #expect(step3)
        let step4 = allocator.allocate(pages: 0) == nil
        #expect(step4)
        let step5 = allocator.allocate(pages: 1, alignment: 3 << 12) == nil
        #expect(step5)
    }

    @Test func doubleAndUnalignedFreesAreRefused() throws {
        var allocator = PageFrameAllocator(ranges: initial)
        let step6 = allocator.allocate(pages: 2)
        let page = try #require(step6)
        let step7 = allocator.free(page, pages: 2)
        #expect(step7)
        let step8 = !allocator.free(page, pages: 2)
        #expect(step8)
        let step9 = !allocator.free(page + 1, pages: 1)
        #expect(step9)
        #expect(allocator.freeRanges == initial)
    }

    @Test func randomAllocateFreeSequencesConservePagesAndNeverOverlap() {
        var allocator = PageFrameAllocator(ranges: initial)
        let total = allocator.freePages
        var random = SplitMix(state: 42)
        var live: [(UInt64, Int)] = []
        for _ in 0..<2000 {
            if live.isEmpty || Bool.random(using: &random) {
                let pages = Int.random(in: 1...64, using: &random)
                let alignment: UInt64 = [4096, 8192, 65536, 2 << 20].randomElement(using: &random) ?? 4096
                if let start = allocator.allocate(pages: pages, alignment: alignment) {
                    #expect(start % alignment == 0)
                    let range = PhysicalRange(start: start, end: start + UInt64(pages) * 4096)
                    #expect(initial.contains { $0.start <= range.start && range.end <= $0.end })
                    #expect(!live.contains { PhysicalRange(start: $0.0, end: $0.0 + UInt64($0.1) * 4096).overlaps(range) })
                    #expect(!allocator.freeRanges.contains { $0.overlaps(range) })
                    live.append((start, pages))
                }
            } else {
                let index = Int.random(in: 0..<live.count, using: &random)
                let (start, pages) = live.remove(at: index)
                let step10 = allocator.free(start, pages: pages)
                #expect(step10)
            }
            let held = live.reduce(0) { $0 + UInt64($1.1) }
            #expect(allocator.freePages + held == total)
        }
        checkFreeList(allocator)
        for (start, pages) in live {
            let freed = allocator.free(start, pages: pages)
            #expect(freed)
        }
        #expect(allocator.freeRanges == initial)
    }
}

@Suite struct HeapTests {
    @Test func randomAllocationsAreAlignedDisjointAndCoalesceBackToOneBlock() throws {
        let arenaBytes = 1 << 20
        let arena = UnsafeMutableRawPointer.allocate(byteCount: arenaBytes, alignment: 4096)
        defer { arena.deallocate() }
        var heap = Heap()
        heap.addArena(arena, bytes: arenaBytes)
        #expect(heap.freeBytes == arenaBytes && heap.totalBytes == arenaBytes)
        var random = SplitMix(state: 7)
        var live: [(pointer: UnsafeMutableRawPointer, size: Int, tag: UInt8)] = []
        for step in 0..<3000 {
            if live.isEmpty || Int.random(in: 0..<10, using: &random) < 6 {
                let size = Int.random(in: 0...3000, using: &random)
                let alignment = [8, 16, 32, 64, 4096].randomElement(using: &random) ?? 16
                guard let pointer = heap.allocate(bytes: size, alignment: alignment) else { continue }
                #expect(Int(bitPattern: pointer) % alignment == 0)
                let start = UInt(bitPattern: pointer)
                #expect(start >= UInt(bitPattern: arena) && start + UInt(size) <= UInt(bitPattern: arena) + UInt(arenaBytes))
                for other in live {
                    let otherStart = UInt(bitPattern: other.pointer)
                    #expect(start + UInt(max(size, 1)) <= otherStart || otherStart + UInt(max(other.size, 1)) <= start)
                }
                let tag = UInt8(truncatingIfNeeded: step)
                pointer.initializeMemory(as: UInt8.self, repeating: tag, count: size)
                live.append((pointer, size, tag))
            } else {
                let victim = live.remove(at: Int.random(in: 0..<live.count, using: &random))
                let bytes = UnsafeRawBufferPointer(start: victim.pointer, count: victim.size)
                #expect(bytes.allSatisfy { $0 == victim.tag }, "a neighbour overwrote this block")
                let step11 = heap.free(victim.pointer)
                #expect(step11)
            }
            #expect(heap.checkInvariants())
        }
        for block in live {
            let freed = heap.free(block.pointer)
            #expect(freed)
        }
        #expect(heap.checkInvariants())
        #expect(heap.freeBytes == arenaBytes)
        // Fully coalesced: the whole arena comes back as one allocation.
        let step12 = heap.allocate(bytes: arenaBytes - Heap.headerSize) != nil
        #expect(step12)
    }

    @Test func growingAsksForWholePagesOnlyWhenNothingFits() throws {
        var heap = Heap()
        var arenas: [UnsafeMutableRawPointer] = []
        defer { for arena in arenas { arena.deallocate() } }
        var requests: [Int] = []
        let grow = { (bytes: Int) -> UnsafeMutableRawPointer? in
            requests.append(bytes)
            let arena = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
            arenas.append(arena)
            return arena
        }
        let small = heap.allocate(bytes: 100, alignment: 16, growth: 65536, grow: grow)
        let fits = heap.allocate(bytes: 200, alignment: 16, growth: 65536, grow: grow)
        let large = heap.allocate(bytes: 100_000, alignment: 4096, growth: 65536, grow: grow)
        #expect(small != nil && fits != nil && large != nil)
        #expect(requests.count == 2, "the second request fits the first arena")
        #expect(requests.first == 65536)
        #expect(requests.allSatisfy { $0 % 4096 == 0 } && (requests.last ?? 0) >= 100_000 + 4096)
        #expect(heap.checkInvariants())
    }

    @Test func pointersTheHeapDidNotHandOutAreRefused() throws {
        let arena = UnsafeMutableRawPointer.allocate(byteCount: 65536, alignment: 16)
        defer { arena.deallocate() }
        var heap = Heap()
        heap.addArena(arena, bytes: 65536)
        let step13 = heap.allocate(bytes: 100)
        let pointer = try #require(step13)
        let step14 = !heap.free(pointer + 16)
        #expect(step14)
        let step15 = heap.free(pointer)
        #expect(step15)
        let step16 = !heap.free(pointer)
        #expect(step16, "double free")
        #expect(heap.checkInvariants())
    }

    @Test func exhaustionReturnsNilAndASecondArenaServesTheRequest() throws {
        let first = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
        let second = UnsafeMutableRawPointer.allocate(byteCount: 65536, alignment: 16)
        defer { first.deallocate(); second.deallocate() }
        var heap = Heap()
        heap.addArena(first, bytes: 4096)
        let step17 = heap.allocate(bytes: 8192) == nil
        #expect(step17)
        heap.addArena(second, bytes: 65536)
        let step18 = heap.allocate(bytes: 8192)
        let pointer = try #require(step18)
        #expect(UInt(bitPattern: pointer) >= UInt(bitPattern: second))
        #expect(heap.usableSize(pointer).map { $0 >= 8192 } == true)
    }
}
