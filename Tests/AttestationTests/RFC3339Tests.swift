import Foundation
import Testing
@testable import Certificates

/// The formatter-free RFC 3339 reader against Foundation's ISO8601DateFormatter on the same strings:
/// dates across leap years and centuries, fractions, offsets; malformed strings fall through to the
/// formatter and get its answer (nil for nonsense).
struct RFC3339Tests {
    static func formatter(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        for options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds], [.withFullDate]] as [ISO8601DateFormatter.Options] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    @Test func theFastPathAgreesWithTheFormatter() {
        var inputs = ["2025-07-04T10:16:31Z", "2026-03-05T10:50:03Z", "2000-02-29T23:59:59Z", "1900-03-01T00:00:00Z",
                      "2024-12-31T23:59:59+05:30", "2024-01-01T00:00:00-08:00", "2025-06-01", "1970-01-01T00:00:00Z",
                      "2038-01-19T03:14:08Z", "2100-02-28T12:00:00Z"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let (y, m) = (Int.random(in: 1601...2399, using: &generator), Int.random(in: 1...12, using: &generator))
            let d = Int.random(in: 1...RFC3339Fast.daysIn(month: m, year: y), using: &generator)
            inputs.append(String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, Int.random(in: 0...23, using: &generator),
                                 Int.random(in: 0...59, using: &generator), Int.random(in: 0...59, using: &generator)))
        }
        for text in inputs {
            let fast = RFC3339Fast.parse(text)
            #expect(fast != nil, "\(text)")
            #expect(fast == Self.formatter(text), "\(text)")
        }
        // RFC 3339 allows a lowercase t and z; the formatter reads only the date of such a string.
        #expect(RFC3339Fast.parse("2025-07-04t10:16:31z") == RFC3339Fast.parse("2025-07-04T10:16:31Z"))
        let fraction = try? #require(RFC3339Fast.parse("2025-07-04T10:16:31.250Z"))
        #expect(fraction.map { $0.timeIntervalSince1970 } == 1_751_624_191.25)
    }

    @Test func formattingAgreesWithTheFormatter() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var generator = SystemRandomNumberGenerator()
        var instants: [Double] = [0, -1, 86399, 86400, 951_868_799, 4_102_444_800, -2_208_988_800, 1_751_624_191.75]
        for _ in 0..<300 { instants.append(Double(Int64.random(in: -11_644_473_600...13_569_465_600, using: &generator))) }
        for seconds in instants {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(formatRFC3339(date) == formatter.string(from: date), "\(seconds)")
            #expect(parseRFC3339(formatRFC3339(date)) == Date(timeIntervalSince1970: seconds.rounded(.down)), "\(seconds)")
        }
    }

    @Test func malformedStringsAreLeftToTheFormatter() {
        for text in ["2025-02-30T00:00:00Z", "2025-13-01", "2025-07-04T24:00:00Z", "2025-07-04T10:16:31", "2025-07-04T10:16:31.Z",
                     "2025-07-04T10:16:31+0530", "20250704", "", "2025-07-04T10:16:31Zjunk"] {
            #expect(RFC3339Fast.parse(text) == nil, "\(text)")
            #expect(parseRFC3339(text) == Self.formatter(text), "\(text)")
        }
    }
}
