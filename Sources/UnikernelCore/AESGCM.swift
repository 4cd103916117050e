/// AES-256-GCM (FIPS 197, NIST SP 800-38D) for SNP guest messages, written for the kernel: no tables
/// indexed by secret data (the S-box is computed as the GF(2^8) inverse and the affine map, GHASH
/// multiplies with masks), so the hypervisor cannot learn the VMPCK from cache timing. Messages are at
/// most one page, so speed does not matter here. Only the 96-bit IV and 16-byte tag that the SNP firmware
/// ABI uses are supported.
public struct AES256GCM {
    public static let keySize = 32
    public static let ivSize = 12
    public static let tagSize = 16

    /// 15 round keys of 16 bytes.
    let roundKeys: [UInt8]
    /// E(K, 0^128), the GHASH key, as two big-endian halves.
    let hashKey: (UInt64, UInt64)

    public enum KeyError: Error, Equatable, Sendable { case badKeySize(Int) }

    public init(key: [UInt8]) throws(KeyError) {
        guard key.count == Self.keySize else { throw .badKeySize(key.count) }
        roundKeys = Self.expand(key)
        var zero = [UInt8](repeating: 0, count: 16)
        Self.encryptBlock(&zero, roundKeys)
        hashKey = (Self.bigEndian(zero, 0), Self.bigEndian(zero, 8))
    }

    // MARK: AES

