import Foundation

// ECDSA P-384 verification for one public key used many times: the case of a verifier checking a fleet
// of SNP reports signed by the same VCEK/VLEK. BoringSSL (swift-crypto) verifies any key in about a
// millisecond on a 2 GHz core, because each verification computes u2·Q with ~384 point doublings. With Q
// fixed, both u1·G and u2·Q become sums of precomputed multiples (a fixed-base comb), which needs no
// doublings at all. Only public values are involved (key, signature, digest), so the code need not be
// constant-time. Facts: FIPS 186-5 (ECDSA), SEC 2 (secp384r1 domain parameters); formulas from the
// Explicit-Formulas Database (dbl-2001-b, madd-2007-bl, add-2007-bl). Tests compare every decision with
// swift-crypto on random keys, messages and tampered signatures.

/// A 384-bit unsigned integer, six 64-bit limbs, least significant first.
struct U384: Equatable, Sendable {
    var limbs: InlineArray<6, UInt64>

    init(_ limbs: InlineArray<6, UInt64>) { self.limbs = limbs }

    static let zero = U384([0, 0, 0, 0, 0, 0])

    static func == (a: U384, b: U384) -> Bool {
        (a.limbs[0] ^ b.limbs[0]) | (a.limbs[1] ^ b.limbs[1]) | (a.limbs[2] ^ b.limbs[2])
            | (a.limbs[3] ^ b.limbs[3]) | (a.limbs[4] ^ b.limbs[4]) | (a.limbs[5] ^ b.limbs[5]) == 0
    }

    /// From 48 big-endian bytes; nil for any other length.
    init?<Bytes: Collection>(bigEndian bytes: Bytes) where Bytes.Element == UInt8 {
        guard bytes.count == 48 else { return nil }
        var limbs: InlineArray<6, UInt64> = [0, 0, 0, 0, 0, 0]
        var index = 0
        for byte in bytes {
            let limb = 5 - index / 8
            limbs[limb] = limbs[limb] << 8 | UInt64(byte)
            index += 1
        }
        self.limbs = limbs
    }

    init(hex: String) {
        var limbs: InlineArray<6, UInt64> = [0, 0, 0, 0, 0, 0]
        let digits = Array(hex.utf8)
        for (position, digit) in digits.reversed().enumerated() {
            let value: UInt64 = digit >= 0x61 ? UInt64(digit - 0x61 + 10) : UInt64(digit - 0x30)
            limbs[position / 16] |= value << UInt64(4 * (position % 16))
        }
        self.limbs = limbs
    }

    var isZero: Bool { (limbs[0] | limbs[1] | limbs[2] | limbs[3] | limbs[4] | limbs[5]) == 0 }

    /// Unsigned comparison.
    @inline(__always) static func less(_ a: U384, _ b: U384) -> Bool {
        if a.limbs[5] != b.limbs[5] { return a.limbs[5] < b.limbs[5] }
        if a.limbs[4] != b.limbs[4] { return a.limbs[4] < b.limbs[4] }
        if a.limbs[3] != b.limbs[3] { return a.limbs[3] < b.limbs[3] }
        if a.limbs[2] != b.limbs[2] { return a.limbs[2] < b.limbs[2] }
        if a.limbs[1] != b.limbs[1] { return a.limbs[1] < b.limbs[1] }
        return a.limbs[0] < b.limbs[0]
    }

