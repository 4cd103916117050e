import Foundation
import SwiftASN1

/// Converts an X.509 Time (UTCTime or GeneralizedTime) node to a Date, without calendars or locales.
func derTime(_ node: ASN1Node) throws -> Date {
    let parts: (year: Int, month: Int, day: Int, hours: Int, minutes: Int, seconds: Int)
    switch node.identifier {
    case UTCTime.defaultIdentifier:
        let time = try UTCTime(derEncoded: node)
        parts = (time.year, time.month, time.day, time.hours, time.minutes, time.seconds)
    case GeneralizedTime.defaultIdentifier:
        let time = try GeneralizedTime(derEncoded: node)
        parts = (time.year, time.month, time.day, time.hours, time.minutes, time.seconds)
    default:
        throw CertificateError.malformed("expected a UTCTime or GeneralizedTime, found tag \(node.identifier)")
    }
    let days = daysFromCivil(year: parts.year, month: parts.month, day: parts.day)
    let seconds = days * 86_400 + parts.hours * 3_600 + parts.minutes * 60 + parts.seconds
    return Date(timeIntervalSince1970: TimeInterval(seconds))
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's civil-day algorithm).
private func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}
