import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GuestImage
import RelyingParty

/// `--attest URL` for container guests: the relying party as the guest reaches it (QEMU user networking
/// maps the host's loopback to 10.0.2.2) and as this host reaches it, and its public key, fetched from
/// /kbs/v0/public-key unless given. The key ends up in the measured initrd, so a relying party that
/// checks the measurement knows which key the guest pinned.
enum AttestationTargetResolution {
    struct URLs: Equatable {
        var guest: String
        var host: String
    }

    static func urls(for text: String) throws -> URLs {
        guard text.hasPrefix("http://") else {
            throw CLIFailure.badInput("--attest '\(text)': the guest speaks plain HTTP: http://HOST:PORT (the report and the sealed secrets need no TLS; the relying party's key is pinned)")
        }
        let rest = text.dropFirst(7)
        let authority = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let tail = String(rest.dropFirst(authority.count))
        let hostPart = authority.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        let portPart = authority.contains(":") ? ":" + (authority.split(separator: ":", maxSplits: 1).last.map(String.init) ?? "") : ""
        switch hostPart {
        case "127.0.0.1", "localhost":
            return URLs(guest: "http://10.0.2.2\(portPart)\(tail)", host: "http://127.0.0.1\(portPart)\(tail)")
        case "10.0.2.2":
            return URLs(guest: text, host: "http://127.0.0.1\(portPart)\(tail)")
        default:
            return URLs(guest: text, host: text)
        }
    }

    /// GET HOST_URL/kbs/v0/public-key → the key in hex.
    static func fetchKey(hostURL: String, timeout: TimeInterval = 10) throws -> String {
        guard let url = URL(string: hostURL + KBSProtocol.publicKeyPath) else { throw CLIFailure.badInput("--attest: bad URL \(hostURL)") }
        var request = URLRequest(url: url)
        request.timeoutInterval = timeout
        let answer: (data: Data, status: Int)
        do {
            answer = try waitFor { [request] in
                let (data, response) = try await URLSession(configuration: .ephemeral).data(for: request)
                return (data, (response as? HTTPURLResponse)?.statusCode ?? 0)
            }
        } catch {
            throw CLIFailure.unsupportedHere("--attest: cannot reach the relying party at \(hostURL) for its public key (\(error.localizedDescription)); start it with cvm attest serve, or give --attest-key HEX")
        }
        let (data, status) = answer
        guard status == 200,
              let key = try? JSONDecoder().decode(KBSProtocol.PublicKey.self, from: data),
              key.kty == "OKP", key.crv == "X25519", let raw = Base64URL.decode(key.x), raw.count == 32 else {
            throw CLIFailure.unsupportedHere("--attest: \(hostURL)\(KBSProtocol.publicKeyPath) answered \(status) without an X25519 key; is it cvm attest serve?")
        }
        return raw.map { String(format: "%02x", $0) }.joined()
    }

    /// The target for the guest's initrd.
    static func target(url text: String, key: String?) throws -> AttestationTarget {
        let urls = try urls(for: text)
        let keyHex = try key ?? fetchKey(hostURL: urls.host)
        do { return try AttestationTarget(url: urls.guest, relyingPartyKey: keyHex) } catch {
            throw CLIFailure.badInput("\(error)")
        }
    }

    /// In `cvm run`, turns `--attest http://…` into `--attest-url http://…`: `--attest` alone stays the
    /// unikernel's flag.
    static func rewriteArguments(_ arguments: [String]) -> [String] {
        guard arguments.first == "run" else { return arguments }
        var out: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--attest", index + 1 < arguments.count, arguments[index + 1].hasPrefix("http://") || arguments[index + 1].hasPrefix("https://") {
                out += ["--attest-url", arguments[index + 1]]
                index += 2
                continue
            }
            if argument.hasPrefix("--attest=") {
                out.append("--attest-url=" + argument.dropFirst("--attest=".count))
            } else {
                out.append(argument)
            }
            index += 1
        }
        return out
    }
}