    /// a - b and whether it borrowed.
    @inline(__always) static func subtract(_ a: U384, _ b: U384) -> (U384, Bool) {
        var borrow = false, o1 = false, o2 = false
        var d0: UInt64
        (d0, o1) = a.limbs[0].subtractingReportingOverflow(b.limbs[0])
        if borrow { (d0, o2) = d0.subtractingReportingOverflow(1) } else { o2 = false }
        borrow = o1 || o2
        var d1: UInt64
        (d1, o1) = a.limbs[1].subtractingReportingOverflow(b.limbs[1])
        if borrow { (d1, o2) = d1.subtractingReportingOverflow(1) } else { o2 = false }
        borrow = o1 || o2
        var d2: UInt64
        (d2, o1) = a.limbs[2].subtractingReportingOverflow(b.limbs[2])
        if borrow { (d2, o2) = d2.subtractingReportingOverflow(1) } else { o2 = false }
        borrow = o1 || o2
        var d3: UInt64
        (d3, o1) = a.limbs[3].subtractingReportingOverflow(b.limbs[3])
        if borrow { (d3, o2) = d3.subtractingReportingOverflow(1) } else { o2 = false }
        borrow = o1 || o2
        var d4: UInt64
        (d4, o1) = a.limbs[4].subtractingReportingOverflow(b.limbs[4])
        if borrow { (d4, o2) = d4.subtractingReportingOverflow(1) } else { o2 = false }
        borrow = o1 || o2
        var d5: UInt64
        (d5, o1) = a.limbs[5].subtractingReportingOverflow(b.limbs[5])
        if borrow { (d5, o2) = d5.subtractingReportingOverflow(1) } else { o2 = false }
        borrow = o1 || o2
        return (U384([d0, d1, d2, d3, d4, d5]), borrow)
    }

    /// a + b and whether it carried.
    @inline(__always) static func add(_ a: U384, _ b: U384) -> (U384, Bool) {
        var carry = false, o1 = false, o2 = false
        var s0: UInt64
        (s0, o1) = a.limbs[0].addingReportingOverflow(b.limbs[0])
        if carry { (s0, o2) = s0.addingReportingOverflow(1) } else { o2 = false }
        carry = o1 || o2
        var s1: UInt64
        (s1, o1) = a.limbs[1].addingReportingOverflow(b.limbs[1])
        if carry { (s1, o2) = s1.addingReportingOverflow(1) } else { o2 = false }
        carry = o1 || o2
        var s2: UInt64
        (s2, o1) = a.limbs[2].addingReportingOverflow(b.limbs[2])
        if carry { (s2, o2) = s2.addingReportingOverflow(1) } else { o2 = false }
        carry = o1 || o2
        var s3: UInt64
        (s3, o1) = a.limbs[3].addingReportingOverflow(b.limbs[3])
        if carry { (s3, o2) = s3.addingReportingOverflow(1) } else { o2 = false }
        carry = o1 || o2
        var s4: UInt64
        (s4, o1) = a.limbs[4].addingReportingOverflow(b.limbs[4])
        if carry { (s4, o2) = s4.addingReportingOverflow(1) } else { o2 = false }
        carry = o1 || o2
        var s5: UInt64
        (s5, o1) = a.limbs[5].addingReportingOverflow(b.limbs[5])
        if carry { (s5, o2) = s5.addingReportingOverflow(1) } else { o2 = false }
        carry = o1 || o2
        return (U384([s0, s1, s2, s3, s4, s5]), carry)
    }

    /// Bits [start, start + count) as an integer (count ≤ 16).
    @inline(__always) func bits(from start: Int, count: Int) -> Int {
        let limb = start / 64, shift = start % 64
        var value = limbs[limb] >> UInt64(shift)
        if shift + count > 64, limb + 1 < 6 { value |= limbs[limb + 1] << UInt64(64 - shift) }
        return Int(value & ((1 << UInt64(count)) - 1))
    }

    func bit(_ index: Int) -> Bool { limbs[index / 64] >> UInt64(index % 64) & 1 == 1 }
}

/// Arithmetic modulo an odd 384-bit modulus m > 2^383 in Montgomery form (R = 2^384).
struct MontgomeryModulus: Sendable {
    let modulus: U384
    /// -m⁻¹ mod 2^64.
    let inverse: UInt64
    /// R mod m: the Montgomery form of 1.
    let one: U384
    /// R² mod m: multiplying by it enters the Montgomery domain.
    let rSquared: U384

