import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ContainerImage {
    /// Applies every layer in order to an in-memory tree (see `Flattener` and docs/OCI.md for the
    /// semantics and the treatment of hostile entries). Each layer is streamed once through a
    /// decompressor; its stored digest and size and its diff_id are checked, and a mismatch fails the
    /// whole flatten. Errors name the layer (1-based) and its digest.
    public func flatten(limits: FlattenLimits = FlattenLimits()) throws -> RootFileSystem {
        let flattener = try Flattener(limits: limits)
        for (position, layer) in layers.enumerated() {
            let label = (layer.digest ?? layer.diffID)?.short ?? layer.location.name
            try withLayerErrors(index: position + 1, label: label) {
                try applyLayer(layer.location, digest: layer.digest, size: layer.size, diffID: layer.diffID,
                               index: position + 1, to: flattener, limits: limits)
            }
        }
        return flattener.finish()
    }
}

extension RootFileSystem {
    /// Flattens layer tar files given directly, in order (plain, gzip or zstd by magic bytes), with
    /// no image around them and so no digests to check.
    public static func flatten(layerFiles: [String], limits: FlattenLimits = FlattenLimits()) throws -> RootFileSystem {
        let flattener = try Flattener(limits: limits)
        for (position, path) in layerFiles.enumerated() {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                  let size = (attributes[.size] as? NSNumber)?.uint64Value else { throw ImageError.notFound(path) }
            let location = BlobLocation(path: path, offset: 0, length: size, isWholeFile: true, name: path)
            try withLayerErrors(index: position + 1, label: path) {
                try applyLayer(location, digest: nil, size: Int64(size), diffID: nil, index: position + 1, to: flattener, limits: limits)
            }
        }
        return flattener.finish()
    }
}

private func withLayerErrors(index: Int, label: String, _ body: () throws -> Void) throws {
    do { try body() } catch let error as FlattenError {
        throw error
    } catch {
        throw FlattenError.layer(index: index, digest: label, underlying: String(describing: error))
    }
}

/// Streams one layer blob into the flattener, verifying it. Plain tar is read in place and hashed as
/// it is parsed; a compressed blob is hashed first (copied to an unlinked temporary file when it sits
/// inside an archive, so the decompressor reads exactly the verified bytes) and then piped through
/// `gzip -dc` or `zstd -dc`, the output hashed for the diff_id.
private func applyLayer(_ location: BlobLocation, digest: Digest?, size: Int64, diffID: Digest?, index: Int,
                        to flattener: Flattener, limits: FlattenLimits) throws {
    guard Int64(clamping: location.length) == size else {
        throw ImageError.sizeMismatch(what: "blob", expected: size, actual: Int64(clamping: location.length))
    }
    let compression = try LayerCompression.detect(
        try FileRangeSource(path: location.path, offset: location.offset, length: location.length).read(max: 8), what: "layer")
    let reader: BufferedReader
    var plainDigestToCheck: Digest?
    switch compression {
    case .none:
        reader = BufferedReader(try FileRangeSource(path: location.path, offset: location.offset, length: location.length), hashing: true)
        plainDigestToCheck = digest
    case .gzip, .zstd:
        let input: FileHandle
        let actual: Digest
        if location.isWholeFile {
            actual = try hashFileRange(path: location.path, offset: 0, length: location.length)
            guard let handle = FileHandle(forReadingAtPath: location.path) else { throw ImageError.notFound(location.path) }
            input = handle
        } else {
            let handle = try unlinkedTemporaryFile(in: limits.storeDirectory)
            actual = try hashFileRange(path: location.path, offset: location.offset, length: location.length, copyTo: handle)
            try handle.seek(toOffset: 0)
            input = handle
        }
        if let digest, actual != digest {
            throw ImageError.digestMismatch(what: "blob", expected: digest.description, actual: actual.description)
        }
        reader = BufferedReader(try DecompressorSource(compression: compression, input: input), hashing: true)
    }
    try flattener.apply(layer: index, tar: TarReader(reader, limits: limits.tar))
    try reader.drain()
    guard let uncompressed = reader.digest() else { return }
    if let expected = plainDigestToCheck, uncompressed != expected {
        throw ImageError.digestMismatch(what: "blob", expected: expected.description, actual: uncompressed.description)
    }
    if let diffID, uncompressed != diffID {
        throw ImageError.digestMismatch(what: "uncompressed layer (diff_id)", expected: diffID.description, actual: uncompressed.description)
    }
}

/// A read-write temporary file that is already unlinked: it vanishes when closed.
private func unlinkedTemporaryFile(in directory: String?) throws -> FileHandle {
    let folder = directory ?? NSTemporaryDirectory()
    let path = (folder.hasSuffix("/") ? folder : folder + "/") + "cvm-oci-blob-\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
          let handle = FileHandle(forUpdatingAtPath: path) else {
        throw ImageError.io("cannot create a temporary file in \(folder)")
    }
    unlink(path)
    return handle
}
