import Foundation
import Testing
import SEVABI
@testable import Certificates
@testable import SNPReport

struct CertificateTests {
    /// Fingerprints from ../shared/vectors/README.md, computed here from the fixture PEMs, which must
    /// also equal the embedded copies.
    @Test(arguments: SNPProduct.allCases)
    func embeddedRootsEqualTheFixturesAndTheirPins(product: SNPProduct) throws {
        let roots = try AMDRoots.roots(for: product)
        let dir = "snp/roots/\(product.rawValue.lowercased())"
        #expect(try Certificate(bytes: Fixture.bytes("\(dir)/ark.pem")).der == roots.ark.der)
        #expect(try Certificate(bytes: Fixture.bytes("\(dir)/ask.pem")).der == roots.ask.der)
        #expect(try Certificate(bytes: Fixture.bytes("\(dir)/asvk.pem")).der == roots.asvk.der)
        let readme: [SNPProduct: [String]] = [
            .milan: ["69D063B45344D26A2E94E1F4210DE49EF555308287D4C174445C95639A540BCD",
                     "67D303BD3905FD38DB8B20E0793699870E7FA612EAAD5DEC358293FD8C0BAC1B",
                     "C5E081F59B7EFAB1FE2F8B505E159704E72F29CAB7EF7CF628A05A42439082F5"],
            .genoa: ["4C6598D19C18719C5DFD4A7D335F674E5BFE1D8F800CEA2CF270C10D103DB2F1",
                     "5464738C1546AED5F2CECF1DC98C5C960A92E8913238A61711BC90EC6E828521",
                     "197E610743A917D6B9BB982A5A9226CCC0A15B611BE0619E626ACA9151457372"],
            .turin: ["1F084161A44BB6D93778A904877D4819CAFA5D05EF4193B2DED9DD9C73DD3F6A",
                     "5B77EF5FE7A7A004FD9032668FBA9D0FDA22F88C4442069A479636A6AE3B3185",
                     "104E10A8BD060A3C20A434261A57D0588FD65A88915B4F65B08BDECAF8DF1A3C"],
        ]
        #expect([roots.ark, roots.ask, roots.asvk].map(\.fingerprintSHA256) == readme[product])
    }

    @Test(arguments: SNPProduct.allCases)
    func rootsChain(product: SNPProduct) throws {
        let roots = try AMDRoots.roots(for: product)
        #expect(roots.ark.isSigned(by: roots.ark))
        #expect(roots.ask.isSigned(by: roots.ark))
        #expect(roots.asvk.isSigned(by: roots.ark))
        #expect(roots.ark.subjectCommonName == "ARK-\(product)")
        #expect(roots.ask.subjectCommonName == "SEV-\(product)")
        #expect(roots.asvk.subjectCommonName == "SEV-VLEK-\(product)")
    }

    @Test func rootsOfOneProductDoNotSignAnother() throws {
        let milan = try AMDRoots.roots(for: .milan)
        let genoa = try AMDRoots.roots(for: .genoa)
        #expect(!milan.ask.isSigned(by: genoa.ark))
    }

    @Test func pssParametersWithAndWithoutTrailerFieldBothParse() throws {
        // milan-v2's VCEK carries the explicit trailerField, milan-vlek-v3's VLEK omits it.
        let withTrailer = try Fixture.bytes("snp/milan-v2/vcek.der")
        let without = try Fixture.bytes("snp/milan-vlek-v3/vlek.der")
        #expect(withTrailer.windows(ofCount: 5).contains([0xA3, 0x03, 0x02, 0x01, 0x01]))
        #expect(!without.windows(ofCount: 5).contains([0xA3, 0x03, 0x02, 0x01, 0x01]))
        #expect(try Certificate(der: withTrailer).signatureAlgorithm == .rsaPSSSHA384)
        #expect(try Certificate(der: without).signatureAlgorithm == .rsaPSSSHA384)
    }

    @Test func vcekExtensionsOfMilan() throws {
        let ext = try VCEKExtensions(Fixture.endorsementKey("milan-v2"))
        let report = try Fixture.report("milan-v2")
        #expect(ext.productName == "Milan-B0")
        #expect(ext.product == .milan)
        #expect([ext.bootloaderSPL, ext.teeSPL, ext.snpSPL, ext.microcodeSPL] == [3, 0, 8, 115])
        #expect(ext.fmcSPL == nil)
        #expect(ext.hwID == report.chipID)
        #expect(ext.cspID == nil)
    }

    @Test func turinVCEKHasEightByteHwIDAndFMC() throws {
        let ext = try VCEKExtensions(Fixture.endorsementKey("turin-v5"))
        #expect(ext.hwID?.count == 8)
        #expect(ext.fmcSPL == 1)
        #expect(ext.product == .turin)
    }

    @Test func vlekCarriesTheCSPID() throws {
        let ext = try VCEKExtensions(Fixture.endorsementKey("milan-vlek-v3"))
        #expect(ext.cspID == "CN=cc-us-east-2.amazonaws.com")
        #expect(ext.hwID == nil)
    }

    @Test func vcekSerialIsZeroAndKeyIsP384() throws {
        let cert = try Fixture.endorsementKey("genoa-v3")
        #expect(cert.serialNumber == [0])
        guard case .p384 = cert.publicKey else { Issue.record("expected a P-384 key"); return }
    }

    @Test func derAndPEMGiveTheSameCertificate() throws {
        let der = try Fixture.bytes("snp/milan-v2/vcek.der")
        let cert = try Certificate(der: der)
        #expect(try Certificate(bytes: Array(cert.pem.utf8)).der == der)
    }

    @Test func garbageAndTruncatedCertificatesThrow() throws {
        let der = try Fixture.bytes("snp/milan-v2/vcek.der")
        #expect(throws: CertificateError.self) { try Certificate(bytes: Array(der.prefix(200))) }
        #expect(throws: CertificateError.self) { try Certificate(bytes: Array("hello".utf8)) }
        #expect(throws: CertificateError.self) { try Certificate(bytes: []) }
    }
}

extension Array where Element == UInt8 {
    func windows(ofCount count: Int) -> [[UInt8]] {
        guard self.count >= count else { return [] }
        return (0...(self.count - count)).map { Array(self[$0..<$0 + count]) }
    }
}