    init(_ modulus: U384) {
        self.modulus = modulus
        var inverse: UInt64 = 1
        for _ in 0..<6 { inverse = inverse &* (2 &- modulus.limbs[0] &* inverse) }
        self.inverse = 0 &- inverse
        // m > 2^383, so R mod m = R - m, the two's complement of m in 384 bits.
        let (rModM, _) = U384.subtract(.zero, modulus)
        self.one = rModM
        var square = rModM
        for _ in 0..<384 { square = Self.addMod(square, square, modulus) }
        self.rSquared = square
    }

    @inline(__always) static func addMod(_ a: U384, _ b: U384, _ m: U384) -> U384 {
        let (sum, carry) = U384.add(a, b)
        if carry || !U384.less(sum, m) { return U384.subtract(sum, m).0 }
        return sum
    }

    @inline(__always) func add(_ a: U384, _ b: U384) -> U384 { Self.addMod(a, b, modulus) }

    @inline(__always) func subtract(_ a: U384, _ b: U384) -> U384 {
        let (difference, borrow) = U384.subtract(a, b)
        return borrow ? U384.add(difference, modulus).0 : difference
    }

    /// The running sum of the multiplication: six limbs and two carry words.
    typealias Accumulator = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    /// a·b·R⁻¹ mod m (coarsely integrated operand scanning; one `row` per limb of b, with the limbs in
    /// locals so they stay in registers).
    func multiply(_ a: U384, _ b: U384) -> U384 {
        var t: Accumulator = (0, 0, 0, 0, 0, 0, 0)
        row(&t, a, b.limbs[0])
        row(&t, a, b.limbs[1])
        row(&t, a, b.limbs[2])
        row(&t, a, b.limbs[3])
        row(&t, a, b.limbs[4])
        row(&t, a, b.limbs[5])
        let result = U384([t.0, t.1, t.2, t.3, t.4, t.5])
        if t.6 != 0 || !U384.less(result, modulus) { return U384.subtract(result, modulus).0 }
        return result
    }

    /// t = (t + a·bi + q·m) / 2^64 with q chosen so the division is exact.
    @inline(__always) func row(_ t: inout Accumulator, _ a: U384, _ bi: UInt64) {
        var c: UInt64 = 0, t7: UInt64, o = false
        (c, t.0) = Self.multiplyAdd(a.limbs[0], bi, t.0, c)
        (c, t.1) = Self.multiplyAdd(a.limbs[1], bi, t.1, c)
        (c, t.2) = Self.multiplyAdd(a.limbs[2], bi, t.2, c)
        (c, t.3) = Self.multiplyAdd(a.limbs[3], bi, t.3, c)
        (c, t.4) = Self.multiplyAdd(a.limbs[4], bi, t.4, c)
        (c, t.5) = Self.multiplyAdd(a.limbs[5], bi, t.5, c)
        (t.6, o) = t.6.addingReportingOverflow(c)
        t7 = o ? 1 : 0
        let m = modulus.limbs
        let q = t.0 &* inverse
        (c, _) = Self.multiplyAdd(q, m[0], t.0, 0)
        (c, t.0) = Self.multiplyAdd(q, m[1], t.1, c)
        (c, t.1) = Self.multiplyAdd(q, m[2], t.2, c)
        (c, t.2) = Self.multiplyAdd(q, m[3], t.3, c)
        (c, t.3) = Self.multiplyAdd(q, m[4], t.4, c)
        (c, t.4) = Self.multiplyAdd(q, m[5], t.5, c)
        (t.5, o) = t.6.addingReportingOverflow(c)
        t.6 = t7 &+ (o ? 1 : 0)
    }

    @inline(__always) func square(_ a: U384) -> U384 { multiply(a, a) }