    /// GF(2^8) multiplication modulo x^8 + x^4 + x^3 + x + 1, without branches on the operands.
    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = a, b = b, product: UInt8 = 0
        for _ in 0..<8 {
            product ^= a & (0 &- (b & 1))
            a = (a << 1) ^ (0x1b & (0 &- (a >> 7)))
            b >>= 1
        }
        return product
    }

    /// The AES S-box: the inverse (x^254, 0 for 0) followed by the affine transformation.
    static func substitute(_ x: UInt8) -> UInt8 {
        let x2 = multiply(x, x), x3 = multiply(x2, x), x6 = multiply(x3, x3), x7 = multiply(x6, x)
        let x14 = multiply(x7, x7), x15 = multiply(x14, x), x30 = multiply(x15, x15), x60 = multiply(x30, x30)
        let x63 = multiply(x60, x3), x126 = multiply(x63, x63), x127 = multiply(x126, x), x254 = multiply(x127, x127)
        let inverse = x254
        func rotate(_ v: UInt8, _ n: UInt8) -> UInt8 { v << n | v >> (8 - n) }
        return inverse ^ rotate(inverse, 1) ^ rotate(inverse, 2) ^ rotate(inverse, 3) ^ rotate(inverse, 4) ^ 0x63
    }

    static func expand(_ key: [UInt8]) -> [UInt8] {
        var words = key
        words.reserveCapacity(240)
        var roundConstant: UInt8 = 1
        var index = 32
        while index < 240 {
            var temp = Array(words[(index - 4)..<index])
            if index % 32 == 0 {
                temp = [substitute(temp[1]) ^ roundConstant, substitute(temp[2]), substitute(temp[3]), substitute(temp[0])]
                roundConstant = multiply(roundConstant, 2)
            } else if index % 32 == 16 {
                temp = temp.map(substitute)
            }
            for byte in 0..<4 { words.append(words[index - 32 + byte] ^ temp[byte]) }
            index += 4
        }
        return words
    }

    static func encryptBlock(_ state: inout [UInt8], _ roundKeys: [UInt8]) {
        for byte in 0..<16 { state[byte] ^= roundKeys[byte] }
        for round in 1...14 {
            for byte in 0..<16 { state[byte] = substitute(state[byte]) }
            // ShiftRows: row r (bytes r, r+4, r+8, r+12) rotates left by r.
            let shifted = state
            for column in 0..<4 {
                for row in 0..<4 { state[4 * column + row] = shifted[4 * ((column + row) % 4) + row] }
            }
            if round != 14 {
                for column in 0..<4 {
                    let a0 = state[4 * column], a1 = state[4 * column + 1], a2 = state[4 * column + 2], a3 = state[4 * column + 3]
                    state[4 * column] = multiply(a0, 2) ^ multiply(a1, 3) ^ a2 ^ a3
                    state[4 * column + 1] = a0 ^ multiply(a1, 2) ^ multiply(a2, 3) ^ a3
                    state[4 * column + 2] = a0 ^ a1 ^ multiply(a2, 2) ^ multiply(a3, 3)
                    state[4 * column + 3] = multiply(a0, 3) ^ a1 ^ a2 ^ multiply(a3, 2)
                }
            }
            for byte in 0..<16 { state[byte] ^= roundKeys[16 * round + byte] }
        }
    }

    // MARK: GCM

    static func bigEndian(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value = value << 8 | UInt64(bytes[offset + index]) }
        return value
    }

    /// X · H in GCM's bit order (SP 800-38D, Algorithm 1), masks instead of branches.
    func multiplyByHashKey(_ x: (UInt64, UInt64)) -> (UInt64, UInt64) {
        var z: (UInt64, UInt64) = (0, 0)
        var v = hashKey
        for bit in 0..<128 {
            let word = bit < 64 ? x.0 : x.1
            let mask = 0 &- ((word >> UInt64(63 - bit % 64)) & 1)
            z.0 ^= v.0 & mask
            z.1 ^= v.1 & mask
            let carry = 0 &- (v.1 & 1)
            v.1 = v.1 >> 1 | v.0 << 63
            v.0 = v.0 >> 1 ^ (0xe100_0000_0000_0000 & carry)
        }
        return z
    }

    func ghash(_ aad: [UInt8], _ ciphertext: [UInt8]) -> (UInt64, UInt64) {
        var y: (UInt64, UInt64) = (0, 0)
        func absorb(_ data: [UInt8]) {
            var offset = 0
            while offset < data.count {
                var block = [UInt8](repeating: 0, count: 16)
                for index in 0..<min(16, data.count - offset) { block[index] = data[offset + index] }
                y = multiplyByHashKey((y.0 ^ Self.bigEndian(block, 0), y.1 ^ Self.bigEndian(block, 8)))
                offset += 16
            }
        }
        absorb(aad)
        absorb(ciphertext)
        return multiplyByHashKey((y.0 ^ UInt64(aad.count) * 8, y.1 ^ UInt64(ciphertext.count) * 8))
    }

    /// CTR from counter block inc32(J0), J0 = IV || 0^31 || 1.
    func crypt(_ input: [UInt8], iv: [UInt8]) -> [UInt8] {
        var output = input
        var counter: UInt32 = 2
        var offset = 0
        while offset < input.count {
            var block = iv + [UInt8(counter >> 24), UInt8(counter >> 16 & 0xff), UInt8(counter >> 8 & 0xff), UInt8(counter & 0xff)]
            Self.encryptBlock(&block, roundKeys)
            for index in 0..<min(16, input.count - offset) { output[offset + index] ^= block[index] }
            counter &+= 1
            offset += 16
        }
        return output
    }

    func tag(iv: [UInt8], aad: [UInt8], ciphertext: [UInt8]) -> [UInt8] {
        var j0 = iv + [0, 0, 0, 1]
        Self.encryptBlock(&j0, roundKeys)
        let s = ghash(aad, ciphertext)
        var tag = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            tag[index] = j0[index] ^ UInt8(truncatingIfNeeded: s.0 >> UInt64(56 - 8 * index))
            tag[8 + index] = j0[8 + index] ^ UInt8(truncatingIfNeeded: s.1 >> UInt64(56 - 8 * index))
        }
        return tag
    }

    /// (ciphertext, tag) of `plaintext` under the 12-byte `iv`.
    public func seal(_ plaintext: [UInt8], iv: [UInt8], aad: [UInt8]) -> (ciphertext: [UInt8], tag: [UInt8]) {
        precondition(iv.count == Self.ivSize)
        let ciphertext = crypt(plaintext, iv: iv)
        return (ciphertext, tag(iv: iv, aad: aad, ciphertext: ciphertext))
    }

    /// The plaintext, or nil when `tag` does not verify (compared in constant time).
    public func open(_ ciphertext: [UInt8], iv: [UInt8], aad: [UInt8], tag expected: [UInt8]) -> [UInt8]? {
        guard iv.count == Self.ivSize, expected.count == Self.tagSize else { return nil }
        let computed = tag(iv: iv, aad: aad, ciphertext: ciphertext)
        var difference: UInt8 = 0
        for index in 0..<Self.tagSize { difference |= computed[index] ^ expected[index] }
        guard difference == 0 else { return nil }
        return crypt(ciphertext, iv: iv)
    }
}
