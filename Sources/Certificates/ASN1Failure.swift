import SwiftASN1

/// What went wrong in a DER structure, in words for the user. swift-asn1's own description names its
/// source file and line ("ASN1Error.truncatedASN1Field: SwiftASN1/ASN1.swift:202"), which says nothing
/// to someone holding a bad certificate.
package func describeDERFailure(_ error: any Error) -> String {
    guard let asn1 = error as? ASN1Error else { return "\(error)" }
    switch asn1.code {
    case .truncatedASN1Field: return "the DER data is truncated (a field runs past the end)"
    case .unexpectedFieldType: return "a DER field has an unexpected type"
    case .invalidASN1Object: return "the DER data is not a valid ASN.1 object"
    case .invalidASN1IntegerEncoding: return "a DER integer is badly encoded"
    case .unsupportedFieldLength: return "a DER field length is not supported"
    case .invalidPEMDocument: return "the PEM text is not valid"
    case .invalidStringRepresentation: return "a DER string is badly encoded"
    case .tooFewOIDComponents: return "an object identifier has too few components"
    default: return "the DER data is malformed"
    }
}