    /// (high, low) of a·b + c + d, which always fits in 128 bits.
    @inline(__always) static func multiplyAdd(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) -> (UInt64, UInt64) {
        let (high, low) = a.multipliedFullWidth(by: b)
        let (s1, o1) = low.addingReportingOverflow(c)
        let (s2, o2) = s1.addingReportingOverflow(d)
        return (high &+ (o1 ? 1 : 0) &+ (o2 ? 1 : 0), s2)
    }

    func toMontgomery(_ a: U384) -> U384 { multiply(a, rSquared) }
    func fromMontgomery(_ a: U384) -> U384 { multiply(a, U384([1, 0, 0, 0, 0, 0])) }

    /// a^(m-2) for a in Montgomery form: the inverse when m is prime (0 stays 0).
    func invert(_ a: U384) -> U384 {
        let (exponent, _) = U384.subtract(modulus, U384([2, 0, 0, 0, 0, 0]))
        // Fixed 4-bit windows over a table of a^0..a^15.
        var table = [U384](repeating: one, count: 16)
        for k in 1..<16 { table[k] = multiply(table[k - 1], a) }
        var result = one
        var window = 95
        while window >= 0 {
            if window != 95 { for _ in 0..<4 { result = square(result) } }
            let digit = exponent.bits(from: window * 4, count: 4)
            if digit != 0 { result = multiply(result, table[digit]) }
            window -= 1
        }
        return result
    }
}

