import Crypto
import Dispatch
import Foundation
import RelyingParty

/// Feeds arbitrary bytes to the relying party as a guest's attestation request (what arrives from the
/// network: JSON, base64, a certificate table, a report) in a fresh session, and as a policy file.
/// Any trap is a bug; the answer must be a status code, never a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRelyingParty(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? RelyingPartyPolicy.load(contentsOf: String(decoding: bytes, as: UTF8.self))
    guard let party = FuzzParty.shared else { return 0 }
    let auth = party.auth(body: Array(#"{"version":"0.1.0","tee":"snp"}"#.utf8))
    let done = DispatchSemaphore(value: 0)
    let session = auth.session
    Task {
        let reply = await party.attest(body: bytes, session: session)
        precondition((200...599).contains(reply.status))
        done.signal()
    }
    done.wait()
    _ = party.resource(name: String(decoding: bytes.prefix(80), as: UTF8.self), session: session)
    return 0
}

enum FuzzParty {
    /// Accepts an all-zero measurement; sessions are bounded so a long run does not grow memory.
    static let shared: RelyingParty? = {
        var policy = RelyingPartyPolicy()
        policy.launches = [AcceptedLaunch(measurement: [UInt8](repeating: 0, count: 48), coversKernel: true, origin: "fuzz")]
        policy.chain = .report
        policy.sessionTimeout = 1
        return try? RelyingParty(policy: policy, secrets: ["s": [1]], key: Curve25519.KeyAgreement.PrivateKey(), maxSessions: 1000)
    }()
}