/// The curve secp384r1: y² = x³ - 3x + b over GF(p), prime order n, cofactor 1.
enum P384Curve {
    static let field = MontgomeryModulus(U384(hex: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff"))
    static let order = MontgomeryModulus(U384(hex: "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973"))
    static let b = U384(hex: "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef")
    static let generatorX = U384(hex: "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7")
    static let generatorY = U384(hex: "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f")

    /// Whether (x, y) (plain integers) lies on the curve.
    static func contains(x: U384, y: U384) -> Bool {
        let f = field
        guard U384.less(x, f.modulus), U384.less(y, f.modulus) else { return false }
        let xm = f.toMontgomery(x), ym = f.toMontgomery(y)
        let x3 = f.multiply(f.square(xm), xm)
        let threeX = f.add(f.add(xm, xm), xm)
        let right = f.add(f.subtract(x3, threeX), f.toMontgomery(b))
        return f.square(ym) == right
    }
}

/// An affine point in Montgomery form.
struct AffinePoint: Sendable {
    var x: U384
    var y: U384
}

/// A Jacobian point (x = X/Z², y = Y/Z³) in Montgomery form; Z = 0 is the point at infinity.
struct JacobianPoint: Sendable {
    var x: U384
    var y: U384
    var z: U384

    static let infinity = JacobianPoint(x: P384Curve.field.one, y: P384Curve.field.one, z: .zero)
    var isInfinity: Bool { z.isZero }

    init(x: U384, y: U384, z: U384) {
        self.x = x
        self.y = y
        self.z = z
    }

    init(_ point: AffinePoint) {
        self.init(x: point.x, y: point.y, z: P384Curve.field.one)
    }

    /// 2P with a = -3 (dbl-2001-b).
    func doubled() -> JacobianPoint {
        if isInfinity || y.isZero { return .infinity }
        let f = P384Curve.field
        let delta = f.square(z)
        let gamma = f.square(y)
        let beta = f.multiply(x, gamma)
        let t = f.multiply(f.subtract(x, delta), f.add(x, delta))
        let alpha = f.add(f.add(t, t), t)
        let beta2 = f.add(beta, beta), beta4 = f.add(beta2, beta2), beta8 = f.add(beta4, beta4)
        let x3 = f.subtract(f.square(alpha), beta8)
        let yz = f.add(y, z)
        let z3 = f.subtract(f.subtract(f.square(yz), gamma), delta)
        let gamma2 = f.square(gamma)
        let g2 = f.add(gamma2, gamma2), g4 = f.add(g2, g2), g8 = f.add(g4, g4)
        let y3 = f.subtract(f.multiply(alpha, f.subtract(beta4, x3)), g8)
        return JacobianPoint(x: x3, y: y3, z: z3)
    }

    /// P + Q for an affine Q (madd-2007-bl), with the doubling and inverse cases handled.
    func adding(_ q: AffinePoint) -> JacobianPoint {
        if isInfinity { return JacobianPoint(q) }
        let f = P384Curve.field
        let z1z1 = f.square(z)
        let u2 = f.multiply(q.x, z1z1)
        let s2 = f.multiply(f.multiply(q.y, z), z1z1)
        let h = f.subtract(u2, x)
        let sDiff = f.subtract(s2, y)
        if h.isZero {
            return sDiff.isZero ? JacobianPoint(q).doubled() : .infinity
        }
        let hh = f.square(h)
        let hh2 = f.add(hh, hh), i = f.add(hh2, hh2)
        let j = f.multiply(h, i)
        let r = f.add(sDiff, sDiff)
        let v = f.multiply(x, i)
        let x3 = f.subtract(f.subtract(f.square(r), j), f.add(v, v))
        let yj = f.multiply(y, j)
        let y3 = f.subtract(f.multiply(r, f.subtract(v, x3)), f.add(yj, yj))
        let zh = f.add(z, h)
        let z3 = f.subtract(f.subtract(f.square(zh), z1z1), hh)
        return JacobianPoint(x: x3, y: y3, z: z3)
    }

    /// P + Q for Jacobian Q (add-2007-bl), with the doubling and inverse cases handled.
    func adding(_ q: JacobianPoint) -> JacobianPoint {
        if isInfinity { return q }
        if q.isInfinity { return self }
        let f = P384Curve.field
        let z1z1 = f.square(z), z2z2 = f.square(q.z)
        let u1 = f.multiply(x, z2z2), u2 = f.multiply(q.x, z1z1)
        let s1 = f.multiply(f.multiply(y, q.z), z2z2)
        let s2 = f.multiply(f.multiply(q.y, z), z1z1)
        let h = f.subtract(u2, u1)
        let sDiff = f.subtract(s2, s1)
        if h.isZero { return sDiff.isZero ? doubled() : .infinity }
        let h2 = f.add(h, h), i = f.square(h2)
        let j = f.multiply(h, i)
        let r = f.add(sDiff, sDiff)
        let v = f.multiply(u1, i)
        let x3 = f.subtract(f.subtract(f.square(r), j), f.add(v, v))
        let s1j = f.multiply(s1, j)
        let y3 = f.subtract(f.multiply(r, f.subtract(v, x3)), f.add(s1j, s1j))
        let zSum = f.add(z, q.z)
        let z3 = f.multiply(f.subtract(f.subtract(f.square(zSum), z1z1), z2z2), h)
        return JacobianPoint(x: x3, y: y3, z: z3)
    }
}

/// Precomputed multiples of one point for a fixed-base comb: entry [w][d-1] = d · 2^(width·w) · P.
struct FixedBaseTable: Sendable {
    static let width = 6
    static let windows = (384 + width - 1) / width
    static let digits = (1 << width) - 1
    /// windows × digits affine points, row by row.
    let points: [AffinePoint]

    init(_ base: AffinePoint) {
        let f = P384Curve.field
        var jacobian: [JacobianPoint] = []
        jacobian.reserveCapacity(Self.windows * Self.digits)
        var windowBase = JacobianPoint(base)
        for _ in 0..<Self.windows {
            var multiple = windowBase
            jacobian.append(multiple)
            for _ in 1..<Self.digits {
                multiple = multiple.adding(windowBase)
                jacobian.append(multiple)
            }
            for _ in 0..<Self.width { windowBase = windowBase.doubled() }
        }
        // One field inversion for all points (Montgomery's trick). No entry is infinity: every
        // multiple is below the group order.
        var prefix = [U384](repeating: f.one, count: jacobian.count)
        var running = f.one
        for (index, point) in jacobian.enumerated() {
            prefix[index] = running
            running = f.multiply(running, point.z)
        }
        var inverse = f.invert(running)
        var points = [AffinePoint](repeating: AffinePoint(x: .zero, y: .zero), count: jacobian.count)
        for index in stride(from: jacobian.count - 1, through: 0, by: -1) {
            let point = jacobian[index]
            let zInverse = f.multiply(inverse, prefix[index])
            inverse = f.multiply(inverse, point.z)
            let z2 = f.square(zInverse)
            points[index] = AffinePoint(x: f.multiply(point.x, z2), y: f.multiply(point.y, f.multiply(z2, zInverse)))
        }
        self.points = points
    }

    /// Accumulates k · P into `sum`.
    @inline(__always) func accumulate(_ k: U384, into sum: inout JacobianPoint) {
        for window in 0..<Self.windows {
            let digit = k.bits(from: window * Self.width, count: min(Self.width, 384 - window * Self.width))
            if digit != 0 { sum = sum.adding(points[window * Self.digits + digit - 1]) }
        }
    }
}

/// ECDSA P-384 verification against one public key with precomputed tables for G and the key.
public struct P384FixedKeyVerifier: Sendable {
    static let generatorTable = FixedBaseTable(AffinePoint(x: P384Curve.field.toMontgomery(P384Curve.generatorX),
                                                           y: P384Curve.field.toMontgomery(P384Curve.generatorY)))
    let keyTable: FixedBaseTable

    /// From the uncompressed SEC 1 encoding 04 ‖ X ‖ Y; nil when it is not a point of the curve.
    public init?(x963 bytes: [UInt8]) {
        guard bytes.count == 97, bytes[0] == 4,
              let x = U384(bigEndian: bytes[1..<49]), let y = U384(bigEndian: bytes[49..<97]),
              P384Curve.contains(x: x, y: y) else { return nil }
        let f = P384Curve.field
        keyTable = FixedBaseTable(AffinePoint(x: f.toMontgomery(x), y: f.toMontgomery(y)))
    }

    /// Verifies the signature (r, s as 48-byte big-endian integers) of a SHA-384 digest.
    public func isValidSignature(r rBytes: [UInt8], s sBytes: [UInt8], digest: [UInt8]) -> Bool {
        let n = P384Curve.order
        guard let r = U384(bigEndian: rBytes), let s = U384(bigEndian: sBytes), var e = U384(bigEndian: digest) else { return false }
        guard !r.isZero, !s.isZero, U384.less(r, n.modulus), U384.less(s, n.modulus) else { return false }
        // The digest is exactly 384 bits: e mod n needs at most one subtraction.
        if !U384.less(e, n.modulus) { e = U384.subtract(e, n.modulus).0 }
        let w = n.invert(n.toMontgomery(s))  // s⁻¹·R
        let u1 = n.multiply(e, w)            // e·s⁻¹ (plain)
        let u2 = n.multiply(r, w)            // r·s⁻¹ (plain)
        var sum = JacobianPoint.infinity
        Self.generatorTable.accumulate(u1, into: &sum)
        keyTable.accumulate(u2, into: &sum)
        if sum.isInfinity { return false }
        // x(R) mod n == r  ⇔  X == r'·Z² (mod p) for r' = r or r + n (when r + n < p).
        let f = P384Curve.field
        let z2 = f.square(sum.z)
        if f.multiply(f.toMontgomery(r), z2) == sum.x { return true }
        let (rPlusN, carry) = U384.add(r, n.modulus)
        if !carry, U384.less(rPlusN, f.modulus) {
            return f.multiply(f.toMontgomery(rPlusN), z2) == sum.x
        }
        return false
    }
}
